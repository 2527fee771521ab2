package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"syscall"
	"time"

	"github.com/go-telegram/bot/models"
)

// webhookState is a webhook set by setWebhook. A new setWebhook or
// deleteWebhook replaces it and cancels its context, which ends the POSTs
// under way to it.
type webhookState struct {
	url       string
	secret    string
	maxConn   int
	allowed   []string
	hasCert   bool
	ipAddress string

	lastErrorDate    int64
	lastErrorMessage string

	ctx    context.Context
	cancel context.CancelFunc
}

const defaultMaxConnections = 40

// secretToken is what Telegram accepts as secret_token: 1-256 characters
// A-Z, a-z, 0-9, _ and -.
var secretToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Server) setWebhook(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	link := p.str("url")
	if link == "" {
		return s.removeWebhookLocked(p)
	}
	u, err := url.Parse(link)
	if err != nil || u.Host == "" {
		return result{}, badRequest("bad webhook: invalid webhook URL specified")
	}
	// Telegram wants HTTPS; the emulator also takes http:// so that tests can
	// use a plain httptest server.
	if u.Scheme != "https" && u.Scheme != "http" {
		return result{}, badRequest("bad webhook: HTTPS url must be provided for webhook")
	}
	if p.has("secret_token") && !secretToken.MatchString(p.str("secret_token")) {
		return result{}, badRequest("secret token contains unallowed characters")
	}
	maxConn := defaultMaxConnections
	if p.has("max_connections") {
		maxConn = int(min(max(p.int("max_connections"), 1), 100))
	}
	if p.has("allowed_updates") {
		s.allowedUpdates = stringList(p.typed["allowed_updates"])
	}
	if p.bool("drop_pending_updates") {
		s.dropPendingLocked()
	}

	next := &webhookState{
		url:       link,
		secret:    p.str("secret_token"),
		maxConn:   maxConn,
		allowed:   append([]string(nil), s.allowedUpdates...),
		hasCert:   p.files["certificate"] != nil,
		ipAddress: p.str("ip_address"),
	}
	if cur := s.webhook; cur != nil && cur.url == next.url && cur.secret == next.secret &&
		cur.maxConn == next.maxConn && slices.Equal(cur.allowed, next.allowed) {
		return result{value: true, description: "Webhook is already set"}, nil
	}
	if s.webhook != nil {
		s.webhook.cancel()
	}
	next.ctx, next.cancel = context.WithCancel(s.ctx)
	s.webhook = next
	s.wakeLocked() // a long poll under way now gets 409
	s.kickDispatcher()
	return result{value: true, description: "Webhook was set"}, nil
}

func (s *Server) deleteWebhook(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeWebhookLocked(p)
}

func (s *Server) removeWebhookLocked(p params) (result, *apiError) {
	if p.bool("drop_pending_updates") {
		s.dropPendingLocked()
	}
	if s.webhook == nil {
		return result{value: true, description: "Webhook is already deleted"}, nil
	}
	s.webhook.cancel()
	s.webhook = nil
	return result{value: true, description: "Webhook was deleted"}, nil
}

func (s *Server) getWebhookInfo() (result, *apiError) {
	return result{value: s.WebhookInfo()}, nil
}

// WebhookInfo is what getWebhookInfo answers now.
func (s *Server) WebhookInfo() models.WebhookInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := models.WebhookInfo{PendingUpdateCount: len(s.queue)}
	if wh := s.webhook; wh != nil {
		info.URL = wh.url
		info.HasCustomCertificate = wh.hasCert
		info.IPAddress = wh.ipAddress
		info.MaxConnections = wh.maxConn
		info.AllowedUpdates = wh.allowed
		info.LastErrorDate = int(wh.lastErrorDate)
		info.LastErrorMessage = wh.lastErrorMessage
	}
	return info
}

// SetWebhookTarget makes webhook POSTs go to route(registered) instead of the
// URL the bot registered, as a load balancer in front of several bot
// instances would. nil restores direct delivery.
func (s *Server) SetWebhookTarget(route func(registered string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookTarget = route
	s.kickDispatcher()
}

func (s *Server) kickDispatcher() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// dispatchLoop starts webhook deliveries whenever something changes or a
// retry falls due, until Close.
func (s *Server) dispatchLoop() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		wait := s.startDeliveriesLocked()
		s.mu.Unlock()

		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.kick:
		case <-timer.C:
		}
	}
}

// startDeliveriesLocked starts a POST for every update that may go now: the
// oldest pending update of each chat (the next one of a chat waits for a 2xx
// to the previous, as Telegram does), at most max_connections at once. It
// returns how long until the next retry falls due, 0 when none waits.
func (s *Server) startDeliveriesLocked() time.Duration {
	wh := s.webhook
	if wh == nil || s.closed {
		return 0
	}
	s.expireLocked()
	inFlight := 0
	for _, u := range s.queue {
		if u.inFlight {
			inFlight++
		}
	}
	now := time.Now()
	var wait time.Duration
	busy := map[int64]bool{}
	for _, u := range s.queue {
		if u.chatKey != 0 {
			if busy[u.chatKey] {
				continue
			}
			busy[u.chatKey] = true
		}
		if u.inFlight {
			continue
		}
		if d := u.retryAt.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		if inFlight >= wh.maxConn {
			break
		}
		u.inFlight = true
		inFlight++
		s.wg.Add(1)
		go s.deliver(wh, s.webhookTarget, u)
	}
	return wait
}

// deliver POSTs one update to the webhook and records the outcome.
func (s *Server) deliver(wh *webhookState, route func(string) string, u *pendingUpdate) {
	defer s.wg.Done()
	target := wh.url
	if route != nil {
		target = route(wh.url)
	}
	status, err := s.post(wh, target, u.body)

	s.mu.Lock()
	defer s.mu.Unlock()
	u.inFlight = false
	defer s.kickDispatcher()
	if wh.ctx.Err() != nil {
		return // the webhook was changed or the server closed: not the receiver's failure
	}
	if err == nil && status >= 200 && status < 300 {
		s.finishLocked(u, UpdateDone)
		return
	}
	u.attempts++
	u.retryAt = time.Now().Add(s.backoff(u.attempts))
	wh.lastErrorDate = s.now().Unix()
	wh.lastErrorMessage = deliveryError(status, err)
	s.notifyLocked(Event{Kind: EventWebhookError, UpdateID: u.id, ChatID: u.chatKey, Detail: wh.lastErrorMessage})
	if s.now().Sub(u.created) > s.opts.UpdateTTL {
		s.finishLocked(u, UpdateDropped)
	}
}

func (s *Server) post(wh *webhookState, target string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(wh.ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if wh.secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", wh.secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("webhook post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// backoff is the wait before attempt n+1: RetryInitial doubled per failure,
// at most RetryMax.
func (s *Server) backoff(failures int) time.Duration {
	d := s.opts.RetryInitial
	for i := 1; i < failures && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.opts.RetryMax)
}

// deliveryError words a failed delivery as getWebhookInfo's
// last_error_message does.
func deliveryError(status int, err error) string {
	var netErr net.Error
	switch {
	case err == nil:
		return fmt.Sprintf("Wrong response from the webhook: %d %s", status, http.StatusText(status))
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Connection refused"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "Read timeout expired"
	}
	return "Connection failed"
}
