package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/money"
)

var moscow = mustLoad("Europe/Moscow")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func balanceOf(t *testing.T, pool *pgxpool.Pool, id int64) (money.Amount, billing.Status) {
	t.Helper()
	var b money.Amount
	var s billing.Status
	if err := pool.QueryRow(context.Background(), `SELECT balance, status FROM accounts WHERE id = $1`, id).Scan(&b, &s); err != nil {
		t.Fatal(err)
	}
	return b, s
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreditOnce(t *testing.T) {
	s, pool := newStore(t)
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(120)})
	ctx := context.Background()
	paid := time.Date(2025, 11, 5, 10, 0, 0, 0, moscow)
	ok, err := s.Credit(ctx, "billing", "p-1", id, money.Rub(500), "terminal", paid)
	if err != nil || !ok {
		t.Fatalf("first credit = %v, %v", ok, err)
	}
	ok, err = s.Credit(ctx, "billing", "p-1", id, money.Rub(500), "terminal", paid)
	if err != nil || ok {
		t.Fatalf("second credit = %v, %v; want not credited", ok, err)
	}
	if b, _ := balanceOf(t, pool, id); b != money.Rub(620) {
		t.Errorf("balance = %d, want 620 ₽", b)
	}
	// The same id from another provider is another payment.
	if ok, _ := s.Credit(ctx, "yookassa", "p-1", id, money.Rub(1), "yookassa", paid); !ok {
		t.Error("a payment of another provider with the same id was not credited")
	}
	got, err := s.RecentPayments(ctx, id, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("history = %v, %v", got, err)
	}
}

func TestCreditThreeAtOnceCreditsOnce(t *testing.T) {
	s, pool := newStore(t)
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: 0})
	var wg sync.WaitGroup
	var mu sync.Mutex
	credited := 0
	for range 3 {
		wg.Go(func() {
			ok, err := s.Credit(context.Background(), "yookassa", "2f1c-same", id, money.Rub(500), "yookassa", time.Now())
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				credited++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if b, _ := balanceOf(t, pool, id); credited != 1 || b != money.Rub(500) {
		t.Errorf("credited %d times, balance %d; want once, 500 ₽", credited, b)
	}
}

func TestCreditUnblocksWhenEnough(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	// Monthly charge: 500 ₽ tariff + 150 ₽ static IP = 650 ₽.
	id := pgtest.AddAccount(t, pool, pgtest.Account{Status: billing.StatusBlocked, Balance: money.Rub(-100), Services: []string{"Статический IP"}, BlockedAt: time.Now()})
	s.Credit(ctx, "billing", "a", id, money.Rub(700), "cash", time.Now())
	if b, st := balanceOf(t, pool, id); b != money.Rub(600) || st != billing.StatusBlocked {
		t.Errorf("after 700 ₽: %d %s; want 600 ₽ still blocked (charge is 650 ₽)", b, st)
	}
	s.Credit(ctx, "billing", "b", id, money.Rub(50), "cash", time.Now())
	if b, st := balanceOf(t, pool, id); b != money.Rub(650) || st != billing.StatusActive {
		t.Errorf("after 50 ₽ more: %d %s; want 650 ₽ active", b, st)
	}
	frozen := pgtest.AddAccount(t, pool, pgtest.Account{Status: billing.StatusFrozen})
	s.Credit(ctx, "billing", "c", frozen, money.Rub(5000), "cash", time.Now())
	if _, st := balanceOf(t, pool, frozen); st != billing.StatusFrozen {
		t.Errorf("a frozen account became %s after a payment", st)
	}
}

func TestCreatedPayments(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := pgtest.AddAccount(t, pool, pgtest.Account{Number: "1000234567"})
	c, err := s.StartPayment(ctx, "yookassa", "key-1", id, money.Rub(500))
	if err != nil || c.Status != "new" || c.AccountNumber != "1000234567" || c.ProviderPaymentID != "" {
		t.Fatalf("start = %+v, %v", c, err)
	}
	// The same key again (double tap) finds the same intent, whatever it says.
	again, err := s.StartPayment(ctx, "yookassa", "key-1", id, money.Rub(900))
	if err != nil || again.Amount != money.Rub(500) {
		t.Fatalf("again = %+v, %v", again, err)
	}
	if err := s.SetProviderPayment(ctx, "key-1", "yk-1", "https://yoomoney.ru/confirm/1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetProviderPayment(ctx, "key-1", "yk-other", "https://x"); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("a second provider id for one intent = %v, want ErrNotFound", err)
	}
	got, err := s.CreatedPayment(ctx, "yookassa", "yk-1")
	if err != nil || got.Status != "pending" || got.ConfirmationURL != "https://yoomoney.ru/confirm/1" || got.AccountID != id {
		t.Fatalf("created = %+v, %v", got, err)
	}
	if _, err := s.CreatedPayment(ctx, "yookassa", "nope"); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("unknown = %v", err)
	}
	if ok, _ := s.Credit(ctx, "yookassa", "yk-1", id, money.Rub(500), "yookassa", time.Now()); !ok {
		t.Fatal("not credited")
	}
	got, _ = s.CreatedPayment(ctx, "yookassa", "yk-1")
	if got.Status != "succeeded" {
		t.Errorf("status after credit = %s", got.Status)
	}
	s.CancelPayment(ctx, "yookassa", "yk-1")
	if got, _ = s.CreatedPayment(ctx, "yookassa", "yk-1"); got.Status != "succeeded" {
		t.Errorf("a late cancel turned a succeeded payment into %s", got.Status)
	}
}

func refusal(err error) (billing.TrustReason, time.Time) {
	var r *billing.TrustRefusal
	if errors.As(err, &r) {
		return r.Reason, r.From
	}
	return "", time.Time{}
}

func TestTrustGrantAllowed(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(120), Services: []string{"Антивирус"}})
	now := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	set := billing.DefaultTrustSettings(moscow)

	offer, err := s.OfferTrust(ctx, id, now, set)
	if err != nil {
		t.Fatal(err)
	}
	// The monthly charge: 500 ₽ + 99 ₽; 3 days.
	if offer.Amount != 599_00 || offer.Fee != 0 || !offer.ExpiresAt.Equal(now.AddDate(0, 0, 3)) {
		t.Errorf("offer = %+v", offer)
	}
	if b, _ := balanceOf(t, pool, id); b != money.Rub(120) {
		t.Error("an offer changed the balance")
	}
	g, err := s.GrantTrust(ctx, "", id, now, set)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := balanceOf(t, pool, id); b != 719_00 || g.Balance != 719_00 {
		t.Errorf("balance after grant = %d (reported %d), want 719 ₽", b, g.Balance)
	}
	hist, _ := s.RecentPayments(ctx, id, 10)
	if len(hist) != 1 || hist[0].Channel != "trust" || hist[0].Amount != 599_00 {
		t.Errorf("history = %+v", hist)
	}
	if n := count(t, pool, `SELECT count(*) FROM trust_payments WHERE account_id = $1 AND month = '2025-11-01'`, id); n != 1 {
		t.Errorf("%d trust payments recorded", n)
	}
}

