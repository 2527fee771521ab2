package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/state"

	"github.com/kabinet-bot/kabinet/internal/backoff"
)

// PollerConfig configures long polling. Zero values take the defaults noted
// on each field.
type PollerConfig struct {
	// APIURL is the Bot API server, default https://api.telegram.org; tests
	// point it at a fake.
	APIURL string
	// Token is the bot token. It is never logged: errors that carry the
	// request URL are redacted.
	Token string
	// Timeout is how long Telegram holds a getUpdates call open when there
	// is nothing new, rounded down to seconds; default 30 s.
	Timeout time.Duration
	// AllowedUpdates lists the update types to receive; empty keeps the
	// setting Telegram already has.
	AllowedUpdates []string
	// Client sends the requests, default http.DefaultClient. Each call also
	// gets a deadline of Timeout plus a margin, so a client without a
	// timeout cannot hang forever.
	Client *http.Client
	// BackoffMin and BackoffMax bound the wait after a failure; it doubles
	// with each failure in a row. Defaults 1 s and 30 s. A 429's
	// retry_after is always waited in full, even above BackoffMax.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// HandleTimeout bounds the handling of one batch, default 2 minutes.
	// The batch in hand at shutdown gets this long to finish.
	HandleTimeout time.Duration
	// Skipped, when set, hears of each update left for the next round
	// because an earlier update of its chat failed (Redis down): a button
	// press among them still gets an answer that the bot is unavailable.
	Skipped func(ctx context.Context, upd *models.Update)
}

// Poller receives updates by long polling getUpdates. Unlike go-telegram's
// built-in poller, it confirms updates to Telegram (by advancing the offset)
// only after they were handled, so a crash or a failing dependency loses
// nothing: the unhandled updates are fetched again. Only one Run may poll a
// bot at a time (Telegram answers a second one with 409), and the sequencer
// should be closed only after Run has returned, or the updates in hand are
// refused and fetched again on the next start.
//
// It does not wait for a whole batch before asking for more: it asks again
// while the updates it has are handled, with the offset at the first update
// not handled yet (so that Telegram forgets only what is done), and hands
// on only the updates it does not have yet. A slow update thus holds up
// neither the other chats' updates nor the fetching; only the window of
// Telegram's answer, 100 updates from the first one not done, bounds how far
// ahead it gets.
type Poller struct {
	cfg    PollerConfig
	seq    *Sequencer
	logger *slog.Logger

	// sleep waits between attempts; tests replace it to record the waits
	// instead of spending them.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewPoller returns a poller that hands the updates it fetches to seq.
func NewPoller(cfg PollerConfig, seq *Sequencer, logger *slog.Logger) *Poller {
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.telegram.org"
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(30*time.Second, cfg.BackoffMin)
	}
	if cfg.HandleTimeout <= 0 {
		cfg.HandleTimeout = 2 * time.Minute
	}
	return &Poller{cfg: cfg, seq: seq, logger: logger, sleep: sleepCtx}
}

// Pacing of the calls made while updates are in hand: Telegram answers
// them at once (the updates in hand are not confirmed yet), so a call that
// brought nothing new is repeated only once something was handled, or
// after pollIdle, and never sooner than pollGap after the last.
const (
	pollGap  = 5 * time.Millisecond
	pollIdle = 50 * time.Millisecond
)

// polled is the answer of one getUpdates call.
type polled struct {
	updates []*models.Update
	passed  []int64 // undecodable: passed over, counted as done
	err     error
	// failures is the window's count of failed updates when the call was
	// made: a call made before the last failure brings its update back
	// too soon, before the pause.
	failures int
}

// handled is the result of one update.
type handled struct {
	upd *models.Update
	err error
}

