package support

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/internal/backoff"
)

// Webhook posts the support events (support_events, written by a Store
// made WithEvents) to an external helpdesk: each as one JSON POST, signed
// with HMAC-SHA256, until the receiver answers 2xx.
//
// The work is rows in PostgreSQL, claimed as the payments scheduler claims
// its own: one short statement leases a batch to this worker (FOR UPDATE
// SKIP LOCKED inside, so that several instances never claim the same row)
// and commits, the POSTs run with no transaction open and no row locked,
// and a second short statement records each outcome. A worker that dies
// leaves its lease, which runs out a minute later; then another takes the
// rows over. Each event is delivered at least once: one that was posted
// and whose outcome was not recorded (a crash, a lost lease) is posted
// again, with the same X-Kabinet-Event-Id, by which the receiver drops it.
//
// Events of one request go in the order they were written: a claim takes
// a request's unsent events only when the oldest of them is due and held
// by nobody, and one that fails holds the later ones back until it is
// delivered or given up (GiveUp after it was written).
type Webhook struct {
	pool   *pgxpool.Pool
	url    string
	secret []byte
	client *http.Client
	log    *slog.Logger
	cfg    WebhookConfig
	owner  string

	mu       sync.Mutex
	purgedAt time.Time
}

// WebhookConfig is where and how to post. URL and Secret are required;
// the rest have defaults for production, which tests shorten.
type WebhookConfig struct {
	URL    string // SUPPORT_WEBHOOK_URL
	Secret []byte // SUPPORT_WEBHOOK_SECRET: keys the signature
	// Poll is how often the worker looks for due events (1 s).
	Poll time.Duration
	// RetryBase and RetryMax shape the wait after a failure: RetryBase
	// doubled per failure of the event, at most RetryMax (2 s, 1 h).
	RetryBase, RetryMax time.Duration
	// GiveUp is how long after it was written an event is still tried
	// (24 h): the first failure past it marks the event failed, with an
	// error in the log, and lets the request's next events go.
	GiveUp time.Duration
	// Keep is how long sent and failed events stay in the table, for
	// whoever investigates or replays them (7 days).
	Keep time.Duration
	// Timeout bounds one POST (10 s).
	Timeout time.Duration
	// Batch is how many requests one claim takes at most (100).
	Batch int
	// Client makes the requests (default: one that follows no redirects).
	Client *http.Client
	// Owner names this worker in the rows it claims (default: host,
	// process and random bytes; two workers must never share one).
	Owner string
}

// The worker's fixed limits. A round of POSTs stops leaseMargin before its
// lease ends and gives the rest back, so that no event is posted under a
// lease that ran out; parallel is how many requests are posted at once
// (each request's events one by one).
const (
	webhookLease  = time.Minute
	leaseMargin   = 15 * time.Second
	parallel      = 4
	reportTimeout = 10 * time.Second
	purgeEvery    = 10 * time.Minute
	purgeBatch    = 10000
	maxErrorText  = 200
)

// NewWebhook returns the worker; Run starts it.
func NewWebhook(pool *pgxpool.Pool, cfg WebhookConfig, log *slog.Logger) *Webhook {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Poll, time.Second)
	def(&cfg.RetryBase, 2*time.Second)
	def(&cfg.RetryMax, time.Hour)
	def(&cfg.GiveUp, 24*time.Hour)
	def(&cfg.Keep, 7*24*time.Hour)
	def(&cfg.Timeout, 10*time.Second)
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Client == nil {
		// A redirect would turn the POST into a GET elsewhere: a 3xx is a
		// failure, to be fixed in SUPPORT_WEBHOOK_URL.
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		cfg.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	return &Webhook{pool: pool, url: cfg.URL, secret: cfg.Secret, client: cfg.Client, log: log, cfg: cfg, owner: cfg.Owner}
}

