// Package river measures River (github.com/riverqueue/river) against the
// notices scheduler's own pattern (rows claimed with FOR UPDATE SKIP
// LOCKED) doing the same work, for the README's "Why rows with SKIP LOCKED
// and not River". It is a module of its own so that Kabinet does not depend
// on River; the root `go test ./...` does not enter it.
//
//	cd bench/river && go test -run '^$' -bench . -benchtime 1x
//
// It needs PostgreSQL at localhost:5432 (user postgres, trust auth; or
// RIVERBENCH_DSN pointing at any database whose user may create databases),
// makes a scratch database kabinet_riverbench_<random> and drops it at the
// end. RIVERBENCH_N sets how many jobs (20,000 unless told).
package river

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

const (
	// accounts is how many account rows the jobs read; a job's account is
	// its number modulo this.
	accounts = 10_000
	// senders is how many notices Kabinet sends at once (notices.Config
	// Senders, 4 by default), and so how many River workers run.
	senders = 4
	// insertBatch is how many jobs one InsertMany (or one unnest INSERT)
	// writes; a scan page gives the store about this many at a time.
	insertBatch = 1000
	// claimBatch is notices.batch: how many rows one claim leases.
	claimBatch = 100
)

func jobCount(tb testing.TB) int {
	n := 20_000
	if s := os.Getenv("RIVERBENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			tb.Fatalf("RIVERBENCH_N=%q", s)
		}
		n = v
	}
	return n
}