// Run polls until ctx is cancelled, then finishes the updates in hand,
// confirms them to Telegram and returns nil. It returns an error only when
// Telegram rejects the token or the API URL (401, 403, 404), which no
// amount of retrying can fix. Every other failure is logged and retried
// after a growing pause.
func (p *Poller) Run(ctx context.Context) error {
	w := newPollWindow()
	var (
		confirmed    int64       // the offset Telegram was last told
		answers      chan polled // the call in flight, nil when none
		results      = make(chan handled, 128)
		pollFailures int             // getUpdates failures in a row
		failures     int             // updates failed in a row (Redis down)
		paused       <-chan struct{} // closed when the running backoff ends; nil when none runs
		lastPoll     time.Time       // when the last call was made
		news         = true          // the last call brought new updates, or something was handled since
		timer        = time.NewTimer(0)
	)
	defer timer.Stop()
	// The updates have their own deadline and ignore the cancellation of
	// ctx: at shutdown the updates in hand are finished, not abandoned
	// halfway.
	updCtx := context.WithoutCancel(ctx)
	submit := func(upd *models.Update) {
		go func() {
			uctx, cancel := context.WithTimeout(updCtx, p.cfg.HandleTimeout)
			defer cancel()
			var err error
			select {
			case err = <-p.seq.Submit(uctx, upd):
			case <-uctx.Done():
				err = fmt.Errorf("update %d: %w", upd.ID, uctx.Err())
			}
			results <- handled{upd, err}
		}()
	}
	for {
		stopping := ctx.Err() != nil
		stop := ctx.Done()
		if stopping {
			stop = nil // heard once; from now on only the answers and results count
		}
		if stopping && answers == nil && w.inHand() == 0 {
			p.confirm(ctx, w.offset, confirmed)
			return nil
		}
		// Ask Telegram when nothing is being asked, no backoff runs, and
		// either nothing is in hand (a long poll that waits for news) or
		// there may be something new.
		var wake <-chan time.Time
		if !stopping && answers == nil && paused == nil {
			now := time.Now()
			next := now
			if w.inHand() > 0 && !news {
				next = lastPoll.Add(pollIdle)
			} else if w.inHand() > 0 {
				next = lastPoll.Add(pollGap)
			}
			if !next.After(now) {
				answers = make(chan polled, 1)
				lastPoll, news = now, false
				req := getUpdatesRequest{Offset: w.offset, Timeout: int(p.cfg.Timeout / time.Second), AllowedUpdates: p.cfg.AllowedUpdates}
				confirmed = w.offset
				go func(ch chan<- polled, failures int) {
					updates, passed, err := p.getUpdates(ctx, req, p.cfg.Timeout+15*time.Second, w.knownFunc())
					ch <- polled{updates, passed, err, failures}
				}(answers, w.failures)
			} else {
				timer.Reset(next.Sub(now))
				wake = timer.C
			}
		}
		select {
		case a := <-answers:
			answers = nil
			if a.err != nil {
				if ctx.Err() != nil {
					continue // stopping: finish what is in hand
				}
				var apiErr *getUpdatesError
				if errors.As(a.err, &apiErr) && apiErr.fatal() {
					p.drain(w, results, submit)
					return fmt.Errorf("long polling: %w", a.err)
				}
				pollFailures++
				wait := p.backoff(pollFailures)
				if errors.As(a.err, &apiErr) && apiErr.RetryAfter > wait {
					wait = apiErr.RetryAfter
				}
				p.logger.Warn("getUpdates failed", "err", a.err, "retry_in", wait.String(), "failures", pollFailures)
				paused = p.pause(ctx, wait)
				continue
			}
			pollFailures = 0
			for _, upd := range a.updates {
				if first, ok := w.add(upd, a.failures == w.failures); ok {
					news = true
					if first {
						submit(upd)
					}
				}
			}
			// After the others: the offset moves past these only up to
			// the first update of the answer not done.
			for _, id := range a.passed {
				w.pass(id)
			}
		case r := <-results:
			news = true
			if r.err == nil || IsPanic(r.err) {
				failures = 0
				if next := w.done(r.upd); next != nil {
					submit(next)
				}
				continue
			}
			// Something the processor needs (Redis, the billing database) is
			// probably down: the update and the later ones of its chat are
			// fetched again after a pause, in order.
			p.logger.Warn("update not handled", "update_id", r.upd.ID, "err", r.err)
			for _, upd := range w.failed(r.upd) {
				if p.cfg.Skipped != nil {
					p.cfg.Skipped(updCtx, upd)
				}
			}
			failures++
			wait := p.backoff(failures)
			p.logger.Warn("updates not handled, fetching them again", "offset", w.offset, "retry_in", wait.String())
			paused = p.pause(ctx, wait)
		case <-paused:
			paused = nil
		case <-wake:
		case <-stop:
			// The long poll in flight, cut by ctx, answers soon; the
			// updates in hand are finished.
		}
	}
}

// pause waits d through p.sleep (which tests record) in the background;
// the channel is closed when it is over, or ctx ended.
func (p *Poller) pause(ctx context.Context, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() { _ = p.sleep(ctx, d); close(done) }()
	return done
}

// drain waits for the updates in hand before Run returns with an error.
func (p *Poller) drain(w *pollWindow, results <-chan handled, submit func(*models.Update)) {
	for w.inHand() > 0 {
		r := <-results
		if r.err == nil || IsPanic(r.err) {
			if next := w.done(r.upd); next != nil {
				submit(next)
			}
			continue
		}
		w.failed(r.upd)
	}
}

