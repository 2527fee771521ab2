package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/money"
)

// The dialogs get their accounts from this adapter.
var _ dialogs.BillingAccounts = (*postgres.Store)(nil)

// newStore returns a store on a fresh database with one tariff ("Тест",
// 500 ₽) and two services ("Статический IP" 150 ₽, "Антивирус" 99 ₽).
func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := pgtest.New(t)
	pgtest.Exec(t, pool, `INSERT INTO tariffs (name, monthly_fee) VALUES ('Тест', 50000)`)
	pgtest.Exec(t, pool, `INSERT INTO services (name, monthly_fee) VALUES ('Статический IP', 15000), ('Антивирус', 9900)`)
	return postgres.New(pool), pool
}

func ids(accounts []billing.Account) []int64 {
	out := make([]int64, 0, len(accounts))
	for _, a := range accounts {
		out = append(out, a.ID)
	}
	return out
}

func TestAccountByNumber(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	opened := time.Date(2018, 4, 17, 9, 0, 0, 0, time.UTC)
	id := pgtest.AddAccount(t, pool, pgtest.Account{
		Number: "1234567890", Phone: "+79161234512", City: "Томск",
		Balance: 123450, Services: []string{"Антивирус", "Статический IP"}, OpenedAt: opened,
	})

	a, err := s.AccountByNumber(ctx, "1234567890")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != id || a.Number != "1234567890" || a.Phone != "+79161234512" {
		t.Errorf("got id %d number %q phone %q, want %d 1234567890 +79161234512", a.ID, a.Number, a.Phone, id)
	}
	if a.City != "Томск" || a.TimeZone != "Asia/Tomsk" {
		t.Errorf("city %q zone %q, want Томск Asia/Tomsk", a.City, a.TimeZone)
	}
	if a.Status != billing.StatusActive || a.Balance != 123450 || a.ChargeDay != 10 {
		t.Errorf("status %q balance %d charge day %d", a.Status, a.Balance, a.ChargeDay)
	}
	if a.Tariff != (billing.Tariff{Name: "Тест", MonthlyFee: money.Rub(500)}) {
		t.Errorf("tariff %+v", a.Tariff)
	}
	// Services in a stable order (as the provider created them), with their fees.
	wantServices := []billing.Service{{Name: "Статический IP", MonthlyFee: money.Rub(150)}, {Name: "Антивирус", MonthlyFee: 9900}}
	if !slices.Equal(a.Services, wantServices) {
		t.Errorf("services %+v, want %+v", a.Services, wantServices)
	}
	if a.MonthlyCharge() != 50000+15000+9900 {
		t.Errorf("monthly charge %d", a.MonthlyCharge())
	}
	if !a.OpenedAt.Equal(opened) || a.LastChange.IsZero() || !a.BlockedAt.IsZero() {
		t.Errorf("opened %v last change %v blocked %v", a.OpenedAt, a.LastChange, a.BlockedAt)
	}

	if _, err := s.AccountByNumber(ctx, "9999999999"); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("unknown number: err %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByNumber(ctx, "12345 67890"); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("malformed number: err %v, want ErrNotFound", err)
	}
}

