package bot

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
)

const pollerToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

// fakeGetUpdatesServer plays the part of the Bot API that long polling
// uses: it keeps updates until an offset above them confirms them, as
// Telegram does, and records the offset of every call. A script of replies
// lets a test make chosen calls fail.
type fakeGetUpdatesServer struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	pending  []fakeStoredUpdate // not yet confirmed, by update_id
	requests []getUpdatesRequest
	script   []*fakeReply // consumed one per call; nil serves normally
	added    chan struct{}
}

type fakeStoredUpdate struct {
	id  int64
	raw json.RawMessage
}

type fakeReply struct {
	status int
	body   string
}

func newFakeGetUpdatesServer(t *testing.T) *fakeGetUpdatesServer {
	f := &fakeGetUpdatesServer{t: t, added: make(chan struct{}, 1)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGetUpdatesServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/bot"+pollerToken+"/getUpdates" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	}
	var req getUpdatesRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.t.Errorf("getUpdates body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"ok":false,"error_code":400,"description":"Bad Request"}`)
		return
	}

	f.mu.Lock()
	f.requests = append(f.requests, req)
	if len(f.script) > 0 {
		reply := f.script[0]
		f.script = f.script[1:]
		if reply != nil {
			f.mu.Unlock()
			w.WriteHeader(reply.status)
			fmt.Fprint(w, reply.body)
			return
		}
	}
	f.mu.Unlock()

	batch := f.take(req)
	if len(batch) == 0 && req.Timeout > 0 {
		// Hold the call a little, as long polling does, so that an idle
		// poller does not spin.
		select {
		case <-f.added:
		case <-time.After(20 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		batch = f.take(req)
	}
	fmt.Fprintf(w, `{"ok":true,"result":[%s]}`, strings.Join(batch, ","))
}

// take confirms the updates below the offset and returns the rest.
func (f *fakeGetUpdatesServer) take(req getUpdatesRequest) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = slices.DeleteFunc(f.pending, func(u fakeStoredUpdate) bool { return u.id < req.Offset })
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	var batch []string
	for _, u := range f.pending[:min(limit, len(f.pending))] {
		batch = append(batch, string(u.raw))
	}
	return batch
}

func (f *fakeGetUpdatesServer) add(updates ...*models.Update) {
	for _, upd := range updates {
		raw, err := json.Marshal(upd)
		if err != nil {
			f.t.Fatal(err)
		}
		f.addRaw(upd.ID, string(raw))
	}
}

func (f *fakeGetUpdatesServer) addRaw(id int64, raw string) {
	f.mu.Lock()
	f.pending = append(f.pending, fakeStoredUpdate{id: id, raw: json.RawMessage(raw)})
	slices.SortFunc(f.pending, func(a, b fakeStoredUpdate) int { return cmp.Compare(a.id, b.id) })
	f.mu.Unlock()
	select {
	case f.added <- struct{}{}:
	default:
	}
}

func (f *fakeGetUpdatesServer) replies(script ...*fakeReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, script...)
}

// offsets lists the offset of every getUpdates call so far.
func (f *fakeGetUpdatesServer) offsets() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int64
	for _, r := range f.requests {
		out = append(out, r.Offset)
	}
	return out
}

// confirmedBelow is the highest offset Telegram has been told: every
// update below it is forgotten.
func (f *fakeGetUpdatesServer) confirmedBelow() int64 {
	return slices.Max(append(f.offsets(), 0))
}

type pollerRun struct {
	cancel context.CancelFunc
	done   chan error
}

func startPoller(p *Poller) *pollerRun {
	ctx, cancel := context.WithCancel(context.Background())
	run := &pollerRun{cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- p.Run(ctx) }()
	return run
}

// stop cancels the poller and returns what Run returned.
func (r *pollerRun) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancellation")
		return nil
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recordedSleeps replaces the poller's waits with a record of them.
type recordedSleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recordedSleeps) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recordedSleeps) list() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.waits)
}

// newTestPoller wires a poller to the fake with a sequencer around p.
func newTestPoller(t *testing.T, f *fakeGetUpdatesServer, p Processor) (*Poller, *logBuffer, *recordedSleeps) {
	t.Helper()
	logger, logs := captureLogs()
	seq := NewSequencer(p, 4, logger)
	t.Cleanup(func() { closeSequencer(t, seq) })
	poller := NewPoller(PollerConfig{
		APIURL:         f.srv.URL,
		Token:          pollerToken,
		Timeout:        time.Second,
		AllowedUpdates: []string{models.AllowedUpdateMessage, models.AllowedUpdateCallbackQuery},
		BackoffMin:     time.Second,
		BackoffMax:     8 * time.Second,
	}, seq, logger)
	sleeps := &recordedSleeps{}
	poller.sleep = sleeps.sleep
	return poller, logs, sleeps
}

