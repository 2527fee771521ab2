package support_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/support"
)

var hookSecret = []byte("a-webhook-secret-of-32-characters!")

// delivery is one POST a receiver got.
type delivery struct {
	path    string // which worker posted it, when they post to different paths
	payload support.Payload
	at      time.Time
}

// receiver is an external helpdesk: it checks every POST's signature and
// headers, records it, and answers what answer says (200 if nil).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	answer func(p support.Payload, try int) int
	delay  time.Duration
	gate   func(path string) // called before a POST is answered
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("a %s with Content-Type %q, want a JSON POST", req.Method, req.Header.Get("Content-Type"))
		}
		if !support.VerifySignature(hookSecret, body, req.Header.Get("X-Kabinet-Signature")) {
			t.Errorf("a POST with a wrong signature %q", req.Header.Get("X-Kabinet-Signature"))
		}
		var p support.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("an unreadable body %q: %v", body, err)
		}
		if req.Header.Get("X-Kabinet-Event-Id") != strconv.FormatInt(p.ID, 10) {
			t.Errorf("X-Kabinet-Event-Id %q for event %d", req.Header.Get("X-Kabinet-Event-Id"), p.ID)
		}
		time.Sleep(r.delay)
		if r.gate != nil {
			r.gate(req.URL.Path)
		}
		r.mu.Lock()
		try := 0
		for _, d := range r.got {
			if d.payload.ID == p.ID {
				try++
			}
		}
		r.got = append(r.got, delivery{path: req.URL.Path, payload: p, at: time.Now()})
		answer := r.answer
		r.mu.Unlock()
		status := http.StatusOK
		if answer != nil {
			status = answer(p, try)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// countByID is how many times each event came.
func (r *receiver) countByID() map[int64]int {
	n := map[int64]int{}
	for _, d := range r.deliveries() {
		n[d.payload.ID]++
	}
	return n
}

func newHook(t *testing.T, pool *pgxpool.Pool, url string, tweak func(*support.WebhookConfig)) (*support.Webhook, *bytes.Buffer) {
	cfg := support.WebhookConfig{URL: url, Secret: hookSecret, Poll: 10 * time.Millisecond, RetryBase: 100 * time.Millisecond, RetryMax: time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	logs := &syncBuf{}
	return support.NewWebhook(pool, cfg, slog.New(slog.NewJSONHandler(logs, nil))), &logs.b
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// pending counts the events not yet sent nor given up.
func pending(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM support_events WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// someRequests files n requests with a few events each (created, two
// messages, solved) and returns the events' ids by request, in order.
func someRequests(t *testing.T, pool *pgxpool.Pool, n int) map[int64][]int64 {
	t.Helper()
	ctx := context.Background()
	s := support.New(pool, support.WithEvents())
	for i := range n {
		user := int64(1000 + i)
		r := openRequest(t, s, fmt.Sprintf("open:%d", i), user)
		for j := range 2 {
			if _, _, err := s.AddMessage(ctx, dialogs.RequestMessage{RequestID: r.ID, Side: dialogs.SideSubscriber, SrcChat: user, SrcMsg: 100 + j, Text: "ещё"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetStatus(ctx, r.ID, dialogs.StatusSolved, 7, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	out := map[int64][]int64{}
	for _, e := range eventsOf(t, pool) {
		out[e.Request] = append(out[e.Request], e.ID)
	}
	return out
}

// runUntil runs workers until every event is sent or given up.
func runUntil(t *testing.T, pool *pgxpool.Pool, hooks ...*support.Webhook) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, h := range hooks {
		wg.Go(func() { h.Run(ctx) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for pending(t, pool) > 0 {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("%d events still not delivered", pending(t, pool))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
}

// checkOrder: each request's events arrived in the order they were written.
func checkOrder(t *testing.T, got []delivery, want map[int64][]int64) {
	t.Helper()
	seen := map[int64][]int64{}
	for _, d := range got {
		ids := seen[d.payload.Request]
		if len(ids) == 0 || ids[len(ids)-1] != d.payload.ID { // a retry repeats the last one
			seen[d.payload.Request] = append(ids, d.payload.ID)
		}
	}
	for req, ids := range want {
		if fmt.Sprint(seen[req]) != fmt.Sprint(ids) {
			t.Errorf("request %d: events arrived as %v, want %v", req, seen[req], ids)
		}
	}
}

func TestWebhookPostsEachEventOnceSigned(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	want := someRequests(t, pool, 3)
	rcv := newReceiver(t)
	hook, _ := newHook(t, pool, rcv.srv.URL, nil)

	n, err := hook.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 12 {
		t.Errorf("RunOnce delivered %d, want 12", n)
	}
	// Nothing more is posted: each went once.
	if _, err := hook.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := rcv.deliveries()
	for id, c := range rcv.countByID() {
		if c != 1 {
			t.Errorf("event %d posted %d times", id, c)
		}
	}
	if len(got) != 12 {
		t.Fatalf("%d POSTs, want 12", len(got))
	}
	checkOrder(t, got, want)
	first := got[0].payload
	for _, d := range got {
		if d.payload.Kind == "created" {
			first = d.payload
		}
	}
	var data map[string]any
	if err := json.Unmarshal(first.Data, &data); err != nil || data["category"] != "net" || first.At.IsZero() || first.Request == 0 {
		t.Errorf("a created event reads %+v (%v)", first, err)
	}
	if pending(t, pool) != 0 {
		t.Errorf("%d events still pending", pending(t, pool))
	}
}

// A receiver that fails twice gets the event again after a growing pause,
// and the request's later events wait for it: nothing is lost or reordered.
func TestWebhookRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	want := someRequests(t, pool, 2)
	rcv := newReceiver(t)
	var flaky int64
	for req := range want {
		flaky = want[req][1] // the first message of a request
		break
	}
	rcv.answer = func(p support.Payload, try int) int {
		if p.ID == flaky && try < 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	hook, logs := newHook(t, pool, rcv.srv.URL, nil)
	runUntil(t, pool, hook)

	got := rcv.deliveries()
	var tries []time.Time
	for _, d := range got {
		if d.payload.ID == flaky {
			tries = append(tries, d.at)
		}
	}
	if len(tries) != 3 {
		t.Fatalf("the flaky event came %d times, want 3 (two failures, then success)", len(tries))
	}
	// RetryBase 100 ms doubled, less up to 20% jitter.
	if gap := tries[1].Sub(tries[0]); gap < 80*time.Millisecond {
		t.Errorf("the second try came %v after the first, want at least 80 ms", gap)
	}
	if gap := tries[2].Sub(tries[1]); gap < 160*time.Millisecond {
		t.Errorf("the third try came %v after the second, want at least 160 ms", gap)
	}
	for id, c := range rcv.countByID() {
		if id != flaky && c != 1 {
			t.Errorf("event %d posted %d times", id, c)
		}
	}
	if n := len(rcv.countByID()); n != 8 {
		t.Errorf("%d different events arrived, want all 8", n)
	}
	checkOrder(t, got, want)
	var attempts int
	if err := pool.QueryRow(context.Background(), `SELECT attempts FROM support_events WHERE id = $1 AND sent_at IS NOT NULL`, flaky).Scan(&attempts); err != nil || attempts != 3 {
		t.Errorf("the flaky event has %d attempts recorded (%v), want 3", attempts, err)
	}
	if !strings.Contains(logs.String(), `"status":503`) || strings.Contains(logs.String(), rcv.srv.URL) {
		t.Errorf("the failures are not logged with their status, or the URL is in the log:\n%s", logs)
	}
}

// An event the receiver keeps refusing is given up once GiveUp has passed,
// with an error in the log, and the request's next events go on.
func TestWebhookGivesUpAndGoesOn(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	want := someRequests(t, pool, 1)
	var req int64
	for r := range want {
		req = r
	}
	refused := want[req][0]
	rcv := newReceiver(t)
	rcv.answer = func(p support.Payload, try int) int {
		if p.ID == refused {
			return http.StatusBadRequest
		}
		return http.StatusOK
	}
	hook, logs := newHook(t, pool, rcv.srv.URL, func(c *support.WebhookConfig) { c.GiveUp = 300 * time.Millisecond })
	runUntil(t, pool, hook)

	counts := rcv.countByID()
	if counts[refused] < 2 {
		t.Errorf("the refused event was tried %d times before it was given up, want a few", counts[refused])
	}
	for _, id := range want[req][1:] {
		if counts[id] != 1 {
			t.Errorf("event %d after the refused one came %d times, want 1", id, counts[id])
		}
	}
	var failed bool
	if err := pool.QueryRow(context.Background(), `SELECT failed_at IS NOT NULL AND sent_at IS NULL FROM support_events WHERE id = $1`, refused).Scan(&failed); err != nil || !failed {
		t.Errorf("the refused event is not marked failed (%v)", err)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "support_webhook_gave_up") {
		t.Errorf("giving up is not an error in the log:\n%s", logs)
	}
}

// Two workers on one database share the events: each is posted once
// between them, each request's in order. The first worker's first POST
// waits until the second has posted, so that both hold claims at once.
func TestTwoWorkersDeliverEachEventOnce(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	want := someRequests(t, pool, 40)
	rcv := newReceiver(t)
	rcv.delay = time.Millisecond
	both := make(chan struct{})
	var once sync.Once
	rcv.gate = func(path string) {
		switch path {
		case "/b":
			once.Do(func() { close(both) })
		case "/a":
			select {
			case <-both:
			case <-time.After(10 * time.Second):
				t.Error("the second worker posted nothing while the first held its claims")
			}
		}
	}
	small := func(c *support.WebhookConfig) { c.Batch = 3 }
	a, _ := newHook(t, pool, rcv.srv.URL+"/a", small)
	b, _ := newHook(t, pool, rcv.srv.URL+"/b", small)
	runUntil(t, pool, a, b)

	got := rcv.deliveries()
	if len(got) != 160 {
		t.Errorf("%d POSTs for 160 events", len(got))
	}
	for id, c := range rcv.countByID() {
		if c != 1 {
			t.Errorf("event %d posted %d times", id, c)
		}
	}
	checkOrder(t, got, want)
	by := map[string]int{}
	for _, d := range got {
		by[d.path]++
	}
	if by["/a"] == 0 || by["/b"] == 0 {
		t.Errorf("the POSTs by worker: %v, want both to have worked", by)
	}
	t.Logf("POSTs by worker: %v", by)
}

// A worker that died holding a lease holds nothing once it has run out:
// another takes its events over.
func TestALeaseLeftByADeadWorkerIsTakenOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	someRequests(t, pool, 2)
	if _, err := pool.Exec(ctx, `UPDATE support_events SET claimed_by = 'dead', claimed_until = now() + interval '1 hour'
		WHERE request_id = (SELECT min(request_id) FROM support_events)`); err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	hook, _ := newHook(t, pool, rcv.srv.URL, nil)
	if n, err := hook.RunOnce(ctx); err != nil || n != 4 {
		t.Fatalf("with a live lease on one request, delivered %d (%v), want the other's 4", n, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE support_events SET claimed_until = now() - interval '1 second' WHERE claimed_by = 'dead'`); err != nil {
		t.Fatal(err)
	}
	if n, err := hook.RunOnce(ctx); err != nil || n != 4 {
		t.Fatalf("after the lease ran out, delivered %d (%v), want 4", n, err)
	}
}

// Sent and given-up events are deleted after Keep; pending ones never.
func TestOldEventsAreDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	someRequests(t, pool, 2)
	if _, err := pool.Exec(ctx, `UPDATE support_events SET created_at = now() - interval '8 days'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE support_events SET sent_at = now() - interval '8 days'
		WHERE request_id = (SELECT min(request_id) FROM support_events)`); err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	rcv.answer = func(support.Payload, int) int { return http.StatusInternalServerError }
	hook, _ := newHook(t, pool, rcv.srv.URL, func(c *support.WebhookConfig) { c.GiveUp = 30 * 24 * time.Hour })
	if _, err := hook.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var left, sent int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(sent_at) FROM support_events`).Scan(&left, &sent); err != nil {
		t.Fatal(err)
	}
	if left != 4 || sent != 0 {
		t.Errorf("%d events left (%d of them sent), want the 4 unsent ones", left, sent)
	}
}
