package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/internal/app"
)

// withMigratedDB runs fn with a pool on DATABASE_URL, the database created
// if missing and migrated: the common start of the commands that are not serve.
func withMigratedDB(ctx context.Context, getenv func(string) string, fn func(*pgxpool.Pool) error) error {
	cfg, err := config.Load(getenv, false)
	if err != nil {
		return err
	}
	pool, err := app.OpenDB(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := app.Migrate(ctx, pool); err != nil {
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
		if err := app.LoadDemo(ctx, pool); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "demo data loaded")
		return nil
	})
}
