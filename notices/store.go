package notices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/money"
)

// Store keeps the notices, the settings and the trusted persons in
// PostgreSQL (tables of migration 009). It only stores and fetches; the
// rules are in rules.go. It implements dialogs.Notices.
type Store struct {
	pool     *pgxpool.Pool
	defaults dialogs.NoticePrefs
}

// NewStore returns a Store; days is NOTIFY_DAYS_BEFORE, the threshold of
// everyone who has not chosen another.
func NewStore(pool *pgxpool.Pool, days int) *Store {
	if days < 1 || days > 7 {
		days = 3
	}
	return &Store{pool: pool, defaults: dialogs.NoticePrefs{Low: true, Payment: true, Outage: true, Trust: true, DaysBefore: days, Quiet: true}}
}

var _ dialogs.Notices = (*Store)(nil)

func wrap(err *error, what string) {
	if *err != nil {
		*err = fmt.Errorf("notices: %s: %w", what, *err)
	}
}

// prefsSQL reads a settings row's nullable columns; prefsOf fills the defaults.
const prefsSQL = `s.low, s.payment, s.outage, s.trust, s.days_before, s.quiet`

type nullPrefs struct {
	low, payment, outage, trust, quiet *bool
	days                               *int16
}

func (s *Store) prefsOf(n *nullPrefs) dialogs.NoticePrefs {
	p := s.defaults
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Low, n.low)
	set(&p.Payment, n.payment)
	set(&p.Outage, n.outage)
	set(&p.Trust, n.trust)
	set(&p.Quiet, n.quiet)
	if n.days != nil {
		p.DaysBefore = int(*n.days)
	}
	return p
}

func (n *nullPrefs) targets() []any {
	return []any{&n.low, &n.payment, &n.outage, &n.trust, &n.days, &n.quiet}
}

// NoticePrefs implements dialogs.Notices.
func (s *Store) NoticePrefs(ctx context.Context, userID, accountID int64) (_ dialogs.NoticePrefs, err error) {
	defer wrap(&err, "prefs")
	var n nullPrefs
	err = s.pool.QueryRow(ctx, `SELECT `+prefsSQL+` FROM notice_settings s WHERE telegram_user_id = $1 AND account_id = $2`,
		userID, accountID).Scan(n.targets()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.defaults, nil
	}
	return s.prefsOf(&n), err
}

// SetNoticePrefs implements dialogs.Notices: the whole row is written, so
// the same call again changes nothing.
func (s *Store) SetNoticePrefs(ctx context.Context, userID, accountID int64, p dialogs.NoticePrefs) (err error) {
	defer wrap(&err, "set prefs")
	_, err = s.pool.Exec(ctx, `
INSERT INTO notice_settings (telegram_user_id, account_id, low, payment, outage, trust, days_before, quiet)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (telegram_user_id, account_id) DO UPDATE SET low = $3, payment = $4, outage = $5, trust = $6, days_before = $7, quiet = $8`,
		userID, accountID, p.Low, p.Payment, p.Outage, p.Trust, min(max(p.DaysBefore, 1), 7), p.Quiet)
	return err
}

// CreateInvite implements dialogs.Notices.
func (s *Store) CreateInvite(ctx context.Context, key string, accountID, holderID int64, tokenHash []byte, now, expires time.Time) (err error) {
	defer wrap(&err, "create invite")
	_, err = s.pool.Exec(ctx, `
INSERT INTO notice_invites (token_hash, key, account_id, holder_id, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, tokenHash, key, accountID, holderID, now, expires)
	return err
}

// AcceptInvite implements dialogs.Notices: the invitation is used up and the
// person added in one transaction, the invitation's row locked first, so two
// people opening one link at once make one trusted person.
func (s *Store) AcceptInvite(ctx context.Context, tokenHash []byte, userID int64, name string, now time.Time) (a dialogs.TrustedAccount, err error) {
	defer wrap(&err, "accept invite")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var holder int64
		var usedBy *int64
		var expires time.Time
		err := tx.QueryRow(ctx, `
SELECT i.account_id, a.number, i.holder_id, i.used_by, i.expires_at
FROM notice_invites i JOIN accounts a ON a.id = i.account_id
WHERE i.token_hash = $1 FOR UPDATE OF i`, tokenHash).Scan(&a.AccountID, &a.Number, &holder, &usedBy, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return dialogs.ErrInviteInvalid
		case err != nil:
			return err
		case usedBy != nil && *usedBy == userID:
			return nil // the same /start again (a redelivery, a second tap)
		case usedBy != nil, !now.Before(expires), holder == userID:
			return dialogs.ErrInviteInvalid
		}
		if _, err := tx.Exec(ctx, `UPDATE notice_invites SET used_by = $2, used_at = $3 WHERE token_hash = $1`, tokenHash, userID, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
INSERT INTO trusted_persons (account_id, telegram_user_id, holder_id, name, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (account_id, telegram_user_id) DO NOTHING`, a.AccountID, userID, holder, name, now)
		return err
	})
	return a, err
}

