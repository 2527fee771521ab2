// Package postgres is the PostgreSQL billing adapter: it stores accounts,
// tariffs, services, payments and the links between Telegram users and
// accounts, and answers the dialogs' questions about them (Store implements
// dialogs.Accounts). A provider with another billing system replaces this
// package and keeps the billing types.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Store answers the dialogs' questions from the billing tables. It is safe
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

// LinkedAccounts lists the accounts linked to a Telegram user, oldest link first.
func (s *Store) LinkedAccounts(ctx context.Context, userID int64) (_ []billing.Account, err error) {
	defer wrap(&err, "linked accounts")
	rows, _ := s.pool.Query(ctx, accountSelect+`
JOIN telegram_links l ON l.account_id = a.id
WHERE l.telegram_user_id = $1
ORDER BY l.linked_at, l.account_id`, userID)
	return pgx.CollectRows(rows, s.scanAccount)
}

// LinkedAccount returns one account if it is linked to the user, and
// billing.ErrNotFound otherwise: this is the authorisation check behind every
// button that names an account.
func (s *Store) LinkedAccount(ctx context.Context, userID, accountID int64) (_ billing.Account, err error) {
	defer wrap(&err, "linked account")
	rows, _ := s.pool.Query(ctx, accountSelect+`
JOIN telegram_links l ON l.account_id = a.id
WHERE l.telegram_user_id = $1 AND l.account_id = $2`, userID, accountID)
	return s.oneAccount(rows)
}

// Link links an account to a Telegram user and makes it the current one.
// Linking an already linked account only makes it current. A user who
// already has max other accounts gets billing.ErrLinkLimit; an account that
// does not exist is billing.ErrNotFound.
//
// The user's telegram_users row is locked for the whole transaction, so two
// Link calls of one user (two chats, a double tap) count the links one after
// the other and cannot both pass the limit.
func (s *Store) Link(ctx context.Context, userID, accountID int64, max int) (err error) {
	defer wrap(&err, "link")
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID, true); err != nil {
			return err
		}
		var linked bool
		var others int
		if err := tx.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE account_id = $2) > 0,
       count(*) FILTER (WHERE account_id <> $2)
FROM telegram_links
WHERE telegram_user_id = $1`, userID, accountID).Scan(&linked, &others); err != nil {
			return err
		}
		if !linked {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, accountID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return billing.ErrNotFound
			}
			if others >= max {
				return billing.ErrLinkLimit
			}
			if _, err := tx.Exec(ctx, `
INSERT INTO telegram_links (telegram_user_id, account_id) VALUES ($1, $2)`, userID, accountID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
UPDATE telegram_users SET current_account_id = $2 WHERE id = $1`, userID, accountID)
		return err
	})
}

// Unlink removes the link (billing.ErrNotFound if there is none). When the
// account was the current one, the oldest remaining link becomes current, or
// none when it was the last.
func (s *Store) Unlink(ctx context.Context, userID, accountID int64) (err error) {
	defer wrap(&err, "unlink")
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID, false); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
DELETE FROM telegram_links WHERE telegram_user_id = $1 AND account_id = $2`, userID, accountID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return billing.ErrNotFound
		}
		// Deleting the current link has just cleared current_account_id
		// (the foreign key's ON DELETE SET NULL); pick the successor.
		_, err = tx.Exec(ctx, `
UPDATE telegram_users
SET current_account_id = (
    SELECT account_id FROM telegram_links
    WHERE telegram_user_id = $1
    ORDER BY linked_at, account_id
    LIMIT 1)
WHERE id = $1 AND current_account_id IS NULL`, userID)
		return err
	})
}

// lockUser takes the row lock that serialises changes to one user's links.
// With create, a missing row is created first (a user's first link);
// without, a missing row means the user has no links: billing.ErrNotFound.
func lockUser(ctx context.Context, tx pgx.Tx, userID int64, create bool) error {
	if create {
		if _, err := tx.Exec(ctx, `
INSERT INTO telegram_users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, userID); err != nil {
			return err
		}
	}
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM telegram_users WHERE id = $1 FOR UPDATE`, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.ErrNotFound
	}
	return err
}

// CurrentAccount returns the user's current account, or billing.ErrNotFound
// when no account is linked. Should the current account ever be unset while
// links remain (an account deleted by an administrator clears it), the
// oldest link answers instead, so the menu keeps working.
func (s *Store) CurrentAccount(ctx context.Context, userID int64) (_ billing.Account, err error) {
	defer wrap(&err, "current account")
	rows, _ := s.pool.Query(ctx, accountSelect+`
JOIN telegram_links l ON l.account_id = a.id
JOIN telegram_users u ON u.id = l.telegram_user_id
WHERE l.telegram_user_id = $1
ORDER BY a.id IS NOT DISTINCT FROM u.current_account_id DESC, l.linked_at, l.account_id
LIMIT 1`, userID)
	return s.oneAccount(rows)
}

// SetCurrent makes a linked account the current one (billing.ErrNotFound if
// it is not linked to the user).
func (s *Store) SetCurrent(ctx context.Context, userID, accountID int64) (err error) {
	defer wrap(&err, "set current")
	tag, err := s.pool.Exec(ctx, `
UPDATE telegram_users SET current_account_id = $2
WHERE id = $1
  AND EXISTS (SELECT 1 FROM telegram_links WHERE telegram_user_id = $1 AND account_id = $2)`, userID, accountID)
	// A foreign key violation means an Unlink in another chat won the race
	// between the check above and the update: the account is no longer linked.
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return billing.ErrNotFound
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrNotFound
	}
	return nil
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

// Language returns the language the user chose with /language, or "" if the
// user never chose one (the bot then follows Telegram's language).
func (s *Store) Language(ctx context.Context, userID int64) (_ string, err error) {
	defer wrap(&err, "language")
	var lang string
	err = s.pool.QueryRow(ctx, `
SELECT coalesce(language, '') FROM telegram_users WHERE id = $1`, userID).Scan(&lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return lang, err
}

// SetLanguage stores the user's language choice; "" forgets it.
func (s *Store) SetLanguage(ctx context.Context, userID int64, lang string) (err error) {
	defer wrap(&err, "set language")
	_, err = s.pool.Exec(ctx, `
INSERT INTO telegram_users (id, language) VALUES ($1, NULLIF($2, ''))
ON CONFLICT (id) DO UPDATE SET language = EXCLUDED.language`, userID, lang)
	return err
}

// wrap prefixes a returned error with the operation that failed, so that a
// log line says where; billing.ErrNotFound and ErrLinkLimit stay matchable
// with errors.Is. It never adds arguments: they may be personal data.
func wrap(errp *error, op string) {
	if *errp != nil {
		*errp = fmt.Errorf("billing/postgres: %s: %w", op, *errp)
	}
}
