package notices

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Outage is an outage operators announced for a city (support's outages
// table: the group's /outage, or `kabinet notify outage`).
type Outage struct {
	ID    int64
	City  string
	Text  string
	Until time.Time // zero: no expected end given
	Ended bool
}

// outage reads one outage.
func (s *Store) outage(ctx context.Context, id int64) (o Outage, err error) {
	defer wrap(&err, "outage")
	var until *time.Time
	err = s.pool.QueryRow(ctx, `SELECT id, city, text, until, ended_at IS NOT NULL FROM outages WHERE id = $1`, id).
		Scan(&o.ID, &o.City, &o.Text, &until, &o.Ended)
	if until != nil {
		o.Until = *until
	}
	return o, err
}

// outageToPush is an outage whose start or end has not been fanned out yet.
type outageToPush struct {
	Outage
	kind Kind
}

// outagesToPush lists the outages announced or ended and not yet turned
// into notices, and marks them so in the same statement: an instance that
// dies right after has committed nothing, and the next one takes them.
// The fan-out that follows runs in the same transaction (fanOut), so the
// mark and the notices commit together.
func (s *Store) pushOutages(ctx context.Context, now time.Time, quiet Quiet, zones *zoneCache) (made int, err error) {
	defer wrap(&err, "push outages")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `
SELECT id, city, text, until, ended_at IS NOT NULL,
       CASE WHEN pushed_at IS NULL THEN 'outage' ELSE 'outage_end' END
FROM outages
WHERE (pushed_at IS NULL AND ended_at IS NULL) OR (pushed_at IS NOT NULL AND ended_at IS NOT NULL AND end_pushed_at IS NULL)
ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED`)
		todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outageToPush, error) {
			var o outageToPush
			var until *time.Time
			err := r.Scan(&o.ID, &o.City, &o.Text, &until, &o.Ended, &o.kind)
			if until != nil {
				o.Until = *until
			}
			return o, err
		})
		if err != nil {
			return err
		}
		for _, o := range todo {
			n, err := fanOut(ctx, tx, o, now, quiet, zones)
			if err != nil {
				return err
			}
			made += n
			col := "pushed_at"
			if o.kind == KindOutageEnd {
				col = "end_pushed_at"
			}
			if _, err := tx.Exec(ctx, `UPDATE outages SET `+col+` = $2 WHERE id = $1`, o.ID, now); err != nil {
				return err
			}
		}
		return nil
	})
	return made, err
}

// outageAudience is, for one city, every person linked to an account there
// who wants outage notices, once each (their oldest such account names the
// notice), with the zone of the city. An end goes only to those who were
// sent the start.
const outageAudience = `
SELECT DISTINCT ON (l.telegram_user_id) l.telegram_user_id, a.id, c.time_zone
FROM telegram_links l
JOIN accounts a ON a.id = l.account_id AND a.status <> 'closed'
JOIN cities c ON c.id = a.city_id AND c.name = $1
LEFT JOIN notice_settings s ON s.telegram_user_id = l.telegram_user_id AND s.account_id = a.id
WHERE coalesce(s.outage, true)
ORDER BY l.telegram_user_id, a.id`

func fanOut(ctx context.Context, tx pgx.Tx, o outageToPush, now time.Time, quiet Quiet, zones *zoneCache) (int, error) {
	q, args := outageAudience, []any{o.City}
	if o.kind == KindOutageEnd {
		q = `SELECT n.telegram_user_id, n.account_id, c.time_zone FROM notices n
JOIN accounts a ON a.id = n.account_id JOIN cities c ON c.id = a.city_id
WHERE n.kind = 'outage' AND n.period = $1 AND n.status = 'sent'`
		args = []any{strconv.FormatInt(o.ID, 10)}
	}
	rows, _ := tx.Query(ctx, q, args...)
	type who struct {
		user, account int64
		zone          string
	}
	people, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (who, error) {
		var w who
		return w, r.Scan(&w.user, &w.account, &w.zone)
	})
	if err != nil {
		return 0, err
	}
	var (
		acc, user []int64
		due       []time.Time
	)
	for _, p := range people {
		acc, user = append(acc, p.account), append(user, p.user)
		due = append(due, quiet.Release(now, zones.get(p.zone)))
	}
	tag, err := tx.Exec(ctx, `
INSERT INTO notices (account_id, kind, period, threshold, telegram_user_id, role, due_at)
SELECT a, $1, $2, 0, u, 'holder', d FROM unnest($3::bigint[], $4::bigint[], $5::timestamptz[]) AS x(a, u, d)
ON CONFLICT DO NOTHING`, string(o.kind), strconv.FormatInt(o.ID, 10), acc, user, due)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// OutageAudience counts who would get an outage's notice in a city now
// (`kabinet notify outage --dry-run`).
func (s *Store) OutageAudience(ctx context.Context, city string) (n int, err error) {
	defer wrap(&err, "outage audience")
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM (`+outageAudience+`) x`, city).Scan(&n)
	return n, err
}

// CityZone finds a city by its Russian or English name, any case (to check
// a --city before announcing anything): its Russian name and time zone.
func (s *Store) CityZone(ctx context.Context, city string) (name, zone string, err error) {
	defer wrap(&err, "city")
	err = s.pool.QueryRow(ctx, `SELECT name, time_zone FROM cities WHERE lower(name) = lower($1) OR lower(name_en) = lower($1)`, city).Scan(&name, &zone)
	return name, zone, err
}

// Announce records an outage in a city for the CLI, the way the operators'
// /outage does (its key is the command's own, random).
func (s *Store) Announce(ctx context.Context, key, city, text string, until time.Time) (id int64, err error) {
	defer wrap(&err, "announce")
	var u any
	if !until.IsZero() {
		u = until
	}
	err = s.pool.QueryRow(ctx, `
INSERT INTO outages (open_key, city, until, text, created_by) VALUES ($1, $2, $3, $4, 0)
ON CONFLICT (open_key) DO UPDATE SET open_key = EXCLUDED.open_key RETURNING id`, key, city, u, text).Scan(&id)
	return id, err
}

// ErrNoOutage is End's answer for an id that is not an outage going on.
var ErrNoOutage = errors.New("no such outage going on")

// End ends an outage (`kabinet notify outage --end ID`).
func (s *Store) End(ctx context.Context, id int64, now time.Time) (o Outage, err error) {
	defer wrap(&err, "end outage")
	tag, err := s.pool.Exec(ctx, `UPDATE outages SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL`, id, now)
	if err != nil {
		return o, err
	}
	if tag.RowsAffected() == 0 {
		return o, fmt.Errorf("outage %d: %w", id, ErrNoOutage)
	}
	return s.outage(ctx, id)
}
