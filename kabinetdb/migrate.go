package kabinetdb

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are Kabinet's own tables, recorded as "kabinet/<file>". Before
// the split they were the billing's files, recorded bare; Adopts names the
// old file that created each, so a database migrated then is recognised and
// nothing runs twice.
var Migrations = pgmigrate.Source{
	Name:  "kabinet",
	Files: pgmigrate.Sub(migrations, "migrations"),
	Adopts: map[string]string{
		"001_telegram.sql":          "001_accounts.sql",
		"002_payments.sql":          "002_payments.sql",
		"003_offices.sql":           "003_offices.sql",
		"005_scheduler_leases.sql":  "005_scheduler_leases.sql",
		"006_support.sql":           "006_support.sql",
		"007_support_events.sql":    "007_support_events.sql",
		"008_support_outages.sql":   "008_support_outages.sql",
		"009_notices.sql":           "009_notices.sql",
		"020_selfservice_audit.sql": "020_selfservice.sql",
	},
}

// Migrate applies Kabinet's own migrations that have not been applied yet.
// In the demo billing's database its tables reference the billing's
// accounts and cities, so the billing's migrations run first.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Apply(ctx, pool, Migrations)
}