// pollWindow is what the poller has fetched and not yet confirmed: the
// updates from the offset on, in update_id order, each in hand (handled
// now or waiting behind an earlier update of its conversation), done, or
// to be fetched again (it failed, or an earlier one of its conversation
// did). It is used by Run's goroutine only, apart from known.
type pollWindow struct {
	offset int64 // the first update_id not done: what Telegram is told
	ids    []int64
	status map[int64]pollStatus
	// failures counts the updates that failed, so that a call made before
	// the last one is known.
	failures int
	// queued holds, per conversation with an update being handled, the
	// later ones fetched meanwhile, handed on one at a time in order, so
	// that a failed one stops those behind it.
	queued map[state.Conv][]*models.Update
	// blocked are the conversations with an update to be fetched again:
	// their later updates wait for it.
	blocked map[state.Conv]bool

	mu    sync.Mutex // guards known, read by the fetching goroutine
	known map[int64]bool
}

type pollStatus int

const (
	inHand pollStatus = iota
	doneStatus
	again // to be fetched again: handed on when Telegram sends it next
)

func newPollWindow() *pollWindow {
	return &pollWindow{status: map[int64]pollStatus{}, queued: map[state.Conv][]*models.Update{},
		blocked: map[state.Conv]bool{}, known: map[int64]bool{}}
}

// inHand counts the updates handled now or waiting to be.
func (w *pollWindow) inHand() int {
	n := 0
	for _, st := range w.status {
		if st == inHand {
			n++
		}
	}
	return n
}

// knownFunc tells the fetching goroutine which updates need not be decoded.
func (w *pollWindow) knownFunc() func(int64) bool {
	return func(id int64) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.known[id]
	}
}

func (w *pollWindow) setKnown(id int64, known bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if known {
		w.known[id] = true
	} else {
		delete(w.known, id)
	}
}

// add takes an update Telegram sent: ok when it is new here (or comes
// again after a failure, and retry says that the pause after it is over),
// first when it is to be handed on now (no update of its conversation is
// in hand; otherwise it waits behind them).
func (w *pollWindow) add(upd *models.Update, retry bool) (first, ok bool) {
	if upd.ID < w.offset {
		return false, false
	}
	st, seen := w.status[upd.ID]
	if seen && (st != again || !retry) {
		return false, false
	}
	if !seen {
		i, _ := slices.BinarySearch(w.ids, upd.ID)
		w.ids = slices.Insert(w.ids, i, upd.ID)
	}
	conv := ConvKey(upd)
	if w.blocked[conv] && !retry {
		// A later update of a conversation whose update failed: it is
		// handed on after that one, when both are fetched again.
		w.status[upd.ID] = again
		return false, false
	}
	delete(w.blocked, conv)
	w.status[upd.ID] = inHand
	w.setKnown(upd.ID, true)
	if q, busy := w.queued[conv]; busy {
		w.queued[conv] = append(q, upd)
		return false, true
	}
	w.queued[conv] = nil
	return true, true
}

// pass counts an update that cannot be decoded as done.
func (w *pollWindow) pass(id int64) {
	if id < w.offset {
		return
	}
	if _, seen := w.status[id]; !seen {
		i, _ := slices.BinarySearch(w.ids, id)
		w.ids = slices.Insert(w.ids, i, id)
	}
	w.status[id] = doneStatus
	w.setKnown(id, true)
	w.advance()
}

// done records a handled update and returns the next update of its
// conversation to hand on, if one waits.
func (w *pollWindow) done(upd *models.Update) *models.Update {
	w.status[upd.ID] = doneStatus
	w.advance()
	conv := ConvKey(upd)
	q := w.queued[conv]
	if len(q) == 0 {
		delete(w.queued, conv)
		return nil
	}
	w.queued[conv] = q[1:]
	return q[0]
}

// failed records an update that was not handled: it and the later updates
// of its conversation are to be fetched again, in order. It returns those
// later ones, which were not handed on.
func (w *pollWindow) failed(upd *models.Update) []*models.Update {
	conv := ConvKey(upd)
	skipped := w.queued[conv]
	delete(w.queued, conv)
	w.failures++
	w.blocked[conv] = true
	for _, u := range append([]*models.Update{upd}, skipped...) {
		w.status[u.ID] = again
		w.setKnown(u.ID, false)
	}
	return skipped
}

// advance moves the offset past the updates done at the front.
func (w *pollWindow) advance() {
	n := 0
	for n < len(w.ids) && w.status[w.ids[n]] == doneStatus {
		w.offset = w.ids[n] + 1
		delete(w.status, w.ids[n])
		w.setKnown(w.ids[n], false)
		n++
	}
	w.ids = w.ids[n:]
}

