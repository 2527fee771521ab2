// Package support keeps the support requests that subscribers file in the
// chat and operators answer in forum topics: the requests, their messages
// on both sides with the messages that relay them, and the operators'
// signatures, in PostgreSQL (migration 006 of billing/postgres). Store
// implements dialogs.Support; the rules of the conversation are in
// dialogs/support.go, the working hours in Hours.
//
// Every transaction here is short and none is open across a call to
// Telegram: the relays themselves go through the bot's outbox.
//
// With WithEvents (serve sets it when SUPPORT_WEBHOOK_URL is set), every
// change is also written as a row of support_events in the transaction
// that makes it, for Webhook to post to an external helpdesk (events.go).
// Without it nothing is written there, so the table does not grow when
// nobody reads it.
package support

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// Store is the PostgreSQL store of support requests.
type Store struct {
	pool   *pgxpool.Pool
	events bool // write support_events (WithEvents)
}

var _ dialogs.Support = (*Store)(nil)

// Option changes how a Store works.
type Option func(*Store)

// WithEvents makes the Store write an event row for every change it makes
// (created, message, assigned, solved, closed, reopened, rated), in the
// same transaction, for Webhook to deliver. Only for a Store whose events
// somebody posts: the rows stay until they are sent.
func WithEvents() Option { return func(s *Store) { s.events = true } }

// New returns a Store on pool.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool}
	for _, o := range opts {
		o(s)
	}
	return s
}

const requestColumns = `r.id, r.user_id, r.chat_id, coalesce(r.account_id, 0), r.phone, r.category, r.city, r.lang, r.status,
	r.group_chat, r.thread, coalesce(r.operator_id, 0), coalesce(r.rating, 0), r.created_at, coalesce(r.solved_at, 'epoch'),
	coalesce((SELECT m.text FROM support_messages m WHERE m.request_id = r.id AND m.side <> 'note' AND m.text <> '' ORDER BY m.id DESC LIMIT 1), '')`

func scanRequest(row pgx.Row) (dialogs.Request, error) {
	var r dialogs.Request
	var status string
	err := row.Scan(&r.ID, &r.UserID, &r.ChatID, &r.AccountID, &r.Phone, &r.Category, &r.City, &r.Lang, &status,
		&r.Group, &r.Thread, &r.Operator, &r.Rating, &r.CreatedAt, &r.SolvedAt, &r.LastText)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, dialogs.ErrNoRequest
	}
	r.Status = dialogs.RequestStatus(status)
	if r.SolvedAt.Unix() == 0 {
		r.SolvedAt = time.Time{}
	}
	return r, err
}

// Open files a request with its first messages, once per key.
func (s *Store) Open(ctx context.Context, key string, nr dialogs.NewRequest, msgs []dialogs.RequestMessage) (dialogs.Request, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var account any
		if nr.AccountID != 0 {
			account = nr.AccountID
		}
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO support_requests (open_key, user_id, chat_id, account_id, phone, category, city, lang, group_chat)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (open_key) DO NOTHING RETURNING id`,
			key, nr.UserID, nr.ChatID, account, nr.Phone, nr.Category, nr.City, nr.Lang, nr.Group).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // filed before under this key
		}
		if err != nil {
			return err
		}
		for _, m := range msgs {
			// Not queued: they wait for the topic, which TopicCreated hands them to.
			if _, err := tx.Exec(ctx, `INSERT INTO support_messages (request_id, side, src_chat, src_msg, text, media, album)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, id, m.Side, m.SrcChat, m.SrcMsg, m.Text, m.Media, m.Album); err != nil {
				return err
			}
		}
		return s.event(ctx, tx, id, EventCreated, createdPayload(nr, msgs))
	})
	if err != nil {
		return dialogs.Request{}, fmt.Errorf("support: open: %w", err)
	}
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM support_requests r WHERE r.open_key = $1`, key))
	if err != nil {
		return r, fmt.Errorf("support: open: %w", err)
	}
	return r, nil
}

// Request returns one request.
func (s *Store) Request(ctx context.Context, id int64) (dialogs.Request, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM support_requests r WHERE r.id = $1`, id))
	if err != nil && !errors.Is(err, dialogs.ErrNoRequest) {
		return r, fmt.Errorf("support: request %d: %w", id, err)
	}
	return r, err
}

