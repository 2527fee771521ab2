package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Credit records a payment in the ledger and adds it to the balance, in one
// transaction, only if the ledger did not have (provider, providerPaymentID)
// yet: the same payment reported any number of times, even at once, is
// credited once. A blocked account whose balance then covers its monthly
// charge is unblocked. A payment the bot created (created_payments) is
// marked succeeded in the same transaction. credited tells whether this call
// was the one that credited.
func (s *Store) Credit(ctx context.Context, provider, providerPaymentID string, accountID int64, amount money.Amount, channel string, paidAt time.Time) (credited bool, err error) {
	defer wrap(&err, "credit")
	if amount <= 0 {
		return false, fmt.Errorf("amount %d is not positive", amount)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		credited, err = creditTx(ctx, tx, provider, providerPaymentID, accountID, amount, channel, paidAt)
		if err != nil || !credited {
			return err
		}
		_, err = tx.Exec(ctx, `
UPDATE created_payments SET status = 'succeeded', updated_at = now()
WHERE provider = $1 AND provider_payment_id = $2`, provider, providerPaymentID)
		return err
	})
	return credited, err
}

// creditTx is Credit inside a caller's transaction (a trust payment is
// credited in the transaction that grants it).
func creditTx(ctx context.Context, tx pgx.Tx, provider, providerPaymentID string, accountID int64, amount money.Amount, channel string, paidAt time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, `
INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (provider, provider_payment_id) DO NOTHING`,
		accountID, int64(amount), channel, provider, providerPaymentID, paidAt)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	// "Enough" is the monthly charge, tariff and services: the sum the
	// balance screen tells a blocked subscriber to pay.
	_, err = tx.Exec(ctx, `
UPDATE accounts a
SET balance = a.balance + $2,
    status = CASE WHEN a.status = 'blocked' AND a.balance + $2 >= m.charge THEN 'active' ELSE a.status END
FROM (
    SELECT t.monthly_fee + coalesce((
        SELECT sum(s.monthly_fee) FROM account_services x JOIN services s ON s.id = x.service_id
        WHERE x.account_id = $1), 0) AS charge
    FROM accounts a2 JOIN tariffs t ON t.id = a2.tariff_id
    WHERE a2.id = $1
) m
WHERE a.id = $1`, accountID, int64(amount))
	return err == nil, err
}

// StartPayment records the intent to create a payment at provider under an
// idempotence key, or returns the row already recorded under that key (a
// double tap, or a retry after the acquirer did not answer). The caller then
// calls the acquirer with the same key.
func (s *Store) StartPayment(ctx context.Context, provider, idempotenceKey string, accountID int64, amount money.Amount) (_ billing.CreatedPayment, err error) {
	defer wrap(&err, "start payment")
	if _, err := s.pool.Exec(ctx, `
INSERT INTO created_payments (provider, idempotence_key, account_id, amount)
VALUES ($1, $2, $3, $4)
ON CONFLICT (idempotence_key) DO NOTHING`, provider, idempotenceKey, accountID, int64(amount)); err != nil {
		return billing.CreatedPayment{}, err
	}
	rows, _ := s.pool.Query(ctx, createdSelect+` WHERE p.idempotence_key = $1`, idempotenceKey)
	return oneCreated(rows)
}

// SetProviderPayment stores the acquirer's payment id and confirmation URL
// for the intent recorded under idempotenceKey.
func (s *Store) SetProviderPayment(ctx context.Context, idempotenceKey, providerPaymentID, confirmationURL string) (err error) {
	defer wrap(&err, "set provider payment")
	tag, err := s.pool.Exec(ctx, `
UPDATE created_payments
SET provider_payment_id = $2, confirmation_url = $3,
    status = CASE WHEN status = 'new' THEN 'pending' ELSE status END, updated_at = now()
WHERE idempotence_key = $1 AND (provider_payment_id IS NULL OR provider_payment_id = $2)`,
		idempotenceKey, providerPaymentID, confirmationURL)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrNotFound
	}
	return nil
}

