package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
var _ dialogs.Accounts = (*postgres.Store)(nil)

// testAccount describes an account a test inserts; zero fields get defaults.
type testAccount struct {
	Number    string
	Phone     string
	City      string
	Status    billing.Status
	Balance   money.Amount
	Services  []string
	OpenedAt  time.Time
	BlockedAt time.Time
}

// newStore returns a store on a fresh database with one tariff ("Тест",
// 500 ₽) and two services ("Статический IP" 150 ₽, "Антивирус" 99 ₽).
func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := pgtest.New(t)
	exec(t, pool, `INSERT INTO tariffs (name, monthly_fee) VALUES ('Тест', 50000)`)
	exec(t, pool, `INSERT INTO services (name, monthly_fee) VALUES ('Статический IP', 15000), ('Антивирус', 9900)`)
	return postgres.New(pool), pool
}

// lastNumber numbers the accounts a test adds without a number.
var lastNumber atomic.Int64

func addAccount(t *testing.T, pool *pgxpool.Pool, a testAccount) int64 {
	t.Helper()
	if a.Number == "" {
		a.Number = fmt.Sprint(2000000000 + lastNumber.Add(1))
	}
	if a.Phone == "" {
		a.Phone = "+79990000000"
	}
	if a.City == "" {
		a.City = "Москва"
	}
	if a.Status == "" {
		a.Status = billing.StatusActive
	}
	if a.OpenedAt.IsZero() {
		a.OpenedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	var blockedAt *time.Time
	if !a.BlockedAt.IsZero() {
		blockedAt = &a.BlockedAt
	}
	var id int64
	err := pool.QueryRow(context.Background(), `
INSERT INTO accounts (number, phone, city_id, tariff_id, status, balance, charge_day, opened_at, blocked_at)
VALUES ($1, $2, (SELECT id FROM cities WHERE name = $3), (SELECT id FROM tariffs WHERE name = 'Тест'), $4, $5, 10, $6, $7)
RETURNING id`, a.Number, a.Phone, a.City, string(a.Status), int64(a.Balance), a.OpenedAt, blockedAt).Scan(&id)
	if err != nil {
		t.Fatalf("add account: %v", err)
	}
	for _, s := range a.Services {
		exec(t, pool, `INSERT INTO account_services (account_id, service_id) SELECT $1, id FROM services WHERE name = $2`, id, s)
	}
	return id
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
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
	id := addAccount(t, pool, testAccount{
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
	addAccount(t, pool, testAccount{Number: "1", Status: billing.StatusBlocked, Balance: -32050, BlockedAt: blocked})
	addAccount(t, pool, testAccount{Number: "2", Status: billing.StatusClosed})
	// blocked_at left over from an old block means nothing once the account is active again.
	addAccount(t, pool, testAccount{Number: "3", Status: billing.StatusActive, BlockedAt: blocked})

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
	addAccount(t, pool, testAccount{Number: "42"})
	exec(t, pool, `UPDATE accounts SET updated_at = '2020-01-01' WHERE number = '42'`)
	exec(t, pool, `UPDATE accounts SET balance = balance + 100 WHERE number = '42'`)
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
	business := addAccount(t, pool, testAccount{Phone: phone, OpenedAt: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})
	home := addAccount(t, pool, testAccount{Phone: phone, OpenedAt: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)})
	parents := addAccount(t, pool, testAccount{Phone: phone, City: "Липецк", Status: billing.StatusBlocked, OpenedAt: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)})
	frozen := addAccount(t, pool, testAccount{Phone: phone, Status: billing.StatusFrozen, OpenedAt: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)})
	addAccount(t, pool, testAccount{Phone: phone, Status: billing.StatusClosed, OpenedAt: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)})
	addAccount(t, pool, testAccount{Phone: "+79000000002"})

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

func TestLinkMakesCurrent(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	const user = 111
	a := addAccount(t, pool, testAccount{})
	b := addAccount(t, pool, testAccount{})

	if _, err := s.CurrentAccount(ctx, user); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("current before any link: %v, want ErrNotFound", err)
	}
	if got, err := s.LinkedAccounts(ctx, user); err != nil || len(got) != 0 {
		t.Errorf("linked before any link: %v, %v", ids(got), err)
	}

	mustLink(t, s, user, a, 5)
	assertCurrent(t, s, user, a)
	mustLink(t, s, user, b, 5)
	assertCurrent(t, s, user, b)
	assertLinked(t, s, user, a, b)

	// Linking an already linked account is no error and makes it current again.
	mustLink(t, s, user, a, 5)
	assertCurrent(t, s, user, a)
	assertLinked(t, s, user, a, b)

	if err := s.SetCurrent(ctx, user, b); err != nil {
		t.Fatal(err)
	}
	assertCurrent(t, s, user, b)

	got, err := s.LinkedAccount(ctx, user, a)
	if err != nil || got.ID != a || got.City != "Москва" || got.TimeZone != "Europe/Moscow" {
		t.Errorf("linked account: %+v, %v", got, err)
	}
}

