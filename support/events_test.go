package support_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/support"
)

// storedEvent is a row of support_events as a test reads it.
type storedEvent struct {
	ID      int64
	Request int64
	Kind    string
	Data    map[string]any
}

func eventsOf(t *testing.T, pool *pgxpool.Pool) []storedEvent {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, request_id, kind, payload FROM support_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var e storedEvent
		var raw []byte
		if err := rows.Scan(&e.ID, &e.Request, &e.Kind, &raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &e.Data); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func kinds(evs []storedEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// openRequest files a request of a subscriber without an account, with
// one text and one photo.
func openRequest(t *testing.T, s *support.Store, key string, user int64) dialogs.Request {
	t.Helper()
	r, err := s.Open(context.Background(), key, dialogs.NewRequest{
		UserID: user, ChatID: user, Phone: "+79001234567", Category: "net", City: "Москва", Lang: "ru", Group: -100500,
	}, []dialogs.RequestMessage{
		{Side: dialogs.SideSubscriber, SrcChat: user, SrcMsg: 10, Text: "Нет интернета"},
		{Side: dialogs.SideSubscriber, SrcChat: user, SrcMsg: 11, Media: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every change a helpdesk would want is an event, written with the change,
// once: the same update again, a repeated press or a rating that changes
// nothing writes none.
func TestEveryChangeIsAnEventWrittenOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	s := support.New(pool, support.WithEvents())
	const user, op, op2 = 501, 9001, 9002
	now := time.Now()

	r := openRequest(t, s, "open:u1", user)
	if again := openRequest(t, s, "open:u1", user); again.ID != r.ID {
		t.Fatalf("the same key filed request %d, then %d", r.ID, again.ID)
	}
	add := func(m dialogs.RequestMessage) {
		t.Helper()
		m.RequestID = r.ID
		if _, _, err := s.AddMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	set := func(st dialogs.RequestStatus, by int64, wantChanged bool) {
		t.Helper()
		changed, err := s.SetStatus(ctx, r.ID, st, by, now)
		if err != nil {
			t.Fatal(err)
		}
		if changed != wantChanged {
			t.Fatalf("SetStatus(%s, %d) changed %v, want %v", st, by, changed, wantChanged)
		}
	}
	rate := func(n int, comment string) {
		t.Helper()
		if err := s.Rate(ctx, r.ID, n, comment); err != nil {
			t.Fatal(err)
		}
	}

	add(dialogs.RequestMessage{Side: dialogs.SideSubscriber, SrcChat: user, SrcMsg: 12, Text: "Роутер мигает"})
	add(dialogs.RequestMessage{Side: dialogs.SideSubscriber, SrcChat: user, SrcMsg: 12, Text: "Роутер мигает"}) // the update again
	add(dialogs.RequestMessage{Side: dialogs.SideOperator, SrcChat: -100500, SrcMsg: 40, Text: "Перезагрузите", Operator: op})
	set(dialogs.StatusWaiting, op, true) // the first answer: the operator has it
	add(dialogs.RequestMessage{Side: dialogs.SideNote, SrcChat: -100500, SrcMsg: 41, Text: "звонил вчера", Operator: op})
	set(dialogs.StatusWork, 0, true) // the subscriber answered: told by the message, no event
	set(dialogs.StatusWork, op2, false)
	set(dialogs.StatusSolved, op2, true)
	set(dialogs.StatusSolved, op2, false) // pressed again
	set(dialogs.StatusWork, 0, true)      // "not solved"
	set(dialogs.StatusSolved, op2, true)
	set(dialogs.StatusClosed, 0, true) // the subscriber's "yes"
	set(dialogs.StatusWork, op, false) // closed stays closed
	rate(5, "")
	rate(5, "") // pressed again
	rate(0, "Спасибо")

	evs := eventsOf(t, pool)
	want := []string{"created", "message", "message", "assigned", "message", "solved", "reopened", "solved", "closed", "rated", "rated"}
	if got := kinds(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v\nwant   %v", got, want)
	}
	for _, e := range evs {
		if e.Request != r.ID {
			t.Errorf("event %d of request %d, want %d", e.ID, e.Request, r.ID)
		}
	}
	check := func(i int, want map[string]any) {
		t.Helper()
		if !reflect.DeepEqual(evs[i].Data, want) {
			t.Errorf("event %d (%s) data %v\nwant %v", i, evs[i].Kind, evs[i].Data, want)
		}
	}
	// Nothing personal beyond what a helpdesk needs: no phone, no chat.
	check(0, map[string]any{"category": "net", "city": "Москва", "account_id": 0.0, "lang": "ru",
		"messages": []any{map[string]any{"text": "Нет интернета", "media": false}, map[string]any{"text": "", "media": true}}})
	msg := func(side string, internal bool, operator float64, text string) map[string]any {
		return map[string]any{"side": side, "internal": internal, "operator": operator, "text": text, "media": false}
	}
	for i, w := range map[int]map[string]any{1: msg("subscriber", false, 0, "Роутер мигает"), 2: msg("operator", false, op, "Перезагрузите"), 4: msg("operator", true, op, "звонил вчера")} {
		if id, ok := evs[i].Data["message"].(float64); !ok || id == 0 {
			t.Errorf("event %d has no message id: %v", i, evs[i].Data)
		}
		delete(evs[i].Data, "message")
		check(i, w)
	}
	check(3, map[string]any{"status": "waiting", "from": "new", "operator": float64(op)})
	check(5, map[string]any{"status": "solved", "from": "work", "operator": float64(op2)})
	check(6, map[string]any{"status": "work", "from": "solved", "operator": 0.0})
	check(8, map[string]any{"status": "closed", "from": "solved", "operator": 0.0})
	check(9, map[string]any{"rating": 5.0, "comment": ""})
	check(10, map[string]any{"rating": 5.0, "comment": "Спасибо"})

	// Taking the request is an assignment too.
	r2 := openRequest(t, s, "open:u2", user+1)
	changed, err := s.SetStatus(ctx, r2.ID, dialogs.StatusWork, op, now)
	if err != nil || !changed {
		t.Fatalf("take: %v %v", changed, err)
	}
	if evs := eventsOf(t, pool); evs[len(evs)-1].Kind != "assigned" || evs[len(evs)-1].Request != r2.ID {
		t.Errorf("taking a request wrote %v", kinds(evs))
	}
}

// Without a webhook nothing is written: the table would only grow.
func TestNoEventsWithoutAWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	s := support.New(pool)
	r := openRequest(t, s, "open:x", 77)
	if _, _, err := s.AddMessage(ctx, dialogs.RequestMessage{RequestID: r.ID, Side: dialogs.SideSubscriber, SrcChat: 77, SrcMsg: 20, Text: "ещё"}); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.SetStatus(ctx, r.ID, dialogs.StatusSolved, 5, time.Now()); err != nil || !changed {
		t.Fatalf("solve: %v %v", changed, err)
	}
	if err := s.Rate(ctx, r.ID, 4, "ok"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Request(ctx, r.ID); err != nil || got.Status != dialogs.StatusSolved || got.Rating != 4 {
		t.Fatalf("the changes themselves were not made: %+v %v", got, err)
	}
	if evs := eventsOf(t, pool); len(evs) != 0 {
		t.Errorf("a store without a webhook wrote events %v", kinds(evs))
	}
}