// CreatedPayment finds a payment the bot created, by the acquirer's id
// (billing.ErrNotFound if the bot did not create it).
func (s *Store) CreatedPayment(ctx context.Context, provider, providerPaymentID string) (_ billing.CreatedPayment, err error) {
	defer wrap(&err, "created payment")
	rows, _ := s.pool.Query(ctx, createdSelect+` WHERE p.provider = $1 AND p.provider_payment_id = $2`, provider, providerPaymentID)
	return oneCreated(rows)
}

// CancelPayment marks a created payment canceled (unless it succeeded).
func (s *Store) CancelPayment(ctx context.Context, provider, providerPaymentID string) (err error) {
	defer wrap(&err, "cancel payment")
	_, err = s.pool.Exec(ctx, `
UPDATE created_payments SET status = 'canceled', updated_at = now()
WHERE provider = $1 AND provider_payment_id = $2 AND status <> 'succeeded'`, provider, providerPaymentID)
	return err
}

const createdSelect = `
SELECT p.provider, p.idempotence_key, p.account_id, a.number, p.amount,
       coalesce(p.provider_payment_id, ''), coalesce(p.confirmation_url, ''), p.status
FROM created_payments p JOIN accounts a ON a.id = p.account_id`

func oneCreated(rows pgx.Rows) (billing.CreatedPayment, error) {
	c, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (billing.CreatedPayment, error) {
		var c billing.CreatedPayment
		err := row.Scan(&c.Provider, &c.IdempotenceKey, &c.AccountID, &c.AccountNumber, &c.Amount,
			&c.ProviderPaymentID, &c.ConfirmationURL, &c.Status)
		return c, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.CreatedPayment{}, billing.ErrNotFound
	}
	return c, err
}

// OfferTrust checks the trust-payment rules for an account at now and says
// what a grant would give, without granting: the screen before "Confirm".
// A refusal is a *billing.TrustRefusal.
func (s *Store) OfferTrust(ctx context.Context, accountID int64, now time.Time, set billing.TrustSettings) (offer billing.TrustOffer, err error) {
	defer wrap(&err, "offer trust")
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		offer, _, err = checkTrust(ctx, tx, accountID, now, set, false)
		return err
	})
	return offer, err
}

// GrantTrust grants a trust payment if every rule allows it: it records the
// trust payment, puts it in the ledger (channel "trust"), credits the
// balance less the fee and lifts a block for debt, all in one transaction.
// The account row is locked first, so concurrent grants for one account are
// judged one after the other; UNIQUE (account_id, month) is the backstop. A
// refusal is a *billing.TrustRefusal.
//
// key names the request (the "Confirm" press). A grant with a key already
// granted answers with that grant as it was (amount, fee, expiry and the
// balance it left) and changes nothing: the press delivered again after a
// crash between this commit and the bot's own is told "granted", not
// "already taken this month". An empty key is never a repeat.
func (s *Store) GrantTrust(ctx context.Context, key string, accountID int64, now time.Time, set billing.TrustSettings) (offer billing.TrustOffer, err error) {
	defer wrap(&err, "grant trust")
	var grantKey *string
	if key != "" {
		grantKey = &key
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if grantKey != nil {
			// After the account's lock, so that a grant under the same key
			// running at the same moment has committed or rolled back.
			g, found, err := grantedUnder(ctx, tx, key, accountID)
			if found || err != nil {
				offer = g
				return err
			}
		}
		o, month, err := checkTrust(ctx, tx, accountID, now, set, true)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRow(ctx, `
INSERT INTO trust_payments (account_id, month, amount, fee, granted_at, expires_at, grant_key, balance_after)
VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8)
RETURNING id`, accountID, month.Format(time.DateOnly), int64(o.Amount), int64(o.Fee), o.GrantedAt, o.ExpiresAt, grantKey, int64(o.Balance)).Scan(&id)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			if strings.Contains(pgErr.ConstraintName, "grant_key") {
				return errors.New("grant key already used for another account")
			}
			return &billing.TrustRefusal{Reason: billing.TrustUsedThisMonth, From: month.AddDate(0, 1, 0)}
		}
		if err != nil {
			return err
		}
		if _, err := creditTx(ctx, tx, "trust", fmt.Sprintf("trust:%d", id), accountID, o.Amount, "trust", o.GrantedAt); err != nil {
			return err
		}
		// The service goes on for the trust period whatever the debt.
		if err := tx.QueryRow(ctx, `
UPDATE accounts
SET balance = balance - $2,
    status = CASE WHEN status = 'blocked' THEN 'active' ELSE status END
WHERE id = $1
RETURNING balance`, accountID, int64(o.Fee)).Scan(&o.Balance); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE trust_payments SET balance_after = $2 WHERE id = $1`, id, int64(o.Balance)); err != nil {
			return err
		}
		offer = o
		return nil
	})
	return offer, err
}

// grantedUnder locks the account and looks for the grant made under key.
// A key of another account's grant is an error: keys name one request.
func grantedUnder(ctx context.Context, tx pgx.Tx, key string, accountID int64) (billing.TrustOffer, bool, error) {
	var locked int64
	err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE id = $1 FOR UPDATE`, accountID).Scan(&locked)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.TrustOffer{}, false, billing.ErrNotFound
	}
	if err != nil {
		return billing.TrustOffer{}, false, err
	}
	var g billing.TrustOffer
	err = tx.QueryRow(ctx, `
SELECT account_id, amount, fee, granted_at, expires_at, balance_after
FROM trust_payments WHERE grant_key = $1`, key).Scan(&g.AccountID, &g.Amount, &g.Fee, &g.GrantedAt, &g.ExpiresAt, &g.Balance)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.TrustOffer{}, false, nil
	}
	if err != nil {
		return billing.TrustOffer{}, false, err
	}
	if g.AccountID != accountID {
		return billing.TrustOffer{}, false, errors.New("grant key already used for another account")
	}
	return g, true, nil
}