func TestLinkUnknownAccount(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.Link(ctx, 111, 987654, 5); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("link of a missing account: %v, want ErrNotFound", err)
	}
	if _, err := s.CurrentAccount(ctx, 111); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("current after a failed link: %v, want ErrNotFound", err)
	}
}

func TestLinkLimit(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	const user = 222
	a := addAccount(t, pool, testAccount{})
	b := addAccount(t, pool, testAccount{})
	c := addAccount(t, pool, testAccount{})

	mustLink(t, s, user, a, 2)
	mustLink(t, s, user, b, 2)
	if err := s.Link(ctx, user, c, 2); !errors.Is(err, billing.ErrLinkLimit) {
		t.Fatalf("third link with max 2: %v, want ErrLinkLimit", err)
	}
	assertLinked(t, s, user, a, b)
	assertCurrent(t, s, user, b) // a refused link changes nothing

	// At the limit, linking an account that is already linked still works.
	mustLink(t, s, user, a, 2)
	assertCurrent(t, s, user, a)

	// Another user's links do not count against this one.
	mustLink(t, s, 333, c, 2)

	if err := s.Unlink(ctx, user, b); err != nil {
		t.Fatal(err)
	}
	mustLink(t, s, user, c, 2)
	assertLinked(t, s, user, a, c)
}

// TestLinkLimitRace sends many concurrent Link calls of one user, each for a
// different account, when one slot is left: exactly one may win. The first
// round is a user the database has never seen, the second a user with links.
func TestLinkLimitRace(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	const callers = 12

	for round, user := range []int64{444, 555} {
		max := 1
		if round == 1 {
			max = 3
			mustLink(t, s, user, addAccount(t, pool, testAccount{}), max)
			mustLink(t, s, user, addAccount(t, pool, testAccount{}), max)
		}
		accounts := make([]int64, callers)
		for i := range accounts {
			accounts[i] = addAccount(t, pool, testAccount{})
		}

		var wg sync.WaitGroup
		errs := make([]error, callers)
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				errs[i] = s.Link(ctx, user, accounts[i], max)
			})
		}
		close(start)
		wg.Wait()

		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, billing.ErrLinkLimit):
			default:
				t.Errorf("user %d: unexpected error %v", user, err)
			}
		}
		linked, err := s.LinkedAccounts(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if won != 1 || len(linked) != max {
			t.Errorf("user %d with max %d: %d of %d links succeeded and %d accounts are linked; want 1 and %d",
				user, max, won, callers, len(linked), max)
		}
	}
}

func TestUnlinkMovesCurrent(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	const user = 666
	a := addAccount(t, pool, testAccount{})
	b := addAccount(t, pool, testAccount{})
	c := addAccount(t, pool, testAccount{})
	d := addAccount(t, pool, testAccount{})
	for _, id := range []int64{a, b, c, d} {
		mustLink(t, s, user, id, 5)
	}

	// Unlinking another account leaves the current one alone.
	mustUnlink(t, s, user, b)
	assertCurrent(t, s, user, d)
	assertLinked(t, s, user, a, c, d)

	// Unlinking the current account moves to the oldest remaining link.
	mustUnlink(t, s, user, d)
	assertCurrent(t, s, user, a)
	if err := s.SetCurrent(ctx, user, c); err != nil {
		t.Fatal(err)
	}
	mustUnlink(t, s, user, c)
	assertCurrent(t, s, user, a)

	// After the last link, there is no current account.
	mustUnlink(t, s, user, a)
	if _, err := s.CurrentAccount(ctx, user); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("current after the last unlink: %v, want ErrNotFound", err)
	}
	assertLinked(t, s, user)

	if err := s.Unlink(ctx, user, a); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("unlink twice: %v, want ErrNotFound", err)
	}
	if err := s.Unlink(ctx, 777, a); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("unlink by a user the bot never saw: %v, want ErrNotFound", err)
	}

	// Linking again after everything was unlinked works and is current.
	mustLink(t, s, user, b, 5)
	assertCurrent(t, s, user, b)
}