func TestPollerConfirmsOnlyHandledUpdates(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	var handled atomic.Int64
	poller, _, _ := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		// Give a poller that fetches ahead the time to do it.
		time.Sleep(5 * time.Millisecond)
		if below := f.confirmedBelow(); below > upd.ID {
			t.Errorf("update %d was confirmed to Telegram (offset %d) before it was handled", upd.ID, below)
		}
		handled.Add(1)
		return nil
	}))
	for id := int64(1); id <= 10; id++ {
		f.add(chatUpdate(id, id%4, "hi"))
	}
	run := startPoller(poller)
	eventually(t, "the first 10 updates handled", func() bool { return handled.Load() == 10 })
	for id := int64(11); id <= 20; id++ {
		f.add(chatUpdate(id, id%4, "hi"))
	}
	eventually(t, "all 20 updates handled", func() bool { return handled.Load() == 20 })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if n := handled.Load(); n != 20 {
		t.Errorf("%d updates handled, want each of the 20 once", n)
	}
	if below := f.confirmedBelow(); below != 21 {
		t.Errorf("after shutdown Telegram was told offset %d, want 21 (all handled)", below)
	}
	f.mu.Lock()
	first := f.requests[0]
	f.mu.Unlock()
	if first.Timeout != 1 || !slices.Equal(first.AllowedUpdates, []string{"message", "callback_query"}) {
		t.Errorf("first getUpdates asked timeout %d, allowed_updates %v", first.Timeout, first.AllowedUpdates)
	}
}

func TestPollerRedeliversFailedUpdate(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	var (
		mu        sync.Mutex
		calls     []int64               // every Process call, in order
		succeeded = map[int64][]int64{} // chat -> handled update ids
		failedYet bool
	)
	poller, logs, sleeps := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, upd.ID)
		if upd.ID == 3 && !failedYet {
			failedYet = true
			return errors.New("redis: i/o timeout")
		}
		chat := ConvKey(upd).Chat
		succeeded[chat] = append(succeeded[chat], upd.ID)
		return nil
	}))
	// Chat 1 has updates 1, 3 and 5; 2 and 4 are other chats.
	f.add(chatUpdate(1, 1, "a"), chatUpdate(2, 2, "b"), chatUpdate(3, 1, "c"), chatUpdate(4, 3, "d"), chatUpdate(5, 1, "e"))

	run := startPoller(poller)
	eventually(t, "update 5 handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(succeeded[1], 5)
	})
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if got := succeeded[1]; !slices.Equal(got, []int64{1, 3, 5}) {
		t.Errorf("chat 1 handled %v, want [1 3 5]: in order, the failed one again", got)
	}
	if n := count(calls, 3); n != 2 {
		t.Errorf("update 3 processed %d times, want 2 (failed, then redelivered)", n)
	}
	if n := count(calls, 5); n != 1 {
		t.Errorf("update 5 processed %d times, want 1: it must wait for update 3 of its chat", n)
	}
	if n := count(calls, 1); n != 1 {
		t.Errorf("update 1 processed %d times, want 1: it was handled before the failure", n)
	}
	if offsets := f.offsets(); !slices.Contains(offsets, 3) || slices.Max(offsets) != 6 {
		t.Errorf("offsets %v: want a call at 3 (the failed update) and 6 at the end", offsets)
	}
	if waits := sleeps.list(); len(waits) == 0 || waits[0] > time.Second || waits[0] < 800*time.Millisecond {
		t.Errorf("waits %v: want a pause of BackoffMin before fetching the failed update again", waits)
	}
	if !strings.Contains(logs.String(), `"update_id":3`) {
		t.Errorf("the failure of update 3 is not logged:\n%s", logs)
	}
}

func count(ids []int64, id int64) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

func TestPollerAcknowledgesPanickedUpdate(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	var calls sync.Map // update id -> *atomic.Int64
	poller, _, _ := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		n, _ := calls.LoadOrStore(upd.ID, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if upd.ID == 2 {
			panic("bug")
		}
		return nil
	}))
	f.add(chatUpdate(1, 7, "a"), chatUpdate(2, 7, "b"), chatUpdate(3, 7, "c"))

	run := startPoller(poller)
	eventually(t, "update 3 handled", func() bool { _, ok := calls.Load(int64(3)); return ok })
	// A few more rounds, in which a redelivery would show.
	eventually(t, "polling goes on", func() bool { return len(f.offsets()) >= 4 })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for id := int64(1); id <= 3; id++ {
		n, _ := calls.Load(id)
		if got := n.(*atomic.Int64).Load(); got != 1 {
			t.Errorf("update %d processed %d times, want 1", id, got)
		}
	}
	if below := f.confirmedBelow(); below != 4 {
		t.Errorf("offset %d, want 4: the panicked update is acknowledged", below)
	}
}