// checkTrust reads the facts the trust-payment rules look at and applies
// them (billing.CheckTrust). With lock, the account row stays locked until
// the transaction ends, so that concurrent grants are judged one after the
// other. month is the first day of now's month in the provider's time zone.
func checkTrust(ctx context.Context, tx pgx.Tx, accountID int64, now time.Time, set billing.TrustSettings, lock bool) (billing.TrustOffer, time.Time, error) {
	month := billing.TrustMonth(now, set)
	q := `
SELECT a.status, a.balance,
       t.monthly_fee + coalesce((
           SELECT sum(s.monthly_fee) FROM account_services x JOIN services s ON s.id = x.service_id
           WHERE x.account_id = a.id), 0)
FROM accounts a JOIN tariffs t ON t.id = a.tariff_id
WHERE a.id = $1`
	if lock {
		q += ` FOR UPDATE OF a`
	}
	var f billing.TrustFacts
	err := tx.QueryRow(ctx, q, accountID).Scan(&f.Status, &f.Balance, &f.MonthlyCharge)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.TrustOffer{}, month, billing.ErrNotFound
	}
	if err != nil {
		return billing.TrustOffer{}, month, err
	}
	if err := tx.QueryRow(ctx, `
SELECT coalesce(bool_or(t.month = $2::date), false),
       count(*) > 0,
       EXISTS (SELECT 1 FROM payments p
               WHERE p.account_id = $1 AND p.channel <> 'trust' AND p.paid_at > max(t.granted_at))
FROM trust_payments t WHERE t.account_id = $1`, accountID, month.Format(time.DateOnly)).Scan(
		&f.UsedThisMonth, &f.TrustedBefore, &f.PaidSinceTrust); err != nil {
		return billing.TrustOffer{}, month, err
	}
	offer, err := billing.CheckTrust(f, now, set)
	if err != nil {
		return billing.TrustOffer{}, month, err
	}
	offer.AccountID = accountID
	return offer, month, nil
}

// The scheduler's work (payment notices, trust reminders) is claimed with a
// lease, never held under a row lock: a claim is one short statement that
// writes claimed_by and claimed_until and commits; the caller sends with no
// transaction open (a Telegram send may wait out a retry_after of minutes);
// a second short statement records the outcome only while claimed_by is
// still the caller. FOR UPDATE SKIP LOCKED inside the claim keeps two
// instances claiming at the same instant from taking the same row; the lease
// keeps them apart afterwards, and a claimer that died leaves a lease that
// runs out, after which any instance claims the row again.

