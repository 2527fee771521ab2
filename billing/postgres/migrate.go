package postgres

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the demo billing's tables (cities, tariffs, services,
// accounts, payments, trust payments, freezes, tariff changes, charges,
// usage), recorded as "billing/<file>". Before the split every file was
// recorded bare and some held Kabinet's own tables too; Adopts names the
// old file each one was part of, so a database migrated then is recognised.
var Migrations = pgmigrate.Source{
	Name:  "billing",
	Files: pgmigrate.Sub(migrations, "migrations"),
	Adopts: map[string]string{
		"001_accounts.sql":               "001_accounts.sql",
		"002_trust_payments.sql":         "002_payments.sql",
		"004_trust_grant_key.sql":        "004_trust_grant_key.sql",
		"005_trust_reminders_queued.sql": "005_scheduler_leases.sql",
		"020_selfservice.sql":            "020_selfservice.sql",
		"021_charge_day_31.sql":          "021_charge_day_31.sql",
	},
}

// Migrate applies the demo billing's migrations that have not been applied
// yet. Kabinet's own tables reference the demo billing's accounts, so its
// migrations (kabinetdb.Migrate) run after these.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Apply(ctx, pool, Migrations)
}