// Run delivers events until ctx ends. Failures are logged and tried again
// at the next round: the state is in the database, so nothing is lost.
func (w *Webhook) Run(ctx context.Context) {
	w.log.Info("support webhook started", "event", "support_webhook_started")
	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("support webhook", "event", "support_webhook_error", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RunOnce posts every event due now and returns how many were delivered.
func (w *Webhook) RunOnce(ctx context.Context) (int, error) {
	w.purge(ctx)
	total := 0
	for ctx.Err() == nil {
		deadline := time.Now().Add(webhookLease - leaseMargin) // measured before the claim: never later than the lease
		byRequest, err := w.claim(ctx)
		if err != nil {
			return total, err
		}
		total += w.deliver(ctx, deadline, byRequest)
		if len(byRequest) < w.cfg.Batch {
			break
		}
	}
	return total, nil
}

// event is a claimed row.
type event struct {
	ID       int64
	Request  int64
	Kind     string
	Payload  json.RawMessage
	At       time.Time
	Attempts int
}

// claim leases to this worker the unsent events of up to Batch requests whose oldest unsent event is due and held by nobody, and
// returns them by request, each request's in order.
func (w *Webhook) claim(ctx context.Context) ([][]event, error) {
	rows, _ := w.pool.Query(ctx, `
WITH heads AS (
    SELECT DISTINCT ON (request_id) id, next_at, claimed_until
    FROM support_events
    WHERE sent_at IS NULL AND failed_at IS NULL
    ORDER BY request_id, id
), due AS (
    SELECT e.request_id
    FROM support_events e JOIN heads h ON h.id = e.id
    WHERE h.next_at <= now() AND (h.claimed_until IS NULL OR h.claimed_until < now())
    ORDER BY h.next_at, h.id
    LIMIT $3
    FOR UPDATE OF e SKIP LOCKED
), claimed AS (
    UPDATE support_events e
    SET claimed_by = $1, claimed_until = now() + $2 * interval '1 millisecond'
    FROM due
    WHERE e.request_id = due.request_id AND e.sent_at IS NULL AND e.failed_at IS NULL
    RETURNING e.id, e.request_id, e.kind, e.payload, e.created_at, e.attempts
)
SELECT id, request_id, kind, payload, created_at, attempts FROM claimed ORDER BY request_id, id`,
		w.owner, webhookLease.Milliseconds(), w.cfg.Batch)
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (event, error) {
		var e event
		err := row.Scan(&e.ID, &e.Request, &e.Kind, &e.Payload, &e.At, &e.Attempts)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("support webhook: claim: %w", err)
	}
	var out [][]event
	for i, e := range events {
		if i == 0 || e.Request != events[i-1].Request {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], e)
	}
	return out, nil
}

// deliver posts the claimed events, up to parallel requests at once and
// each request's one by one, and gives back what it did not get to. It
// returns how many were delivered.
func (w *Webhook) deliver(ctx context.Context, deadline time.Time, byRequest [][]event) int {
	if len(byRequest) == 0 {
		return 0
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		delivered int
	)
	work := make(chan []event)
	for range min(parallel, len(byRequest)) {
		wg.Go(func() {
			for evs := range work {
				n := w.deliverRequest(ctx, deadline, evs)
				mu.Lock()
				delivered += n
				mu.Unlock()
			}
		})
	}
	for _, evs := range byRequest {
		work <- evs
	}
	close(work)
	wg.Wait()
	w.release(ctx)
	return delivered
}

// deliverRequest posts one request's events in order until one fails.
func (w *Webhook) deliverRequest(ctx context.Context, deadline time.Time, evs []event) int {
	done := 0
	for _, e := range evs {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return done // given back by release
		}
		postCtx, cancel := context.WithDeadline(ctx, deadline)
		status, err := w.post(postCtx, e)
		cut := err != nil && postCtx.Err() != nil
		cancel()
		if cut {
			// Stopped, or out of lease: not the receiver's fault, so no
			// attempt is counted. It may have the event already; then it
			// gets it again (at least once).
			return done
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
		if err == nil {
			err = w.sent(rctx, e)
			cancel()
			if err != nil {
				w.log.Warn("support webhook: delivery not recorded; the event will be posted again", "event", "support_webhook_report_failed", "id", e.ID, "err", err)
				return done
			}
			done++
			continue
		}
		gaveUp, rerr := w.failed(rctx, e, status, err)
		cancel()
		switch {
		case rerr != nil:
			w.log.Warn("support webhook: failure not recorded", "event", "support_webhook_report_failed", "id", e.ID, "err", rerr)
		case gaveUp:
			w.log.Error("support webhook: event given up, still failing since it was written", "event", "support_webhook_gave_up",
				"id", e.ID, "request", e.Request, "kind", e.Kind, "attempts", e.Attempts+1, "status", status, "err", err, "written", e.At)
		default:
			w.log.Warn("support webhook: not delivered, will retry", "event", "support_webhook_failed",
				"id", e.ID, "request", e.Request, "attempts", e.Attempts+1, "status", status, "err", err)
		}
		return done // the request's later events wait for this one
	}
	return done
}

// Payload is the body of one POST.
type Payload struct {
	ID      int64           `json:"id"`      // the event's id, also in X-Kabinet-Event-Id; the same event again has the same id
	Kind    string          `json:"kind"`    // created, message, assigned, solved, closed, reopened, rated
	Request int64           `json:"request"` // the request's number (№ 1000)
	At      time.Time       `json:"at"`      // when it happened
	Data    json.RawMessage `json:"data"`    // what happened, by kind
}

// Signature is the X-Kabinet-Signature of body: "sha256=" and the hex
// HMAC-SHA256 of the body keyed with secret.
func Signature(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature tells whether header is body's signature with secret,
// in constant time: what a receiver in Go checks before it trusts a POST.
func VerifySignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(Signature(secret, body)))
}

