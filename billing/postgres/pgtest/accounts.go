package pgtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Account describes an account of the demo billing that a test inserts;
// zero fields get defaults (a new number, +79990000000, Москва, active, on
// the tariff «Тест», 500 ₽, charged on the 10th, opened 1 January 2020).
type Account struct {
	Number    string
	Phone     string
	City      string
	Status    billing.Status
	Balance   money.Amount
	Services  []string // names of services the test inserted
	OpenedAt  time.Time
	BlockedAt time.Time
}

// lastNumber numbers the accounts a test adds without a number.
var lastNumber atomic.Int64

// AddAccount inserts an account into the demo billing's tables (creating
// the tariff «Тест» if the database has none) and returns its id.
func AddAccount(t testing.TB, pool *pgxpool.Pool, a Account) int64 {
	t.Helper()
	if a.Number == "" {
		a.Number = fmt.Sprint(2000000000 + lastNumber.Add(1))
	}
	if a.Phone == "" {
		a.Phone = "+79990000000"
	}
	if a.City == "" {
		a.City = "Москва"
	}
	if a.Status == "" {
		a.Status = billing.StatusActive
	}
	if a.OpenedAt.IsZero() {
		a.OpenedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	var blockedAt *time.Time
	if !a.BlockedAt.IsZero() {
		blockedAt = &a.BlockedAt
	}
	Exec(t, pool, `INSERT INTO tariffs (name, monthly_fee) VALUES ('Тест', 50000) ON CONFLICT (name) DO NOTHING`)
	var id int64
	err := pool.QueryRow(context.Background(), `
INSERT INTO accounts (number, phone, city_id, tariff_id, status, balance, charge_day, opened_at, blocked_at)
VALUES ($1, $2, (SELECT id FROM cities WHERE name = $3), (SELECT id FROM tariffs WHERE name = 'Тест'), $4, $5, 10, $6, $7)
RETURNING id`, a.Number, a.Phone, a.City, string(a.Status), int64(a.Balance), a.OpenedAt, blockedAt).Scan(&id)
	if err != nil {
		t.Fatalf("pgtest: add account: %v", err)
	}
	for _, s := range a.Services {
		Exec(t, pool, `INSERT INTO account_services (account_id, service_id) SELECT $1, id FROM services WHERE name = $2`, id, s)
	}
	return id
}

// Exec runs one statement and fails the test if it fails.
func Exec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
