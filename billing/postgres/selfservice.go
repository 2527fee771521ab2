package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// The subscriber's self-service in the demo billing (Store implements
// dialogs.SelfService). Each change locks the account's row, so that two
// presses at once are one after the other; the rules are billing's plain
// functions, applied here under that lock to the facts just read; and each
// change writes its row of selfservice_audit keyed by the asking update, so
// that the same update delivered again is told what it did and changes
// nothing twice.

// facts is what the changes read of a locked account.
type facts struct {
	status    billing.Status
	balance   money.Amount
	kind      string
	cityID    int
	tariff    billing.TariffPlan
	services  money.Amount
	chargeDay int
	loc       *time.Location
}

// lockAccount locks an account's row for the transaction and reads its facts.
func lockAccount(ctx context.Context, tx pgx.Tx, accountID int64) (facts, error) {
	var f facts
	var tz string
	err := tx.QueryRow(ctx, `
SELECT a.status, a.balance, a.kind, a.city_id, t.id, t.name, t.kind, t.speed_mbps, t.monthly_fee, t.tv,
       coalesce((SELECT sum(s.monthly_fee) FROM account_services x JOIN services s ON s.id = x.service_id
                 WHERE x.account_id = a.id), 0),
       a.charge_day, c.time_zone
FROM accounts a JOIN tariffs t ON t.id = a.tariff_id JOIN cities c ON c.id = a.city_id
WHERE a.id = $1
FOR UPDATE OF a`, accountID).Scan(&f.status, &f.balance, &f.kind, &f.cityID, &f.tariff.ID, &f.tariff.Name, &f.tariff.Kind,
		&f.tariff.SpeedMbps, &f.tariff.MonthlyFee, &f.tariff.TV, &f.services, &f.chargeDay, &tz)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, billing.ErrNotFound
	}
	if err != nil {
		return f, err
	}
	f.loc = zone(tz)
	return f, nil
}

// zone loads an IANA zone, Moscow's when it is unknown to this machine.
func zone(name string) *time.Location {
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	return moscowTime
}

// day is midnight of t's date in loc.
func day(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// nextCharge is the next charge day after today, as billing.Account has it.
func (f facts) nextCharge(now time.Time) time.Time {
	return billing.Account{ChargeDay: f.chargeDay}.NextChargeDate(now, f.loc)
}

// done reports whether the update under key already made a change
// (its audit row exists); "" keys nothing.
func done(ctx context.Context, tx pgx.Tx, key string) (bool, error) {
	if key == "" {
		return false, nil
	}
	var found bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM selfservice_audit WHERE event_key = $1)`, key).Scan(&found)
	return found, err
}

// audit writes the change's row of the trail, in the change's transaction.
func audit(ctx context.Context, tx pgx.Tx, req billing.ChangeRequest, accountID int64, action, detail string) error {
	_, err := tx.Exec(ctx, `
INSERT INTO selfservice_audit (event_key, telegram_user_id, account_id, action, detail)
VALUES (NULLIF($1, ''), $2, $3, $4, $5)`, req.Key, req.UserID, accountID, action, detail)
	return err
}

// Tariffs lists the account's plan, the plans of its city and kind it may
// move to (cheapest first), and a change waiting for the next period.
func (s *Store) Tariffs(ctx context.Context, accountID int64) (_ billing.Tariffs, err error) {
	defer wrap(&err, "tariffs")
	var out billing.Tariffs
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
SELECT t.id, t.name, t.kind, t.speed_mbps, t.monthly_fee, t.tv
FROM accounts a JOIN tariffs t ON t.id = a.tariff_id WHERE a.id = $1`, accountID).Scan(
			&out.Current.ID, &out.Current.Name, &out.Current.Kind, &out.Current.SpeedMbps, &out.Current.MonthlyFee, &out.Current.TV); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return billing.ErrNotFound
			}
			return err
		}
		rows, _ := tx.Query(ctx, `
SELECT t.id, t.name, t.kind, t.speed_mbps, t.monthly_fee, t.tv
FROM accounts a
JOIN tariff_cities tc ON tc.city_id = a.city_id
JOIN tariffs t ON t.id = tc.tariff_id AND t.kind = a.kind
WHERE a.id = $1 AND t.id <> a.tariff_id
ORDER BY t.monthly_fee, t.id`, accountID)
		plans, err := pgx.CollectRows(rows, scanPlan)
		if err != nil {
			return err
		}
		out.Available = plans
		var ch billing.TariffChange
		err = tx.QueryRow(ctx, `
SELECT t.id, t.name, t.kind, t.speed_mbps, t.monthly_fee, t.tv, c.effective_on
FROM tariff_changes c JOIN tariffs t ON t.id = c.tariff_id
WHERE c.account_id = $1 AND c.applied_at IS NULL AND c.cancelled_at IS NULL`, accountID).Scan(
			&ch.To.ID, &ch.To.Name, &ch.To.Kind, &ch.To.SpeedMbps, &ch.To.MonthlyFee, &ch.To.TV, &ch.From)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			out.Pending = &ch
		}
		return nil
	})
	return out, err
}