// TestAnotherUsersAccount checks the authorisation every account button
// relies on: naming an account linked to someone else finds nothing and
// changes nothing.
func TestAnotherUsersAccount(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	const owner, stranger = 1001, 1002
	mine := addAccount(t, pool, testAccount{})
	theirs := addAccount(t, pool, testAccount{})
	mustLink(t, s, owner, mine, 5)
	mustLink(t, s, stranger, theirs, 5)

	if _, err := s.LinkedAccount(ctx, stranger, mine); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("LinkedAccount of another user's account: %v, want ErrNotFound", err)
	}
	if err := s.SetCurrent(ctx, stranger, mine); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("SetCurrent to another user's account: %v, want ErrNotFound", err)
	}
	if err := s.Unlink(ctx, stranger, mine); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("Unlink of another user's account: %v, want ErrNotFound", err)
	}
	if err := s.SetCurrent(ctx, 1003, mine); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("SetCurrent by an unknown user: %v, want ErrNotFound", err)
	}
	if _, err := s.LinkedAccount(ctx, 1003, mine); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("LinkedAccount by an unknown user: %v, want ErrNotFound", err)
	}
	assertCurrent(t, s, stranger, theirs)
	assertCurrent(t, s, owner, mine)
	assertLinked(t, s, owner, mine)
	assertLinked(t, s, stranger, theirs)
}

// TestCurrentIsAlwaysLinked: the database refuses a current account that is
// not linked, and an account removed by an administrator does not leave the
// user without a menu.
func TestCurrentIsAlwaysLinked(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	const user = 1201
	a := addAccount(t, pool, testAccount{})
	b := addAccount(t, pool, testAccount{})
	c := addAccount(t, pool, testAccount{})
	mustLink(t, s, user, a, 5)
	mustLink(t, s, user, b, 5)

	if _, err := pool.Exec(ctx, `UPDATE telegram_users SET current_account_id = $2 WHERE id = $1`, user, c); err == nil {
		t.Error("the database accepted a current account that is not linked")
	}

	exec(t, pool, `DELETE FROM accounts WHERE id = $1`, b)
	assertLinked(t, s, user, a)
	assertCurrent(t, s, user, a)
}

func TestRecentPayments(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a := addAccount(t, pool, testAccount{})
	other := addAccount(t, pool, testAccount{})
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
		exec(t, pool, `
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
	a := addAccount(t, pool, testAccount{})
	insert := `INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
VALUES ($1, 100, 'card', $2, 'p-1', now())`
	exec(t, pool, insert, a, "yookassa")
	exec(t, pool, insert, a, "billing") // the same id from another provider is another payment
	if _, err := pool.Exec(context.Background(), insert, a, "yookassa"); err == nil {
		t.Error("the same provider payment was stored twice")
	}
}

func TestLanguage(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	const user = 1301

	if lang, err := s.Language(ctx, user); err != nil || lang != "" {
		t.Errorf("language of an unknown user: %q, %v; want empty", lang, err)
	}
	if err := s.SetLanguage(ctx, user, "en"); err != nil {
		t.Fatal(err)
	}
	if lang, err := s.Language(ctx, user); err != nil || lang != "en" {
		t.Errorf("language: %q, %v; want en", lang, err)
	}

	// Linking and unlinking keep the choice, and the choice keeps the links.
	a := addAccount(t, pool, testAccount{})
	mustLink(t, s, user, a, 5)
	if err := s.SetLanguage(ctx, user, "ru"); err != nil {
		t.Fatal(err)
	}
	assertCurrent(t, s, user, a)
	mustUnlink(t, s, user, a)
	if lang, err := s.Language(ctx, user); err != nil || lang != "ru" {
		t.Errorf("language after link and unlink: %q, %v; want ru", lang, err)
	}
	if lang, err := s.Language(ctx, 1302); err != nil || lang != "" {
		t.Errorf("another user's language: %q, %v; want empty", lang, err)
	}
}

func mustLink(t *testing.T, s *postgres.Store, user, account int64, max int) {
	t.Helper()
	if err := s.Link(context.Background(), user, account, max); err != nil {
		t.Fatalf("link %d to user %d: %v", account, user, err)
	}
}

func mustUnlink(t *testing.T, s *postgres.Store, user, account int64) {
	t.Helper()
	if err := s.Unlink(context.Background(), user, account); err != nil {
		t.Fatalf("unlink %d from user %d: %v", account, user, err)
	}
}

func assertCurrent(t *testing.T, s *postgres.Store, user, want int64) {
	t.Helper()
	got, err := s.CurrentAccount(context.Background(), user)
	if err != nil {
		t.Errorf("current account of %d: %v, want %d", user, err, want)
		return
	}
	if got.ID != want {
		t.Errorf("current account of %d: %d, want %d", user, got.ID, want)
	}
}

func assertLinked(t *testing.T, s *postgres.Store, user int64, want ...int64) {
	t.Helper()
	got, err := s.LinkedAccounts(context.Background(), user)
	if err != nil {
		t.Errorf("linked accounts of %d: %v", user, err)
		return
	}
	if !slices.Equal(ids(got), want) {
		t.Errorf("linked accounts of %d: %v, want %v (oldest link first)", user, ids(got), want)
	}
}
