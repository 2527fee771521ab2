package support

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// AnnounceOutage records an outage in a city, once per key.
func (s *Store) AnnounceOutage(ctx context.Context, key string, o dialogs.Outage) (dialogs.Outage, error) {
	var until any
	if !o.Until.IsZero() {
		until = o.Until
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO outages (open_key, city, until, text, created_by) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (open_key) DO NOTHING`, key, o.City, until, o.Text, o.By)
	if err != nil {
		return o, fmt.Errorf("support: announce outage: %w", err)
	}
	out, err := s.outages(ctx, `open_key = $1`, key)
	if err != nil || len(out) == 0 {
		return o, fmt.Errorf("support: announce outage: %w", err)
	}
	return out[0], nil
}

// EndOutage marks an outage over; false if it was over already (or never was).
func (s *Store) EndOutage(ctx context.Context, id int64, now time.Time) (dialogs.Outage, bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE outages SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL`, id, now)
	if err != nil {
		return dialogs.Outage{}, false, fmt.Errorf("support: end outage: %w", err)
	}
	out, err := s.outages(ctx, `id = $1`, id)
	if err != nil {
		return dialogs.Outage{}, false, fmt.Errorf("support: end outage: %w", err)
	}
	if len(out) == 0 {
		return dialogs.Outage{}, false, nil
	}
	return out[0], tag.RowsAffected() == 1, nil
}

// Outages lists the outages going on in a city ("": everywhere), oldest first.
func (s *Store) Outages(ctx context.Context, city string) ([]dialogs.Outage, error) {
	out, err := s.outages(ctx, `ended_at IS NULL AND ($1 = '' OR city = $1)`, city)
	if err != nil {
		return nil, fmt.Errorf("support: outages: %w", err)
	}
	return out, nil
}

func (s *Store) outages(ctx context.Context, where string, arg any) ([]dialogs.Outage, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, city, coalesce(until, 'epoch'), text, created_by, ended_at IS NOT NULL FROM outages WHERE `+where+` ORDER BY id`, arg)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (dialogs.Outage, error) {
		var o dialogs.Outage
		err := r.Scan(&o.ID, &o.City, &o.Until, &o.Text, &o.By, &o.Ended)
		if o.Until.Unix() == 0 {
			o.Until = time.Time{}
		}
		return o, err
	})
}

// SetDetails records what kind of request it is and its details.
func (s *Store) SetDetails(ctx context.Context, id int64, kind, details string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE support_requests SET kind = $2, details = $3 WHERE id = $1`, id, kind, details); err != nil {
		return fmt.Errorf("support: details: %w", err)
	}
	return nil
}

// Details returns a request's kind and details.
func (s *Store) Details(ctx context.Context, id int64) (kind, details string, err error) {
	err = s.pool.QueryRow(ctx, `SELECT kind, details FROM support_requests WHERE id = $1`, id).Scan(&kind, &details)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", dialogs.ErrNoRequest
	}
	if err != nil {
		return "", "", fmt.Errorf("support: details: %w", err)
	}
	return kind, details, nil
}

// Assign gives a request to an operator; false if it was theirs already
// (or it is closed). It is an "assigned" event for the webhook.
func (s *Store) Assign(ctx context.Context, id, operator int64) (bool, error) {
	var changed bool
	err := s.write(ctx, func(q querier) error {
		var was, now string
		err := q.QueryRow(ctx, `UPDATE support_requests r SET operator_id = $2, updated_at = now(),
				status = CASE WHEN r.status = 'new' THEN 'work' ELSE r.status END
			FROM (SELECT id, status FROM support_requests WHERE id = $1 FOR UPDATE) old
			WHERE r.id = old.id AND r.operator_id IS DISTINCT FROM $2 AND r.status <> 'closed'
			RETURNING old.status, r.status`, id, operator).Scan(&was, &now)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		changed = true
		return s.event(ctx, q, id, EventAssigned, statusData{Status: now, From: was, Operator: operator})
	})
	if err != nil {
		return false, fmt.Errorf("support: assign: %w", err)
	}
	return changed, nil
}

// Operators lists the operators who set a signature, by name.
func (s *Store) Operators(ctx context.Context) ([]dialogs.Operator, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_id, name FROM support_operators ORDER BY name LIMIT 20`)
	if err != nil {
		return nil, fmt.Errorf("support: operators: %w", err)
	}
	ops, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dialogs.Operator, error) {
		var o dialogs.Operator
		return o, r.Scan(&o.UserID, &o.Name)
	})
	if err != nil {
		return nil, fmt.Errorf("support: operators: %w", err)
	}
	return ops, nil
}

// AlbumWaiting hands over the messages of one of the subscriber's albums
// that wait to be relayed, marking them queued, once the request has its
// topic (none before: TopicCreated relays them then).
func (s *Store) AlbumWaiting(ctx context.Context, requestID int64, album string) ([]dialogs.RequestMessage, error) {
	var out []dialogs.RequestMessage
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var thread int
		if err := tx.QueryRow(ctx, `SELECT thread FROM support_requests WHERE id = $1 FOR UPDATE`, requestID).Scan(&thread); err != nil || thread == 0 {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE support_messages SET queued = true
			WHERE request_id = $1 AND side = 'sub' AND album = $2 AND NOT queued RETURNING id, src_chat, src_msg, text, media, album`, requestID, album)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (dialogs.RequestMessage, error) {
			m := dialogs.RequestMessage{RequestID: requestID, Side: dialogs.SideSubscriber}
			return m, r.Scan(&m.ID, &m.SrcChat, &m.SrcMsg, &m.Text, &m.Media, &m.Album)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("support: album: %w", err)
	}
	slices.SortFunc(out, func(a, b dialogs.RequestMessage) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}