// scratch makes a database of its own with the accounts table filled, and
// drops it when tb ends.
func scratch(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	ctx := context.Background()
	dsn := os.Getenv("RIVERBENCH_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@localhost:5432/postgres?sslmode=disable"
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("no PostgreSQL (it fails, as the tests do, rather than skip): %v", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "kabinet_riverbench_" + hex.EncodeToString(rnd[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		pool.Close()
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop %s: %v", name, err)
		}
		_ = admin.Close(ctx)
	})
	if _, err := pool.Exec(ctx, `
CREATE TABLE accounts (
    id           bigint PRIMARY KEY,
    balance      numeric(12, 2) NOT NULL,
    monthly      numeric(12, 2) NOT NULL,
    status       text NOT NULL,
    notified     integer NOT NULL DEFAULT 0,
    last_outcome text
)`); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
INSERT INTO accounts (id, balance, monthly, status)
SELECT i, (i % 700)::numeric, 650, 'active' FROM generate_series(1, $1::int) i;`, accounts); err != nil {
		tb.Fatal(err)
	}
	return pool
}

// notice is one owed notice; the four first fields are the unique key, as
// in Kabinet's notices (the person is left out: one per account here).
type notice struct {
	AccountID int64  `json:"account_id" river:"unique"`
	Type      string `json:"kind" river:"unique"` // Kabinet's kind: low, lastday, ...
	Period    string `json:"period" river:"unique"`
	Threshold int    `json:"threshold" river:"unique"`
	UserID    int64  `json:"user_id"`
}

func (notice) Kind() string { return "notice" }

func (notice) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

func notices(n int) []notice {
	ns := make([]notice, n)
	for i := range ns {
		ns[i] = notice{
			AccountID: int64(i%accounts) + 1,
			Type:      "low",
			Period:    time.Date(2026, 12, 1+i/accounts, 0, 0, 0, 0, time.UTC).Format("2006-01-02"),
			Threshold: 100,
			UserID:    int64(i + 1_000_000),
		}
	}
	return ns
}

// readAccount is the send path's database work, Telegram left out: the account as
// the billing reads it now, then the outcome recorded (by the caller for
// Kabinet, whose outcome is the notice row's status).
func readAccount(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id int64) error {
	var (
		balance, monthly float64
		status           string
	)
	return q.QueryRow(ctx, `SELECT balance::float8, monthly::float8, status FROM accounts WHERE id = $1`, id).
		Scan(&balance, &monthly, &status)
}

type noticeWorker struct {
	river.WorkerDefaults[notice]
	pool *pgxpool.Pool
}

func (w *noticeWorker) Work(ctx context.Context, job *river.Job[notice]) error {
	if err := readAccount(ctx, w.pool, job.Args.AccountID); err != nil {
		return err
	}
	// River keeps the job's state itself; the outcome Kabinet records in
	// its notice row is recorded here on the account.
	_, err := w.pool.Exec(ctx, `UPDATE accounts SET notified = notified + 1, last_outcome = 'sent' WHERE id = $1`, job.Args.AccountID)
	return err
}

// BenchmarkRiver inserts the notices as unique River jobs (and again, all
// rejected as duplicates), then works them with 4 workers, timed from the
// client's start to the last job's completion. fetch-cooldown is River's
// FetchCooldown: 100ms is its default, 1ms its minimum.
func BenchmarkRiver(b *testing.B) {
	for _, c := range []struct {
		name     string
		cooldown time.Duration
		workers  int
		n        int // 0: RIVERBENCH_N
	}{
		// At the default a producer fetches at most MaxWorkers jobs every
		// 100 ms, so fewer jobs say as much.
		{"fetch-cooldown=100ms/workers=4", 100 * time.Millisecond, senders, 2000},
		{"fetch-cooldown=1ms/workers=4", time.Millisecond, senders, 0},
		{"fetch-cooldown=1ms/workers=100", time.Millisecond, claimBatch, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			n := c.n
			if n == 0 {
				n = jobCount(b)
			}
			for range b.N {
				benchRiver(b, n, c.cooldown, c.workers)
			}
		})
	}
}

func benchRiver(b *testing.B, n int, cooldown time.Duration, maxWorkers int) {
	b.StopTimer()
	ctx := context.Background()
	pool := scratch(b)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noticeWorker{pool: pool})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers:           workers,
		FetchCooldown:     cooldown,
		FetchPollInterval: max(time.Second, cooldown),
	})
	if err != nil {
		b.Fatal(err)
	}
	ns := notices(n)
	params := make([]river.InsertManyParams, len(ns))
	for i, nt := range ns {
		params[i] = river.InsertManyParams{Args: nt}
	}
	insert := func() (inserted, skipped int, took time.Duration) {
		start := time.Now()
		for i := 0; i < len(params); i += insertBatch {
			res, err := client.InsertMany(ctx, params[i:min(i+insertBatch, len(params))])
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res {
				if r.UniqueSkippedAsDuplicate {
					skipped++
				} else {
					inserted++
				}
			}
		}
		return inserted, skipped, time.Since(start)
	}
	b.StartTimer()
	ins, skip, took := insert()
	if ins != n || skip != 0 {
		b.Fatalf("first insert: %d inserted, %d skipped of %d", ins, skip, n)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "inserts/s")
	ins, skip, dupTook := insert()
	if ins != 0 || skip != n {
		b.Fatalf("second insert: %d inserted, %d skipped of %d", ins, skip, n)
	}
	b.ReportMetric(float64(n)/dupTook.Seconds(), "dup-rejects/s")

	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
		ChanSize: n + 1,
	})
	defer cancel()
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for done := 0; done < n; {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				b.Fatalf("job %d: %s", ev.Job.ID, ev.Kind)
			}
			done++
		case <-time.After(30 * time.Second):
			b.Fatalf("%d of %d jobs completed, then nothing for 30s", done, n)
		}
	}
	worked := time.Since(start)
	b.StopTimer()
	stopCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if err := client.Stop(stopCtx); err != nil {
		b.Fatal(err)
	}
	var completed, notified int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM river_job WHERE state = 'completed'), (SELECT sum(notified) FROM accounts)`).Scan(&completed, &notified); err != nil {
		b.Fatal(err)
	}
	if completed != n || notified != n {
		b.Fatalf("%d jobs completed, %d outcomes recorded, of %d", completed, notified, n)
	}
	b.Logf("River: %d jobs inserted in %v (%.0f/s), rejected again in %v; worked in %v: %.0f jobs a second",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), dupTook.Round(time.Millisecond),
		worked.Round(time.Millisecond), float64(n)/worked.Seconds())
	b.ReportMetric(float64(n)/worked.Seconds(), "jobs/s")
	b.StartTimer()
}

// BenchmarkSkipLocked is the same work in Kabinet's shape
// (notices/store.go, notices/service.go): rows of a notices table under a
// unique key, written with unnest ... ON CONFLICT DO NOTHING; one claimer
// leases 100 due rows at a time (FOR UPDATE SKIP LOCKED in one statement)
// and hands them to 4 senders, each reading the account and recording the
// outcome on its notice row while the lease is still its own.
func BenchmarkSkipLocked(b *testing.B) {
	n := jobCount(b)
	for range b.N {
		benchSkipLocked(b, n)
	}
}

