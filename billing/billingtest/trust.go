package billingtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/money"
)

// TrustFixture is an adapter of dialogs.Trust whose rules are the seed
// provider's in Москва (TrustSettings), holding two active accounts in
// Москва on a 500 ₽ plan with no services and no trust payment ever:
// Debtor with a debt of 500 ₽ (still short of the
// month after a trust payment), Rich with 1 000 ₽. Balance reads an account's balance
// from the billing's own store.
type TrustFixture struct {
	Trust   dialogs.Trust
	Debtor  int64
	Rich    int64
	Balance func(id int64) money.Amount
}

// TrustSettings are the rules the trust contract is judged by (the seed
// provider's: 3 days, the monthly charge, free, not again before a real
// payment), in Москва.
func TrustSettings() billing.TrustSettings {
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		msk = Now.Location()
	}
	return billing.DefaultTrustSettings(msk)
}

// TrustContract runs the suite of the trust payment every billing answers
// (dialogs.Trust), each test on a fresh fixture.
func TrustContract(t *testing.T, setup func(t *testing.T) TrustFixture) {
	ctx := context.Background()
	set := TrustSettings()
	want := billing.TrustOffer{Amount: money.Rub(500), GrantedAt: Now, ExpiresAt: Now.Add(72 * time.Hour), Balance: 0}
	same := func(got, want billing.TrustOffer) bool {
		return got.Amount == want.Amount && got.Fee == want.Fee && got.Balance == want.Balance &&
			got.GrantedAt.Equal(want.GrantedAt) && got.ExpiresAt.Equal(want.ExpiresAt)
	}

	t.Run("offered, granted once per request, then refused this month", func(t *testing.T) {
		f := setup(t)
		offer, err := f.Trust.OfferTrust(ctx, f.Debtor, Now, set)
		if err != nil || !same(offer, want) {
			t.Fatalf("offer %+v, %v; want %+v", offer, err, want)
		}
		if got := f.Balance(f.Debtor); got != money.Rub(-500) {
			t.Errorf("the offer changed the balance to %d", got)
		}
		granted, err := f.Trust.GrantTrust(ctx, "t1", f.Debtor, Now, set)
		if err != nil || !same(granted, want) {
			t.Fatalf("grant %+v, %v; want %+v", granted, err, want)
		}
		again, err := f.Trust.GrantTrust(ctx, "t1", f.Debtor, Now.Add(time.Minute), set)
		if err != nil || !same(again, want) {
			t.Errorf("the same request again: %+v, %v; want the same grant", again, err)
		}
		if got := f.Balance(f.Debtor); got != 0 {
			t.Errorf("balance %d after the grant, want 0 ₽: credited once", got)
		}
		nextMonth := time.Date(2027, 1, 1, 0, 0, 0, 0, set.Location)
		for name, call := range map[string]func() (billing.TrustOffer, error){
			"another request": func() (billing.TrustOffer, error) { return f.Trust.GrantTrust(ctx, "t2", f.Debtor, Now, set) },
			"the offer":       func() (billing.TrustOffer, error) { return f.Trust.OfferTrust(ctx, f.Debtor, Now, set) },
		} {
			_, err := call()
			var r *billing.TrustRefusal
			if !errors.As(err, &r) || r.Reason != billing.TrustUsedThisMonth || !r.From.Equal(nextMonth) {
				t.Errorf("%s after the grant: %v; want used_month until %v", name, err, nextMonth)
			}
		}
	})

	t.Run("refused while the balance is enough", func(t *testing.T) {
		f := setup(t)
		_, err := f.Trust.GrantTrust(ctx, "r1", f.Rich, Now, set)
		var r *billing.TrustRefusal
		if !errors.As(err, &r) || r.Reason != billing.TrustBalanceEnough {
			t.Errorf("grant with 1 000 ₽: %v; want balance_enough", err)
		}
		if got := f.Balance(f.Rich); got != money.Rub(1000) {
			t.Errorf("balance %d after a refusal", got)
		}
	})

	t.Run("an account the billing does not have", func(t *testing.T) {
		f := setup(t)
		if _, err := f.Trust.OfferTrust(ctx, f.Debtor+1_000_000, Now, set); !errors.Is(err, billing.ErrNotFound) {
			t.Errorf("offer: %v, want ErrNotFound", err)
		}
	})
}