// TrustedPersons implements dialogs.Notices.
func (s *Store) TrustedPersons(ctx context.Context, accountID int64) (_ []dialogs.TrustedPerson, err error) {
	defer wrap(&err, "trusted persons")
	rows, _ := s.pool.Query(ctx, `SELECT telegram_user_id, name, created_at FROM trusted_persons WHERE account_id = $1 ORDER BY created_at, telegram_user_id`, accountID)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (dialogs.TrustedPerson, error) {
		var p dialogs.TrustedPerson
		return p, r.Scan(&p.UserID, &p.Name, &p.Since)
	})
}

// TrustedAccounts implements dialogs.Notices.
func (s *Store) TrustedAccounts(ctx context.Context, userID int64) (_ []dialogs.TrustedAccount, err error) {
	defer wrap(&err, "trusted accounts")
	rows, _ := s.pool.Query(ctx, `SELECT t.account_id, a.number FROM trusted_persons t JOIN accounts a ON a.id = t.account_id WHERE t.telegram_user_id = $1 ORDER BY t.created_at`, userID)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (dialogs.TrustedAccount, error) {
		var a dialogs.TrustedAccount
		return a, r.Scan(&a.AccountID, &a.Number)
	})
}

// EndTrusted implements dialogs.Notices; the notices still queued for that
// person about that account are canceled with it.
func (s *Store) EndTrusted(ctx context.Context, accountID, userID int64) (err error) {
	defer wrap(&err, "end trusted")
	_, err = s.pool.Exec(ctx, `
WITH gone AS (DELETE FROM trusted_persons WHERE account_id = $1 AND telegram_user_id = $2)
UPDATE notices SET status = 'canceled', done_at = now(), claimed_by = NULL, claimed_until = NULL
WHERE account_id = $1 AND telegram_user_id = $2 AND role = 'trusted' AND status = 'queued'`, accountID, userID)
	return err
}

// candidate is an account the scan looks at closely, with what the rules
// need of it.
type candidate struct {
	acc billing.Account
	loc *time.Location
}

// recipient is a person an account's notice may go to.
type recipient struct {
	accountID int64
	userID    int64
	role      string // holder or trusted
	prefs     dialogs.NoticePrefs
}

// pageBounds is the next page of account ids after after: its last id
// and how many it holds (an index-only scan of the primary key).
func (s *Store) pageBounds(ctx context.Context, after int64, size int) (last int64, n int, err error) {
	defer wrap(&err, "scan page")
	err = s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0), count(*) FROM (SELECT id FROM accounts WHERE id > $1 ORDER BY id LIMIT $2) p`,
		after, size).Scan(&last, &n)
	return last, n, err
}

// candidates are the accounts with ids in (after, last] that may be owed a
// low-balance notice: someone to tell (linked or trusted), and either
// blocked within BlockedRecent, or active with less of their own money than
// the next monthly charge and that charge (or a trust payment's end) within
// 8 days: a superset of those whose money runs out within 7 days (the day
// count taken modulo 28 from a charge day counted at most the 28th, never
// more than the real one, also when a shorter month moves the 29th-31st to
// its last day), which the rules then judge exactly.
func (s *Store) candidates(ctx context.Context, after, last int64, now time.Time, zones *zoneCache) (_ []candidate, err error) {
	defer wrap(&err, "scan candidates")
	rows, _ := s.pool.Query(ctx, `
SELECT a.id, a.number, a.status, a.balance, a.blocked_at, c.name, c.time_zone, a.charge_day,
       t.monthly_fee, coalesce(sv.fee, 0), tp.amount, tp.expires_at
FROM accounts a
JOIN cities c ON c.id = a.city_id
JOIN tariffs t ON t.id = a.tariff_id
LEFT JOIN LATERAL (
    SELECT sum(s.monthly_fee) AS fee FROM account_services x JOIN services s ON s.id = x.service_id
    WHERE x.account_id = a.id
) sv ON true
LEFT JOIN LATERAL (
    SELECT p.amount, p.expires_at FROM trust_payments p
    WHERE p.account_id = a.id AND p.ended_at IS NULL ORDER BY p.expires_at DESC LIMIT 1
) tp ON true
WHERE a.id > $1 AND a.id <= $2
  AND (a.status = 'blocked' AND a.blocked_at > $3::timestamptz - interval '48 hours'
       OR a.status = 'active' AND t.monthly_fee + coalesce(sv.fee, 0) > 0
          AND a.balance - coalesce(tp.amount, 0) < t.monthly_fee + coalesce(sv.fee, 0)
          AND (((least(a.charge_day, 28) - extract(day FROM $3::timestamptz AT TIME ZONE c.time_zone)::int) % 28 + 28) % 28 <= 8
               OR tp.expires_at < $3::timestamptz + interval '9 days'))
  AND (EXISTS (SELECT 1 FROM telegram_links l WHERE l.account_id = a.id)
       OR EXISTS (SELECT 1 FROM trusted_persons tr WHERE tr.account_id = a.id))
