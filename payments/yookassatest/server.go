// Package yookassatest is an in-process YooKassa API v3 for tests: an
// httptest server that behaves as YooKassa's documentation says for the
// calls Kabinet makes (create a payment with an Idempotence-Key, read it
// back), and lets a test pay, cancel or tamper with a payment and cut the
// connection after a payment was created.
package yookassatest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Payment is the fake's record of one payment, in YooKassa's JSON shape.
type Payment struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Paid   bool   `json:"paid"`
	Amount struct {
		Value    string `json:"value"`
		Currency string `json:"currency"`
	} `json:"amount"`
	Confirmation struct {
		Type            string `json:"type"`
		ReturnURL       string `json:"return_url,omitempty"`
		ConfirmationURL string `json:"confirmation_url"`
	} `json:"confirmation"`
	Capture     bool              `json:"-"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   time.Time         `json:"created_at"`
	CapturedAt  *time.Time        `json:"captured_at,omitempty"`
	Test        bool              `json:"test"`
}

// Server is the fake API. Its URL is the base to pass to payments.NewYooKassa.
type Server struct {
	*httptest.Server
	ShopID, Secret string

	mu       sync.Mutex
	payments map[string]*Payment
	byKey    map[string]keyed
	order    []string
	dropNext int
	requests int
}

type keyed struct {
	id   string
	body string
}

// New starts a fake with these credentials; it stops when the test ends.
func New(t testing.TB, shopID, secret string) *Server {
	s := &Server{ShopID: shopID, Secret: secret, payments: map[string]*Payment{}, byKey: map[string]keyed{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// DropNextCreates makes the next n create requests (new or repeated) do
// their work and then cut the connection without an answer: the network failure after
// which a client cannot know whether the payment exists.
func (s *Server) DropNextCreates(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext = n
}

// Count is the number of distinct payments created.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.payments)
}

// Requests is the number of API requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Payments lists the payments in the order they were created.
func (s *Server) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Payment, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.payments[id])
	}
	return out
}

// Succeed marks a payment paid, as when the payer confirmed it (capture is
// true, so it goes straight to succeeded).
func (s *Server) Succeed(id string) {
	s.Mutate(id, func(p *Payment) { p.Status, p.Paid = "succeeded", true; now := time.Now().UTC(); p.CapturedAt = &now })
}

// Cancel marks a payment canceled.
func (s *Server) Cancel(id string) { s.Mutate(id, func(p *Payment) { p.Status = "canceled" }) }

// Mutate changes a stored payment, for tests that tamper with it.
func (s *Server) Mutate(id string, f func(*Payment)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.payments[id]; ok {
		f(p)
	}
}

// Notification is the body YooKassa posts to the webhook for an event
// ("payment.succeeded", "payment.canceled") about a payment.
func (s *Server) Notification(id, event string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj := s.payments[id]
	if obj == nil {
		obj = &Payment{ID: id, Status: "succeeded"}
	}
	b, _ := json.Marshal(map[string]any{"type": "notification", "event": event, "object": obj})
	return b
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.ShopID || pass != s.Secret {
		writeError(w, http.StatusUnauthorized, "invalid_credentials", "Login or password is incorrect")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/payments":
		s.create(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/payments/"):
		s.mu.Lock()
		p, ok := s.payments[strings.TrimPrefix(r.URL.Path, "/payments/")]
		var cp Payment
		if ok {
			cp = *p
		}
		s.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "Payment doesn't exist or access denied")
			return
		}
		writeJSON(w, &cp)
	default:
		writeError(w, http.StatusNotFound, "not_found", "Unknown method")
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotence-Key")
	if key == "" || len(key) > 64 {
		writeError(w, http.StatusBadRequest, "invalid_request", "Idempotence-Key header is missing or too long")
		return
	}
	var req struct {
		Amount struct {
			Value    string `json:"value"`
			Currency string `json:"currency"`
		} `json:"amount"`
		Capture      bool `json:"capture"`
		Confirmation struct {
			Type      string `json:"type"`
			ReturnURL string `json:"return_url"`
		} `json:"confirmation"`
		Description string            `json:"description"`
		Metadata    map[string]string `json:"metadata"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "Request body is not valid JSON")
		return
	}
	if req.Amount.Value == "" || req.Amount.Currency == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "Missing amount")
		return
	}
	if req.Confirmation.Type == "redirect" && req.Confirmation.ReturnURL == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "Missing return_url for redirect confirmation")
		return
	}
	canon, _ := json.Marshal(req)

	s.mu.Lock()
	if k, ok := s.byKey[key]; ok {
		p := *s.payments[k.id]
		s.mu.Unlock()
		// The same key with other parameters is an error; with the same
		// ones, the answer to the original request.
		if k.body != string(canon) {
			writeError(w, http.StatusBadRequest, "invalid_request", "Idempotence key duplicated with another request")
			return
		}
		s.answer(w, &p)
		return
	}
	var idb [16]byte
	_, _ = rand.Read(idb[:])
	h := hex.EncodeToString(idb[:])
	id := fmt.Sprintf("%s-000f-5000-8000-%s", h[:8], h[8:20])
	p := &Payment{ID: id, Status: "pending", Capture: req.Capture, Description: req.Description, Metadata: req.Metadata, CreatedAt: time.Now().UTC(), Test: true}
	p.Amount.Value, p.Amount.Currency = req.Amount.Value, req.Amount.Currency
	p.Confirmation.Type = "redirect"
	p.Confirmation.ReturnURL = req.Confirmation.ReturnURL
	p.Confirmation.ConfirmationURL = "https://yoomoney.ru/api-pages/v2/payment-confirm/epl?orderId=" + id
	s.payments[id] = p
	s.byKey[key] = keyed{id: id, body: string(canon)}
	s.order = append(s.order, id)
	cp := *p
	s.mu.Unlock()
	s.answer(w, &cp)
}

// answer writes the payment, or cuts the connection if a drop is due.
func (s *Server) answer(w http.ResponseWriter, p *Payment) {
	s.mu.Lock()
	drop := s.dropNext > 0
	if drop {
		s.dropNext--
	}
	s.mu.Unlock()
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, p)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"type": "error", "id": "test", "code": code, "description": desc})
}