// errStatus is a receiver's answer that is not 2xx.
var errStatus = errors.New("the receiver did not answer 2xx")

// post sends one event and returns the receiver's status (0 if none).
func (w *Webhook) post(ctx context.Context, e event) (int, error) {
	body, err := json.Marshal(Payload{ID: e.ID, Kind: e.Kind, Request: e.Request, At: e.At.UTC(), Data: e.Payload})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, redactURL(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Kabinet-Support-Webhook")
	req.Header.Set("X-Kabinet-Event-Id", strconv.FormatInt(e.ID, 10))
	req.Header.Set("X-Kabinet-Signature", Signature(w.secret, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, redactURL(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%w: HTTP %d", errStatus, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// redactURL keeps the URL out of an error: *url.Error prints it whole, and
// a helpdesk's URL often carries a token.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// sent records a delivered event. It does not ask for the lease: an event
// the receiver took is delivered, whoever holds it now.
func (w *Webhook) sent(ctx context.Context, e event) error {
	tag, err := w.pool.Exec(ctx, `UPDATE support_events
		SET sent_at = now(), attempts = attempts + 1, claimed_until = NULL, last_error = ''
		WHERE id = $1 AND sent_at IS NULL`, e.ID)
	if err != nil {
		return fmt.Errorf("support webhook: sent: %w", err)
	}
	if tag.RowsAffected() == 0 {
		w.log.Warn("support webhook: an event was delivered by two workers (a lease ran out)", "event", "support_webhook_lease_lost", "id", e.ID)
	}
	return nil
}

// failed records a failed POST: the event waits a backoff longer with
// each failure, and is given up (gaveUp) once GiveUp has passed since it
// was written. Only while this worker still holds it.
func (w *Webhook) failed(ctx context.Context, e event, status int, cause error) (gaveUp bool, err error) {
	why := cause.Error()
	if len(why) > maxErrorText {
		why = strings.ToValidUTF8(why[:maxErrorText], "") // a cut rune would not be valid text for PostgreSQL
	}
	if status != 0 {
		why = "HTTP " + strconv.Itoa(status)
	}
	wait := backoff.Delay(e.Attempts+1, w.cfg.RetryBase, w.cfg.RetryMax)
	err = w.pool.QueryRow(ctx, `UPDATE support_events
		SET attempts = attempts + 1, last_error = $3, next_at = now() + $4 * interval '1 millisecond',
			failed_at = CASE WHEN created_at <= now() - $5 * interval '1 millisecond' THEN now() END,
			claimed_by = NULL, claimed_until = NULL
		WHERE id = $2 AND claimed_by = $1 AND sent_at IS NULL
		RETURNING failed_at IS NOT NULL`, w.owner, e.ID, why, wait.Milliseconds(), w.cfg.GiveUp.Milliseconds()).Scan(&gaveUp)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // another worker holds it now
	}
	if err != nil {
		return false, fmt.Errorf("support webhook: failed: %w", err)
	}
	return gaveUp, nil
}

// release gives back, due at once and with no attempt counted, the events
// this worker claimed and did not get to.
func (w *Webhook) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	if _, err := w.pool.Exec(rctx, `UPDATE support_events SET claimed_by = NULL, claimed_until = NULL
		WHERE claimed_by = $1 AND sent_at IS NULL AND failed_at IS NULL`, w.owner); err != nil {
		// Their lease runs out and they are claimed again then.
		w.log.Warn("support webhook: claims not given back", "event", "support_webhook_release_failed", "err", err)
	}
}

// purge deletes, now and then, the events sent or given up more than Keep
// ago, a bounded batch at a time.
func (w *Webhook) purge(ctx context.Context) {
	w.mu.Lock()
	due := time.Since(w.purgedAt) >= purgeEvery
	if due {
		w.purgedAt = time.Now()
	}
	w.mu.Unlock()
	if !due {
		return
	}
	tag, err := w.pool.Exec(ctx, `DELETE FROM support_events WHERE id IN (
		SELECT id FROM support_events
		WHERE created_at < now() - $1 * interval '1 millisecond' AND (sent_at IS NOT NULL OR failed_at IS NOT NULL)
		ORDER BY created_at LIMIT $2)`, w.cfg.Keep.Milliseconds(), purgeBatch)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("support webhook: old events not deleted", "event", "support_webhook_purge_failed", "err", err)
		}
		return
	}
	if n := tag.RowsAffected(); n > 0 {
		w.log.Info("support webhook: old events deleted", "event", "support_webhook_purged", "rows", n)
	}
}