ORDER BY a.id`, after, last, now)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (candidate, error) {
		var (
			c         candidate
			blockedAt *time.Time
			fee       int64
			trustSum  *int64
			trustEnds *time.Time
		)
		var chargeDay int16
		err := r.Scan(&c.acc.ID, &c.acc.Number, &c.acc.Status, &c.acc.Balance, &blockedAt, &c.acc.City, &c.acc.TimeZone, &chargeDay,
			&c.acc.Tariff.MonthlyFee, &fee, &trustSum, &trustEnds)
		c.acc.ChargeDay = int(chargeDay)
		if err != nil {
			return c, err
		}
		if fee > 0 {
			c.acc.Services = []billing.Service{{MonthlyFee: money.Amount(fee)}}
		}
		if blockedAt != nil {
			c.acc.BlockedAt = *blockedAt
		}
		if trustSum != nil && trustEnds != nil {
			c.acc.Trust = &billing.ActiveTrust{Amount: money.Amount(*trustSum), ExpiresAt: *trustEnds}
		}
		c.loc = zones.get(c.acc.TimeZone)
		// The same rule as billing/postgres fills in for every account read.
		c.acc.PaidUntil = c.acc.StopsAt(now, c.loc)
		return c, nil
	})
}

// recipients lists who may be told about these accounts, with their settings.
func (s *Store) recipients(ctx context.Context, accounts []int64) (_ []recipient, err error) {
	defer wrap(&err, "scan recipients")
	rows, _ := s.pool.Query(ctx, `
SELECT r.account_id, r.user_id, r.role, `+prefsSQL+`
FROM (
    SELECT account_id, telegram_user_id AS user_id, 'holder' AS role FROM telegram_links WHERE account_id = ANY($1)
    UNION ALL
    SELECT account_id, telegram_user_id, 'trusted' FROM trusted_persons WHERE account_id = ANY($1)
) r
LEFT JOIN notice_settings s ON s.telegram_user_id = r.user_id AND s.account_id = r.account_id`, accounts)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (recipient, error) {
		var r recipient
		var n nullPrefs
		err := row.Scan(append([]any{&r.accountID, &r.userID, &r.role}, n.targets()...)...)
		r.prefs = s.prefsOf(&n)
		return r, err
	})
}

// newNotice is a row the scan or a broadcast owes.
type newNotice struct {
	accountID int64
	kind      Kind
	period    string
	threshold int
	userID    int64
	role      string
	due       time.Time
}

// insert writes notices that are not owed already (the unique key decides)
// and returns how many were new.
func (s *Store) insert(ctx context.Context, ns []newNotice) (_ int, err error) {
	defer wrap(&err, "insert notices")
	if len(ns) == 0 {
		return 0, nil
	}
	var (
		acc, user []int64
		kind      []string
		period    []string
		threshold []int16
		role      []string
		due       []time.Time
	)
	for _, n := range ns {
		acc, user = append(acc, n.accountID), append(user, n.userID)
		kind, period = append(kind, string(n.kind)), append(period, n.period)
		threshold, role, due = append(threshold, int16(n.threshold)), append(role, n.role), append(due, n.due)
	}
	tag, err := s.pool.Exec(ctx, `
INSERT INTO notices (account_id, kind, period, threshold, telegram_user_id, role, due_at)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::bigint[], $6::text[], $7::timestamptz[])
ON CONFLICT DO NOTHING`, acc, kind, period, threshold, user, role, due)
	return int(tag.RowsAffected()), err
}

// claimed is a notice leased to one sender.
type claimed struct {
	id        int64
	accountID int64
	kind      Kind
	period    string
	threshold int
	userID    int64
	role      string
	attempts  int
	lang      string
	zone      string
}

// claim leases to owner up to limit notices due at now (FOR UPDATE SKIP
// LOCKED inside one short statement: instances claiming at once never take
// the same row; the lease keeps them apart afterwards).
func (s *Store) claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) (_ []claimed, err error) {
	defer wrap(&err, "claim notices")
	rows, _ := s.pool.Query(ctx, `