func scanPlan(row pgx.CollectableRow) (billing.TariffPlan, error) {
	var p billing.TariffPlan
	err := row.Scan(&p.ID, &p.Name, &p.Kind, &p.SpeedMbps, &p.MonthlyFee, &p.TV)
	return p, err
}

// Services lists every service with whether the account has it: the
// connected ones first, then TV packages, then the rest, cheapest first.
func (s *Store) Services(ctx context.Context, accountID int64) (_ []billing.ServiceOption, err error) {
	defer wrap(&err, "services")
	rows, _ := s.pool.Query(ctx, `
SELECT s.id, s.name, s.kind, s.monthly_fee, x.account_id IS NOT NULL
FROM services s
LEFT JOIN account_services x ON x.service_id = s.id AND x.account_id = $1
ORDER BY x.account_id IS NULL, s.kind = 'extra', s.monthly_fee, s.id`, accountID)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (billing.ServiceOption, error) {
		var o billing.ServiceOption
		err := row.Scan(&o.ID, &o.Name, &o.Kind, &o.MonthlyFee, &o.Connected)
		return o, err
	})
}

// Usage lists the account's traffic for the days from from's date up to
// (not including) to's date, oldest first; days without traffic are absent.
func (s *Store) Usage(ctx context.Context, accountID int64, from, to time.Time) (_ []billing.UsageDay, err error) {
	defer wrap(&err, "usage")
	rows, _ := s.pool.Query(ctx, `
SELECT day, bytes_in, bytes_out, sessions, session_seconds
FROM usage_days
WHERE account_id = $1 AND day >= $2::date AND day < $3::date
ORDER BY day`, accountID, from.Format(time.DateOnly), to.Format(time.DateOnly))
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (billing.UsageDay, error) {
		var u billing.UsageDay
		var d time.Time
		err := row.Scan(&d, &u.BytesIn, &u.BytesOut, &u.Sessions, &u.SessionsSeconds)
		u.Day = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, from.Location())
		return u, err
	})
}

// Operations lists what happened to the account's money and service
// between from and to, oldest first: payments and trust payments,
// charges, freezes begun and ended, tariffs changed.
func (s *Store) Operations(ctx context.Context, accountID int64, from, to time.Time) (_ []billing.Operation, err error) {
	defer wrap(&err, "operations")
	rows, _ := s.pool.Query(ctx, `
SELECT at, kind, amount, what FROM (
    SELECT paid_at AS at, CASE WHEN channel = 'trust' THEN 'trust' ELSE 'payment' END AS kind, amount, channel AS what
    FROM payments WHERE account_id = $1 AND paid_at >= $2 AND paid_at < $3
    UNION ALL
    SELECT charged_at, 'charge', -amount, what
    FROM charges WHERE account_id = $1 AND amount > 0 AND charged_at >= $2 AND charged_at < $3
    UNION ALL
    SELECT started_at, 'freeze', 0, to_char(end_day, 'YYYY-MM-DD')
    FROM freezes WHERE account_id = $1 AND started_at >= $2 AND started_at < $3
    UNION ALL
    SELECT ended_at, 'thaw', 0, ''
    FROM freezes WHERE account_id = $1 AND started_at IS NOT NULL AND ended_at >= $2 AND ended_at < $3
    UNION ALL
    SELECT c.applied_at, 'tariff', 0, t.name
    FROM tariff_changes c JOIN tariffs t ON t.id = c.tariff_id
    WHERE c.account_id = $1 AND c.applied_at >= $2 AND c.applied_at < $3
) ops
ORDER BY at, kind`, accountID, from, to)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (billing.Operation, error) {
		var o billing.Operation
		err := row.Scan(&o.At, &o.Kind, &o.Amount, &o.What)
		return o, err
	})
}

