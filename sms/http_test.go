package sms

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testPhone = "+79161234567"
	testText  = "Код для привязки Telegram: 482915"
	testToken = "tok-3f9c2a7e5b"
)

// gateway is a fake SMS gateway that records requests and answers with status.
type gateway struct {
	status int

	mu       sync.Mutex
	requests []gatewayRequest
}

type gatewayRequest struct {
	method, contentType, authorization string
	body                               httpMessage
	rawBody                            string
}

func startGateway(t *testing.T, status int) (*gateway, *httptest.Server) {
	t.Helper()
	g := &gateway{status: status}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		req := gatewayRequest{
			method:        r.Method,
			contentType:   r.Header.Get("Content-Type"),
			authorization: r.Header.Get("Authorization"),
			rawBody:       string(raw),
		}
		if err := json.Unmarshal(raw, &req.body); err != nil {
			t.Errorf("gateway got a body that is not JSON: %q", raw)
		}
		g.mu.Lock()
		g.requests = append(g.requests, req)
		g.mu.Unlock()
		// Echo the message back, as some gateways do, to prove it stays out of errors.
		w.WriteHeader(g.status)
		_, _ = w.Write(raw)
	}))
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *gateway) received() []gatewayRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gatewayRequest(nil), g.requests...)
}

// assertNoSecrets fails if err's text holds something that must not reach a log.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range append([]string{"9161234567", "482915", testToken}, secrets...) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestHTTPPostsJSONWithBearerToken(t *testing.T) {
	g, srv := startGateway(t, http.StatusOK)
	h := NewHTTP(srv.URL+"/send", testToken, nil)

	if err := h.Send(context.Background(), testPhone, testText); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := g.received()
	if len(got) != 1 {
		t.Fatalf("gateway got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.method)
	}
	if r.contentType != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", r.contentType)
	}
	if r.authorization != "Bearer "+testToken {
		t.Errorf("Authorization = %q, want Bearer token", r.authorization)
	}
	if r.body.To != testPhone || r.body.Text != testText {
		t.Errorf("body = %s, want to %q and text %q", r.rawBody, testPhone, testText)
	}
}

func TestHTTPWithoutTokenSendsNoAuthorization(t *testing.T) {
	g, srv := startGateway(t, http.StatusOK)
	if err := NewHTTP(srv.URL, "", nil).Send(context.Background(), testPhone, testText); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if a := g.received()[0].authorization; a != "" {
		t.Errorf("Authorization = %q, want none", a)
	}
}

func TestHTTPStatuses(t *testing.T) {
	tests := []struct {
		status int
		ok     bool
	}{
		{http.StatusOK, true},
		{http.StatusCreated, true},
		{http.StatusAccepted, true},
		{http.StatusNoContent, true},
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusServiceUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			_, srv := startGateway(t, tt.status)
			err := NewHTTP(srv.URL, testToken, nil).Send(context.Background(), testPhone, testText)
			if tt.ok {
				if err != nil {
					t.Fatalf("Send: %v, want success for %d", err, tt.status)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send returned nil for status %d", tt.status)
			}
			if !strings.Contains(err.Error(), http.StatusText(tt.status)) {
				t.Errorf("error %q does not give the status", err)
			}
			assertNoSecrets(t, err)
		})
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	h := NewHTTP(srv.URL+"/send?key=url-secret-77", testToken, &http.Client{Timeout: 200 * time.Millisecond})
	err := h.Send(context.Background(), testPhone, testText)
	if err == nil {
		t.Fatal("Send returned nil although the gateway never answered")
	}
	assertNoSecrets(t, err, "url-secret-77")
}

func TestHTTPGetsADefaultTimeout(t *testing.T) {
	callers := &http.Client{}
	h := NewHTTP("http://gateway.invalid", "", callers)
	if h.client.Timeout != DefaultTimeout {
		t.Errorf("timeout = %v, want %v", h.client.Timeout, DefaultTimeout)
	}
	if callers.Timeout != 0 {
		t.Errorf("the caller's client was changed")
	}
	if NewHTTP("http://gateway.invalid", "", nil).client.Timeout != DefaultTimeout {
		t.Errorf("nil client has no timeout")
	}
}

func TestHTTPUnreachableGatewayErrorHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now

	err := NewHTTP(url+"/send?key=url-secret-77", testToken, nil).Send(context.Background(), testPhone, testText)
	if err == nil {
		t.Fatal("Send returned nil for an unreachable gateway")
	}
	assertNoSecrets(t, err, "url-secret-77")
}

func TestHTTPCanceledContext(t *testing.T) {
	_, srv := startGateway(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewHTTP(srv.URL, testToken, nil).Send(ctx, testPhone, testText)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
}

func TestHTTPRejectsBadNumberWithoutCallingGateway(t *testing.T) {
	g, srv := startGateway(t, http.StatusOK)
	h := NewHTTP(srv.URL, testToken, nil)
	for _, to := range []string{"", "79161234567", "+7 916 123-45-67", "+0123456789", "+1234567890123456"} {
		if err := h.Send(context.Background(), to, testText); !errors.Is(err, ErrBadNumber) {
			t.Errorf("Send(%q) = %v, want ErrBadNumber", to, err)
		}
	}
	if n := len(g.received()); n != 0 {
		t.Errorf("gateway got %d requests", n)
	}
}
