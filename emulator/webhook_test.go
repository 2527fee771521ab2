package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
)

// receiver is a webhook endpoint that records what Telegram posts to it.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	updates []models.Update
	secrets []string
	paths   []string
	// answer decides the status of each POST; nil answers 200.
	answer func(u models.Update) int
}

func newReceiver(t *testing.T, answer func(models.Update) int) *receiver {
	t.Helper()
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var u models.Update
		if err := json.Unmarshal(body, &u); err != nil || req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook got %s %q (%v)", req.Method, body, err)
		}
		status := http.StatusOK
		if r.answer != nil {
			status = r.answer(u)
		}
		r.mu.Lock()
		r.updates = append(r.updates, u)
		r.secrets = append(r.secrets, req.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		r.paths = append(r.paths, req.URL.Path)
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []models.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]models.Update(nil), r.updates...)
}

func TestWebhookDelivery(t *testing.T) {
	srv := newServer(t, Options{})
	hook := newReceiver(t, nil)

	// Updates queued before setWebhook are delivered too.
	early := srv.SendCommand(alice, "/start")
	r := callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL + "/tg", "secret_token": "s3cr3t_-X"})
	wantOK(t, r)
	if r.Description != "Webhook was set" {
		t.Errorf("description = %q", r.Description)
	}
	late := srv.SendText(alice, "баланс")
	waitFor(t, srv, "both updates delivered", func() bool { return srv.UpdateStatus(late) == UpdateDone })

	got := hook.received()
	if len(got) != 2 || got[0].ID != early || got[1].ID != late || got[1].Message.Text != "баланс" {
		t.Fatalf("received %+v", got)
	}
	hook.mu.Lock()
	if hook.secrets[0] != "s3cr3t_-X" || hook.paths[0] != "/tg" {
		t.Errorf("secret header %q, path %q", hook.secrets[0], hook.paths[0])
	}
	hook.mu.Unlock()

	info := decodeResult[models.WebhookInfo](t, callJSON(t, srv, "getWebhookInfo", nil))
	if info.URL != hook.URL+"/tg" || info.PendingUpdateCount != 0 || info.MaxConnections != 40 {
		t.Errorf("webhook info = %+v", info)
	}

	wantError(t, callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL, "secret_token": "not allowed!"}), 400,
		"Bad Request: secret token contains unallowed characters")
	wantError(t, callJSON(t, srv, "setWebhook", map[string]any{"url": "ftp://bot.example/"}), 400,
		"Bad Request: bad webhook: HTTPS url must be provided for webhook")

	// Setting the same webhook again says so, like Telegram.
	if r := callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL + "/tg", "secret_token": "s3cr3t_-X"}); r.Description != "Webhook is already set" {
		t.Errorf("description = %q", r.Description)
	}
	// An empty url removes the webhook; updates then wait for getUpdates.
	if r := callJSON(t, srv, "setWebhook", map[string]any{"url": ""}); r.Description != "Webhook was deleted" {
		t.Errorf("description = %q", r.Description)
	}
	id := srv.SendText(alice, "polled")
	if got := getUpdates(t, srv, nil); len(got) != 1 || got[0].ID != id {
		t.Errorf("after delete, getUpdates = %v", updateIDs(got))
	}
}

