package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PostgresTracer measures every query of a pool: set it as the pool's
// ConnConfig.Tracer before the pool is made. A query is labelled by its
// statement's first keyword (select, insert, update, delete, with, begin,
// commit...), never by its text or arguments. A Query's time runs until its
// rows are closed, so it includes reading them.
type PostgresTracer struct {
	duration *prometheus.HistogramVec
}

var _ pgx.QueryTracer = (*PostgresTracer)(nil)

// NewPostgresTracer registers kabinet_postgres_query_duration_seconds in reg.
func NewPostgresTracer(reg prometheus.Registerer) *PostgresTracer {
	t := &PostgresTracer{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      "postgres_query_duration_seconds",
		Help:      "PostgreSQL queries by statement (its first keyword: select, insert, update, delete, with, begin, commit, rollback, other) and result (ok, error, timeout); the wait for a pool connection is not in it.",
		Buckets:   CallBuckets,
	}, []string{"statement", "result"})}
	reg.MustRegister(t.duration)
	return t
}

type queryStartKey struct{}

type queryStart struct {
	at        time.Time
	statement string
}

// TraceQueryStart implements pgx.QueryTracer.
func (t *PostgresTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, queryStartKey{}, queryStart{at: time.Now(), statement: Statement(data.SQL)})
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *PostgresTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	start, ok := ctx.Value(queryStartKey{}).(queryStart)
	if !ok {
		return
	}
	result := "ok"
	switch {
	case data.Err == nil:
	case IsTimeout(data.Err):
		result = "timeout"
	default:
		result = "error"
	}
	t.duration.WithLabelValues(start.statement, result).Observe(time.Since(start.at).Seconds())
}

// statements are the first keywords that name a query's label; any other
// is "other", so that the label has a fixed set of values.
var statements = map[string]bool{
	"select": true, "insert": true, "update": true, "delete": true, "with": true,
	"begin": true, "commit": true, "rollback": true, "listen": true, "notify": true,
	"create": true, "alter": true, "set": true,
}

// Statement is the label of a query: its first keyword in lower case
// when it is one of a fixed few, otherwise "other". Leading blanks and
// "--" comment lines are skipped.
func Statement(sql string) string {
	s := sql
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		if !strings.HasPrefix(s, "--") {
			break
		}
		nl := strings.IndexByte(s, '\n')
		if nl < 0 {
			return "other"
		}
		s = s[nl+1:]
	}
	end := strings.IndexFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') })
	if end < 0 {
		end = len(s)
	}
	word := strings.ToLower(s[:end])
	if statements[word] {
		return word
	}
	return "other"
}

// RegisterPostgresPool exposes pool's pgxpool statistics at each scrape.
func RegisterPostgresPool(reg prometheus.Registerer, pool *pgxpool.Pool) {
	reg.MustRegister(&postgresPoolCollector{pool: pool})
}

var (
	pgPoolMax          = poolDesc("postgres_pool_max_connections", "The PostgreSQL pool's size (DATABASE_MAX_CONNS).")
	pgPoolTotal        = poolDesc("postgres_pool_connections", "Connections in the PostgreSQL pool: acquired, idle and being opened.")
	pgPoolAcquired     = poolDesc("postgres_pool_acquired_connections", "PostgreSQL connections in use now.")
	pgPoolIdle         = poolDesc("postgres_pool_idle_connections", "Idle PostgreSQL connections.")
	pgPoolConstructing = poolDesc("postgres_pool_constructing_connections", "PostgreSQL connections being opened.")
	pgPoolAcquires     = poolDesc("postgres_pool_acquires_total", "Connections taken from the PostgreSQL pool.")
	pgPoolAcquireSecs  = poolDesc("postgres_pool_acquire_seconds_total", "Time spent taking connections from the PostgreSQL pool, waits included.")
	pgPoolEmpty        = poolDesc("postgres_pool_empty_acquires_total", "Acquires that found no idle connection and waited for one to be freed or opened.")
	pgPoolEmptyWait    = poolDesc("postgres_pool_empty_acquire_wait_seconds_total", "Time those acquires waited.")
	pgPoolCanceled     = poolDesc("postgres_pool_canceled_acquires_total", "Acquires given up because their context ended.")
)

type postgresPoolCollector struct{ pool *pgxpool.Pool }

func (c *postgresPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pgPoolMax, pgPoolTotal, pgPoolAcquired, pgPoolIdle, pgPoolConstructing, pgPoolAcquires, pgPoolAcquireSecs, pgPoolEmpty, pgPoolEmptyWait, pgPoolCanceled} {
		ch <- d
	}
}

func (c *postgresPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(pgPoolMax, float64(s.MaxConns()))
	gauge(pgPoolTotal, float64(s.TotalConns()))
	gauge(pgPoolAcquired, float64(s.AcquiredConns()))
	gauge(pgPoolIdle, float64(s.IdleConns()))
	gauge(pgPoolConstructing, float64(s.ConstructingConns()))
	counter(pgPoolAcquires, float64(s.AcquireCount()))
	counter(pgPoolAcquireSecs, s.AcquireDuration().Seconds())
	counter(pgPoolEmpty, float64(s.EmptyAcquireCount()))
	counter(pgPoolEmptyWait, s.EmptyAcquireWaitTime().Seconds())
	counter(pgPoolCanceled, float64(s.CanceledAcquireCount()))
}
