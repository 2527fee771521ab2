package bot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/state"
)

const webhookSecret = "s3cret-Token_for-tests"

const goodUpdate = `{"update_id":7,"message":{"message_id":1,"date":1700000000,"chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":false,"first_name":"A"},"text":"/start"}}`

// webhookServer serves WebhookHandler with p behind it.
func webhookServer(t *testing.T, p Processor) *httptest.Server {
	t.Helper()
	logger, _ := captureLogs()
	seq := NewSequencer(p, 4, logger)
	srv := httptest.NewServer(WebhookHandler(seq, webhookSecret, logger))
	t.Cleanup(func() {
		srv.Close()
		closeSequencer(t, seq)
	})
	return srv
}

func postUpdate(t *testing.T, ctx context.Context, url, secret string, body []byte) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(secretHeader, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// countingProcessor counts the updates it handles and returns err.
func countingProcessor(count *atomic.Int64, err error) Processor {
	return processFunc(func(ctx context.Context, upd *models.Update) error {
		count.Add(1)
		return err
	})
}

func TestWebhookRefusesWrongSecret(t *testing.T) {
	var handled atomic.Int64
	srv := webhookServer(t, countingProcessor(&handled, nil))

	for _, tt := range []struct{ name, secret string }{
		{"missing", ""},
		{"wrong, same length", strings.Repeat("x", len(webhookSecret))},
		{"a prefix", webhookSecret[:5]},
		{"longer", webhookSecret + "x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := postUpdate(t, context.Background(), srv.URL, tt.secret, []byte(goodUpdate))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	if n := handled.Load(); n != 0 {
		t.Errorf("%d updates with a wrong secret were handled", n)
	}
}

func TestWebhookWithoutConfiguredSecretRefusesEverything(t *testing.T) {
	var handled atomic.Int64
	logger, _ := captureLogs()
	seq := NewSequencer(countingProcessor(&handled, nil), 1, logger)
	defer closeSequencer(t, seq)
	h := WebhookHandler(seq, "", logger)

	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(goodUpdate))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || handled.Load() != 0 {
		t.Errorf("empty secret: status %d and %d handled, want 401 and none", rec.Code, handled.Load())
	}
}

func TestWebhookRefusesOtherMethods(t *testing.T) {
	var handled atomic.Int64
	srv := webhookServer(t, countingProcessor(&handled, nil))

	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, srv.URL, strings.NewReader(goodUpdate))
		req.Header.Set(secretHeader, webhookSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: status %d, Allow %q; want 405 and POST", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if handled.Load() != 0 {
		t.Error("an update sent with the wrong method was handled")
	}
}

func TestWebhookBodyLimit(t *testing.T) {
	var handled atomic.Int64
	srv := webhookServer(t, countingProcessor(&handled, nil))

	// A valid update padded with JSON whitespace to exactly the limit is
	// accepted; one byte more is refused unread.
	atLimit := []byte(goodUpdate + strings.Repeat(" ", MaxWebhookBody-len(goodUpdate)))
	resp, err := postUpdate(t, context.Background(), srv.URL, webhookSecret, atLimit)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("body of exactly 1 MiB: status %d, want 200", resp.StatusCode)
	}

	overLimit := append(atLimit, ' ')
	resp, err = postUpdate(t, context.Background(), srv.URL, webhookSecret, overLimit)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("body of 1 MiB + 1: status %d, want 413", resp.StatusCode)
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("%d updates handled, want only the one within the limit", n)
	}
}

func TestWebhookBadJSON(t *testing.T) {
	var handled atomic.Int64
	srv := webhookServer(t, countingProcessor(&handled, nil))

	for _, body := range []string{`{"update_id":`, `[]`, `{"message":{}}`, ``} {
		resp, err := postUpdate(t, context.Background(), srv.URL, webhookSecret, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: status %d, want 400", body, resp.StatusCode)
		}
	}
	if handled.Load() != 0 {
		t.Error("a malformed update was handled")
	}
}

func TestWebhookAnswersOnlyAfterHandling(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	srv := webhookServer(t, processFunc(func(ctx context.Context, upd *models.Update) error {
		if upd.ID != 7 || ConvKey(upd) != state.ChatConv(42) {
			t.Errorf("processor got update %d of chat %d, want 7 of 42", upd.ID, ConvKey(upd).Chat)
		}
		close(started)
		<-release
		finished.Store(true)
		return nil
	}))

	// Registered after the server, so it runs first: a failing test
	// does not leave the processor blocked while the server shuts down.
	releaseAll := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseAll)

	type answer struct {
		resp *http.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := postUpdate(t, context.Background(), srv.URL, webhookSecret, []byte(goodUpdate))
		answered <- answer{resp, err}
	}()

	select {
	case <-started:
	case a := <-answered:
		t.Fatalf("the webhook answered before the update was handled (error %v)", a.err)
	}
	select {
	case <-answered:
		t.Fatal("the webhook answered while the update was still being handled")
	case <-time.After(50 * time.Millisecond):
	}
	releaseAll()
	a := <-answered
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", a.resp.StatusCode)
	}
	if !finished.Load() {
		t.Error("200 came before the processor returned")
	}
}

func TestWebhookFailureAsksForRedelivery(t *testing.T) {
	var handled atomic.Int64
	srv := webhookServer(t, countingProcessor(&handled, errors.New("redis: connection refused")))

	resp, err := postUpdate(t, context.Background(), srv.URL, webhookSecret, []byte(goodUpdate))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("processor failed: status %d, want 500 so that Telegram delivers it again", resp.StatusCode)
	}
	if handled.Load() != 1 {
		t.Errorf("processor called %d times, want 1", handled.Load())
	}
}

func TestWebhookAcknowledgesPoisonUpdate(t *testing.T) {
	srv := webhookServer(t, processFunc(func(ctx context.Context, upd *models.Update) error {
		panic("bug")
	}))

	resp, err := postUpdate(t, context.Background(), srv.URL, webhookSecret, []byte(goodUpdate))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("processor panicked: status %d, want 200 so that Telegram does not loop on it", resp.StatusCode)
	}
	// The server is still alive for the next update.
	resp, err = postUpdate(t, context.Background(), srv.URL, webhookSecret, []byte(goodUpdate))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("next update after a panic: %v, %v", resp, err)
	}
}

func TestWebhookFinishesWhenTelegramHangsUp(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	srv := webhookServer(t, processFunc(func(ctx context.Context, upd *models.Update) error {
		close(started)
		<-release
		// The work after the connection is gone, saving the state, must
		// not see its context end: give a wrongly derived context time
		// to be cancelled by the server noticing the hang-up.
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		done <- ctx.Err()
		return nil
	}))

	releaseAll := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseAll)

	ctx, hangUp := context.WithCancel(context.Background())
	go func() {
		<-started
		hangUp()
	}()
	if _, err := postUpdate(t, ctx, srv.URL, webhookSecret, []byte(goodUpdate)); err == nil {
		t.Fatal("the request was not cut off by the client")
	}
	releaseAll()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the processor's context ended when Telegram hung up: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handling never finished")
	}
}