func TestAccountByNumberStatuses(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	blocked := time.Date(2025, 3, 2, 3, 0, 0, 0, time.UTC)
	pgtest.AddAccount(t, pool, pgtest.Account{Number: "1", Status: billing.StatusBlocked, Balance: -32050, BlockedAt: blocked})
	pgtest.AddAccount(t, pool, pgtest.Account{Number: "2", Status: billing.StatusClosed})
	// blocked_at left over from an old block means nothing once the account is active again.
	pgtest.AddAccount(t, pool, pgtest.Account{Number: "3", Status: billing.StatusActive, BlockedAt: blocked})

	a, err := s.AccountByNumber(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != billing.StatusBlocked || a.Balance != -32050 || !a.BlockedAt.Equal(blocked) {
		t.Errorf("blocked account: status %q balance %d blocked at %v", a.Status, a.Balance, a.BlockedAt)
	}
	if a.Services != nil {
		t.Errorf("account without services has %+v", a.Services)
	}
	// A closed account is still found by its number: the dialogs say it is closed.
	if a, err := s.AccountByNumber(ctx, "2"); err != nil || a.Status != billing.StatusClosed {
		t.Errorf("closed account: %+v, %v", a, err)
	}
	if a, err := s.AccountByNumber(ctx, "3"); err != nil || !a.BlockedAt.IsZero() {
		t.Errorf("unblocked account: blocked at %v, %v", a.BlockedAt, err)
	}
}

func TestAccountUpdatedAtFollowsChanges(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	pgtest.AddAccount(t, pool, pgtest.Account{Number: "42"})
	pgtest.Exec(t, pool, `UPDATE accounts SET updated_at = '2020-01-01' WHERE number = '42'`)
	pgtest.Exec(t, pool, `UPDATE accounts SET balance = balance + 100 WHERE number = '42'`)
	a, err := s.AccountByNumber(ctx, "42")
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(a.LastChange) > time.Minute {
		t.Errorf("last change %v after a balance change, want now", a.LastChange)
	}
}

func TestAccountsByPhone(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	phone := "+79000000001"
	business := pgtest.AddAccount(t, pool, pgtest.Account{Phone: phone, OpenedAt: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})
	home := pgtest.AddAccount(t, pool, pgtest.Account{Phone: phone, OpenedAt: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)})
	parents := pgtest.AddAccount(t, pool, pgtest.Account{Phone: phone, City: "Липецк", Status: billing.StatusBlocked, OpenedAt: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)})
	frozen := pgtest.AddAccount(t, pool, pgtest.Account{Phone: phone, Status: billing.StatusFrozen, OpenedAt: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)})
	pgtest.AddAccount(t, pool, pgtest.Account{Phone: phone, Status: billing.StatusClosed, OpenedAt: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)})
	pgtest.AddAccount(t, pool, pgtest.Account{Phone: "+79000000002"})

	got, err := s.AccountsByPhone(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	// Every open contract, oldest first; the closed one is left out.
	if want := []int64{home, parents, business, frozen}; !slices.Equal(ids(got), want) {
		t.Errorf("accounts by phone: %v, want %v", ids(got), want)
	}
	if got[1].City != "Липецк" {
		t.Errorf("second account's city %q, want Липецк", got[1].City)
	}

	got, err = s.AccountsByPhone(ctx, "+79000000099")
	if err != nil || len(got) != 0 {
		t.Errorf("unknown phone: %v, %v; want nothing", ids(got), err)
	}
}

func TestRecentPayments(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a := pgtest.AddAccount(t, pool, pgtest.Account{})
	other := pgtest.AddAccount(t, pool, pgtest.Account{})
	day := func(d int) time.Time { return time.Date(2025, 5, d, 12, 0, 0, 0, time.UTC) }
	for i, p := range []struct {
		account int64
		amount  int64
		channel string
		paidAt  time.Time
	}{
		{a, 50000, "card", day(1)},
		{a, 75000, "sberbank", day(20)},
		{a, 10000, "cash", day(10)},
		{other, 99900, "terminal", day(25)},
	} {
		pgtest.Exec(t, pool, `
INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
VALUES ($1, $2, $3, 'billing', $4, $5)`, p.account, p.amount, p.channel, fmt.Sprint(i), p.paidAt)
	}

	got, err := s.RecentPayments(ctx, a, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d payments, want 2: %+v", len(got), got)
	}
	if got[0].Amount != 75000 || got[0].Channel != "sberbank" || got[0].Provider != "billing" || !got[0].PaidAt.Equal(day(20)) || got[0].ID == 0 {
		t.Errorf("newest payment %+v", got[0])
	}
	if got[1].Amount != 10000 || got[1].Channel != "cash" {
		t.Errorf("second payment %+v", got[1])
	}

	all, err := s.RecentPayments(ctx, a, 10)
	if err != nil || len(all) != 3 {
		t.Errorf("all payments: %d, %v; want 3 of this account only", len(all), err)
	}
	if none, err := s.RecentPayments(ctx, a, 0); err != nil || len(none) != 0 {
		t.Errorf("zero payments asked: %+v, %v", none, err)
	}
	if none, err := s.RecentPayments(ctx, 987654, 5); err != nil || len(none) != 0 {
		t.Errorf("unknown account: %+v, %v", none, err)
	}
}

func TestPaymentsAreUniquePerProvider(t *testing.T) {
	_, pool := newStore(t)
	a := pgtest.AddAccount(t, pool, pgtest.Account{})
	insert := `INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
VALUES ($1, 100, 'card', $2, 'p-1', now())`
	pgtest.Exec(t, pool, insert, a, "yookassa")
	pgtest.Exec(t, pool, insert, a, "billing") // the same id from another provider is another payment
	if _, err := pool.Exec(context.Background(), insert, a, "yookassa"); err == nil {
		t.Error("the same provider payment was stored twice")
	}
}