func TestTrustGrantLiftsBlockAndTakesFee(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := pgtest.AddAccount(t, pool, pgtest.Account{Status: billing.StatusBlocked, Balance: money.Rub(-800), BlockedAt: time.Now()})
	set := billing.DefaultTrustSettings(moscow)
	set.Fee = money.Rub(30)
	set.Days = 5
	now := time.Date(2025, 11, 10, 9, 0, 0, 0, moscow)
	g, err := s.GrantTrust(ctx, "", id, now, set)
	if err != nil {
		t.Fatal(err)
	}
	b, st := balanceOf(t, pool, id)
	if st != billing.StatusActive || b != money.Rub(-800+500-30) || !g.ExpiresAt.Equal(now.AddDate(0, 0, 5)) || g.Fee != money.Rub(30) {
		t.Errorf("after grant: %d %s, offer %+v", b, st, g)
	}
	set.Amount = money.Rub(1000)
	id2 := pgtest.AddAccount(t, pool, pgtest.Account{Balance: 0})
	if g, _ := s.GrantTrust(ctx, "", id2, now, set); g.Amount != money.Rub(1000) {
		t.Errorf("amount setting ignored: %+v", g)
	}
}

func TestTrustRefusals(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	set := billing.DefaultTrustSettings(moscow)
	now := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	cases := []struct {
		name string
		acc  pgtest.Account
		want billing.TrustReason
	}{
		{"balance covers the month", pgtest.Account{Balance: money.Rub(500)}, billing.TrustBalanceEnough},
		{"frozen", pgtest.Account{Status: billing.StatusFrozen, Balance: -100}, billing.TrustFrozen},
		{"closed", pgtest.Account{Status: billing.StatusClosed, Balance: -100}, billing.TrustClosed},
	}
	for _, c := range cases {
		id := pgtest.AddAccount(t, pool, c.acc)
		_, err1 := s.OfferTrust(ctx, id, now, set)
		_, err2 := s.GrantTrust(ctx, "", id, now, set)
		for _, err := range []error{err1, err2} {
			if r, from := refusal(err); r != c.want || !from.IsZero() {
				t.Errorf("%s: %v, want %s", c.name, err, c.want)
			}
		}
		if n := count(t, pool, `SELECT count(*) FROM trust_payments WHERE account_id = $1`, id); n != 0 {
			t.Errorf("%s: granted anyway", c.name)
		}
	}
	if _, err := s.GrantTrust(ctx, "", 999999, now, set); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}

