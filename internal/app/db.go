package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/internal/pgmigrate"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/offices"
)

// OpenDB connects to PostgreSQL as serve does, for the commands that are
// not serve (migrate, demo-data, the sandbox) and the load tool.
func OpenDB(ctx context.Context, dbURL string, maxConns int) (*pgxpool.Pool, error) {
	return openDB(ctx, dbURL, maxConns, nil)
}

// openDB connects to PostgreSQL, creating the database first if it does not
// exist yet, so that a fresh machine needs no manual `createdb`. The pool
// holds at most maxConns connections (DATABASE_MAX_CONNS, which follows
// WORKERS: pgx's default of 4 would make the chats handled in parallel
// queue for a connection).
func openDB(ctx context.Context, dbURL string, maxConns int, tracer pgx.QueryTracer) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns) // config keeps it to 10000
	}
	if tracer != nil {
		cfg.ConnConfig.Tracer = tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	err = pool.Ping(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name: no such database
		pool.Close()
		if err := createDatabase(ctx, cfg.ConnConfig); err != nil {
			return nil, err
		}
		return openDB(ctx, dbURL, maxConns, tracer)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s:%d is not reachable (start it, e.g. `docker compose up -d postgres`, or set DATABASE_URL): %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

func createDatabase(ctx context.Context, target *pgx.ConnConfig) error {
	admin := target.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("create database %s: %w", target.Database, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{target.Database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: another process was quicker
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", target.Database, err)
	}
	return nil
}

// The Redis client's limits. Every Redis call of a turn is a small command,
// script or pipeline that answers within milliseconds, so a Redis that is
// down or hangs is told from a slow one within a second, and a call fails
// within about 2 s (one retry on a fresh connection) instead of go-redis's
// 5 s a try, which added up to a button spinning for 9 s while Redis was
// down. REDIS_URL's query parameters of the same names override each
// (e.g. ?read_timeout=3s&max_retries=3; README, Configuration).
const (
	redisDialTimeout  = time.Second
	redisReadTimeout  = time.Second
	redisWriteTimeout = time.Second
	// redisPoolTimeout: how long a call waits for a free connection.
	redisPoolTimeout = time.Second
	// redisMaxRetries: one more try on a fresh connection, for a pooled
	// one that Redis closed (a restart, an idle timeout).
	redisMaxRetries = 1
	// redisMaxPoolSize caps the pool of a very large WORKERS.
	redisMaxPoolSize = 1000
)

// redisOptions parses REDIS_URL and sets the limits above where it does not
// set them itself. workers (WORKERS) sizes the pool: each chat in hand may
// make a call while its lock is renewed, and a call that waits for a
// connection behind calls stuck on a hung Redis would wait out their
// timeouts on top of its own.
func redisOptions(redisURL string, workers int) (*redis.Options, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	u, err := url.Parse(redisURL)
	if err != nil { // ParseURL has accepted it already
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	q := u.Query()
	for _, d := range []struct {
		param string
		set   func()
	}{
		{"dial_timeout", func() { opts.DialTimeout = redisDialTimeout }},
		{"read_timeout", func() { opts.ReadTimeout = redisReadTimeout }},
		{"write_timeout", func() { opts.WriteTimeout = redisWriteTimeout }},
		{"pool_timeout", func() { opts.PoolTimeout = redisPoolTimeout }},
		{"max_retries", func() { opts.MaxRetries = redisMaxRetries }},
		{"pool_size", func() { opts.PoolSize = max(10*runtime.GOMAXPROCS(0), min(2*workers, redisMaxPoolSize)) }},
		// go-redis's second pool for pipelines: a pipeline that cannot
		// start there tries the main pool too, which doubles its time
		// against a hung Redis; ours are a few commands, for which the
		// main pool is as good.
		{"pipeline_pool_size", func() { opts.PipelinePoolSize = -1 }},
	} {
		if !q.Has(d.param) {
			d.set()
		}
	}
	// go-redis dials up to 5 times within one try (not a URL parameter);
	// MaxRetries is the one place that retries.
	opts.DialerRetries = 1
	return opts, nil
}

// openRedis connects to REDIS_URL, or to the Redis Cluster whose seed nodes
// are cluster (then REDIS_URL gives the credentials and the client limits):
// every script's keys share a hash tag, so Kabinet runs on either.
func openRedis(ctx context.Context, redisURL string, cluster []string, workers int) (redis.UniversalClient, error) {
	opts, err := redisOptions(redisURL, workers)
	if err != nil {
		return nil, err
	}
	var rdb redis.UniversalClient
	addr := opts.Addr
	if len(cluster) > 0 {
		addr = strings.Join(cluster, ",")
		rdb = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cluster, Username: opts.Username, Password: opts.Password, TLSConfig: opts.TLSConfig,
			DialTimeout: opts.DialTimeout, ReadTimeout: opts.ReadTimeout, WriteTimeout: opts.WriteTimeout,
			PoolTimeout: opts.PoolTimeout, PoolSize: opts.PoolSize, MaxRetries: opts.MaxRetries,
			DialerRetries: opts.DialerRetries,
		})
	} else {
		rdb = redis.NewClient(opts)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		//lint:ignore ST1005 the message starts with the service's name, like PostgreSQL's
		return nil, fmt.Errorf("Redis at %s is not reachable (start it, e.g. `docker compose up -d redis`, or set REDIS_URL): %w", addr, err)
	}
	return rdb, nil
}

// Migrate applies the demo billing's migrations and then Kabinet's own
// (whose tables reference the billing's accounts in the demo's database).
// Safe to run again.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Apply(ctx, pool, postgres.Migrations, kabinetdb.Migrations)
}

// LoadDemo migrates and loads every demo dataset: subscribers, offices and
// payment points. Safe to run again.
func LoadDemo(ctx context.Context, pool *pgxpool.Pool) error {
	if err := Migrate(ctx, pool); err != nil {
		return err
	}
	if err := postgres.LoadDemo(ctx, pool); err != nil {
		return err
	}
	return offices.LoadDemo(ctx, pool)
}
