package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// reply is a Bot API answer as a bot reads it.
type reply struct {
	HTTPStatus  int             `json:"-"`
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	srv := New(opts)
	t.Cleanup(srv.Close)
	return srv
}

// callJSON posts params as a JSON body, as many bots do.
func callJSON(t *testing.T, srv *Server, method string, params map[string]any) reply {
	t.Helper()
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatalf("encode params: %v", err)
	}
	return do(t, srv.URL()+"/bot"+srv.Token()+"/"+method, "application/json", bytes.NewReader(body))
}

// callForm posts params as application/x-www-form-urlencoded.
func callForm(t *testing.T, srv *Server, method string, params url.Values) reply {
	t.Helper()
	return do(t, srv.URL()+"/bot"+srv.Token()+"/"+method, "application/x-www-form-urlencoded", strings.NewReader(params.Encode()))
}

func do(t *testing.T, u, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post %s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	var r reply
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("decode answer %q: %v", data, err)
	}
	r.HTTPStatus = resp.StatusCode
	return r
}

// wantError checks an error answer: HTTP status, error_code and description
// agree, as in Telegram.
func wantError(t *testing.T, r reply, code int, description string) {
	t.Helper()
	if r.OK || r.HTTPStatus != code || r.ErrorCode != code || r.Description != description {
		t.Fatalf("got ok=%v http=%d error_code=%d %q, want %d %q", r.OK, r.HTTPStatus, r.ErrorCode, r.Description, code, description)
	}
}

// wantErrorPrefix is wantError for descriptions with variable details.
func wantErrorPrefix(t *testing.T, r reply, code int, prefix string) {
	t.Helper()
	if r.OK || r.HTTPStatus != code || r.ErrorCode != code || !strings.HasPrefix(r.Description, prefix) {
		t.Fatalf("got ok=%v http=%d error_code=%d %q, want %d %q...", r.OK, r.HTTPStatus, r.ErrorCode, r.Description, code, prefix)
	}
}

func wantOK(t *testing.T, r reply) {
	t.Helper()
	if !r.OK || r.HTTPStatus != http.StatusOK {
		t.Fatalf("got http=%d error_code=%d %q, want ok", r.HTTPStatus, r.ErrorCode, r.Description)
	}
}

func decodeResult[T any](t *testing.T, r reply) T {
	t.Helper()
	wantOK(t, r)
	var v T
	if err := json.Unmarshal(r.Result, &v); err != nil {
		t.Fatalf("decode result %s: %v", r.Result, err)
	}
	return v
}

// waitFor waits for cond through Server.Wait, failing the test after 5s.
func waitFor(t *testing.T, srv *Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// fakeClock is a Clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	alice = User{ID: 1001, FirstName: "Alice", LastName: "Ivanova", Username: "alice", LanguageCode: "ru", PhoneNumber: "+79001234567"}
	bob   = User{ID: 1002, FirstName: "Bob", LanguageCode: "en"}
)