// TestWebhookOrderPerChat checks Telegram's sequencing: one update of a chat
// at a time, in order; different chats at the same time.
func TestWebhookOrderPerChat(t *testing.T) {
	srv := newServer(t, Options{})
	var mu sync.Mutex
	inFlight := map[int64]int{}
	total, maxTotal := 0, 0
	overlapPerChat := false
	gate := make(chan struct{})
	var gateOnce sync.Once

	hook := newReceiver(t, func(u models.Update) int {
		chat := u.Message.Chat.ID
		mu.Lock()
		inFlight[chat]++
		total++
		if inFlight[chat] > 1 {
			overlapPerChat = true
		}
		maxTotal = max(maxTotal, total)
		if total >= 2 {
			gateOnce.Do(func() { close(gate) })
		}
		mu.Unlock()

		// Hold the first requests until two chats are in flight together;
		// a dispatcher that serialised all chats would never get there.
		select {
		case <-gate:
		case <-time.After(3 * time.Second):
		}

		mu.Lock()
		inFlight[chat]--
		total--
		mu.Unlock()
		return http.StatusOK
	})
	wantOK(t, callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL}))

	users := []User{alice, bob, {ID: 1003, FirstName: "C"}, {ID: 1004, FirstName: "D"}}
	var last int64
	for i := 0; i < 5; i++ {
		for _, u := range users {
			last = srv.SendText(u, string(rune('a'+i)))
		}
	}
	waitFor(t, srv, "all updates delivered", func() bool { return srv.PendingUpdates() == 0 && srv.UpdateStatus(last) == UpdateDone })

	mu.Lock()
	defer mu.Unlock()
	if overlapPerChat {
		t.Errorf("two updates of one chat were in flight at once")
	}
	if maxTotal < 2 {
		t.Errorf("chats were delivered one at a time; want them in parallel")
	}
	lastSeen := map[int64]int64{}
	for _, u := range hook.received() {
		chat := u.Message.Chat.ID
		if u.ID <= lastSeen[chat] {
			t.Errorf("chat %d: update %d after %d", chat, u.ID, lastSeen[chat])
		}
		lastSeen[chat] = u.ID
	}
}

func TestWebhookMaxConnections(t *testing.T) {
	srv := newServer(t, Options{})
	var mu sync.Mutex
	total, maxTotal := 0, 0
	hook := newReceiver(t, func(models.Update) int {
		mu.Lock()
		total++
		maxTotal = max(maxTotal, total)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // give a second connection the chance to overlap
		mu.Lock()
		total--
		mu.Unlock()
		return http.StatusOK
	})
	wantOK(t, callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL, "max_connections": 1}))
	var last int64
	for i := int64(0); i < 10; i++ {
		last = srv.SendText(User{ID: 2000 + i, FirstName: "U"}, "hi")
	}
	waitFor(t, srv, "all delivered", func() bool { return srv.UpdateStatus(last) == UpdateDone })
	mu.Lock()
	defer mu.Unlock()
	if maxTotal != 1 {
		t.Errorf("%d requests at once with max_connections 1", maxTotal)
	}
}

func TestWebhookRetriesInOrder(t *testing.T) {
	srv := newServer(t, Options{RetryInitial: time.Millisecond, RetryMax: 4 * time.Millisecond})
	var mu sync.Mutex
	failures := 3
	hook := newReceiver(t, func(models.Update) int {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	events, cancel := srv.Subscribe()
	defer cancel()
	wantOK(t, callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL}))
	first := srv.SendText(alice, "first")
	second := srv.SendText(alice, "second")
	waitFor(t, srv, "both delivered", func() bool { return srv.UpdateStatus(second) == UpdateDone })

	var ids []int64
	for _, u := range hook.received() {
		ids = append(ids, u.ID)
	}
	// Three failed attempts of the first update, then it, then the second:
	// the second never overtakes the first.
	want := []int64{first, first, first, first, second}
	if len(ids) != len(want) {
		t.Fatalf("deliveries %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("deliveries %v, want %v", ids, want)
		}
	}
	info := srv.WebhookInfo()
	if info.LastErrorMessage != "Wrong response from the webhook: 500 Internal Server Error" || info.LastErrorDate == 0 {
		t.Errorf("webhook info = %+v", info)
	}
	webhookErrors := 0
	for len(events) > 0 {
		if ev := <-events; ev.Kind == EventWebhookError {
			webhookErrors++
		}
	}
	if webhookErrors != 3 {
		t.Errorf("%d webhook_error events, want 3", webhookErrors)
	}
}

func TestBackoff(t *testing.T) {
	srv := newServer(t, Options{})
	var got []time.Duration
	for n := 1; n <= 8; n++ {
		got = append(got, srv.backoff(n))
	}
	want := []time.Duration{50, 100, 200, 400, 800, 1600, 2000, 2000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("backoff = %v, want 50ms doubling up to 2s", got)
		}
	}
}