func TestTrustOncePerMonthAndNotAgainWithoutPayment(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	set := billing.DefaultTrustSettings(moscow)
	id := pgtest.AddAccount(t, pool, pgtest.Account{Status: billing.StatusBlocked, Balance: money.Rub(-2000), BlockedAt: time.Now()})
	nov := time.Date(2025, 11, 3, 12, 0, 0, 0, moscow)
	if _, err := s.GrantTrust(ctx, "", id, nov, set); err != nil {
		t.Fatal(err)
	}
	// Later the same month: refused until 1 December, midnight in Moscow.
	_, err := s.GrantTrust(ctx, "", id, nov.AddDate(0, 0, 20), set)
	if r, from := refusal(err); r != billing.TrustUsedThisMonth || !from.Equal(time.Date(2025, 12, 1, 0, 0, 0, 0, moscow)) {
		t.Errorf("same month: %v (from %v)", err, from)
	}
	// Next month, no real payment since: refused, no date to offer.
	dec := time.Date(2025, 12, 2, 12, 0, 0, 0, moscow)
	if r, from := refusal(func() error { _, err := s.OfferTrust(ctx, id, dec, set); return err }()); r != billing.TrustNoPayment || !from.IsZero() {
		t.Errorf("no payment since: %s %v", r, from)
	}
	// With the rule switched off, it is allowed.
	off := set
	off.RequirePayment = false
	if _, err := s.OfferTrust(ctx, id, dec, off); err != nil {
		t.Errorf("rule off: %v", err)
	}
	// A payment made before the trust payment does not count; one after does.
	s.Credit(ctx, "billing", "before", id, money.Rub(10), "cash", nov.Add(-time.Hour))
	if _, err := s.OfferTrust(ctx, id, dec, set); err == nil {
		t.Error("a payment older than the trust payment counted")
	}
	s.Credit(ctx, "billing", "after", id, money.Rub(10), "cash", nov.AddDate(0, 0, 10))
	if _, err := s.GrantTrust(ctx, "", id, dec, set); err != nil {
		t.Errorf("after a real payment: %v", err)
	}
}

// TestTrustMonthBoundary: 23:59:59 on 30 November and 00:00:00 on 1 December,
// Moscow time (20:59:59 and 21:00:00 UTC, the same UTC day), are judged in
// their own months.
func TestTrustMonthBoundary(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	set := billing.DefaultTrustSettings(moscow)
	set.RequirePayment = false
	lastSecond := time.Date(2025, 11, 30, 23, 59, 59, 0, moscow).UTC()
	firstSecond := time.Date(2025, 12, 1, 0, 0, 0, 0, moscow).UTC()

	a := pgtest.AddAccount(t, pool, pgtest.Account{Status: billing.StatusBlocked, Balance: money.Rub(-5000), BlockedAt: time.Now()})
	if _, err := s.GrantTrust(ctx, "", a, lastSecond, set); err != nil {
		t.Fatalf("23:59:59: %v", err)
	}
	if _, err := s.GrantTrust(ctx, "", a, firstSecond, set); err != nil {
		t.Errorf("00:00:00 of the next month after 23:59:59: %v", err)
	}
	months := count(t, pool, `SELECT count(DISTINCT month) FROM trust_payments WHERE account_id = $1`, a)
	if months != 2 {
		t.Errorf("%d distinct months recorded, want 2", months)
	}
	// And the other way round: 00:00:00 on 1 November belongs with 23:59:59
	// on 30 November, not with October.
	b := pgtest.AddAccount(t, pool, pgtest.Account{Status: billing.StatusBlocked, Balance: money.Rub(-5000), BlockedAt: time.Now()})
	if _, err := s.GrantTrust(ctx, "", b, time.Date(2025, 11, 1, 0, 0, 0, 0, moscow), set); err != nil {
		t.Fatal(err)
	}
	if r, _ := refusal(func() error { _, err := s.GrantTrust(ctx, "", b, lastSecond, set); return err }()); r != billing.TrustUsedThisMonth {
		t.Errorf("1 Nov 00:00 then 30 Nov 23:59:59: %s, want used this month", r)
	}
}