// confirm tells Telegram, when stopping, that the updates handled since the
// last getUpdates are done, so that the next start does not fetch them
// again. It is best effort: if it fails, they come again and the
// de-duplication drops them.
func (p *Poller) confirm(ctx context.Context, offset, confirmed int64) {
	if offset <= confirmed {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// With limit 1 and no wait, Telegram forgets everything below offset;
	// the one update it may return is not confirmed by this call.
	_, _, err := p.getUpdates(ctx, getUpdatesRequest{Offset: offset, Limit: 1}, 5*time.Second, nil)
	if err != nil {
		p.logger.Warn("confirming handled updates at shutdown failed; they will be fetched again",
			"offset", offset, "err", err)
	}
}

func (p *Poller) backoff(failures int) time.Duration {
	return backoff.Delay(failures, p.cfg.BackoffMin, p.cfg.BackoffMax)
}

type getUpdatesRequest struct {
	Offset         int64    `json:"offset,omitempty"`
	Limit          int      `json:"limit,omitempty"`
	Timeout        int      `json:"timeout"`
	AllowedUpdates []string `json:"allowed_updates,omitempty"`
}

type getUpdatesResponse struct {
	OK          bool              `json:"ok"`
	Result      []json.RawMessage `json:"result"`
	ErrorCode   int               `json:"error_code"`
	Description string            `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// getUpdatesError is Telegram refusing a getUpdates call.
type getUpdatesError struct {
	StatusCode  int
	Description string
	RetryAfter  time.Duration
}

func (e *getUpdatesError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("getUpdates: HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("getUpdates: HTTP %d: %s", e.StatusCode, e.Description)
}

// fatal reports an answer that means the token or the API URL is wrong.
func (e *getUpdatesError) fatal() bool {
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// maxGetUpdatesBody caps a getUpdates answer: 100 updates of the largest
// kind stay far below it.
const maxGetUpdatesBody = 64 << 20

// getUpdates makes one call. It returns the updates it could decode, but
// for those known (nil: none) tells already, and the ids of those it could
// not decode. Every error it returns has the token redacted.
func (p *Poller) getUpdates(ctx context.Context, req getUpdatesRequest, deadline time.Duration, known func(int64) bool) (updates []*models.Update, passed []int64, err error) {
	defer func() { err = RedactToken(err, p.cfg.Token) }()

	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, fmt.Errorf("getUpdates: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost,
		p.cfg.APIURL+"/bot"+p.cfg.Token+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("getUpdates: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	resp, err := p.cfg.Client.Do(httpReq)
	if err != nil {
		return nil, nil, fmt.Errorf("getUpdates: %w", err)
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxGetUpdatesBody))
	if err != nil {
		return nil, nil, fmt.Errorf("getUpdates: read answer: %w", err)
	}
	var answer getUpdatesResponse
	if err := json.Unmarshal(raw, &answer); err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, nil, &getUpdatesError{StatusCode: resp.StatusCode}
		}
		return nil, nil, fmt.Errorf("getUpdates: decode answer: %w", err)
	}
	if !answer.OK || resp.StatusCode != http.StatusOK {
		code := answer.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return nil, nil, &getUpdatesError{
			StatusCode:  code,
			Description: answer.Description,
			RetryAfter:  time.Duration(answer.Parameters.RetryAfter) * time.Second,
		}
	}

	updates = make([]*models.Update, 0, len(answer.Result))
	for _, item := range answer.Result {
		if known != nil {
			var id struct {
				ID int64 `json:"update_id"`
			}
			if json.Unmarshal(item, &id) == nil && known(id.ID) {
				continue // in hand or done: decoding it again would be wasted
			}
		}
		upd := new(models.Update)
		if err := json.Unmarshal(item, upd); err != nil {
			// One update this library cannot decode must not block all
			// the others forever: it is logged and passed over, and
			// the offset moves past it with the others.
			var id struct {
				ID int64 `json:"update_id"`
			}
			if idErr := json.Unmarshal(item, &id); idErr != nil || id.ID <= 0 {
				return nil, nil, fmt.Errorf("getUpdates: an update without update_id: %w", err)
			}
			p.logger.Error("update passed over: cannot decode it", "update_id", id.ID, "err", err)
			passed = append(passed, id.ID)
			continue
		}
		updates = append(updates, upd)
	}
	return updates, passed, nil
}

// RedactToken returns err with every occurrence of the bot token in its
// message replaced, because Go's *url.Error prints the request URL, and the
// Bot API puts the token in the URL. The result still unwraps to err, so
// errors.Is and errors.As keep working; only its text changes.
func RedactToken(err error, token string) error {
	if err == nil || token == "" {
		return err
	}
	msg := err.Error()
	redacted := strings.ReplaceAll(msg, token, "<redacted>")
	if escaped := url.PathEscape(token); escaped != token {
		redacted = strings.ReplaceAll(redacted, escaped, "<redacted>")
	}
	if redacted == msg {
		return err
	}
	return &redactedError{msg: redacted, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