// Active returns the user's newest request that is not closed.
func (s *Store) Active(ctx context.Context, userID int64) (dialogs.Request, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM support_requests r
		WHERE r.user_id = $1 AND r.status <> 'closed' ORDER BY r.id DESC LIMIT 1`, userID))
	if err != nil && !errors.Is(err, dialogs.ErrNoRequest) {
		return r, fmt.Errorf("support: active request: %w", err)
	}
	return r, err
}

// ByTopic returns the request of a forum topic.
func (s *Store) ByTopic(ctx context.Context, chat int64, thread int) (dialogs.Request, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM support_requests r
		WHERE r.group_chat = $1 AND r.thread = $2`, chat, thread))
	if err != nil && !errors.Is(err, dialogs.ErrNoRequest) {
		return r, fmt.Errorf("support: request of a topic: %w", err)
	}
	return r, err
}

// List returns the user's newest n requests.
func (s *Store) List(ctx context.Context, userID int64, n int) ([]dialogs.Request, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM support_requests r WHERE r.user_id = $1 ORDER BY r.id DESC LIMIT $2`, userID, n)
	if err != nil {
		return nil, fmt.Errorf("support: list: %w", err)
	}
	defer rows.Close()
	var out []dialogs.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("support: list: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AddMessage records a message once per (request, side, source message).
// The request's row is locked for the moment of the insert, so that it and
// TopicCreated agree on who relays it: a message that finds the topic made
// is relayed by its turn (relay true), one that comes before is handed to
// TopicCreated.
func (s *Store) AddMessage(ctx context.Context, m dialogs.RequestMessage) (dialogs.RequestMessage, bool, error) {
	var relay bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var thread int
		if err := tx.QueryRow(ctx, `SELECT thread FROM support_requests WHERE id = $1 FOR UPDATE`, m.RequestID).Scan(&thread); err != nil {
			return err
		}
		// A subscriber's album waits to be relayed whole (AlbumWaiting).
		queued := thread != 0 && m.Side != dialogs.SideNote && m.Album == ""
		if m.Side == dialogs.SideOperator {
			queued = true // an answer goes to the subscriber's chat, which is always there
		}
		var op any
		if m.Operator != 0 {
			op = m.Operator
		}
		err := tx.QueryRow(ctx, `INSERT INTO support_messages (request_id, side, src_chat, src_msg, text, media, operator_id, queued, album)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (request_id, side, src_msg) DO NOTHING RETURNING id, queued`,
			m.RequestID, m.Side, m.SrcChat, m.SrcMsg, m.Text, m.Media, op, queued, m.Album).Scan(&m.ID, &relay)
		if errors.Is(err, pgx.ErrNoRows) {
			// Recorded before (the same update again): relay as it was decided.
			return tx.QueryRow(ctx, `SELECT id, queued FROM support_messages WHERE request_id = $1 AND side = $2 AND src_msg = $3`,
				m.RequestID, m.Side, m.SrcMsg).Scan(&m.ID, &relay)
		}
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `UPDATE support_requests SET updated_at = now() WHERE id = $1`, m.RequestID); err != nil {
			return err
		}
		return s.event(ctx, tx, m.RequestID, EventMessage, messagePayload(m))
	})
	if err != nil {
		return m, false, fmt.Errorf("support: add message: %w", err)
	}
	return m, relay && m.Side != dialogs.SideNote, nil
}

// Copied returns the message that relays message src of side (0 if none yet).
func (s *Store) Copied(ctx context.Context, requestID int64, side string, src int) (int, error) {
	var dst *int
	err := s.pool.QueryRow(ctx, `SELECT dst_msg FROM support_messages WHERE request_id = $1 AND side = $2 AND src_msg = $3`, requestID, side, src).Scan(&dst)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && dst == nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("support: copied: %w", err)
	}
	return *dst, nil
}

// Message returns one message row.
func (s *Store) Message(ctx context.Context, id int64) (dialogs.RequestMessage, error) {
	var m dialogs.RequestMessage
	var op *int64
	err := s.pool.QueryRow(ctx, `SELECT id, request_id, side, src_chat, src_msg, text, media, operator_id FROM support_messages WHERE id = $1`, id).
		Scan(&m.ID, &m.RequestID, &m.Side, &m.SrcChat, &m.SrcMsg, &m.Text, &m.Media, &op)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, dialogs.ErrNoRequest
	}
	if err != nil {
		return m, fmt.Errorf("support: message %d: %w", id, err)
	}
	if op != nil {
		m.Operator = *op
	}
	return m, nil
}

// TopicCreated records the request's topic and hands over the subscriber's
// messages that waited for it, marking them queued, in one transaction.
// A receipt handled again (after a crash) finds them queued and relays
// nothing twice: the outbox moved the relays already asked for.
func (s *Store) TopicCreated(ctx context.Context, requestID int64, thread int) ([]dialogs.RequestMessage, error) {
	var out []dialogs.RequestMessage
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE support_requests SET thread = $2, updated_at = now() WHERE id = $1`, requestID, thread); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE support_messages SET queued = true
			WHERE request_id = $1 AND side = 'sub' AND NOT queued RETURNING id, src_chat, src_msg, text, media, album`, requestID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m := dialogs.RequestMessage{RequestID: requestID, Side: dialogs.SideSubscriber}
			if err := rows.Scan(&m.ID, &m.SrcChat, &m.SrcMsg, &m.Text, &m.Media, &m.Album); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("support: topic created: %w", err)
	}
	// In the order they were written (UPDATE ... RETURNING keeps none).
	slices.SortFunc(out, func(a, b dialogs.RequestMessage) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// TopicLost forgets a deleted topic and makes message msg wait for the new one.
func (s *Store) TopicLost(ctx context.Context, requestID, msg int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE support_requests SET thread = 0, updated_at = now() WHERE id = $1`, requestID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE support_messages SET queued = false, dst_msg = NULL WHERE id = $1 AND request_id = $2`, msg, requestID)
		return err
	})
	if err != nil {
		return fmt.Errorf("support: topic lost: %w", err)
	}
	return nil
}

// Delivered records the message that relays row id.
func (s *Store) Delivered(ctx context.Context, id int64, dst int) error {
	if _, err := s.pool.Exec(ctx, `UPDATE support_messages SET dst_msg = $2 WHERE id = $1`, id, dst); err != nil {
		return fmt.Errorf("support: delivered: %w", err)
	}
	return nil
}

// SetStatus changes a request's status, reporting whether it changed.
// The request's row is read with the values it had (locked by the UPDATE
// itself), so that the event says what it changed from.
func (s *Store) SetStatus(ctx context.Context, id int64, status dialogs.RequestStatus, operator int64, now time.Time) (bool, error) {
	var op any
	if operator != 0 {
		op = operator
	}
	var changed bool
	err := s.write(ctx, func(q querier) error {
		var was string
		var wasOp, nowOp *int64
		err := q.QueryRow(ctx, `UPDATE support_requests r SET status = $2, operator_id = coalesce($3, r.operator_id), updated_at = $4,
				solved_at = CASE WHEN $2 = 'solved' THEN date_trunc('second', $4::timestamptz) ELSE r.solved_at END,
				closed_at = CASE WHEN $2 = 'closed' THEN $4 ELSE NULL END
			FROM (SELECT id, status, operator_id FROM support_requests WHERE id = $1 FOR UPDATE) old
			WHERE r.id = old.id AND r.status <> $2 AND NOT (r.status = 'closed' AND $2 <> 'closed')
			RETURNING old.status, old.operator_id, r.operator_id`, id, string(status), op, now).Scan(&was, &wasOp, &nowOp)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		changed = true
		kind, data := statusEvent(dialogs.RequestStatus(was), status, operator, deref(wasOp), deref(nowOp))
		if kind == "" {
			return nil
		}
		return s.event(ctx, q, id, kind, data)
	})
	if err != nil {
		return false, fmt.Errorf("support: set status: %w", err)
	}
	return changed, nil
}

// Rate stores a rating (1-5; 0 keeps it) and a comment ("" keeps it).
func (s *Store) Rate(ctx context.Context, id int64, rating int, comment string) error {
	var r any
	if rating > 0 {
		r = rating
	}
	err := s.write(ctx, func(q querier) error {
		var got *int
		var text string
		err := q.QueryRow(ctx, `UPDATE support_requests SET rating = coalesce($2, rating),
				comment = CASE WHEN $3 = '' THEN comment ELSE $3 END
			WHERE id = $1 AND (rating IS DISTINCT FROM coalesce($2, rating) OR $3 <> '' AND comment <> $3)
			RETURNING rating, comment`, id, r, comment).Scan(&got, &text)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // no such request, or nothing new: the same press again
		}
		if err != nil {
			return err
		}
		return s.event(ctx, q, id, EventRated, ratedData{Rating: deref(got), Comment: text})
	})
	if err != nil {
		return fmt.Errorf("support: rate: %w", err)
	}
	return nil
}

// OperatorName is the name an operator signs with.
func (s *Store) OperatorName(ctx context.Context, userID int64) (string, error) {
	var name string
	err := s.pool.QueryRow(ctx, `SELECT name FROM support_operators WHERE user_id = $1`, userID).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("support: operator name: %w", err)
	}
	return name, nil
}

// SetOperatorName stores it.
func (s *Store) SetOperatorName(ctx context.Context, userID int64, name string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO support_operators (user_id, name) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET name = excluded.name`, userID, name)
	if err != nil {
		return fmt.Errorf("support: set operator name: %w", err)
	}
	return nil
}
