package app

import (
	"context"
	"testing"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/config"
)

// The pool serve and the sandbox open has room for every worker: its size is
// DATABASE_MAX_CONNS, which follows WORKERS, not pgx's default of 4.
func TestOpenDBSizesThePoolFromWorkers(t *testing.T) {
	for _, env := range []map[string]string{
		{"WORKERS": "16"},
		{"WORKERS": "16", "DATABASE_MAX_CONNS": "7"},
	} {
		env["DATABASE_URL"] = pgtest.AdminURL()
		cfg, err := config.Load(func(k string) string { return env[k] }, false)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := OpenDB(context.Background(), cfg.DatabaseURL, cfg.DatabaseMaxConns)
		if err != nil {
			t.Fatal(err)
		}
		got := pool.Config().MaxConns
		pool.Close()
		want := int32(cfg.DatabaseMaxConns)
		if env["DATABASE_MAX_CONNS"] == "" && want != 16+config.DatabaseConnsBeyondWorkers {
			t.Errorf("the default for WORKERS=16 is %d", want)
		}
		if got != want {
			t.Errorf("%v: pool of %d connections, want %d", env, got, want)
		}
	}
}