// FreezeState is the account's freeze running or scheduled (nil if none)
// and how many freezes began, or are to begin, in year.
func (s *Store) FreezeState(ctx context.Context, accountID int64, year int) (_ *billing.Freeze, _ int, err error) {
	defer wrap(&err, "freeze state")
	var open *billing.Freeze
	var count int
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		open, count, err = freezeState(ctx, tx, accountID, year, nil)
		return err
	})
	return open, count, err
}

func freezeState(ctx context.Context, tx pgx.Tx, accountID int64, year int, loc *time.Location) (*billing.Freeze, int, error) {
	if loc == nil {
		var tz string
		if err := tx.QueryRow(ctx, `
SELECT c.time_zone FROM accounts a JOIN cities c ON c.id = a.city_id WHERE a.id = $1`, accountID).Scan(&tz); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, 0, billing.ErrNotFound
			}
			return nil, 0, err
		}
		loc = zone(tz)
	}
	var count int
	// A freeze cancelled before it began does not count.
	if err := tx.QueryRow(ctx, `
SELECT count(*) FROM freezes
WHERE account_id = $1 AND extract(year FROM start_day) = $2 AND (started_at IS NOT NULL OR ended_at IS NULL)`,
		accountID, year).Scan(&count); err != nil {
		return nil, 0, err
	}
	var f billing.Freeze
	var start, end time.Time
	err := tx.QueryRow(ctx, `
SELECT id, start_day, end_day, started_at IS NOT NULL FROM freezes
WHERE account_id = $1 AND ended_at IS NULL`, accountID).Scan(&f.ID, &start, &end, &f.Active)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, count, nil
	}
	if err != nil {
		return nil, 0, err
	}
	f.Start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc)
	f.End = time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, loc)
	return &f, count, nil
}

// Freeze freezes the account for days from start's date (in the account's
// zone) by the rules: at once when that is today, otherwise the cycle
// begins it that day. A refusal is a *billing.FreezeRefusal. changed is
// false when the same freeze was asked for already (a second press): it
// is answered with that freeze.
func (s *Store) Freeze(ctx context.Context, req billing.ChangeRequest, accountID int64, start time.Time, days int, now time.Time, rules billing.FreezeRules) (_ billing.Freeze, changed bool, err error) {
	defer wrap(&err, "freeze")
	var out billing.Freeze
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		f, err := lockAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		startDay := day(start, f.loc)
		open, count, err := freezeState(ctx, tx, accountID, startDay.Year(), f.loc)
		if err != nil {
			return err
		}
		again, err := done(ctx, tx, req.Key)
		if err != nil {
			return err
		}
		if again && open == nil {
			// Asked by this update, and ended since: told as it was.
			var start, end time.Time
			if err := tx.QueryRow(ctx, `
SELECT id, start_day, end_day FROM freezes WHERE account_id = $1 ORDER BY id DESC LIMIT 1`, accountID).Scan(&out.ID, &start, &end); err != nil {
				return err
			}
			out.Start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, f.loc)
			out.End = time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, f.loc)
			changed = true
			return nil
		}
		if open != nil && (again || (open.Start.Equal(startDay) && open.Days() == days)) {
			out, changed = *open, again
			return nil
		}
		if err := billing.CanFreeze(billing.FreezeFacts{
			Status: f.status, Balance: f.balance, Today: day(now, f.loc), Start: startDay, Days: days,
			FreezesThisYear: count, Planned: open != nil,
		}, rules); err != nil {
			return err
		}
		endDay := startDay.AddDate(0, 0, days)
		out = billing.Freeze{Start: startDay, End: endDay, Active: !startDay.After(day(now, f.loc))}
		var startedAt *time.Time
		if out.Active {
			startedAt = &now
		}
		if err := tx.QueryRow(ctx, `
INSERT INTO freezes (account_id, start_day, end_day, started_at) VALUES ($1, $2::date, $3::date, $4)
RETURNING id`, accountID, startDay.Format(time.DateOnly), endDay.Format(time.DateOnly), startedAt).Scan(&out.ID); err != nil {
			return err
		}
		if out.Active {
			if _, err := tx.Exec(ctx, `UPDATE accounts SET status = 'frozen' WHERE id = $1`, accountID); err != nil {
				return err
			}
		}
		changed = true
		return audit(ctx, tx, req, accountID, "freeze", fmt.Sprintf("%s..%s", startDay.Format(time.DateOnly), endDay.Format(time.DateOnly)))
	})
	return out, changed, err
}

