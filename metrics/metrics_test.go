package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/internal/metricstest"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

// Every Redis call is timed under its command and result, a pipeline as
// one call; a missing key is an answer, a wrong-type command an error, and
// the pool's numbers are read at the scrape, on a single Redis and on the
// cluster alike.
func TestRedisHook(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		reg := prometheus.NewRegistry()
		rdb.AddHook(NewRedisHook(reg))
		RegisterRedisPool(reg, rdb)
		ctx := context.Background()
		key := prefix + "{k}"
		if err := rdb.Set(ctx, key, "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Get(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Get(ctx, prefix+"{k}:missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		if err := rdb.LPush(ctx, key, "x").Err(); err == nil {
			t.Fatal("LPUSH on a string worked")
		}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, key)
			p.TTL(ctx, key)
			return nil
		}); err != nil {
			t.Fatal(err)
		}

		m := metricstest.Gather(t, reg)
		for _, c := range []struct {
			command, result string
			want            float64
		}{
			{"set", "ok", 1},
			{"get", "ok", 2},
			{"lpush", "error", 1},
			{"pipeline", "ok", 1},
			{"ttl", "ok", 0}, // inside the pipeline, not a call of its own
		} {
			if got := m.Value("kabinet_redis_command_duration_seconds", map[string]string{"command": c.command, "result": c.result}); got != c.want {
				t.Errorf("%s %s: %v, want %v", c.command, c.result, got, c.want)
			}
		}
		// The connection's own set-up (HELLO, CLIENT SETINFO, which a Redis
		// before 7.2 refuses) is no call of ours and no error.
		for _, c := range []string{"hello", "client"} {
			if m.Has("kabinet_redis_command_duration_seconds", map[string]string{"command": c}) {
				t.Errorf("the connection's %s is measured as a call", c)
			}
		}
		if got := m.Value("kabinet_redis_command_duration_seconds", map[string]string{"result": "error"}); got != 1 {
			t.Errorf("%v errors, want the LPUSH alone", got)
		}
		if got := m.Value("kabinet_redis_pool_connections", nil); got < 1 {
			t.Errorf("the pool has %v connections after the calls", got)
		}
		if got := m.Value("kabinet_redis_pool_hits_total", nil) + m.Value("kabinet_redis_pool_misses_total", nil); got < 5 {
			t.Errorf("the pool handed out %v connections for 5 calls", got)
		}
	})
}

// A Redis that is not there fails fast as an error; one that does not
// answer in time is a timeout.
func TestRedisResult(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                   "ok",
		redis.Nil:                             "ok",
		fmt.Errorf("get: %w", redis.Nil):      "ok",
		context.DeadlineExceeded:              "timeout",
		redis.ErrPoolTimeout:                  "timeout",
		errors.New("dial tcp: refused"):       "error",
		errors.New("NOSCRIPT No matching"):    "error",
		fmt.Errorf("x: %w", context.Canceled): "error",
	} {
		if got := RedisResult(err); got != want {
			t.Errorf("RedisResult(%v) = %q, want %q", err, got, want)
		}
	}
}

// The statement label is a query's first keyword out of a fixed few, so
// neither a query's text nor its values reach a label.
func TestStatement(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1":                                  "select",
		"\n\t\tselect balance FROM accounts":        "select",
		"insert into payments values ($1)":          "insert",
		"UPDATE accounts SET balance = balance + 1": "update",
		"delete from x":                             "delete",
		"WITH due AS (SELECT 1) UPDATE t SET a = 1": "with",
		"begin":                           "begin",
		"commit":                          "commit",
		"-- claim due rows\nSELECT 1":     "select",
		"(SELECT 1) UNION (SELECT 2)":     "select",
		"listen payment_notices":          "listen",
		"VACUUM accounts":                 "other",
		"select'1000000004'":              "select",
		"1000000004":                      "other",
		"":                                "other",
		"-- only a comment":               "other",
		"SELECT pg_advisory_lock(42)":     "select",
		"TRUNCATE accounts_1000000004":    "other",
		"CREATE DATABASE kabinet_sandbox": "create",
	} {
		if got := Statement(sql); got != want {
			t.Errorf("Statement(%q) = %q, want %q", sql, got, want)
		}
	}
}

// Every query of a pool with the tracer is timed under its statement and
// result, until its rows are closed; the pool's numbers are its own.
func TestPostgresTracer(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	cfg, err := pgxpool.ParseConfig(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 3
	cfg.ConnConfig.Tracer = NewPostgresTracer(reg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	RegisterPostgresPool(reg, pool)

	var n int
	for range 3 {
		if err := pool.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, "SELECT generate_series(1, 3)")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // reading the rows is part of the query
	rows.Close()
	if _, err := pool.Exec(ctx, "SELEC 1"); err == nil {
		t.Fatal("a syntax error worked")
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = pool.Exec(short, "SELECT pg_sleep(2)")
	cancel()
	if err == nil {
		t.Fatal("pg_sleep(2) finished within 50 ms")
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	m := metricstest.Gather(t, reg)
	for _, c := range []struct {
		statement, result string
		want              float64
	}{
		{"select", "ok", 4},
		{"other", "error", 1}, // "SELEC"
		{"select", "timeout", 1},
		{"begin", "ok", 1},
		{"commit", "ok", 1},
	} {
		if got := m.Value("kabinet_postgres_query_duration_seconds", map[string]string{"statement": c.statement, "result": c.result}); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.statement, c.result, got, c.want)
		}
	}
	if got := m.Sum("kabinet_postgres_query_duration_seconds", map[string]string{"statement": "select", "result": "ok"}); got < 0.02 {
		t.Errorf("the selects took %v s, less than the 20 ms their rows were open", got)
	}
	if got := m.Value("kabinet_postgres_pool_max_connections", nil); got != 3 {
		t.Errorf("max connections %v, want 3", got)
	}
	if got := m.Value("kabinet_postgres_pool_acquires_total", nil); got < 7 {
		t.Errorf("%v acquires for 7 queries", got)
	}
	if got := m.Value("kabinet_postgres_pool_connections", nil); got < 1 || got > 3 {
		t.Errorf("%v connections in a pool of 3", got)
	}
}

// The registry serves the Go runtime's metrics next to Kabinet's, in the
// text format Prometheus scrapes.
func TestHandlerServesTheRegistry(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	srv := httptest.NewServer(Handler(reg, nil))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := metricstest.Parse(t, strings.NewReader(string(body)))
	if got := m.Value("kabinet_things_total", nil); got != 3 {
		t.Errorf("kabinet_things_total = %v, want 3", got)
	}
	if !m.Has("go_goroutines", nil) || !m.Has("process_resident_memory_bytes", nil) {
		t.Errorf("the runtime's metrics are missing:\n%.500s", body)
	}
}