func TestTrustFiftyConcurrentGrantsGiveOne(t *testing.T) {
	s, pool := newStore(t)
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(100)})
	set := billing.DefaultTrustSettings(moscow)
	now := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted, refused := 0, 0
	for i := range 50 {
		wg.Go(func() {
			// 50 presses, each its own key: one grant.
			_, err := s.GrantTrust(context.Background(), fmt.Sprintf("trust:1:%d:u%d", id, i), id, now, set)
			mu.Lock()
			defer mu.Unlock()
			var r *billing.TrustRefusal
			switch {
			case err == nil:
				granted++
			case errors.As(err, &r):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	b, _ := balanceOf(t, pool, id)
	ledger := count(t, pool, `SELECT count(*) FROM payments WHERE account_id = $1 AND channel = 'trust'`, id)
	if granted != 1 || refused != 49 || b != money.Rub(600) || ledger != 1 {
		t.Errorf("granted %d, refused %d, balance %d, ledger rows %d; want 1, 49, 600 ₽, 1", granted, refused, b, ledger)
	}
}

// TestTrustGrantRepeatedWithItsKeyIsTheSameGrant: the "Confirm" press
// delivered again (a crash after the grant's commit, before the bot's) is
// answered with the grant of then, not "already taken this month", and
// changes nothing; another press is refused as before.
func TestTrustGrantRepeatedWithItsKeyIsTheSameGrant(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := pgtest.AddAccount(t, pool, pgtest.Account{Status: billing.StatusBlocked, Balance: money.Rub(-35), BlockedAt: time.Now()})
	set := billing.DefaultTrustSettings(moscow)
	set.Fee = money.Rub(10)
	now := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	first, err := s.GrantTrust(ctx, "trust:7:1:u100", id, now, set)
	if err != nil {
		t.Fatal(err)
	}
	if first.Balance != money.Rub(-35+500-10) {
		t.Fatalf("first grant: %+v", first)
	}
	// Meanwhile a payment arrives and time goes on: the repeat still tells
	// the grant as it was, balance included.
	if _, err := s.Credit(ctx, "billing", "t-1", id, money.Rub(10), "cash", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	again, err := s.GrantTrust(ctx, "trust:7:1:u100", id, now.Add(time.Hour), set)
	if err != nil {
		t.Fatalf("the same press again: %v, want the grant of then", err)
	}
	if again.AccountID != first.AccountID || again.Amount != first.Amount || again.Fee != first.Fee ||
		!again.GrantedAt.Equal(first.GrantedAt) || !again.ExpiresAt.Equal(first.ExpiresAt) || again.Balance != first.Balance {
		t.Errorf("the same press again: %+v, want %+v", again, first)
	}
	if b, _ := balanceOf(t, pool, id); b != money.Rub(-35+500-10+10) {
		t.Errorf("balance %d after the repeat: it changed something", b)
	}
	if n := count(t, pool, `SELECT count(*) FROM trust_payments WHERE account_id = $1`, id); n != 1 {
		t.Errorf("%d trust payments, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM payments WHERE account_id = $1 AND channel = 'trust'`, id); n != 1 {
		t.Errorf("%d trust credits in the ledger, want 1", n)
	}
	if r, _ := refusal(func() error { _, err := s.GrantTrust(ctx, "trust:7:1:u101", id, now.Add(time.Hour), set); return err }()); r != billing.TrustUsedThisMonth {
		t.Errorf("another press: %s, want used this month", r)
	}
	// A key names one request for one account.
	other := pgtest.AddAccount(t, pool, pgtest.Account{Balance: 0})
	if _, err := s.GrantTrust(ctx, "trust:7:1:u100", other, now, set); err == nil || refusalOf(err) {
		t.Errorf("a grant key of another account: %v, want an error", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM trust_payments WHERE account_id = $1`, other); n != 0 {
		t.Errorf("granted under another account's key")
	}
}

// TestTrustSameKeyAtOnceIsOneGrant: the same press handled by two
// instances at once (a redelivery racing the original) is one grant, and
// both are told so, with the same numbers.
func TestTrustSameKeyAtOnceIsOneGrant(t *testing.T) {
	s, pool := newStore(t)
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(100)})
	set := billing.DefaultTrustSettings(moscow)
	now := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	const copies = 20
	offers := make([]billing.TrustOffer, copies)
	var wg sync.WaitGroup
	for i := range copies {
		wg.Go(func() {
			var err error
			if offers[i], err = s.GrantTrust(context.Background(), "trust:7:1:u5", id, now, set); err != nil {
				t.Errorf("copy %d: %v, want granted", i, err)
			}
		})
	}
	wg.Wait()
	for i, o := range offers {
		if o.Amount != offers[0].Amount || o.Balance != offers[0].Balance || !o.ExpiresAt.Equal(offers[0].ExpiresAt) {
			t.Errorf("copy %d told %+v, copy 0 %+v", i, o, offers[0])
		}
	}
	if b, _ := balanceOf(t, pool, id); b != money.Rub(600) || offers[0].Balance != money.Rub(600) {
		t.Errorf("balance %d (told %d), want 600 ₽", b, offers[0].Balance)
	}
	if n := count(t, pool, `SELECT count(*) FROM trust_payments WHERE account_id = $1`, id); n != 1 {
		t.Errorf("%d trust payments, want 1", n)
	}
}

func refusalOf(err error) bool {
	var r *billing.TrustRefusal
	return errors.As(err, &r)
}
