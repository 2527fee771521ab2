package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/metricstest"
	"github.com/kabinet-bot/kabinet/money"
)

// The self-service is this adapter's too.
var _ dialogs.SelfService = (*postgres.Store)(nil)

var msk = time.FixedZone("MSK", 3*60*60)

func rows(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A freeze asked again under the same key (an update delivered again
// after a crash) is answered as made, changing nothing; another key asking
// for the same freeze (a second tap) is told it changed nothing; the audit
// trail has the one change, by whom.
func TestFreezeIsKeyedByTheRequest(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(1000)})
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	rules := billing.DefaultFreezeRules()
	req := billing.ChangeRequest{Key: "self:7:1:u100", UserID: 7}

	f, changed, err := s.Freeze(ctx, req, id, now, 14, now, rules)
	if err != nil || !changed || !f.Active || f.Days() != 14 {
		t.Fatalf("first: %+v changed %v, %v", f, changed, err)
	}
	again, changed, err := s.Freeze(ctx, req, id, now, 14, now, rules)
	if err != nil || !changed || again.ID != f.ID {
		t.Fatalf("the same key again: %+v changed %v, %v; want the same freeze, changed", again, changed, err)
	}
	tap, changed, err := s.Freeze(ctx, billing.ChangeRequest{Key: "self:7:1:u101", UserID: 7}, id, now, 14, now, rules)
	if err != nil || changed || tap.ID != f.ID {
		t.Fatalf("a second tap: %+v changed %v, %v; want the same freeze, unchanged", tap, changed, err)
	}
	if n := rows(t, pool, `SELECT count(*) FROM freezes WHERE account_id = $1`, id); n != 1 {
		t.Errorf("%d freezes", n)
	}
	if n := rows(t, pool, `SELECT count(*) FROM selfservice_audit WHERE account_id = $1 AND telegram_user_id = 7 AND action = 'freeze'`, id); n != 1 {
		t.Errorf("%d audit rows", n)
	}
	// Another freeze while one runs: the rules refuse it.
	_, _, err = s.Freeze(ctx, billing.ChangeRequest{Key: "self:7:1:u102", UserID: 7}, id, now.AddDate(0, 0, 1), 30, now, rules)
	var r *billing.FreezeRefusal
	if !errors.As(err, &r) || r.Reason != billing.FreezePlanned {
		t.Errorf("a second freeze: %v, want refused as planned", err)
	}
	if _, status := balanceOf(t, pool, id); status != billing.StatusFrozen {
		t.Errorf("status %s", status)
	}
}