// TestWebhookNetworkErrorAndRouting registers a URL nobody listens on, then
// routes the POSTs elsewhere as a load balancer would.
func TestWebhookNetworkErrorAndRouting(t *testing.T) {
	srv := newServer(t, Options{RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond})
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/hook"
	dead.Close()

	wantOK(t, callJSON(t, srv, "setWebhook", map[string]any{"url": deadURL}))
	id := srv.SendText(alice, "hi")
	waitFor(t, srv, "a failed delivery", func() bool { return srv.WebhookInfo().LastErrorMessage != "" })
	if msg := srv.WebhookInfo().LastErrorMessage; msg != "Connection refused" {
		t.Errorf("last error = %q", msg)
	}
	if srv.UpdateStatus(id) != UpdatePending {
		t.Fatalf("update given up after a network error")
	}

	hook := newReceiver(t, nil)
	var mu sync.Mutex
	var routed []string
	srv.SetWebhookTarget(func(registered string) string {
		mu.Lock()
		routed = append(routed, registered)
		mu.Unlock()
		return hook.URL + "/instance-2"
	})
	waitFor(t, srv, "delivery through the route", func() bool { return srv.UpdateStatus(id) == UpdateDone })
	hook.mu.Lock()
	if len(hook.paths) != 1 || hook.paths[0] != "/instance-2" {
		t.Errorf("receiver paths %v", hook.paths)
	}
	hook.mu.Unlock()
	mu.Lock()
	if routed[len(routed)-1] != deadURL {
		t.Errorf("route got %q, want the registered URL", routed[len(routed)-1])
	}
	mu.Unlock()
}

func TestWebhookGivesUpAfterTTL(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now, RetryInitial: time.Millisecond, RetryMax: time.Millisecond})
	hook := newReceiver(t, func(models.Update) int { return http.StatusServiceUnavailable })
	wantOK(t, callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL}))
	id := srv.SendText(alice, "hi")
	waitFor(t, srv, "a failed delivery", func() bool { return srv.WebhookInfo().LastErrorDate != 0 })
	if srv.UpdateStatus(id) != UpdatePending {
		t.Fatalf("given up too early")
	}
	clock.Advance(24*time.Hour + time.Second)
	waitFor(t, srv, "the update dropped", func() bool { return srv.UpdateStatus(id) == UpdateDropped })
	if srv.PendingUpdates() != 0 {
		t.Errorf("pending = %d", srv.PendingUpdates())
	}
}

func TestWebhookDropPending(t *testing.T) {
	srv := newServer(t, Options{})
	old := srv.SendText(alice, "old")
	hook := newReceiver(t, nil)
	wantOK(t, callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL, "drop_pending_updates": true}))
	if srv.UpdateStatus(old) != UpdateDropped {
		t.Errorf("status = %v, want dropped", srv.UpdateStatus(old))
	}
	fresh := srv.SendText(alice, "fresh")
	waitFor(t, srv, "delivery", func() bool { return srv.UpdateStatus(fresh) == UpdateDone })
	if got := hook.received(); len(got) != 1 || got[0].ID != fresh {
		t.Errorf("received %v", updateIDs(got))
	}
}

// TestCloseStopsDelivery checks that Close ends a delivery the receiver is
// holding and leaves no goroutine behind.
func TestCloseStopsDelivery(t *testing.T) {
	srv := New(Options{})
	holding := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	hook := newReceiver(t, func(models.Update) int {
		close(holding)
		<-release
		return http.StatusOK
	})
	wantOK(t, callJSON(t, srv, "setWebhook", map[string]any{"url": hook.URL}))
	srv.SendText(alice, "hi")
	<-holding

	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a webhook POST was held")
	}
	if srv.UpdateStatus(firstUpdateID) != UpdatePending {
		t.Errorf("the interrupted update counts as delivered")
	}
}