// leaseMillis is a lease as the claims' SQL takes it.
func leaseMillis(lease time.Duration) int64 {
	if ms := lease.Milliseconds(); ms > 0 {
		return ms
	}
	return 1
}

// backoffSQL is the pause after a failed send, from the attempts so far:
// 2 s, 4 s, 8 s ... capped at an hour.
const backoffSQL = `now() + least(interval '1 hour', interval '1 second' * power(2, least(attempts + 1, 12)))`

// ClaimPaymentNotices leases to owner, for lease, up to limit "payment
// received" notices that are due and not claimed by anyone whose lease is
// still running, and returns them in due order. Each is then reported with
// PaymentNoticeSent or PaymentNoticeFailed (or given back by ReleaseClaims).
func (s *Store) ClaimPaymentNotices(ctx context.Context, owner string, lease time.Duration, limit int) (_ []billing.PaymentNotice, err error) {
	defer wrap(&err, "claim payment notices")
	rows, _ := s.pool.Query(ctx, `
WITH due AS (
    SELECT payment_id, telegram_user_id
    FROM payment_notices
    WHERE sent_at IS NULL AND next_attempt_at <= now()
      AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY next_attempt_at, payment_id, telegram_user_id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE payment_notices n
    SET claimed_by = $1, claimed_until = now() + $2 * interval '1 millisecond'
    FROM due
    WHERE n.payment_id = due.payment_id AND n.telegram_user_id = due.telegram_user_id
    RETURNING n.payment_id, n.telegram_user_id, n.attempts, n.next_attempt_at
)
SELECT c.payment_id, c.telegram_user_id, coalesce(u.language, ''), a.id, a.number, p.amount, a.balance,
       p.channel, p.paid_at, c.attempts
FROM claimed c
JOIN payments p ON p.id = c.payment_id
JOIN accounts a ON a.id = p.account_id
LEFT JOIN telegram_users u ON u.id = c.telegram_user_id
ORDER BY c.next_attempt_at, c.payment_id, c.telegram_user_id`, owner, leaseMillis(lease), limit)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (billing.PaymentNotice, error) {
		var n billing.PaymentNotice
		err := row.Scan(&n.PaymentID, &n.TelegramUserID, &n.Language, &n.AccountID, &n.AccountNumber,
			&n.Amount, &n.Balance, &n.Channel, &n.PaidAt, &n.Attempts)
		return n, err
	})
}

// PaymentNoticeSent records that Telegram accepted the notice owner had
// claimed. billing.ErrLeaseLost means owner's lease ran out and another
// instance claimed the notice since: it may be sent twice, and the lease is
// too short for the sends.
//
// A crash between Telegram's answer and this call sends that one notice
// again once the lease has run out: Telegram has no idempotent send, so
// this is the narrowest window there can be.
func (s *Store) PaymentNoticeSent(ctx context.Context, owner string, n billing.PaymentNotice) (err error) {
	defer wrap(&err, "payment notice sent")
	return leaseHeld(s.pool.Exec(ctx, `
UPDATE payment_notices SET sent_at = now(), attempts = attempts + 1, claimed_until = NULL
WHERE payment_id = $2 AND telegram_user_id = $3 AND claimed_by = $1 AND sent_at IS NULL`,
		owner, n.PaymentID, n.TelegramUserID))
}

// PaymentNoticeFailed gives back a notice owner could not send, to be tried
// again after a pause that grows with each failure (billing.ErrLeaseLost as
// for PaymentNoticeSent).
func (s *Store) PaymentNoticeFailed(ctx context.Context, owner string, n billing.PaymentNotice) (err error) {
	defer wrap(&err, "payment notice failed")
	return leaseHeld(s.pool.Exec(ctx, `
UPDATE payment_notices
SET attempts = attempts + 1, next_attempt_at = `+backoffSQL+`, claimed_by = NULL, claimed_until = NULL
WHERE payment_id = $2 AND telegram_user_id = $3 AND claimed_by = $1 AND sent_at IS NULL`,
		owner, n.PaymentID, n.TelegramUserID))
}

