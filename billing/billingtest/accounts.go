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

// AccountsFixture is an adapter of dialogs.BillingAccounts holding an
// active account in Москва (Europe/Moscow) with 1 000 ₽, on a 500 ₽ plan
// with no services, charged on the 10th, under Number with the contract
// phone Phone, which no other open account of the billing has.
type AccountsFixture struct {
	Accounts dialogs.BillingAccounts
	Account  int64
	Number   string
	Phone    string
	// Pay records a real payment of amount at paidAt in the billing's own store.
	Pay func(amount money.Amount, paidAt time.Time)
}

// AccountsContract runs the suite of the account reads every billing
// answers (dialogs.BillingAccounts), each test on a fresh fixture.
func AccountsContract(t *testing.T, setup func(t *testing.T) AccountsFixture) {
	ctx := context.Background()

	t.Run("an account read by id, number and phone", func(t *testing.T) {
		f := setup(t)
		a, err := f.Accounts.AccountByID(ctx, f.Account)
		if err != nil {
			t.Fatalf("by id: %v", err)
		}
		if a.ID != f.Account || a.Number != f.Number || a.Phone != f.Phone || a.City != "Москва" ||
			a.TimeZone != "Europe/Moscow" || a.Status != billing.StatusActive || a.Balance != money.Rub(1000) ||
			a.Tariff.MonthlyFee != money.Rub(500) || a.ChargeDay != 10 || len(a.Services) != 0 || a.Trust != nil {
			t.Errorf("by id: %+v; want the fixture's account", a)
		}
		byNumber, err := f.Accounts.AccountByNumber(ctx, f.Number)
		if err != nil || byNumber.ID != f.Account || byNumber.Balance != a.Balance {
			t.Errorf("by number: %+v, %v", byNumber, err)
		}
		byPhone, err := f.Accounts.AccountsByPhone(ctx, f.Phone)
		if err != nil || len(byPhone) != 1 || byPhone[0].ID != f.Account {
			t.Errorf("by phone: %+v, %v; want the one account", byPhone, err)
		}
	})

	t.Run("an account the billing does not have", func(t *testing.T) {
		f := setup(t)
		if _, err := f.Accounts.AccountByID(ctx, f.Account+1_000_000); !errors.Is(err, billing.ErrNotFound) {
			t.Errorf("by id: %v, want ErrNotFound", err)
		}
		if _, err := f.Accounts.AccountByNumber(ctx, "99999999999999"); !errors.Is(err, billing.ErrNotFound) {
			t.Errorf("by number: %v, want ErrNotFound", err)
		}
		if got, err := f.Accounts.AccountsByPhone(ctx, "+79990009999"); err != nil || len(got) != 0 {
			t.Errorf("by a phone on no contract: %+v, %v; want none", got, err)
		}
	})

	t.Run("payments newest first", func(t *testing.T) {
		f := setup(t)
		if got, err := f.Accounts.RecentPayments(ctx, f.Account, 5); err != nil || len(got) != 0 {
			t.Fatalf("before any payment: %+v, %v", got, err)
		}
		f.Pay(money.Rub(300), Now.Add(-48*time.Hour))
		f.Pay(money.Rub(700), Now.Add(-24*time.Hour))
		f.Pay(money.Rub(100), Now.Add(-72*time.Hour))
		got, err := f.Accounts.RecentPayments(ctx, f.Account, 2)
		if err != nil || len(got) != 2 {
			t.Fatalf("the last 2: %+v, %v", got, err)
		}
		if got[0].Amount != money.Rub(700) || got[1].Amount != money.Rub(300) || !got[0].PaidAt.Equal(Now.Add(-24*time.Hour)) {
			t.Errorf("the last 2: %+v; want 700 ₽ then 300 ₽", got)
		}
	})
}