func benchSkipLocked(b *testing.B, n int) {
	b.StopTimer()
	ctx := context.Background()
	pool := scratch(b)
	if _, err := pool.Exec(ctx, `
CREATE TABLE notices (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind             text NOT NULL,
    period           text NOT NULL,
    threshold        smallint NOT NULL DEFAULT 0,
    telegram_user_id bigint NOT NULL,
    role             text NOT NULL DEFAULT 'holder',
    due_at           timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'queued',
    attempts         integer NOT NULL DEFAULT 0,
    claimed_by       text,
    claimed_until    timestamptz,
    done_at          timestamptz,
    UNIQUE (account_id, kind, period, threshold)
)`); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		`CREATE INDEX notices_due ON notices (due_at) WHERE status = 'queued'`,
		`CREATE INDEX notices_done ON notices (done_at) WHERE status <> 'queued'`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	ns := notices(n)
	due := time.Now().Add(-time.Minute)
	insert := func() (inserted int, took time.Duration) {
		start := time.Now()
		for i := 0; i < len(ns); i += insertBatch {
			var (
				acc, user    []int64
				kind, period []string
				threshold    []int16
				role         []string
				dueAt        []time.Time
			)
			for _, nt := range ns[i:min(i+insertBatch, len(ns))] {
				acc, user = append(acc, nt.AccountID), append(user, nt.UserID)
				kind, period = append(kind, nt.Type), append(period, nt.Period)
				threshold, role, dueAt = append(threshold, int16(nt.Threshold)), append(role, "holder"), append(dueAt, due)
			}
			tag, err := pool.Exec(ctx, `
INSERT INTO notices (account_id, kind, period, threshold, telegram_user_id, role, due_at)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::bigint[], $6::text[], $7::timestamptz[])
ON CONFLICT DO NOTHING`, acc, kind, period, threshold, user, role, dueAt)
			if err != nil {
				b.Fatal(err)
			}
			inserted += int(tag.RowsAffected())
		}
		return inserted, time.Since(start)
	}
	b.StartTimer()
	ins, took := insert()
	if ins != n {
		b.Fatalf("first insert: %d of %d", ins, n)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "inserts/s")
	ins, dupTook := insert()
	if ins != 0 {
		b.Fatalf("second insert: %d of %d inserted again", ins, n)
	}
	b.ReportMetric(float64(n)/dupTook.Seconds(), "dup-rejects/s")

	const owner = "bench-1"
	lease := time.Minute
	type claimed struct{ id, accountID int64 }
	claim := func() []claimed {
		rows, _ := pool.Query(ctx, `
WITH due AS (
    SELECT id FROM notices
    WHERE status = 'queued' AND due_at <= $1 AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY due_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), c AS (
    UPDATE notices n SET claimed_by = $2, claimed_until = now() + $3 * interval '1 millisecond'
    FROM due WHERE n.id = due.id
    RETURNING n.id, n.account_id, n.due_at
)
SELECT c.id, c.account_id FROM c JOIN accounts a ON a.id = c.account_id ORDER BY c.due_at, c.id`,
			time.Now(), owner, lease.Milliseconds(), claimBatch)
		cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			return c, r.Scan(&c.id, &c.accountID)
		})
		if err != nil {
			b.Fatal(err)
		}
		return cs
	}
	var failed atomic.Value
	start := time.Now()
	done := 0
	for {
		cs := claim()
		if len(cs) == 0 {
			break
		}
		work := make(chan claimed)
		var wg sync.WaitGroup
		for range min(senders, len(cs)) {
			wg.Go(func() {
				for c := range work {
					if err := readAccount(ctx, pool, c.accountID); err != nil {
						failed.Store(err)
						continue
					}
					tag, err := pool.Exec(ctx, `
UPDATE notices SET status = $3, done_at = now(), claimed_by = NULL, claimed_until = NULL,
       attempts = attempts + CASE WHEN $3 IN ('sent', 'failed', 'blocked') THEN 1 ELSE 0 END
WHERE id = $2 AND claimed_by = $1 AND status = 'queued'`, owner, c.id, "sent")
					if err == nil && tag.RowsAffected() != 1 {
						err = fmt.Errorf("notice %d: lease lost", c.id)
					}
					if err != nil {
						failed.Store(err)
					}
				}
			})
		}
		for _, c := range cs {
			work <- c
		}
		close(work)
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		done += len(cs)
	}
	worked := time.Since(start)
	b.StopTimer()
	var sent int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM notices WHERE status = 'sent'`).Scan(&sent); err != nil {
		b.Fatal(err)
	}
	if sent != n || done != n {
		b.Fatalf("%d sent, %d claimed, of %d", sent, done, n)
	}
	b.Logf("SKIP LOCKED: %d notices inserted in %v (%.0f/s), rejected again in %v; worked in %v: %.0f a second",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), dupTook.Round(time.Millisecond),
		worked.Round(time.Millisecond), float64(n)/worked.Seconds())
	b.ReportMetric(float64(n)/worked.Seconds(), "jobs/s")
	b.StartTimer()
}
