// Package pgtest gives each test its own freshly migrated PostgreSQL database,
// so that tests run in parallel and leave nothing behind. It never skips: a
// test that cannot reach PostgreSQL fails, in CI and on a laptop alike.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/internal/pgmigrate"
	"github.com/kabinet-bot/kabinet/kabinetdb"
)

// AdminURL is the server the tests use; TEST_DATABASE_URL overrides it.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@localhost:5432/postgres?sslmode=disable"
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// New creates a database migrated to the current schema and returns a pool on
// it and its URL. The database is dropped when the test ends.
func New(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	templateOnce.Do(func() { templateName, templateErr = makeTemplate(ctx) })
	if templateErr != nil {
		t.Fatalf("pgtest: PostgreSQL at %s is needed (start it, or set TEST_DATABASE_URL): %v", AdminURL(), templateErr)
	}
	return newDatabase(t, " TEMPLATE "+templateName)
}

// Empty creates a database with no tables at all and returns a pool on it
// and its URL, for a test that migrates it itself (an upgrade from an older
// schema). The database is dropped when the test ends.
func Empty(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return newDatabase(t, "")
}

// newDatabase creates a database with the CREATE DATABASE options given
// and drops it when the test ends.
func newDatabase(t testing.TB, options string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	name := "kabinet_test_" + randomSuffix()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("pgtest: PostgreSQL at %s is needed (start it, or set TEST_DATABASE_URL): connect: %v", AdminURL(), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+options); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	dbURL := withDatabase(t, name)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		pool.Close()
		admin, err := pgx.Connect(context.Background(), AdminURL())
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return pool, dbURL
}

// makeTemplate returns a database migrated to the current schema, named by a
// hash of the migrations so that every test binary (and every run) reuses it
// until a migration changes; copying it is much faster than migrating every
// test's database. An advisory lock keeps parallel test binaries from building
// it twice.
func makeTemplate(ctx context.Context) (string, error) {
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	name := "kabinet_tmpl_" + pgmigrate.Version(postgres.Migrations, kabinetdb.Migrations)
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(424242)`); err != nil {
		return "", err
	}
	defer admin.Exec(ctx, `SELECT pg_advisory_unlock(424242)`) //nolint:errcheck // ends with the session anyway
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Build under a temporary name and rename when complete, so that a killed
	// run never leaves a half-migrated template behind.
	building := name + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	cfg, err := pgxpool.ParseConfig(AdminURL())
	if err != nil {
		return "", err
	}
	cfg.ConnConfig.Database = building
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	err = pgmigrate.Apply(ctx, pool, postgres.Migrations, kabinetdb.Migrations)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

func withDatabase(t testing.TB, name string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(AdminURL())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(cfg.User),
		Host:     net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))),
		Path:     "/" + name,
		RawQuery: "sslmode=disable",
	}
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	}
	return u.String()
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
