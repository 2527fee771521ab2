package billing

import (
	"errors"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/money"
)

func TestCheckTrust(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	// 23:30 on 31 January in UTC is already 1 February in Moscow.
	now := time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC)
	set := TrustSettings{Days: 3, RequirePayment: true, Location: msk}
	debtor := TrustFacts{Status: StatusActive, Balance: money.Rub(100), MonthlyCharge: money.Rub(700)}
	with := func(change func(*TrustFacts)) TrustFacts { f := debtor; change(&f); return f }
	setWith := func(change func(*TrustSettings)) TrustSettings { s := set; change(&s); return s }
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, msk)

	cases := []struct {
		name   string
		facts  TrustFacts
		set    TrustSettings
		reason TrustReason // "" when granted
		from   time.Time
		amount money.Amount
		fee    money.Amount
	}{
		{name: "low balance: the monthly charge for 3 days", facts: debtor, set: set, amount: money.Rub(700)},
		{name: "blocked with money still left is granted", facts: with(func(f *TrustFacts) { f.Status = StatusBlocked; f.Balance = money.Rub(800) }), set: set, amount: money.Rub(700)},
		{name: "balance covers the charge", facts: with(func(f *TrustFacts) { f.Balance = money.Rub(700) }), set: set, reason: TrustBalanceEnough},
		{name: "frozen", facts: with(func(f *TrustFacts) { f.Status = StatusFrozen }), set: set, reason: TrustFrozen},
		{name: "closed", facts: with(func(f *TrustFacts) { f.Status = StatusClosed }), set: set, reason: TrustClosed},
		{name: "frozen comes before a balance that is enough", facts: with(func(f *TrustFacts) { f.Status = StatusFrozen; f.Balance = money.Rub(1000) }), set: set, reason: TrustFrozen},
		{name: "once a month, possible again on the 1st of the next in the provider's zone",
			facts: with(func(f *TrustFacts) { f.UsedThisMonth = true; f.TrustedBefore = true; f.PaidSinceTrust = true }), set: set,
			reason: TrustUsedThisMonth, from: march},
		{name: "no real payment since the last trust payment", facts: with(func(f *TrustFacts) { f.TrustedBefore = true }), set: set, reason: TrustNoPayment},
		{name: "a payment since the last one allows another", facts: with(func(f *TrustFacts) { f.TrustedBefore = true; f.PaidSinceTrust = true }), set: set, amount: money.Rub(700)},
		{name: "without the payment rule trust payments may follow each other",
			facts: with(func(f *TrustFacts) { f.TrustedBefore = true }), set: setWith(func(s *TrustSettings) { s.RequirePayment = false }), amount: money.Rub(700)},
		{name: "the month is judged before the payment", facts: with(func(f *TrustFacts) { f.UsedThisMonth = true; f.TrustedBefore = true }), set: set,
			reason: TrustUsedThisMonth, from: march},
		{name: "a set amount and a fee", facts: debtor, set: setWith(func(s *TrustSettings) { s.Amount = money.Rub(500); s.Fee = money.Rub(30) }),
			amount: money.Rub(500), fee: money.Rub(30)},
		{name: "a free tariff has nothing to trust", facts: with(func(f *TrustFacts) { f.Status = StatusBlocked; f.MonthlyCharge = 0 }), set: set, reason: TrustBalanceEnough},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			offer, err := CheckTrust(c.facts, now, c.set)
			if c.reason != "" {
				var r *TrustRefusal
				if !errors.As(err, &r) {
					t.Fatalf("CheckTrust = %+v, %v; want a refusal %s", offer, err, c.reason)
				}
				if r.Reason != c.reason || !r.From.Equal(c.from) {
					t.Errorf("refused %s from %v, want %s from %v", r.Reason, r.From, c.reason, c.from)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckTrust: %v, want a grant", err)
			}
			days := c.set.Days
			want := TrustOffer{Amount: c.amount, Fee: c.fee, GrantedAt: now,
				ExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour), Balance: c.facts.Balance + c.amount - c.fee}
			if offer != want {
				t.Errorf("offer %+v, want %+v", offer, want)
			}
		})
	}
}

func TestTrustMonth(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	cases := []struct {
		now  time.Time
		loc  *time.Location
		want time.Time
	}{
		{time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC), msk, time.Date(2026, 2, 1, 0, 0, 0, 0, msk)},
		{time.Date(2026, 1, 31, 20, 30, 0, 0, time.UTC), msk, time.Date(2026, 1, 1, 0, 0, 0, 0, msk)},
		{time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC), nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := TrustMonth(c.now, TrustSettings{Location: c.loc}); !got.Equal(c.want) {
			t.Errorf("TrustMonth(%v, %v) = %v, want %v", c.now, c.loc, got, c.want)
		}
	}
}