func TestPollerBacksOff(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	var handled atomic.Int64
	poller, logs, sleeps := newTestPoller(t, f, countingProcessor(&handled, nil))
	f.add(chatUpdate(1, 1, "a"))
	f.replies(
		&fakeReply{429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`},
		&fakeReply{409, `{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}`},
		&fakeReply{409, `{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}`},
		&fakeReply{502, `<html>Bad Gateway</html>`},
		&fakeReply{502, `<html>Bad Gateway</html>`},
		&fakeReply{500, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`},
		nil, // success: update 1 is handled and the backoff starts over
		&fakeReply{503, `Service Unavailable`},
		&fakeReply{429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 60","parameters":{"retry_after":60}}`},
	)

	run := startPoller(poller)
	eventually(t, "all scripted failures waited out", func() bool { return len(sleeps.list()) >= 8 })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	want := []time.Duration{
		7 * time.Second, // retry_after, longer than the 1 s backoff
		2 * time.Second, 4 * time.Second, 8 * time.Second,
		8 * time.Second, // capped at BackoffMax
		8 * time.Second,
		time.Second,      // after a success, from the start again
		60 * time.Second, // retry_after is honoured above the cap
	}
	// Backoffs are shortened by up to 20% at random (retry_after never is).
	got := sleeps.list()[:8]
	for i, w := range want {
		if got[i] > w || got[i] < w*8/10 || (i == 0 || i == 7) && got[i] != w {
			t.Errorf("waits %v, want %v (backoffs less up to 20%%)", got, want)
			break
		}
	}
	if handled.Load() != 1 {
		t.Errorf("%d updates handled, want 1", handled.Load())
	}
	out := logs.String()
	for _, want := range []string{"Conflict: terminated by other getUpdates", "HTTP 502", `"retry_in":"1m0s"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}

func TestPollerNeverLogsToken(t *testing.T) {
	// A server that is gone: the client fails with a *url.Error, whose
	// text holds the whole URL with the token.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, rawErr := http.Post(gone.URL+"/bot"+pollerToken+"/getUpdates", "application/json", nil)
	if rawErr == nil || !strings.Contains(rawErr.Error(), pollerToken) {
		t.Fatalf("the unredacted error should hold the token, so this test means something: %v", rawErr)
	}

	logger, logs := captureLogs()
	seq := NewSequencer(processFunc(func(ctx context.Context, upd *models.Update) error { return nil }), 1, logger)
	defer closeSequencer(t, seq)
	poller := NewPoller(PollerConfig{APIURL: gone.URL, Token: pollerToken}, seq, logger)
	sleeps := &recordedSleeps{}
	poller.sleep = sleeps.sleep
	run := startPoller(poller)
	eventually(t, "three failed attempts", func() bool { return len(sleeps.list()) >= 3 })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	out := logs.String()
	if !strings.Contains(out, "getUpdates failed") || !strings.Contains(out, "<redacted>") {
		t.Fatalf("the failures are not logged with a redacted URL:\n%s", out)
	}
	secretPart := pollerToken[strings.Index(pollerToken, ":")+1:]
	if strings.Contains(out, secretPart) {
		t.Errorf("the token is in the log:\n%s", out)
	}
}

func TestPollerStopsOnRejectedToken(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	logger, logs := captureLogs()
	var handled atomic.Int64
	seq := NewSequencer(countingProcessor(&handled, nil), 1, logger)
	defer closeSequencer(t, seq)
	const wrongToken = "987654321:AAwrong-not-a-real-token"
	poller := NewPoller(PollerConfig{APIURL: f.srv.URL, Token: wrongToken}, seq, logger)
	poller.sleep = (&recordedSleeps{}).sleep

	done := make(chan error, 1)
	go func() { done <- poller.Run(context.Background()) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept going with a token Telegram rejects")
	}
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Run: %v, want an error naming 401", err)
	}
	if err != nil && strings.Contains(err.Error(), "AAwrong") {
		t.Errorf("the error holds the token: %v", err)
	}
	if strings.Contains(logs.String(), "AAwrong") {
		t.Errorf("the log holds the token:\n%s", logs)
	}
}

func TestPollerShutdownFinishesBatchInHand(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	started := make(chan struct{})
	release := make(chan struct{})
	var (
		mu      sync.Mutex
		handled []int64
		ctxErrs []error
	)
	poller, _, _ := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		if upd.ID == 1 {
			close(started)
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, upd.ID)
		ctxErrs = append(ctxErrs, ctx.Err())
		return nil
	}))
	f.add(chatUpdate(1, 5, "a"), chatUpdate(2, 5, "b"), chatUpdate(3, 6, "c"))

	run := startPoller(poller)
	<-started
	run.cancel()
	select {
	case err := <-run.done:
		t.Fatalf("Run returned (%v) with updates still in hand", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(handled)
	if !slices.Equal(handled, []int64{1, 2, 3}) {
		t.Errorf("handled %v at shutdown, want [1 2 3]", handled)
	}
	for i, err := range ctxErrs {
		if err != nil {
			t.Errorf("update %d was handled with an ended context: %v", handled[i], err)
		}
	}
	if below := f.confirmedBelow(); below != 4 {
		t.Errorf("offset told at shutdown %d, want 4 so that a restart does not fetch them again", below)
	}
}

func TestPollerPassesOverUndecodableUpdate(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	var (
		mu      sync.Mutex
		handled []int64
	)
	poller, logs, _ := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, upd.ID)
		return nil
	}))
	f.addRaw(1, `{"update_id":1,"message":{"message_id":1,"date":1700000000,"chat":"not an object"}}`)
	f.add(chatUpdate(2, 5, "a"))
	f.addRaw(3, `{"update_id":3,"message":{"message_id":"x"}}`)

	run := startPoller(poller)
	eventually(t, "offset past the undecodable updates", func() bool { return f.confirmedBelow() == 4 })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(handled, []int64{2}) {
		t.Errorf("handled %v, want only the decodable update 2", handled)
	}
	if out := logs.String(); !strings.Contains(out, `"update_id":1`) || !strings.Contains(out, `"update_id":3`) {
		t.Errorf("the passed-over updates are not logged:\n%s", out)
	}
}

func TestRedactToken(t *testing.T) {
	base := fmt.Errorf("post https://api.telegram.org/bot%s/getUpdates: %w", pollerToken, context.DeadlineExceeded)
	err := RedactToken(base, pollerToken)
	if strings.Contains(err.Error(), pollerToken) {
		t.Errorf("token still in %q", err)
	}
	if !strings.Contains(err.Error(), "/bot<redacted>/getUpdates") {
		t.Errorf("redacted text %q lost its shape", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("the redacted error no longer unwraps")
	}
	plain := errors.New("no token here")
	if RedactToken(plain, pollerToken) != plain {
		t.Error("an error without the token was replaced")
	}
	if RedactToken(nil, pollerToken) != nil {
		t.Error("nil became an error")
	}
}

// A slow update holds up neither the other chats' updates nor the fetching
// of new ones (no batch barrier), while Telegram is never told an offset
// past it until it is done, and the later update of its own chat waits for
// it.
func TestPollerDoesNotWaitForTheSlowestUpdate(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	release := make(chan struct{})
	var (
		mu      sync.Mutex
		handled []int64
	)
	poller, _, _ := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		if upd.ID == 1 {
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, upd.ID)
		return nil
	}))
	has := func(id int64) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(handled, id)
	}
	f.add(chatUpdate(1, 1, "slow"), chatUpdate(2, 2, "a"))
	run := startPoller(poller)
	eventually(t, "update 2 handled beside the slow one", func() bool { return has(2) })
	// Sent after the first call was answered: only a poller that asks
	// again while update 1 is in hand gets them now.
	f.add(chatUpdate(3, 3, "b"), chatUpdate(4, 1, "after the slow one"), chatUpdate(5, 2, "c"))
	eventually(t, "updates 3 and 5, fetched while update 1 is in hand, handled", func() bool { return has(3) && has(5) })
	if has(1) || has(4) {
		t.Fatalf("handled %v: update 4 ran before update 1 of its chat", handled)
	}
	if below := f.confirmedBelow(); below > 1 {
		t.Fatalf("Telegram was told offset %d while update 1 was still in hand", below)
	}
	close(release)
	eventually(t, "every update handled", func() bool { return has(1) && has(4) })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if i1, i4 := slices.Index(handled, 1), slices.Index(handled, 4); i4 < i1 {
		t.Errorf("handled %v: chat 1's updates out of order", handled)
	}
	if len(handled) != 5 {
		t.Errorf("handled %v, want each of the 5 once", handled)
	}
	if below := f.confirmedBelow(); below != 6 {
		t.Errorf("offset told at the end %d, want 6", below)
	}
}
