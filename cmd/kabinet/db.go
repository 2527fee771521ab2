package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/offices"
)

// openDB connects to PostgreSQL, creating the database first if it does not
// exist yet, so that a fresh machine needs no manual `createdb`.
func openDB(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
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
		return openDB(ctx, dbURL)
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

func openRedis(ctx context.Context, redisURL string) (*redis.Client, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		//lint:ignore ST1005 the message starts with the service's name, like PostgreSQL's
		return nil, fmt.Errorf("Redis at %s is not reachable (start it, e.g. `docker compose up -d redis`, or set REDIS_URL): %w", opts.Addr, err)
	}
	return rdb, nil
}

// withMigratedDB runs fn with a pool on DATABASE_URL, the database created
// if missing and migrated: the common start of the commands that are not serve.
func withMigratedDB(ctx context.Context, getenv func(string) string, fn func(*pgxpool.Pool) error) error {
	cfg, err := config.Load(getenv, false)
	if err != nil {
		return err
	}
	pool, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		return err
	}
	return fn(pool)
}

func migrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return withMigratedDB(ctx, getenv, func(*pgxpool.Pool) error {
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	})
}

func demoData(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return withMigratedDB(ctx, getenv, func(pool *pgxpool.Pool) error {
		if err := loadDemo(ctx, pool); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "demo data loaded")
		return nil
	})
}

// loadDemo migrates and loads every demo dataset: subscribers, offices and
// payment points. Safe to run again.
func loadDemo(ctx context.Context, pool *pgxpool.Pool) error {
	if err := postgres.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := postgres.LoadDemo(ctx, pool); err != nil {
		return err
	}
	return offices.LoadDemo(ctx, pool)
}