WITH due AS (
    SELECT id FROM notices
    WHERE status = 'queued' AND due_at <= $1 AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY due_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), c AS (
    UPDATE notices n SET claimed_by = $2, claimed_until = now() + $3 * interval '1 millisecond'
    FROM due WHERE n.id = due.id
    RETURNING n.id, n.account_id, n.kind, n.period, n.threshold, n.telegram_user_id, n.role, n.attempts, n.due_at
)
SELECT c.id, c.account_id, c.kind, c.period, c.threshold, c.telegram_user_id, c.role, c.attempts,
       coalesce(u.language, ''), ci.time_zone
FROM c
JOIN accounts a ON a.id = c.account_id
JOIN cities ci ON ci.id = a.city_id
LEFT JOIN telegram_users u ON u.id = c.telegram_user_id
ORDER BY c.due_at, c.id`, now, owner, max(lease.Milliseconds(), 1), limit)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := r.Scan(&c.id, &c.accountID, &c.kind, &c.period, &c.threshold, &c.userID, &c.role, &c.attempts, &c.lang, &c.zone)
		return c, err
	})
}

// finish records a claimed notice's outcome (sent, blocked, canceled,
// failed) while owner still holds it; billing.ErrLeaseLost otherwise.
func (s *Store) finish(ctx context.Context, owner string, id int64, status string) (err error) {
	defer wrap(&err, "finish notice")
	return leaseHeld(s.pool.Exec(ctx, `
UPDATE notices SET status = $3, done_at = now(), claimed_by = NULL, claimed_until = NULL,
       attempts = attempts + CASE WHEN $3 IN ('sent', 'failed', 'blocked') THEN 1 ELSE 0 END
WHERE id = $2 AND claimed_by = $1 AND status = 'queued'`, owner, id, status))
}

// later gives a claimed notice back, due at due; attempt counts a failed send.
func (s *Store) later(ctx context.Context, owner string, id int64, due time.Time, attempt bool) (err error) {
	defer wrap(&err, "notice later")
	return leaseHeld(s.pool.Exec(ctx, `
UPDATE notices SET due_at = $3, claimed_by = NULL, claimed_until = NULL,
       attempts = attempts + CASE WHEN $4 THEN 1 ELSE 0 END
WHERE id = $2 AND claimed_by = $1 AND status = 'queued'`, owner, id, due, attempt))
}

// release gives back, due as they were, the notices owner claimed and did
// not get to (a stop, a round out of lease).
func (s *Store) release(ctx context.Context, owner string) (err error) {
	defer wrap(&err, "release notices")
	_, err = s.pool.Exec(ctx, `UPDATE notices SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1 AND status = 'queued'`, owner)
	return err
}

func leaseHeld(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrLeaseLost
	}
	return nil
}

// recipientNow is the check right before sending: whether userID is still
// someone to tell about the account in that role, and their settings now.
func (s *Store) recipientNow(ctx context.Context, userID, accountID int64, role string) (_ dialogs.NoticePrefs, ok bool, err error) {
	defer wrap(&err, "recipient")
	table := "telegram_links"
	if role == "trusted" {
		table = "trusted_persons"
	}
	var n nullPrefs
	var found bool
	err = s.pool.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM `+table+` WHERE telegram_user_id = $1 AND account_id = $2), `+prefsSQL+`
FROM (SELECT 1) one LEFT JOIN notice_settings s ON s.telegram_user_id = $1 AND s.account_id = $2`,
		userID, accountID).Scan(append([]any{&found}, n.targets()...)...)
	return s.prefsOf(&n), found, err
}

// wants is whether a person wants a topic of an account (payment received
// and the trust reminder, whose rows are in the payments tables).
func (s *Store) wants(ctx context.Context, userID, accountID int64, topic Topic) (bool, error) {
	p, err := s.NoticePrefs(ctx, userID, accountID)
	if err != nil {
		return false, err
	}
	switch topic {
	case TopicPayment:
		return p.Payment, nil
	case TopicTrust:
		return p.Trust, nil
	case TopicOutage:
		return p.Outage, nil
	}
	return p.Low, nil
}

// takeOver gives back, due at once, what an earlier process of the same
// deployment slot claimed (owners "<slot>/..." other than owner): that
// process is dead, since a slot runs one process at a time.
func (s *Store) takeOver(ctx context.Context, slot, owner string) (n int64, err error) {
	defer wrap(&err, "take over claims")
	prefix := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(slot) + "/%"
	for _, table := range []string{"notices", "payment_notices", "trust_reminders"} {
		done := "status = 'queued'"
		if table != "notices" {
			done = "sent_at IS NULL"
		}
		tag, err := s.pool.Exec(ctx, `UPDATE `+table+` SET claimed_by = NULL, claimed_until = NULL
WHERE claimed_by LIKE $1 AND claimed_by <> $2 AND `+done, prefix, owner)
		if err != nil {
			return n, err
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