// ReleaseClaims gives back, due at once and with no attempt counted, every
// notice and reminder owner claimed and has not reported: the ones a
// stopping scheduler did not get to, so that another instance (or the same
// after its restart) sends them without waiting for the lease to run out.
func (s *Store) ReleaseClaims(ctx context.Context, owner string) (err error) {
	defer wrap(&err, "release claims")
	_, err = s.pool.Exec(ctx, `
WITH notices AS (
    UPDATE payment_notices SET claimed_by = NULL, claimed_until = NULL
    WHERE claimed_by = $1 AND sent_at IS NULL
)
UPDATE trust_reminders SET claimed_by = NULL, claimed_until = NULL
WHERE claimed_by = $1 AND sent_at IS NULL`, owner)
	return err
}

// leaseHeld turns "no row matched" of an outcome's UPDATE into ErrLeaseLost.
func leaseHeld(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrLeaseLost
	}
	return nil
}

// ListenPaymentNotices wakes the caller (a non-blocking send on wake)
// whenever a payment inserts notices, so that a push goes out within a
// second instead of at the next poll. It returns when ctx ends or the
// connection fails; the caller polls anyway and may listen again.
func (s *Store) ListenPaymentNotices(ctx context.Context, wake chan<- struct{}) (err error) {
	defer wrap(&err, "listen payment notices")
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that LISTENs must not go back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, `LISTEN payment_notices`); err != nil {
		return err
	}
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// ClaimTrustReminders leases to owner up to limit "your trust payment ends
// tomorrow" reminders, one per (trust payment, linked Telegram user), in one
// short transaction. First the trust payments that end within a day of now
// and have no reminders yet get one reminder row per user linked to the
// account at that moment (reminders_queued_at marks them); then the due
// reminders are claimed as ClaimPaymentNotices claims notices. A reminder
// is not claimed once its trust payment has ended or its user has unlinked
// the account. Each is then reported with TrustReminderSent or
// TrustReminderFailed.
func (s *Store) ClaimTrustReminders(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) (claimed []billing.TrustReminder, err error) {
	defer wrap(&err, "claim trust reminders")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
WITH due AS (
    SELECT id, account_id
    FROM trust_payments
    WHERE ended_at IS NULL AND reminders_queued_at IS NULL
      AND expires_at > $1 AND expires_at <= $1 + interval '1 day'
    ORDER BY expires_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), queued AS (
    UPDATE trust_payments tp SET reminders_queued_at = $1
    FROM due WHERE tp.id = due.id
    RETURNING tp.id, tp.account_id
)
INSERT INTO trust_reminders (trust_payment_id, telegram_user_id)
SELECT q.id, l.telegram_user_id FROM queued q JOIN telegram_links l ON l.account_id = q.account_id
ON CONFLICT DO NOTHING`, now, limit); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `
WITH due AS (
    SELECT r.trust_payment_id, r.telegram_user_id
    FROM trust_reminders r
    JOIN trust_payments tp ON tp.id = r.trust_payment_id
    WHERE r.sent_at IS NULL AND r.next_attempt_at <= now()
      AND (r.claimed_until IS NULL OR r.claimed_until < now())
      AND tp.ended_at IS NULL AND tp.expires_at > $1
      AND EXISTS (SELECT 1 FROM telegram_links l
                  WHERE l.account_id = tp.account_id AND l.telegram_user_id = r.telegram_user_id)
    ORDER BY r.next_attempt_at, r.trust_payment_id, r.telegram_user_id
    LIMIT $4
    FOR UPDATE OF r SKIP LOCKED
), claimed AS (
    UPDATE trust_reminders r
    SET claimed_by = $2, claimed_until = now() + $3 * interval '1 millisecond'
    FROM due
    WHERE r.trust_payment_id = due.trust_payment_id AND r.telegram_user_id = due.telegram_user_id
    RETURNING r.trust_payment_id, r.telegram_user_id, r.attempts, r.next_attempt_at
)
SELECT tp.id, tp.account_id, a.number, tp.amount, tp.expires_at, ci.time_zone, a.balance,
       c.telegram_user_id, coalesce(u.language, ''), c.attempts
FROM claimed c
JOIN trust_payments tp ON tp.id = c.trust_payment_id
JOIN accounts a ON a.id = tp.account_id
JOIN cities ci ON ci.id = a.city_id
LEFT JOIN telegram_users u ON u.id = c.telegram_user_id
ORDER BY c.next_attempt_at, c.trust_payment_id, c.telegram_user_id`, now, owner, leaseMillis(lease), limit)
		var err error
		claimed, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (billing.TrustReminder, error) {
			var r billing.TrustReminder
			err := row.Scan(&r.ID, &r.AccountID, &r.AccountNumber, &r.Amount, &r.ExpiresAt, &r.TimeZone, &r.Balance,
				&r.Recipient.UserID, &r.Recipient.Language, &r.Attempts)
			return r, err
		})
		return err
	})
	return claimed, err
}

// TrustReminderSent records that Telegram accepted the reminder owner had
// claimed (billing.ErrLeaseLost as for PaymentNoticeSent).
func (s *Store) TrustReminderSent(ctx context.Context, owner string, r billing.TrustReminder) (err error) {
	defer wrap(&err, "trust reminder sent")
	return leaseHeld(s.pool.Exec(ctx, `
UPDATE trust_reminders SET sent_at = now(), attempts = attempts + 1, claimed_until = NULL
WHERE trust_payment_id = $2 AND telegram_user_id = $3 AND claimed_by = $1 AND sent_at IS NULL`,
		owner, r.ID, r.Recipient.UserID))
}

// TrustReminderFailed gives back a reminder owner could not send, to be
// tried again after a growing pause, for this recipient only
// (billing.ErrLeaseLost as for PaymentNoticeSent).
func (s *Store) TrustReminderFailed(ctx context.Context, owner string, r billing.TrustReminder) (err error) {
	defer wrap(&err, "trust reminder failed")
	return leaseHeld(s.pool.Exec(ctx, `
UPDATE trust_reminders
SET attempts = attempts + 1, next_attempt_at = `+backoffSQL+`, claimed_by = NULL, claimed_until = NULL
WHERE trust_payment_id = $2 AND telegram_user_id = $3 AND claimed_by = $1 AND sent_at IS NULL`,
		owner, r.ID, r.Recipient.UserID))
}

// ExpireTrust ends the trust payments whose time is up at now: the amount is
// taken back from the balance and an active account whose balance is then
// below zero is blocked for debt, in one transaction per trust payment. It
// returns the ended ones.
func (s *Store) ExpireTrust(ctx context.Context, now time.Time, limit int) (ended []billing.TrustPayment, err error) {
	defer wrap(&err, "expire trust")
	for len(ended) < limit {
		found := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var tp billing.TrustPayment
			err := tx.QueryRow(ctx, `
SELECT tp.id, tp.account_id, tp.amount, tp.expires_at
FROM trust_payments tp
WHERE tp.ended_at IS NULL AND tp.expires_at <= $1
ORDER BY tp.expires_at
LIMIT 1
FOR UPDATE SKIP LOCKED`, now).Scan(&tp.ID, &tp.AccountID, &tp.Amount, &tp.ExpiresAt)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			found = true
			err = tx.QueryRow(ctx, `
UPDATE accounts
SET balance = balance - $2,
    status = CASE WHEN status = 'active' AND balance - $2 < 0 THEN 'blocked' ELSE status END,
    blocked_at = CASE WHEN status = 'active' AND balance - $2 < 0 THEN $3 ELSE blocked_at END
WHERE id = $1
RETURNING number, balance`, tp.AccountID, int64(tp.Amount), now).Scan(&tp.AccountNumber, &tp.Balance)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE trust_payments SET ended_at = $2 WHERE id = $1`, tp.ID, now); err != nil {
				return err
			}
			ended = append(ended, tp)
			return nil
		})
		if err != nil {
			return ended, err
		}
		if !found {
			break
		}
	}
	return ended, nil
}
