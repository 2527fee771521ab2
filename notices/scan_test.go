package notices

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/money"
)

// generated fills a database with n accounts in Москва on a 500 ₽ tariff,
// each linked to a Telegram user of its own, with balances from 0 to
// 990 ₽ (account g has g % 100 × 10 ₽) and charge days 1 to 28 (g % 28 + 1),
// and returns those two as functions of g.
func generated(tb testing.TB, pool *pgxpool.Pool, n int) (balance func(g int) money.Amount, chargeDay func(g int) int) {
	tb.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
INSERT INTO tariffs (name, monthly_fee) VALUES ('Скан', 50000);
`)
	if err != nil {
		tb.Fatal(err)
	}
	// In chunks, so that one statement never holds a million rows in memory.
	const chunk = 100_000
	for from := 1; from <= n; from += chunk {
		to := min(from+chunk-1, n)
		_, err := pool.Exec(ctx, `
WITH a AS (
    INSERT INTO accounts (number, phone, city_id, tariff_id, balance, charge_day)
    SELECT (5000000000 + g)::text, '+7951' || lpad(g::text, 7, '0'),
           (SELECT id FROM cities WHERE name = 'Москва'), (SELECT id FROM tariffs WHERE name = 'Скан'), (g % 100) * 1000, g % 28 + 1
    FROM generate_series($1::int, $2::int) g
    RETURNING id, number
), u AS (
    INSERT INTO telegram_users (id) SELECT number::bigint FROM a
)
INSERT INTO telegram_links (telegram_user_id, account_id) SELECT number::bigint, id FROM a`, from, to)
		if err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
	return func(g int) money.Amount { return money.Amount(g%100) * 1000 }, func(g int) int { return g%28 + 1 }
}

func scanScheduler(tb testing.TB, pool *pgxpool.Pool, now time.Time, page int) *Scheduler {
	tb.Helper()
	store := postgres.New(pool)
	store.SetClock(func() time.Time { return now })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return NewScheduler(store, nil, locales.MustLoad(), time.Second, time.UTC, func() time.Time { return now }, log).
		WithNotices(NewStore(pool, 3), store, Config{DaysBefore: 3, PageSize: page})
}

// TestScanOwesExactlyWhatTheRulesSay: over 2,000 accounts read in pages of
// 150, the scan writes one notice for each account the rules say is owed
// one (its money lasts 3 days or less, or ends today), whatever the SQL
// prefilter let through; a second scan writes none. On the 27th, so that
// the next charge days wrap over the month's end.
func TestScanOwesExactlyWhatTheRulesSay(t *testing.T) {
	pool, _ := pgtest.New(t)
	const n = 2000
	balance, chargeDay := generated(t, pool, n)
	msk, _ := time.LoadLocation("Europe/Moscow")
	now := time.Date(2026, 12, 27, 12, 0, 0, 0, msk)
	want := map[Kind]int{}
	for g := 1; g <= n; g++ {
		a := billing.Account{Status: billing.StatusActive, Balance: balance(g), ChargeDay: chargeDay(g), Tariff: billing.Tariff{MonthlyFee: 50000}}
		a.PaidUntil = a.StopsAt(now, msk)
		if o, ok := LowOwed(a, 3, now, msk); ok {
			want[o.Kind]++
		}
	}
	s := scanScheduler(t, pool, now, 150)
	st, err := s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Scanned != n || st.Created != want[KindLow]+want[KindLastDay] {
		t.Errorf("scan %+v, want %d scanned and %d created (%v)", st, n, want[KindLow]+want[KindLastDay], want)
	}
	var low, last int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE kind = 'low' AND threshold = 3), count(*) FILTER (WHERE kind = 'lastday') FROM notices`).Scan(&low, &last); err != nil {
		t.Fatal(err)
	}
	if low != want[KindLow] || last != want[KindLastDay] {
		t.Errorf("notices: %d low, %d last day; want %v", low, last, want)
	}
	again, err := s.Scan(context.Background())
	if err != nil || again.Created != 0 {
		t.Errorf("a second scan: %+v, %v; want nothing new", again, err)
	}
}

// BenchmarkScanMillion is must-show 3: the scan over 1,000,000 generated
// accounts (KABINET_SCAN_ACCOUNTS to change it), each linked, 7 % of them
// owed a notice. Filling the database takes longer than the scan; only the
// scan is timed. Run it with
//
//	go test -run '^$' -bench ScanMillion -benchtime 1x -timeout 30m ./notices/
func BenchmarkScanMillion(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("KABINET_SCAN_ACCOUNTS")); err == nil && v > 0 {
		n = v
	}
	pool, _ := pgtest.New(b)
	start := time.Now()
	generated(b, pool, n)
	b.Logf("%d accounts generated in %v", n, time.Since(start).Round(time.Second))
	msk, _ := time.LoadLocation("Europe/Moscow")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	s := scanScheduler(b, pool, now, 5000)
	b.ResetTimer()
	for i := range b.N {
		if i > 0 {
			b.StopTimer()
			if _, err := pool.Exec(context.Background(), `TRUNCATE notices`); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		st, err := s.Scan(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("scan of %d accounts: %d candidates, %d notices in %v: %.0f accounts/s, %.0f notices/s",
			st.Scanned, st.Candidates, st.Created, st.Took.Round(time.Millisecond),
			float64(st.Scanned)/st.Took.Seconds(), float64(st.Created)/st.Took.Seconds())
		b.ReportMetric(float64(st.Scanned)/st.Took.Seconds(), "accounts/s")
		b.ReportMetric(float64(st.Created)/st.Took.Seconds(), "notices/s")
		b.ReportMetric(st.Took.Seconds(), "s/scan")
	}
}

// BenchmarkSendPath is the notices table's own throughput, the lane left
// out (a messenger that takes every message at once): claim with SKIP
// LOCKED, the check right before sending (recipient, settings, the account
// as the billing reads it), the outcome; 4 senders, as serve runs them.
// It is what the README compares with River's figures.
//
//	go test -run '^$' -bench SendPath -benchtime 1x ./notices/
func BenchmarkSendPath(b *testing.B) {
	pool, _ := pgtest.New(b)
	generated(b, pool, 40_000)
	msk, _ := time.LoadLocation("Europe/Moscow")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	s := scanScheduler(b, pool, now, 5000)
	m := &memMessenger{}
	s.msg = m
	st, err := s.Scan(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for {
		k, err := s.sendDue(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	took := time.Since(start)
	if got := len(m.messages()); got != st.Created {
		b.Fatalf("sent %d of %d", got, st.Created)
	}
	b.Logf("%d notices claimed, checked, sent and recorded in %v: %.0f a second", st.Created, took.Round(time.Millisecond), float64(st.Created)/took.Seconds())
	b.ReportMetric(float64(st.Created)/took.Seconds(), "notices/s")
}
