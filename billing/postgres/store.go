// Package postgres is the demo billing in PostgreSQL: it stores accounts,
// tariffs, services, payments, trust payments, freezes, tariff changes and
// usage, runs the demo's charge cycle, and answers what Kabinet asks a
// billing system (Store implements dialogs.BillingAccounts and
// dialogs.SelfService). Kabinet's own data (which Telegram users linked
// which accounts, the language, support, notices, offices) is not here but
// in kabinetdb, so a provider with another billing system replaces this
// package and keeps the billing types.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Store answers what a billing system is asked from the billing tables. It is safe
// for concurrent use: it holds only the pool.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// New returns a Store on a pool whose database is migrated (see Migrate).
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, now: time.Now}
}

// SetClock sets the clock an account's PaidUntil is computed at (serve's,
// which the end-to-end tests control).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// accountSelect reads everything an Account holds: the city gives its name
// and time zone, the tariff its name and fee, the first lateral join gathers
// the services into two parallel arrays and the second finds a running trust
// payment. Every method that returns accounts appends its own joins, WHERE
// and ORDER BY, and scans with scanAccount, so the column list and the scan
// change together.
const accountSelect = `
SELECT a.id, a.number, a.phone, c.name, c.name_en, c.time_zone, a.status, a.balance,
       t.name, t.monthly_fee, sv.names, sv.fees, a.charge_day,
       CASE WHEN a.status = 'blocked' THEN a.blocked_at END,
       a.opened_at, a.updated_at, tp.amount, tp.expires_at, fz.end_day
FROM accounts a
JOIN cities c ON c.id = a.city_id
JOIN tariffs t ON t.id = a.tariff_id
LEFT JOIN LATERAL (
    SELECT array_agg(s.name ORDER BY s.id) AS names,
           array_agg(s.monthly_fee ORDER BY s.id) AS fees
    FROM account_services x
    JOIN services s ON s.id = x.service_id
    WHERE x.account_id = a.id
) sv ON true
LEFT JOIN LATERAL (
    SELECT p.amount, p.expires_at FROM trust_payments p
    WHERE p.account_id = a.id AND p.ended_at IS NULL
    ORDER BY p.expires_at DESC LIMIT 1
) tp ON true
LEFT JOIN LATERAL (
    SELECT f.end_day FROM freezes f
    WHERE f.account_id = a.id AND f.ended_at IS NULL AND f.started_at IS NOT NULL
) fz ON true`

// scanAccount reads one row of accountSelect and fills PaidUntil the way
// a daily write-off billing computes it (billing.PaidUntil), at the
// store's clock, in the account's city zone.
func (s *Store) scanAccount(row pgx.CollectableRow) (billing.Account, error) {
	var (
		a         billing.Account
		names     []string
		fees      []int64
		blockedAt *time.Time
		trustSum  *int64
		trustEnds *time.Time
		frozenTo  *time.Time
	)
	err := row.Scan(&a.ID, &a.Number, &a.Phone, &a.City, &a.CityEN, &a.TimeZone, &a.Status, &a.Balance,
		&a.Tariff.Name, &a.Tariff.MonthlyFee, &names, &fees, &a.ChargeDay,
		&blockedAt, &a.OpenedAt, &a.LastChange, &trustSum, &trustEnds, &frozenTo)
	if err != nil {
		return billing.Account{}, err
	}
	for i := range names {
		a.Services = append(a.Services, billing.Service{Name: names[i], MonthlyFee: money.Amount(fees[i])})
	}
	if blockedAt != nil {
		a.BlockedAt = *blockedAt
	}
	if frozenTo != nil {
		a.FrozenUntil = time.Date(frozenTo.Year(), frozenTo.Month(), frozenTo.Day(), 0, 0, 0, 0, zone(a.TimeZone))
	}
	if trustSum != nil && trustEnds != nil {
		a.Trust = &billing.ActiveTrust{Amount: money.Amount(*trustSum), ExpiresAt: *trustEnds}
	}
	a.PaidUntil = a.StopsAt(s.now(), zone(a.TimeZone))
	return a, nil
}

// oneAccount reads exactly one account from rows; no row is billing.ErrNotFound.
func (s *Store) oneAccount(rows pgx.Rows) (billing.Account, error) {
	a, err := pgx.CollectExactlyOneRow(rows, s.scanAccount)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Account{}, billing.ErrNotFound
	}
	return a, err
}

// AccountByNumber finds an account by its number, whatever its status: the
// dialogs explain a closed account themselves.
func (s *Store) AccountByNumber(ctx context.Context, number string) (_ billing.Account, err error) {
	defer wrap(&err, "account by number")
	// pgx reports a failed Query through the rows as well, so the collecting
	// helpers return it; the same holds for every Query below.
	rows, _ := s.pool.Query(ctx, accountSelect+`
WHERE a.number = $1`, number)
	return s.oneAccount(rows)
}

// AccountByID finds an account by its internal id, for the notices that
// check an account again right before they are sent.
func (s *Store) AccountByID(ctx context.Context, id int64) (_ billing.Account, err error) {
	defer wrap(&err, "account by id")
	rows, _ := s.pool.Query(ctx, accountSelect+`
WHERE a.id = $1`, id)
	return s.oneAccount(rows)
}

// AccountsByPhone lists the open accounts whose contract phone is phone
// (E.164), oldest contract first. A closed contract is left out: it cannot
// be linked, and listing it would only confuse a person with a new one.
func (s *Store) AccountsByPhone(ctx context.Context, phone string) (_ []billing.Account, err error) {
	defer wrap(&err, "accounts by phone")
	rows, _ := s.pool.Query(ctx, accountSelect+`
WHERE a.phone = $1 AND a.status <> 'closed'
ORDER BY a.opened_at, a.id`, phone)
	return pgx.CollectRows(rows, s.scanAccount)
}

// RecentPayments lists the last n payments to an account, newest first. The
// caller has already authorised the account (LinkedAccount).
func (s *Store) RecentPayments(ctx context.Context, accountID int64, n int) (_ []billing.Payment, err error) {
	defer wrap(&err, "recent payments")
	if n <= 0 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, `
SELECT id, amount, channel, paid_at, provider
FROM payments
WHERE account_id = $1
ORDER BY paid_at DESC, id DESC
LIMIT $2`, accountID, n)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (billing.Payment, error) {
		var p billing.Payment
		err := row.Scan(&p.ID, &p.Amount, &p.Channel, &p.PaidAt, &p.Provider)
		return p, err
	})
}

// wrap prefixes a returned error with the operation that failed, so that a
// log line says where; billing.ErrNotFound and ErrLinkLimit stay matchable
// with errors.Is. It never adds arguments: they may be personal data.
func wrap(errp *error, op string) {
	if *errp != nil {
		*errp = fmt.Errorf("billing/postgres: %s: %w", op, *errp)
	}
}
