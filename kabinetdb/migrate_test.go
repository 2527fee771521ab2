package kabinetdb_test

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/internal/pgmigrate"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/offices"
)

// beforeSplit holds the migrations exactly as they were released before
// Kabinet's own tables left billing/postgres: one runner, every file
// recorded by its bare name.
//
//go:embed testdata/before_split/*.sql
var beforeSplit embed.FS

// migrateBeforeSplit brings an empty database to the schema of the last
// release before the split, the way its runner did.
func migrateBeforeSplit(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pgtest.Exec(t, pool, `CREATE TABLE schema_migrations (
		name text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`)
	names, err := fs.Glob(beforeSplit, "testdata/before_split/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("the old migrations: %v (%d files)", err, len(names))
	}
	sort.Strings(names)
	for _, path := range names {
		body, err := beforeSplit.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(path, "testdata/before_split/")
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
			return err
		}); err != nil {
			t.Fatalf("old migration %s: %v", name, err)
		}
	}
}

// TestUpgradeFromBeforeTheSplit migrates a database at the schema released
// before the split, with rows in Kabinet's tables and the billing's, to the
// two sources: nothing runs twice (no error from a table that exists, no
// second copy of the seeded cities), every row is still there, the schema
// is exactly a new database's, and both sources' files are recorded.
func TestUpgradeFromBeforeTheSplit(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.Empty(t)
	migrateBeforeSplit(t, pool)
	if err := postgres.LoadDemo(ctx, pool); err != nil {
		t.Fatalf("demo billing on the old schema: %v", err)
	}
	if err := offices.LoadDemo(ctx, pool); err != nil {
		t.Fatalf("demo offices on the old schema: %v", err)
	}
	// Kabinet's own rows: a linked user with a current account, a payment
	// (its trigger queues a notice for the user), a created payment, a trust
	// payment with its reminder, a support request, notice settings, and an
	// audit row.
	var acc int64
	if err := pool.QueryRow(ctx, `SELECT id FROM accounts ORDER BY id LIMIT 1`).Scan(&acc); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, pool, `INSERT INTO telegram_users (id, language) VALUES (501, 'en')`)
	pgtest.Exec(t, pool, `INSERT INTO telegram_links (telegram_user_id, account_id) VALUES (501, $1)`, acc)
	pgtest.Exec(t, pool, `UPDATE telegram_users SET current_account_id = $1 WHERE id = 501`, acc)
	pgtest.Exec(t, pool, `INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
		VALUES ($1, 50000, 'card', 'test', 'upgrade-1', now())`, acc)
	pgtest.Exec(t, pool, `INSERT INTO created_payments (provider, idempotence_key, account_id, amount)
		VALUES ('yookassa', 'upgrade-key', $1, 50000)`, acc)
	pgtest.Exec(t, pool, `INSERT INTO trust_payments (account_id, month, amount, granted_at, expires_at)
		VALUES ($1, date_trunc('month', now())::date, 70000, now(), now() + interval '3 days')`, acc)
	pgtest.Exec(t, pool, `INSERT INTO trust_reminders (trust_payment_id, telegram_user_id)
		SELECT id, 501 FROM trust_payments WHERE account_id = $1`, acc)
	pgtest.Exec(t, pool, `INSERT INTO support_requests (open_key, user_id, chat_id, account_id, category, lang, group_chat)
		VALUES ('upgrade-open', 501, 501, $1, 'internet', 'en', -100123)`, acc)
	pgtest.Exec(t, pool, `INSERT INTO notice_settings (telegram_user_id, account_id, low) VALUES (501, $1, false)`, acc)
	pgtest.Exec(t, pool, `INSERT INTO selfservice_audit (event_key, telegram_user_id, account_id, action)
		VALUES ('upgrade-ev', 501, $1, 'freeze')`, acc)

	before := rowCounts(t, pool)
	for table, n := range before {
		if n == 0 && slices.Contains([]string{"telegram_users", "telegram_links", "payment_notices", "created_payments",
			"trust_payments", "trust_reminders", "support_requests", "notice_settings", "selfservice_audit",
			"accounts", "service_points"}, table) {
			t.Fatalf("the old database has no row in %s: the test would prove nothing about it", table)
		}
	}

	for range 2 { // the second start finds everything applied
		if err := pgmigrate.Apply(ctx, pool, postgres.Migrations, kabinetdb.Migrations); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
	}

	after := rowCounts(t, pool)
	for table, n := range before {
		if table == "schema_migrations" {
			continue
		}
		if after[table] != n {
			t.Errorf("%s: %d rows after the upgrade, %d before", table, after[table], n)
		}
	}
	var lang string
	var current int64
	if err := pool.QueryRow(ctx, `SELECT language, current_account_id FROM telegram_users WHERE id = 501`).Scan(&lang, &current); err != nil {
		t.Fatal(err)
	}
	if lang != "en" || current != acc {
		t.Errorf("user 501 after the upgrade: language %q, current account %d; want en, %d", lang, current, acc)
	}

	fresh, _ := pgtest.New(t)
	if got, want := schema(t, pool), schema(t, fresh); !slices.Equal(got, want) {
		t.Errorf("the upgraded schema differs from a new database's:\n%s", diff(got, want))
	}
	if got, want := applied(t, pool), applied(t, fresh); !isSubset(want, got) {
		t.Errorf("recorded migrations after the upgrade: %q; want every one of a new database's %q", got, want)
	}
}

// TestMigrateNewDatabaseRecordsBothSources: a new database records each
// source's files under its name, and nothing bare.
func TestMigrateNewDatabaseRecordsBothSources(t *testing.T) {
	pool, _ := pgtest.New(t)
	names := applied(t, pool)
	var billing, kabinet int
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "billing/"):
			billing++
		case strings.HasPrefix(n, "kabinet/"):
			kabinet++
		default:
			t.Errorf("migration %q recorded under no source", n)
		}
	}
	if billing == 0 || kabinet == 0 {
		t.Errorf("%d billing and %d kabinet migrations recorded, want both", billing, kabinet)
	}
}

// rowCounts counts the rows of every table of the public schema.
func rowCounts(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	rows, _ := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, table := range tables {
		var n int64
		if err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q`, table)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[table] = n
	}
	return counts
}

// schema lists the public schema's columns, constraints, indexes, triggers
// and functions, one sorted line each, so that two databases compare.
func schema(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, _ := pool.Query(context.Background(), `
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable || ' default=' || coalesce(column_default, '')
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
UNION ALL
SELECT 'function ' || p.proname || ' ' || md5(p.prosrc) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
ORDER BY 1`)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func applied(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, _ := pool.Query(context.Background(), `SELECT name FROM schema_migrations ORDER BY name`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func isSubset(small, big []string) bool {
	for _, s := range small {
		if !slices.Contains(big, s) {
			return false
		}
	}
	return true
}

// diff shows the lines only one side has.
func diff(got, want []string) string {
	var b strings.Builder
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "  only upgraded: %s\n", l)
		}
	}
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "  only new:      %s\n", l)
		}
	}
	return b.String()
}