// 20 presses of "Confirm" at once freeze once.
func TestConcurrentFreezesMakeOne(t *testing.T) {
	s, pool := newStore(t)
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(1000)})
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	var wg sync.WaitGroup
	var mu sync.Mutex
	made := 0
	for i := range 20 {
		wg.Go(func() {
			_, changed, err := s.Freeze(context.Background(), billing.ChangeRequest{Key: "k" + string(rune('a'+i)), UserID: 7}, id, now, 14, now, billing.DefaultFreezeRules())
			if err != nil {
				t.Error(err)
			}
			if changed {
				mu.Lock()
				made++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if made != 1 || rows(t, pool, `SELECT count(*) FROM freezes WHERE account_id = $1`, id) != 1 {
		t.Errorf("%d presses changed the account, %d freezes", made, rows(t, pool, `SELECT count(*) FROM freezes WHERE account_id = $1`, id))
	}
}

// The cycle: a charge day within a freeze takes nothing; the freeze ends
// on its last day; the next charge day takes the month, once however many
// times and instances run it; a balance left below zero blocks the account.
func TestRunCycleSkipsFrozenDaysAndChargesOnce(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	rules := billing.DefaultFreezeRules()
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(700), Services: []string{"Антивирус"}}) // 500 + 99 on the 10th
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	if _, err := s.RunCycle(ctx, start, rules); err != nil { // first seen: nothing of the past
		t.Fatal(err)
	}
	if b, _ := balanceOf(t, pool, id); b != money.Rub(700) {
		t.Fatalf("the first cycle charged: %d", b)
	}
	if _, _, err := s.Freeze(ctx, billing.ChangeRequest{Key: "f", UserID: 7}, id, start.AddDate(0, 0, 1), 14, start, rules); err != nil {
		t.Fatal(err)
	}
	// The freeze begins on the 2nd, the charge day (10th) passes within it.
	for _, at := range []time.Time{start.AddDate(0, 0, 1), start.AddDate(0, 0, 9).Add(time.Hour)} {
		if _, err := s.RunCycle(ctx, at, rules); err != nil {
			t.Fatal(err)
		}
	}
	if b, status := balanceOf(t, pool, id); b != money.Rub(700) || status != billing.StatusFrozen {
		t.Fatalf("within the freeze: %d, %s", b, status)
	}
	// The 16th: the freeze is over; the 10th of January takes the month,
	// once, with three cycles at once.
	if _, err := s.RunCycle(ctx, start.AddDate(0, 0, 15), rules); err != nil {
		t.Fatal(err)
	}
	if _, status := balanceOf(t, pool, id); status != billing.StatusActive {
		t.Fatalf("after the freeze: %s", status)
	}
	jan := time.Date(2027, 1, 10, 9, 0, 0, 0, msk)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := s.RunCycle(ctx, jan, rules); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if b, _ := balanceOf(t, pool, id); b != money.Rub(700)-money.Rub(599) {
		t.Errorf("after the 10th of January: %d, want %d", b, money.Rub(101))
	}
	if n := rows(t, pool, `SELECT count(*) FROM charges WHERE account_id = $1 AND kind = 'monthly'`, id); n != 1 {
		t.Errorf("%d monthly charges", n)
	}
	// The 10th of February: 101 ₽ do not pay 599 ₽, the account is blocked.
	if _, err := s.RunCycle(ctx, jan.AddDate(0, 1, 0), rules); err != nil {
		t.Fatal(err)
	}
	if b, status := balanceOf(t, pool, id); b != money.Rub(101)-money.Rub(599) || status != billing.StatusBlocked {
		t.Errorf("after February's charge: %d, %s", b, status)
	}
	ops, err := s.Operations(ctx, id, start, jan.AddDate(0, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []billing.OperationKind
	for _, o := range ops {
		kinds = append(kinds, o.Kind)
	}
	want := []billing.OperationKind{billing.OpFreeze, billing.OpThaw, billing.OpCharge, billing.OpCharge}
	if len(kinds) != len(want) {
		t.Fatalf("operations %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("operations %v, want %v", kinds, want)
		}
	}
}

// A tariff change waits for the next charge day, where the cycle applies
// it before charging; a plan of another kind is refused.
func TestTariffChangeAppliedOnTheChargeDay(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	pgtest.Exec(t, pool, `INSERT INTO tariffs (name, monthly_fee, kind, speed_mbps) VALUES ('Быстрый', 90000, 'home', 1000), ('Офис', 250000, 'business', 200)`)
	pgtest.Exec(t, pool, `INSERT INTO tariff_cities (tariff_id, city_id) SELECT t.id, c.id FROM tariffs t, cities c WHERE c.name = 'Москва'`)
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(2000)})
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	if _, err := s.RunCycle(ctx, now, billing.DefaultFreezeRules()); err != nil {
		t.Fatal(err)
	}
	plans, err := s.Tariffs(ctx, id)
	if err != nil || len(plans.Available) != 1 || plans.Available[0].Name != "Быстрый" {
		t.Fatalf("available %+v, %v; want only Быстрый", plans.Available, err)
	}
	var office int64
	if err := pool.QueryRow(ctx, `SELECT id FROM tariffs WHERE name = 'Офис'`).Scan(&office); err != nil {
		t.Fatal(err)
	}
	var r *billing.TariffRefusal
	if _, _, err := s.ChangeTariff(ctx, billing.ChangeRequest{Key: "a", UserID: 7}, id, office, now); !errors.As(err, &r) || r.Reason != billing.TariffNotOffered {
		t.Errorf("a business plan for a home: %v", err)
	}
	ch, changed, err := s.ChangeTariff(ctx, billing.ChangeRequest{Key: "b", UserID: 7}, id, plans.Available[0].ID, now)
	if err != nil || !changed || ch.From.Day() != 10 || ch.From.Month() != time.December {
		t.Fatalf("change %+v changed %v, %v; want from 10 December", ch, changed, err)
	}
	if _, err := s.RunCycle(ctx, time.Date(2026, 12, 10, 1, 0, 0, 0, msk), billing.DefaultFreezeRules()); err != nil {
		t.Fatal(err)
	}
	a, err := s.AccountByNumber(ctx, numberOf(t, pool, id))
	if err != nil || a.Tariff.Name != "Быстрый" || a.Balance != money.Rub(1100) {
		t.Errorf("on the 10th: %q, %d, %v; want Быстрый charged 900 ₽", a.Tariff.Name, a.Balance, err)
	}
}

func numberOf(t *testing.T, pool *pgxpool.Pool, id int64) string {
	t.Helper()
	var n string
	if err := pool.QueryRow(context.Background(), `SELECT number FROM accounts WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Connecting a service takes its first part once, whether the same
// request comes again or a second tap asks for it.
func TestServiceConnectedOnce(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(1000)})
	var ip int64
	if err := pool.QueryRow(ctx, `SELECT id FROM services WHERE name = 'Статический IP'`).Scan(&ip); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, msk) // 15 of the 30 days to the 10th of December
	req := billing.ChangeRequest{Key: "on", UserID: 7}
	for i, r := range []billing.ChangeRequest{req, req, {Key: "tap", UserID: 7}} {
		charged, changed, err := s.SetService(ctx, r, id, ip, true, now)
		if err != nil {
			t.Fatal(err)
		}
		wantChanged := i < 2
		if changed != wantChanged || (wantChanged && charged != money.Rub(75)) {
			t.Errorf("call %d: charged %d, changed %v", i, charged, changed)
		}
	}
	if b, _ := balanceOf(t, pool, id); b != money.Rub(925) {
		t.Errorf("balance %d, want 925 ₽", b)
	}
	if _, changed, err := s.SetService(ctx, billing.ChangeRequest{Key: "off", UserID: 7}, id, ip, false, now); err != nil || !changed {
		t.Errorf("off: %v, %v", changed, err)
	}
	if n := rows(t, pool, `SELECT count(*) FROM account_services WHERE account_id = $1`, id); n != 0 {
		t.Errorf("%d services after disconnecting", n)
	}
}

// The changes are counted by action from the audit trail.
func TestSelfServiceMetrics(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(1000)})
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	reg := prometheus.NewRegistry()
	s.RegisterSelfServiceMetrics(reg)
	if _, _, err := s.Freeze(ctx, billing.ChangeRequest{Key: "a", UserID: 7}, id, now, 7, now, billing.DefaultFreezeRules()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Freeze(ctx, billing.ChangeRequest{Key: "b", UserID: 7}, id, now, 7, now, billing.DefaultFreezeRules()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unfreeze(ctx, billing.ChangeRequest{Key: "c", UserID: 7}, id, now); err != nil {
		t.Fatal(err)
	}
	m := metricstest.Gather(t, reg)
	for action, want := range map[string]float64{"freeze": 1, "unfreeze": 1, "tariff": 0} {
		if got := m.Value("kabinet_selfservice_changes_total", map[string]string{"action": action}); got != want {
			t.Errorf("%s: %v, want %v", action, got, want)
		}
	}
}
