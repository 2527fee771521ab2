package support

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// The kinds of support events, as the webhook's "kind" names them.
const (
	// EventCreated: a subscriber filed a request (data: createdData).
	EventCreated = "created"
	// EventMessage: a message of either side, or an operators' note
	// (data: messageData).
	EventMessage = "message"
	// EventAssigned: an operator took the request, or answered it first
	// (data: statusData).
	EventAssigned = "assigned"
	// EventSolved: an operator marked it solved (data: statusData).
	EventSolved = "solved"
	// EventClosed: closed by an operator, by the subscriber's "yes, solved"
	// or by the auto-close (data: statusData; operator 0 when it was not
	// an operator).
	EventClosed = "closed"
	// EventReopened: the subscriber answered a solved request, or said it
	// is not solved (data: statusData).
	EventReopened = "reopened"
	// EventRated: the subscriber's rating, and again when a comment follows
	// (data: ratedData).
	EventRated = "rated"
)

// createdData is a new request as a helpdesk needs it: what and where,
// and the internal account id to look the subscriber up by in the
// provider's billing; never the phone or the account number.
type createdData struct {
	Category  string        `json:"category"`
	City      string        `json:"city"`
	AccountID int64         `json:"account_id"` // 0: a subscriber without a linked account
	Lang      string        `json:"lang"`
	Messages  []messageBody `json:"messages"` // the messages that describe it, in order
}

type messageBody struct {
	Text  string `json:"text"` // the text or caption; "" for a file without one
	Media bool   `json:"media"`
}

func createdPayload(nr dialogs.NewRequest, msgs []dialogs.RequestMessage) createdData {
	d := createdData{Category: nr.Category, City: nr.City, AccountID: nr.AccountID, Lang: nr.Lang, Messages: []messageBody{}}
	for _, m := range msgs {
		d.Messages = append(d.Messages, messageBody{Text: m.Text, Media: m.Media})
	}
	return d
}

// messageData is one message of a request.
type messageData struct {
	Message  int64  `json:"message"`  // the message's id in Kabinet
	Side     string `json:"side"`     // "subscriber" or "operator"
	Internal bool   `json:"internal"` // an operators' note: the subscriber never saw it
	Operator int64  `json:"operator"` // the operator's Telegram user id (0 for the subscriber)
	Text     string `json:"text"`
	Media    bool   `json:"media"`
}

func messagePayload(m dialogs.RequestMessage) messageData {
	d := messageData{Message: m.ID, Side: "subscriber", Operator: m.Operator, Text: m.Text, Media: m.Media}
	if m.Side != dialogs.SideSubscriber {
		d.Side = "operator"
		d.Internal = m.Side == dialogs.SideNote
	}
	return d
}

// statusData is a change of status.
type statusData struct {
	Status   string `json:"status"`   // new, work, waiting, solved, closed
	From     string `json:"from"`     // the status before
	Operator int64  `json:"operator"` // who did it (0: the subscriber or the bot); see assigned for who holds it
}

// ratedData is the subscriber's rating (1-5) and comment ("" if none yet).
type ratedData struct {
	Rating  int    `json:"rating"`
	Comment string `json:"comment"`
}

// statusEvent is the event a status change makes, "" for none: a change
// that only follows a message (the operator answered: waiting; the
// subscriber answered: work again) is told by that message's event.
func statusEvent(was, now dialogs.RequestStatus, by, wasOp, nowOp int64) (string, statusData) {
	d := statusData{Status: string(now), From: string(was), Operator: by}
	switch {
	case now == dialogs.StatusSolved:
		return EventSolved, d
	case now == dialogs.StatusClosed:
		return EventClosed, d
	case was == dialogs.StatusSolved:
		return EventReopened, d
	case by != 0 && (now == dialogs.StatusWork || nowOp != wasOp):
		// Taken, or answered by an operator the request did not have.
		return EventAssigned, d
	}
	return "", d
}

// querier is a transaction or the pool: what one short write needs.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// write runs fn, a change of one statement and, with events, the event it
// makes: in a transaction when there is an event to write with it,
// straight on the pool when there is not.
func (s *Store) write(ctx context.Context, fn func(q querier) error) error {
	if !s.events {
		return fn(s.pool)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx) })
}

// event writes an event of request id, with q (the change's transaction),
// when the Store writes events. Every change that writes one holds the
// request's row lock when it does (AddMessage's SELECT ... FOR UPDATE,
// the UPDATE of SetStatus and Rate; Open makes the row), until it
// commits: so the events of one request get their ids in the order they
// commit, which is the order Webhook delivers them in.
func (s *Store) event(ctx context.Context, q querier, request int64, kind string, data any) error {
	if !s.events {
		return nil
	}
	body, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("event %s: %w", kind, err)
	}
	_, err = q.Exec(ctx, `INSERT INTO support_events (request_id, kind, payload) VALUES ($1, $2, $3)`, request, kind, body)
	return err
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
