// Package billingtest is the contract every billing adapter passes: the
// self-service (Contract, dialogs.SelfService), the account reads
// (AccountsContract, dialogs.BillingAccounts) and the trust payment
// (TrustContract, dialogs.Trust). billing/postgres and
// billing/httpbilling run the same suites, each on a fixture of its own making, so that a
// provider writing an adapter has the suite that says it is right.
package billingtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/money"
)

// Fixture is an adapter ready for the contract, holding: an active home
// account in Москва (Europe/Moscow) with 1 000 ₽, on a 500 ₽ plan with no
// services, charged on the 10th; a home plan of 750 ₽ sold there (Plan),
// a business plan (OtherKind); a service of 150 ₽ the account has not.
// The billing's clock reads Now.
type Fixture struct {
	Billing   dialogs.SelfService
	Account   int64
	Plan      int64
	OtherKind int64
	Service   int64
	// Balance reads the account's balance from the billing's own store.
	Balance func() money.Amount
}

// Now is the contract's moment: 1 December 2026, noon in Москва, nine
// days before the charge day.
var Now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.FixedZone("MSK", 3*60*60))

// Contract runs the suite, each test on a fresh fixture from setup.
func Contract(t *testing.T, setup func(t *testing.T) Fixture) {
	rules := billing.DefaultFreezeRules()
	ctx := context.Background()
	req := func(key string) billing.ChangeRequest { return billing.ChangeRequest{Key: key, UserID: 700} }

	t.Run("freeze keyed by the request", func(t *testing.T) {
		f := setup(t)
		fr, changed, err := f.Billing.Freeze(ctx, req("f1"), f.Account, Now, 14, Now, rules)
		if err != nil || !changed || !fr.Active || fr.Start.Day() != 1 || fr.End.Day() != 15 || fr.End.Month() != time.December {
			t.Fatalf("freeze: %+v changed %v, %v; want from 1 to 15 December, at once", fr, changed, err)
		}
		again, changed, err := f.Billing.Freeze(ctx, req("f1"), f.Account, Now, 14, Now, rules)
		if err != nil || !changed || !again.End.Equal(fr.End) {
			t.Errorf("the same request again: %+v changed %v, %v; want the same freeze, changed", again, changed, err)
		}
		tap, changed, err := f.Billing.Freeze(ctx, req("f2"), f.Account, Now, 14, Now, rules)
		if err != nil || changed || !tap.End.Equal(fr.End) {
			t.Errorf("a second tap: %+v changed %v, %v; want the same freeze, unchanged", tap, changed, err)
		}
		open, n, err := f.Billing.FreezeState(ctx, f.Account, 2026)
		if err != nil || open == nil || !open.Active || n != 1 {
			t.Errorf("state %+v, %d this year, %v", open, n, err)
		}
		_, _, err = f.Billing.Freeze(ctx, req("f3"), f.Account, Now.AddDate(0, 0, 3), 30, Now, rules)
		var r *billing.FreezeRefusal
		if !errors.As(err, &r) || r.Reason != billing.FreezePlanned {
			t.Errorf("another freeze while one runs: %v", err)
		}
		if changed, err := f.Billing.Unfreeze(ctx, req("u1"), f.Account, Now); err != nil || !changed {
			t.Errorf("unfreeze: %v, %v", changed, err)
		}
		if changed, err := f.Billing.Unfreeze(ctx, req("u2"), f.Account, Now); err != nil || changed {
			t.Errorf("unfreeze again: %v, %v; want unchanged", changed, err)
		}
		if open, _, err := f.Billing.FreezeState(ctx, f.Account, 2026); err != nil || open != nil {
			t.Errorf("after unfreezing: %+v, %v", open, err)
		}
	})

	t.Run("freeze refused by the rules", func(t *testing.T) {
		f := setup(t)
		for _, c := range []struct {
			start  time.Time
			days   int
			reason billing.FreezeReason
		}{
			{Now, 6, billing.FreezeTooShort},
			{Now, 91, billing.FreezeTooLong},
			{Now.AddDate(0, 0, -1), 14, billing.FreezeStartPast},
			{Now.AddDate(0, 0, 31), 14, billing.FreezeStartFar},
		} {
			_, _, err := f.Billing.Freeze(ctx, req("r"+c.start.Format("0102")+string(c.reason)), f.Account, c.start, c.days, Now, rules)
			var r *billing.FreezeRefusal
			if !errors.As(err, &r) || r.Reason != c.reason {
				t.Errorf("%s for %d days: %v, want %s", c.start.Format(time.DateOnly), c.days, err, c.reason)
			}
		}
		// A freeze that begins later is scheduled, not running.
		fr, changed, err := f.Billing.Freeze(ctx, req("later"), f.Account, Now.AddDate(0, 0, 5), 7, Now, rules)
		if err != nil || !changed || fr.Active || fr.Start.Day() != 6 {
			t.Errorf("from the 6th: %+v changed %v, %v; want scheduled", fr, changed, err)
		}
	})

	t.Run("tariff change keyed, cancelled, refused", func(t *testing.T) {
		f := setup(t)
		plans, err := f.Billing.Tariffs(ctx, f.Account)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, p := range plans.Available {
			ids = append(ids, p.ID)
		}
		if !slices.Contains(ids, f.Plan) || slices.Contains(ids, f.OtherKind) || plans.Current.MonthlyFee != money.Rub(500) || plans.Pending != nil {
			t.Fatalf("tariffs %+v", plans)
		}
		ch, changed, err := f.Billing.ChangeTariff(ctx, req("t1"), f.Account, f.Plan, Now)
		if err != nil || !changed || ch.To.ID != f.Plan || ch.From.Day() != 10 || ch.From.Month() != time.December {
			t.Fatalf("change: %+v changed %v, %v; want from 10 December", ch, changed, err)
		}
		if _, changed, err := f.Billing.ChangeTariff(ctx, req("t1"), f.Account, f.Plan, Now); err != nil || !changed {
			t.Errorf("the same request again: changed %v, %v", changed, err)
		}
		if _, changed, err := f.Billing.ChangeTariff(ctx, req("t2"), f.Account, f.Plan, Now); err != nil || changed {
			t.Errorf("a second tap: changed %v, %v; want unchanged", changed, err)
		}
		if plans, err := f.Billing.Tariffs(ctx, f.Account); err != nil || plans.Pending == nil || plans.Pending.To.ID != f.Plan {
			t.Errorf("pending %+v, %v", plans.Pending, err)
		}
		if changed, err := f.Billing.CancelTariffChange(ctx, req("c1"), f.Account, Now); err != nil || !changed {
			t.Errorf("cancel: %v, %v", changed, err)
		}
		if changed, err := f.Billing.CancelTariffChange(ctx, req("c2"), f.Account, Now); err != nil || changed {
			t.Errorf("cancel again: %v, %v; want unchanged", changed, err)
		}
		var r *billing.TariffRefusal
		if _, _, err := f.Billing.ChangeTariff(ctx, req("t3"), f.Account, f.OtherKind, Now); !errors.As(err, &r) || r.Reason != billing.TariffNotOffered {
			t.Errorf("a business plan: %v", err)
		}
	})

	t.Run("service connected once with its first part", func(t *testing.T) {
		f := setup(t)
		before := f.Balance()
		part := money.Rub(45) // 150 ₽ for 9 of the 30 days to the 10th
		charged, changed, err := f.Billing.SetService(ctx, req("s1"), f.Account, f.Service, true, Now)
		if err != nil || !changed || charged != part {
			t.Fatalf("connect: %d changed %v, %v; want %d", charged, changed, err, part)
		}
		if charged, changed, err := f.Billing.SetService(ctx, req("s1"), f.Account, f.Service, true, Now); err != nil || !changed || charged != part {
			t.Errorf("the same request again: %d changed %v, %v", charged, changed, err)
		}
		if _, changed, err := f.Billing.SetService(ctx, req("s2"), f.Account, f.Service, true, Now); err != nil || changed {
			t.Errorf("a second tap: changed %v, %v", changed, err)
		}
		if got := f.Balance(); got != before-part {
			t.Errorf("balance %d, want %d: the first part taken once", got, before-part)
		}
		list, err := f.Billing.Services(ctx, f.Account)
		connected := false
		for _, s := range list {
			connected = connected || (s.ID == f.Service && s.Connected)
		}
		if err != nil || !connected {
			t.Errorf("services %+v, %v", list, err)
		}
		if _, changed, err := f.Billing.SetService(ctx, req("s3"), f.Account, f.Service, false, Now); err != nil || !changed {
			t.Errorf("disconnect: %v, %v", changed, err)
		}
		if _, changed, err := f.Billing.SetService(ctx, req("s4"), f.Account, f.Service, false, Now); err != nil || changed {
			t.Errorf("disconnect again: %v, %v", changed, err)
		}
	})

	t.Run("an account the billing does not have", func(t *testing.T) {
		f := setup(t)
		if _, err := f.Billing.Tariffs(ctx, f.Account+1_000_000); !errors.Is(err, billing.ErrNotFound) {
			t.Errorf("tariffs: %v", err)
		}
		if _, _, err := f.Billing.Freeze(ctx, req("x"), f.Account+1_000_000, Now, 14, Now, rules); !errors.Is(err, billing.ErrNotFound) {
			t.Errorf("freeze: %v", err)
		}
	})

	t.Run("usage and operations read", func(t *testing.T) {
		f := setup(t)
		from := time.Date(2026, 11, 1, 0, 0, 0, 0, Now.Location())
		if _, err := f.Billing.Usage(ctx, f.Account, from, from.AddDate(0, 1, 0)); err != nil {
			t.Errorf("usage: %v", err)
		}
		if _, err := f.Billing.Operations(ctx, f.Account, from, from.AddDate(0, 1, 0)); err != nil {
			t.Errorf("operations: %v", err)
		}
	})
}
