package billing_test

import (
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

func TestForecastCountsOnlyTheMoneyThatStays(t *testing.T) {
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	day := func(d int) time.Time { return time.Date(2026, 12, d, 12, 0, 0, 0, msk) }
	date := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, msk) }
	tariff := billing.Tariff{Name: "Домашний 100", MonthlyFee: money.Rub(500)}
	trust := func(sum int64, ends time.Time) *billing.ActiveTrust {
		return &billing.ActiveTrust{Amount: money.Rub(sum), ExpiresAt: ends}
	}
	for _, c := range []struct {
		name      string
		balance   money.Amount
		trust     *billing.ActiveTrust
		fee       money.Amount
		days      int
		blockOn   time.Time
		trustEnds bool
		need      money.Amount
		unlimited bool
	}{
		// December's days cost 500/31 = 16,13 ₽: 465 ₽ pay 28 of them.
		{name: "no trust, 28 days", balance: money.Rub(465), fee: tariff.MonthlyFee, days: 28, blockOn: date(12, 29), need: money.Rub(35)},
		// The rest of December and all of January (31 days each), and
		// not one day of February, whose days cost more (500/28).
		{name: "no trust, a month paid", balance: money.Rub(1000), fee: tariff.MonthlyFee, days: 61, blockOn: time.Date(2027, 1, 31, 0, 0, 0, 0, msk)},
		{name: "no money", balance: 0, fee: tariff.MonthlyFee, days: 0, blockOn: date(12, 1), need: money.Rub(500)},
		// 1000000020: -35 ₽, a 500 ₽ trust payment until 4 December. The
		// 465 ₽ on the account last until the trust payment ends, not 27 days.
		{name: "trust over a debt", balance: money.Rub(465), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 3, blockOn: date(12, 4), trustEnds: true, need: money.Rub(535)},
		// 120 ₽ of one's own last 7 days, past the trust payment's end.
		{name: "own money outlasts the trust", balance: money.Rub(620), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 7, blockOn: date(12, 8), need: money.Rub(380)},
		{name: "paid after the trust", balance: money.Rub(1500), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 61, blockOn: time.Date(2027, 1, 31, 0, 0, 0, 0, msk)},
		{name: "nothing charged", balance: money.Rub(10), unlimited: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			acc := billing.Account{Balance: c.balance, Trust: c.trust, Tariff: billing.Tariff{MonthlyFee: c.fee}}
			f := acc.Forecast(now, msk)
			if c.unlimited {
				if !f.Unlimited {
					t.Fatalf("forecast %+v, want unlimited", f)
				}
				return
			}
			if f.Unlimited || f.DaysLeft != c.days || !f.BlockOn.Equal(c.blockOn) || f.TrustEnds != c.trustEnds || f.Need != c.need {
				t.Errorf("forecast %+v,\nwant days %d, block on %v, trust ends %v, need %d", f, c.days, c.blockOn, c.trustEnds, c.need)
			}
		})
	}
}
