package kabinetdb_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/kabinetdb"
)

// The dialogs get the links of a Telegram user from this store.
var _ dialogs.Links = (*kabinetdb.Links)(nil)

// newAccounts returns the dialogs' accounts as serve composes them, the
// links in Kabinet's tables and the accounts in the demo billing's, on a
// fresh database.
func newAccounts(t *testing.T) (dialogs.Accounts, *pgxpool.Pool) {
	t.Helper()
	pool, _ := pgtest.New(t)
	return dialogs.NewAccounts(postgres.New(pool), kabinetdb.NewLinks(pool)), pool
}

func ids(accounts []billing.Account) []int64 {
	out := make([]int64, 0, len(accounts))
	for _, a := range accounts {
		out = append(out, a.ID)
	}
	return out
}

func TestLinkMakesCurrent(t *testing.T) {
	s, pool := newAccounts(t)
	ctx := context.Background()
	const user = 111
	a := pgtest.AddAccount(t, pool, pgtest.Account{})
	b := pgtest.AddAccount(t, pool, pgtest.Account{})

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
	s, _ := newAccounts(t)
	ctx := context.Background()
	if err := s.Link(ctx, 111, 987654, 5); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("link of a missing account: %v, want ErrNotFound", err)
	}
	if _, err := s.CurrentAccount(ctx, 111); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("current after a failed link: %v, want ErrNotFound", err)
	}
}

func TestLinkLimit(t *testing.T) {
	s, pool := newAccounts(t)
	ctx := context.Background()
	const user = 222
	a := pgtest.AddAccount(t, pool, pgtest.Account{})
	b := pgtest.AddAccount(t, pool, pgtest.Account{})
	c := pgtest.AddAccount(t, pool, pgtest.Account{})

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
	s, pool := newAccounts(t)
	ctx := context.Background()
	const callers = 12

	for round, user := range []int64{444, 555} {
		max := 1
		if round == 1 {
			max = 3
			mustLink(t, s, user, pgtest.AddAccount(t, pool, pgtest.Account{}), max)
			mustLink(t, s, user, pgtest.AddAccount(t, pool, pgtest.Account{}), max)
		}
		accounts := make([]int64, callers)
		for i := range accounts {
			accounts[i] = pgtest.AddAccount(t, pool, pgtest.Account{})
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
	s, pool := newAccounts(t)
	ctx := context.Background()
	const user = 666
	a := pgtest.AddAccount(t, pool, pgtest.Account{})
	b := pgtest.AddAccount(t, pool, pgtest.Account{})
	c := pgtest.AddAccount(t, pool, pgtest.Account{})
	d := pgtest.AddAccount(t, pool, pgtest.Account{})
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
	s, pool := newAccounts(t)
	ctx := context.Background()
	const owner, stranger = 1001, 1002
	mine := pgtest.AddAccount(t, pool, pgtest.Account{})
	theirs := pgtest.AddAccount(t, pool, pgtest.Account{})
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
	s, pool := newAccounts(t)
	ctx := context.Background()
	const user = 1201
	a := pgtest.AddAccount(t, pool, pgtest.Account{})
	b := pgtest.AddAccount(t, pool, pgtest.Account{})
	c := pgtest.AddAccount(t, pool, pgtest.Account{})
	mustLink(t, s, user, a, 5)
	mustLink(t, s, user, b, 5)

	if _, err := pool.Exec(ctx, `UPDATE telegram_users SET current_account_id = $2 WHERE id = $1`, user, c); err == nil {
		t.Error("the database accepted a current account that is not linked")
	}

	pgtest.Exec(t, pool, `DELETE FROM accounts WHERE id = $1`, b)
	assertLinked(t, s, user, a)
	assertCurrent(t, s, user, a)
}

func TestLanguage(t *testing.T) {
	s, pool := newAccounts(t)
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
	a := pgtest.AddAccount(t, pool, pgtest.Account{})
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

func mustLink(t *testing.T, s dialogs.Accounts, user, account int64, max int) {
	t.Helper()
	if err := s.Link(context.Background(), user, account, max); err != nil {
		t.Fatalf("link %d to user %d: %v", account, user, err)
	}
}

func mustUnlink(t *testing.T, s dialogs.Accounts, user, account int64) {
	t.Helper()
	if err := s.Unlink(context.Background(), user, account); err != nil {
		t.Fatalf("unlink %d from user %d: %v", account, user, err)
	}
}

func assertCurrent(t *testing.T, s dialogs.Accounts, user, want int64) {
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

func assertLinked(t *testing.T, s dialogs.Accounts, user int64, want ...int64) {
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