// Unfreeze ends the account's running freeze early, or cancels one that
// has not begun. changed is false when there was none (a second press).
func (s *Store) Unfreeze(ctx context.Context, req billing.ChangeRequest, accountID int64, now time.Time) (changed bool, err error) {
	defer wrap(&err, "unfreeze")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		if changed, err = done(ctx, tx, req.Key); changed || err != nil {
			return err
		}
		var id int64
		var started bool
		err := tx.QueryRow(ctx, `
UPDATE freezes SET ended_at = $2 WHERE account_id = $1 AND ended_at IS NULL
RETURNING id, started_at IS NOT NULL`, accountID, now).Scan(&id, &started)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if started {
			if _, err := tx.Exec(ctx, `UPDATE accounts SET status = 'active' WHERE id = $1 AND status = 'frozen'`, accountID); err != nil {
				return err
			}
		}
		changed = true
		return audit(ctx, tx, req, accountID, "unfreeze", fmt.Sprintf("freeze %d", id))
	})
	return changed, err
}

// ChangeTariff asks for the account to move to tariffID from its next
// charge day. A refusal is a *billing.TariffRefusal; a change to another
// plan waiting already is replaced. changed is false when the same change
// waits already (a second press).
func (s *Store) ChangeTariff(ctx context.Context, req billing.ChangeRequest, accountID, tariffID int64, now time.Time) (_ billing.TariffChange, changed bool, err error) {
	defer wrap(&err, "change tariff")
	var out billing.TariffChange
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		f, err := lockAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		var pendingID int64
		var pendingOn time.Time
		err = tx.QueryRow(ctx, `
SELECT tariff_id, effective_on FROM tariff_changes
WHERE account_id = $1 AND applied_at IS NULL AND cancelled_at IS NULL`, accountID).Scan(&pendingID, &pendingOn)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var target billing.TariffPlan
		var offered bool
		err = tx.QueryRow(ctx, `
SELECT t.id, t.name, t.kind, t.speed_mbps, t.monthly_fee, t.tv,
       t.kind = $2 AND EXISTS (SELECT 1 FROM tariff_cities WHERE tariff_id = t.id AND city_id = $3)
FROM tariffs t WHERE t.id = $1`, tariffID, f.kind, f.cityID).Scan(
			&target.ID, &target.Name, &target.Kind, &target.SpeedMbps, &target.MonthlyFee, &target.TV, &offered)
		if errors.Is(err, pgx.ErrNoRows) {
			return &billing.TariffRefusal{Reason: billing.TariffNotOffered}
		}
		if err != nil {
			return err
		}
		again, err := done(ctx, tx, req.Key)
		if err != nil {
			return err
		}
		if pendingID == tariffID {
			out = billing.TariffChange{To: target, From: time.Date(pendingOn.Year(), pendingOn.Month(), pendingOn.Day(), 0, 0, 0, 0, f.loc)}
			changed = again
			return nil
		}
		if _, err := billing.CheckTariffChange(billing.TariffFacts{
			Status: f.status, Balance: f.balance, Current: f.tariff, Target: target, Offered: offered, Services: f.services,
		}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
UPDATE tariff_changes SET cancelled_at = $2
WHERE account_id = $1 AND applied_at IS NULL AND cancelled_at IS NULL`, accountID, now); err != nil {
			return err
		}
		out = billing.TariffChange{To: target, From: f.nextCharge(now)}
		if _, err := tx.Exec(ctx, `
INSERT INTO tariff_changes (account_id, tariff_id, effective_on) VALUES ($1, $2, $3::date)`,
			accountID, tariffID, out.From.Format(time.DateOnly)); err != nil {
			return err
		}
		changed = true
		return audit(ctx, tx, req, accountID, "tariff", fmt.Sprintf("tariff %d from %s", tariffID, out.From.Format(time.DateOnly)))
	})
	return out, changed, err
}

// CancelTariffChange withdraws the change waiting for the next period.
// changed is false when none waited (a second press).
func (s *Store) CancelTariffChange(ctx context.Context, req billing.ChangeRequest, accountID int64, now time.Time) (changed bool, err error) {
	defer wrap(&err, "cancel tariff change")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		if changed, err = done(ctx, tx, req.Key); changed || err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
UPDATE tariff_changes SET cancelled_at = $2
WHERE account_id = $1 AND applied_at IS NULL AND cancelled_at IS NULL`, accountID, now)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		changed = true
		return audit(ctx, tx, req, accountID, "tariff_cancel", "")
	})
	return changed, err
}

// SetService connects (on) or disconnects a service. Connecting takes the
// fee for the days left until the next charge day at once
// (billing.ServiceFirstPart), returned as charged; from then on it is part
// of the monthly charge. Disconnecting is at once and returns nothing of
// what was charged. changed is false when the account already was so (a
// second press).
func (s *Store) SetService(ctx context.Context, req billing.ChangeRequest, accountID, serviceID int64, on bool, now time.Time) (charged money.Amount, changed bool, err error) {
	defer wrap(&err, "set service")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		f, err := lockAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		var name string
		var fee money.Amount
		if err := tx.QueryRow(ctx, `SELECT name, monthly_fee FROM services WHERE id = $1`, serviceID).Scan(&name, &fee); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return billing.ErrNotFound
			}
			return err
		}
		if again, err := done(ctx, tx, req.Key); again || err != nil {
			changed = again
			if again && on {
				err = tx.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM charges WHERE key = $1`, "s:"+req.Key).Scan(&charged)
			}
			return err
		}
		if !on {
			tag, err := tx.Exec(ctx, `DELETE FROM account_services WHERE account_id = $1 AND service_id = $2`, accountID, serviceID)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			changed = true
			return audit(ctx, tx, req, accountID, "service_off", fmt.Sprintf("service %d", serviceID))
		}
		if f.status == billing.StatusClosed {
			return billing.ErrNotFound
		}
		tag, err := tx.Exec(ctx, `
INSERT INTO account_services (account_id, service_id, added_at) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING`, accountID, serviceID, now)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		charged = billing.ServiceFirstPart(fee, day(now, f.loc), f.nextCharge(now))
		if charged > 0 {
			key := req.Key
			if key == "" {
				key = randomKey()
			}
			if _, err := tx.Exec(ctx, `
INSERT INTO charges (account_id, key, kind, amount, what, charged_at) VALUES ($1, $2, 'service', $3, $4, $5)`,
				accountID, "s:"+key, charged, name, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance - $2 WHERE id = $1`, accountID, charged); err != nil {
				return err
			}
		}
		changed = true
		return audit(ctx, tx, req, accountID, "service_on", fmt.Sprintf("service %d charged %d", serviceID, charged))
	})
	return charged, changed, err
}

func randomKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "r" + hex.EncodeToString(b[:])
}

// RunCycle is the demo billing's day, run at now: it begins the freezes
// due, ends those whose last day is past, applies the tariff changes due,
// and takes the monthly charge of every account whose charge day has come
// (the freeze fee instead on a day within a freeze: billing.ChargeFor); an
// active account left below zero is blocked for debt. A provider's own
// billing does all this itself. Running it again at the same moment, or on
// two instances at once, changes nothing more: each charge is unique per
// account and charge day. It returns how many charges it took.
func (s *Store) RunCycle(ctx context.Context, now time.Time, rules billing.FreezeRules) (charged int, err error) {
	defer wrap(&err, "billing cycle")
	if _, err := s.pool.Exec(ctx, `
WITH started AS (
    UPDATE freezes f SET started_at = $1
    FROM accounts a JOIN cities c ON c.id = a.city_id
    WHERE f.account_id = a.id AND f.started_at IS NULL AND f.ended_at IS NULL
      AND f.start_day <= ($1 AT TIME ZONE c.time_zone)::date
    RETURNING f.account_id)
UPDATE accounts SET status = 'frozen' WHERE id IN (SELECT account_id FROM started) AND status = 'active'`, now); err != nil {
		return 0, err
	}
	if _, err := s.pool.Exec(ctx, `
WITH ended AS (
    UPDATE freezes f SET ended_at = $1
    FROM accounts a JOIN cities c ON c.id = a.city_id
    WHERE f.account_id = a.id AND f.started_at IS NOT NULL AND f.ended_at IS NULL
      AND f.end_day <= ($1 AT TIME ZONE c.time_zone)::date
    RETURNING f.account_id)
UPDATE accounts SET status = 'active' WHERE id IN (SELECT account_id FROM ended) AND status = 'frozen'`, now); err != nil {
		return 0, err
	}
	if _, err := s.pool.Exec(ctx, `
WITH due AS (
    UPDATE tariff_changes t SET applied_at = $1
    FROM accounts a JOIN cities c ON c.id = a.city_id
    WHERE t.account_id = a.id AND t.applied_at IS NULL AND t.cancelled_at IS NULL
      AND t.effective_on <= ($1 AT TIME ZONE c.time_zone)::date
    RETURNING t.account_id, t.tariff_id)
UPDATE accounts a SET tariff_id = due.tariff_id FROM due WHERE a.id = due.account_id`, now); err != nil {
		return 0, err
	}
	rows, _ := s.pool.Query(ctx, `
SELECT a.id FROM accounts a JOIN cities c ON c.id = a.city_id
WHERE a.status IN ('active', 'frozen')
  AND (a.charged_until IS NULL OR a.charged_until <= ($1 AT TIME ZONE c.time_zone)::date)
ORDER BY a.id`, now)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		n, err := s.chargeAccount(ctx, id, now, rules)
		if err != nil {
			return charged, fmt.Errorf("account %d: %w", id, err)
		}
		charged += n
	}
	return charged, nil
}

// chargeAccount takes an account's charges due at now, in a transaction
// of its own under the account's row lock.
func (s *Store) chargeAccount(ctx context.Context, id int64, now time.Time, rules billing.FreezeRules) (charged int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		f, err := lockAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		var until *time.Time
		if err := tx.QueryRow(ctx, `SELECT charged_until FROM accounts WHERE id = $1`, id).Scan(&until); err != nil {
			return err
		}
		today := day(now, f.loc)
		if until == nil {
			// First seen: nothing of the past is charged.
			_, err := tx.Exec(ctx, `UPDATE accounts SET charged_until = $2::date WHERE id = $1`, id, f.nextCharge(now).Format(time.DateOnly))
			return err
		}
		next := time.Date(until.Year(), until.Month(), until.Day(), 0, 0, 0, 0, f.loc)
		balance := f.balance
		for !next.After(today) && (f.status == billing.StatusActive || f.status == billing.StatusFrozen) {
			amount := billing.ChargeFor(f.tariff.MonthlyFee+f.services, f.status == billing.StatusFrozen, rules)
			kind, what := "monthly", f.tariff.Name
			if f.status == billing.StatusFrozen {
				kind, what = "freeze_fee", ""
			}
			if amount > 0 {
				tag, err := tx.Exec(ctx, `
INSERT INTO charges (account_id, key, kind, amount, what, charged_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (key) DO NOTHING`, id, fmt.Sprintf("m:%d:%s", id, next.Format(time.DateOnly)), kind, amount, what, now)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 1 {
					balance -= amount
					charged++
				}
			}
			next = billing.Account{ChargeDay: f.chargeDay}.NextChargeDate(next, f.loc)
		}
		_, err = tx.Exec(ctx, `
UPDATE accounts SET balance = $2::bigint, charged_until = $3::date,
    -- A running trust payment keeps the service on to its end (ExpireTrust
    -- blocks then if the balance is still below zero), as it promised.
    status = CASE WHEN status = 'active' AND $2::bigint < 0 AND NOT trusted THEN 'blocked' ELSE status END,
    blocked_at = CASE WHEN status = 'active' AND $2::bigint < 0 AND NOT trusted THEN $4::timestamptz ELSE blocked_at END
FROM (SELECT EXISTS (SELECT 1 FROM trust_payments WHERE account_id = $1 AND ended_at IS NULL) AS trusted) tr
WHERE id = $1`, id, balance, next.Format(time.DateOnly), now)
		return err
	})
	return charged, err
}
