package bot

import (
	"bytes"
	"cmp"
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

// Intake keeps the updates the poller fetched until they are handled;
// *state.Store implements it.
type Intake interface {
	Keep(ctx context.Context, updates map[int64][]byte) error
	Drop(ctx context.Context, ids []int64) error
	Kept(ctx context.Context) (map[int64][]byte, error)
}

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
	// HandleTimeout bounds the handling of one update, default 2 minutes.
	// The updates in hand at shutdown get this long to finish.
	HandleTimeout time.Duration
	// Intake, when set, keeps the fetched updates until they are handled,
	// so that the offset moves past them at once (see Poller).
	Intake Intake
	// MaxInHand bounds the updates held at once, default DefaultMaxInHand.
	MaxInHand int
	// Skipped, when set, hears of each update left for the next round
	// because an earlier update of its chat failed (Redis down): a button
	// press among them still gets an answer that the bot is unavailable.
	Skipped func(ctx context.Context, upd *models.Update)
}

// Poller receives updates by long polling getUpdates. Unlike go-telegram's
// built-in poller, it confirms updates to Telegram (by advancing the offset)
// only once they were handled or kept in the intake (PollerConfig.Intake),
// so a crash or a failing dependency loses nothing: an update neither
// handled nor kept is fetched again, and a process that starts hands on
// what the intake keeps first. Only one Run may poll a bot at a time
// (Telegram answers a second one with 409), and the sequencer should be
// closed only after Run has returned, or the updates in hand are refused
// and come again on the next start.
//
// It does not wait for a whole batch before asking for more: it asks again
// while the updates it has are handled, and hands on only those it does not
// have yet, so a slow update holds up neither the other chats' updates nor
// the fetching. With the intake the offset moves past every update kept,
// handled or not; without it (or while Redis refuses to keep them) it
// stops at the first update not done, and Telegram's answer of at most 100
// updates from there bounds how far ahead the poller gets.
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
	if cfg.MaxInHand <= 0 {
		cfg.MaxInHand = DefaultMaxInHand
	}
	return &Poller{cfg: cfg, seq: seq, logger: logger, sleep: sleepCtx}
}

// Pacing of the calls made while fetched updates hold the offset back:
// Telegram answers them at once (those updates are not confirmed yet), so a
// call that brought nothing new is repeated only once something was
// handled, or after pollIdle, and never sooner than pollGap after the last.
const (
	pollGap  = 5 * time.Millisecond
	pollIdle = 50 * time.Millisecond
)

// dropGather spaces the removals of handled updates from the intake.
const dropGather = 10 * time.Millisecond

// DefaultMaxInHand is how many updates the poller holds at most, handled
// or waiting behind their chat's, before it stops asking for more.
const DefaultMaxInHand = 1000

// polled is the answer of one getUpdates call, or what the intake held.
type polled struct {
	updates []*models.Update
	passed  []int64 // undecodable: passed over, counted as done
	err     error
	// kept: the updates are in the intake, so the offset may pass them.
	kept bool
	// fromIntake: read from the intake, not fetched from Telegram.
	fromIntake bool
	// offset is what the call asked with.
	offset int64
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
		confirmed    int64       // the offset of the last call Telegram answered
		answers      chan polled // the call in flight (getUpdates or the intake), nil when none
		results      = make(chan handled, 128)
		pollFailures int                   // getUpdates failures in a row
		failures     int                   // updates failed in a row (Redis down)
		paused       <-chan struct{}       // closed when the running backoff ends; nil when none runs
		lastPoll     time.Time             // when the last call was made
		news         = true                // the last call brought new updates, or something was handled since
		replay       = p.cfg.Intake != nil // the intake holds updates to hand on (at start, after a failure)
		pollFirst    bool                  // the last reading of the intake failed: fetch before trying again
		toDrop       []int64               // handled updates to remove from the intake
		dropping     chan struct{}         // the removal in flight, nil when none
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
		if dropping == nil && len(toDrop) > 0 {
			dropping = make(chan struct{})
			go func(ids []int64, done chan struct{}) {
				defer close(done)
				if err := p.cfg.Intake.Drop(updCtx, ids); err != nil {
					// They are handled: kept again at the next start, their
					// "handled" marks drop them.
					p.logger.Warn("handled updates left in the intake", "err", err)
				}
				// The next removal takes what is handled meanwhile: at most
				// one round trip every dropGather.
				time.Sleep(dropGather)
			}(toDrop, dropping)
			toDrop = nil
		}
		stopping := ctx.Err() != nil
		stop := ctx.Done()
		if stopping {
			stop = nil // heard once; from now on only the answers and results count
		}
		if stopping && answers == nil && w.inHand() == 0 {
			p.dropRest(updCtx, dropping, toDrop)
			p.confirm(ctx, w.offset, confirmed)
			return nil
		}
		// Ask when nothing is being asked, no backoff runs, the poller does
		// not hold too much already, and there may be something new (or
		// nothing holds the offset back, so that the call waits for news).
		var wake <-chan time.Time
		if !stopping && answers == nil && paused == nil && w.inHand() < p.cfg.MaxInHand {
			now := time.Now()
			next := now
			if w.holding() && !replay {
				if news {
					next = lastPoll.Add(pollGap)
				} else {
					next = lastPoll.Add(pollIdle)
				}
			}
			switch {
			case replay && !pollFirst:
				replay = false
				answers = make(chan polled, 1)
				go func(ch chan<- polled) { ch <- p.kept(ctx) }(answers)
			case !next.After(now):
				answers = make(chan polled, 1)
				lastPoll, news, pollFirst = now, false, false
				req := getUpdatesRequest{Offset: w.offset, Timeout: int(p.cfg.Timeout / time.Second), AllowedUpdates: p.cfg.AllowedUpdates}
				go func(ch chan<- polled, failures int) { ch <- p.fetch(ctx, req, w.knownFunc(), failures) }(answers, w.failures)
			default:
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
					p.dropRest(updCtx, dropping, append(toDrop, p.drain(w, results, submit)...))
					return fmt.Errorf("long polling: %w", a.err)
				}
				if a.fromIntake {
					// Read again after the pause, but Telegram is asked
					// meanwhile: a button pressed during a Redis outage
					// still hears that the bot is unavailable.
					replay, pollFirst = true, true
				} else {
					pollFailures++
				}
				wait := p.backoff(max(pollFailures, 1))
				if errors.As(a.err, &apiErr) && apiErr.RetryAfter > wait {
					wait = apiErr.RetryAfter
				}
				if a.fromIntake {
					p.logger.Warn("kept updates unavailable", "err", a.err, "retry_in", wait.String())
				} else {
					p.logger.Warn("getUpdates failed", "err", a.err, "retry_in", wait.String(), "failures", pollFailures)
				}
				paused = p.pause(ctx, wait)
				continue
			}
			if !a.fromIntake {
				// Answered: Telegram has forgotten what is below the offset
				// asked (a call cut by a shutdown may never have reached it).
				pollFailures, confirmed = 0, max(confirmed, a.offset)
			}
			retry := a.fromIntake || a.failures == w.failures
			for _, upd := range a.updates {
				if first, ok := w.add(upd, retry, a.kept, a.fromIntake); ok {
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
				next, drop := w.done(r.upd)
				if drop {
					toDrop = append(toDrop, r.upd.ID)
				}
				if next != nil {
					submit(next)
				}
				continue
			}
			// Something the processor needs (Redis, the billing database) is
			// probably down: the update and the later ones of its chat are
			// handed on again after a pause, in order: fetched again, or
			// read again from the intake.
			p.logger.Warn("update not handled", "update_id", r.upd.ID, "err", r.err)
			skipped, fromIntake := w.failed(r.upd)
			for _, upd := range skipped {
				if p.cfg.Skipped != nil {
					p.cfg.Skipped(updCtx, upd)
				}
			}
			replay = replay || fromIntake
			failures++
			wait := p.backoff(failures)
			p.logger.Warn("updates not handled, fetching them again", "offset", w.offset, "retry_in", wait.String())
			paused = p.pause(ctx, wait)
		case <-dropping:
			dropping = nil
		case <-paused:
			paused = nil
		case <-wake:
		case <-stop:
			// The long poll in flight, cut by ctx, answers soon; the
			// updates in hand are finished.
		}
	}
}

// fetch makes one getUpdates call and keeps the new updates in the intake.
// known tells the updates already in hand, which need not be decoded.
func (p *Poller) fetch(ctx context.Context, req getUpdatesRequest, known func(int64) bool, failures int) polled {
	updates, raws, passed, err := p.getUpdates(ctx, req, p.cfg.Timeout+15*time.Second, known)
	a := polled{updates: updates, passed: passed, err: err, failures: failures, offset: req.Offset}
	if err != nil || p.cfg.Intake == nil || len(updates) == 0 {
		return a
	}
	keep := make(map[int64][]byte, len(updates))
	for i, upd := range updates {
		keep[upd.ID] = raws[i]
	}
	if err := p.cfg.Intake.Keep(context.WithoutCancel(ctx), keep); err != nil {
		// Handed on all the same: the offset stops at them until they
		// are handled, as without an intake.
		p.logger.Warn("updates not kept in the intake", "err", err)
		return a
	}
	a.kept = true
	return a
}

// kept reads what the intake holds, in update_id order. An update that
// cannot be decoded is dropped from it, as getUpdates passes one over.
func (p *Poller) kept(ctx context.Context) polled {
	raws, err := p.cfg.Intake.Kept(ctx)
	if err != nil {
		return polled{err: err, fromIntake: true}
	}
	a := polled{kept: true, fromIntake: true}
	var bad []int64
	for id, raw := range raws {
		upd := new(models.Update)
		if err := json.Unmarshal(raw, upd); err != nil || upd.ID != id {
			p.logger.Error("kept update passed over: cannot decode it", "update_id", id)
			bad = append(bad, id)
			continue
		}
		a.updates = append(a.updates, upd)
	}
	slices.SortFunc(a.updates, func(x, y *models.Update) int { return cmp.Compare(x.ID, y.ID) })
	if len(bad) > 0 {
		_ = p.cfg.Intake.Drop(ctx, bad)
	}
	return a
}

// dropRest removes the last handled updates from the intake before Run
// returns, after the removal in flight (dropping, nil when none).
func (p *Poller) dropRest(ctx context.Context, dropping <-chan struct{}, ids []int64) {
	if dropping != nil {
		<-dropping
	}
	if len(ids) == 0 {
		return
	}
	if err := p.cfg.Intake.Drop(ctx, ids); err != nil {
		p.logger.Warn("handled updates left in the intake", "err", err)
	}
}

// pause waits d through p.sleep (which tests record) in the background;
// the channel is closed when it is over, or ctx ended.
func (p *Poller) pause(ctx context.Context, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() { _ = p.sleep(ctx, d); close(done) }()
	return done
}

// drain waits for the updates in hand before Run returns with an error,
// and returns the kept ones that were handled.
func (p *Poller) drain(w *pollWindow, results <-chan handled, submit func(*models.Update)) (drop []int64) {
	for w.inHand() > 0 {
		r := <-results
		if r.err == nil || IsPanic(r.err) {
			next, kept := w.done(r.upd)
			if kept {
				drop = append(drop, r.upd.ID)
			}
			if next != nil {
				submit(next)
			}
			continue
		}
		w.failed(r.upd)
	}
	return drop
}

// pollWindow is what the poller has in hand: the updates fetched or read
// from the intake and not yet handled (each handled now, waiting behind an
// earlier update of its conversation, or to be handed on again after a
// failure), and the offset. It is used by Run's goroutine only, apart from
// known.
type pollWindow struct {
	offset  int64   // what Telegram is told: every update below it is done or kept
	maxSeen int64   // the largest update_id fetched
	held    []int64 // in order: fetched, neither done nor kept; they hold the offset back
	status  map[int64]pollStatus
	handing int            // of them in hand
	kept    map[int64]bool // in the intake
	// failures counts the updates that failed, so that a call made before
	// the last one is known.
	failures int
	// queued holds, per conversation with an update being handled, the
	// later ones fetched meanwhile, handed on one at a time in order, so
	// that a failed one stops those behind it.
	queued map[state.Conv][]*models.Update
	// blocked are the conversations with an update to be handed on again:
	// their later updates wait for it.
	blocked map[state.Conv]bool

	mu    sync.Mutex // guards known, read by the fetching goroutine
	known map[int64]bool
}

type pollStatus int

const (
	inHand     pollStatus = iota
	doneStatus            // done, still at or above the offset: Telegram may send it again
	again                 // to be handed on again: when fetched, or read from the intake, after the pause
)

func newPollWindow() *pollWindow {
	return &pollWindow{status: map[int64]pollStatus{}, kept: map[int64]bool{}, queued: map[state.Conv][]*models.Update{},
		blocked: map[state.Conv]bool{}, known: map[int64]bool{}}
}

// inHand counts the updates handled now or waiting to be.
func (w *pollWindow) inHand() int { return w.handing }

// set gives an update its status, counting those in hand.
func (w *pollWindow) set(id int64, st pollStatus) {
	if old, ok := w.status[id]; ok && old == inHand {
		w.handing--
	}
	if st == inHand {
		w.handing++
	}
	w.status[id] = st
}

// holding: fetched updates hold the offset back, so Telegram answers a
// call at once, with them.
func (w *pollWindow) holding() bool { return len(w.held) > 0 }

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

// add takes an update fetched or read from the intake: ok when it is new
// here (or comes again after a failure, and retry says that the pause after
// it is over), first when it is to be handed on now (no update of its
// conversation is in hand; otherwise it waits behind them). kept: it is in
// the intake.
func (w *pollWindow) add(upd *models.Update, retry, kept, fromIntake bool) (first, ok bool) {
	id := upd.ID
	if id < w.offset && !fromIntake {
		return false, false // confirmed before: done or kept
	}
	st, seen := w.status[id]
	if seen && (st != again || !retry) {
		return false, false
	}
	if kept {
		w.kept[id] = true
		w.unhold(id)
	} else if !seen && id >= w.offset {
		i, _ := slices.BinarySearch(w.held, id)
		w.held = slices.Insert(w.held, i, id)
	}
	if !fromIntake {
		w.maxSeen = max(w.maxSeen, id)
	}
	conv := ConvKey(upd)
	if w.blocked[conv] && !retry {
		// A later update of a conversation whose update failed: it is
		// handed on after that one, when both come again.
		w.set(id, again)
		w.advance()
		return false, false
	}
	delete(w.blocked, conv)
	w.set(id, inHand)
	w.setKnown(id, true)
	w.advance()
	if q, busy := w.queued[conv]; busy {
		w.queued[conv] = append(q, upd)
		return false, true
	}
	w.queued[conv] = nil
	return true, true
}

// pass counts an update that cannot be decoded as done.
func (w *pollWindow) pass(id int64) {
	w.maxSeen = max(w.maxSeen, id)
	w.advance()
}

// done records a handled update and returns the next update of its
// conversation to hand on, if one waits, and whether it was kept in the
// intake (it is to be removed from there).
func (w *pollWindow) done(upd *models.Update) (next *models.Update, kept bool) {
	id := upd.ID
	w.set(id, doneStatus)
	w.unhold(id)
	kept = w.kept[id]
	delete(w.kept, id)
	w.advance()
	conv := ConvKey(upd)
	q := w.queued[conv]
	if len(q) == 0 {
		delete(w.queued, conv)
		return nil, kept
	}
	w.queued[conv] = q[1:]
	return q[0], kept
}

// failed records an update that was not handled: it and the later updates
// of its conversation are to be handed on again, in order. It returns those
// later ones, which were not handed on, and whether any of them is kept in
// the intake (and so is read from there again, not fetched).
func (w *pollWindow) failed(upd *models.Update) (skipped []*models.Update, fromIntake bool) {
	conv := ConvKey(upd)
	skipped = w.queued[conv]
	delete(w.queued, conv)
	w.failures++
	w.blocked[conv] = true
	for _, u := range append([]*models.Update{upd}, skipped...) {
		w.set(u.ID, again)
		w.setKnown(u.ID, false)
		fromIntake = fromIntake || w.kept[u.ID]
	}
	return skipped, fromIntake
}

func (w *pollWindow) unhold(id int64) {
	if i, found := slices.BinarySearch(w.held, id); found {
		w.held = slices.Delete(w.held, i, i+1)
	}
}

// advance moves the offset to the first update that holds it back, or
// past the last one fetched, and forgets the done updates below it.
func (w *pollWindow) advance() {
	offset := w.maxSeen + 1
	if len(w.held) > 0 {
		offset = w.held[0]
	}
	if offset <= w.offset {
		return
	}
	w.offset = offset
	for id, st := range w.status {
		if st == doneStatus && id < offset {
			delete(w.status, id)
			w.setKnown(id, false)
		}
	}
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
	_, _, _, err := p.getUpdates(ctx, getUpdatesRequest{Offset: offset, Limit: 1}, 5*time.Second, nil)
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
func (p *Poller) getUpdates(ctx context.Context, req getUpdatesRequest, deadline time.Duration, known func(int64) bool) (updates []*models.Update, raws [][]byte, passed []int64, err error) {
	defer func() { err = RedactToken(err, p.cfg.Token) }()

	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("getUpdates: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost,
		p.cfg.APIURL+"/bot"+p.cfg.Token+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("getUpdates: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	resp, err := p.cfg.Client.Do(httpReq)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("getUpdates: %w", err)
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxGetUpdatesBody))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("getUpdates: read answer: %w", err)
	}
	var answer getUpdatesResponse
	if err := json.Unmarshal(raw, &answer); err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, nil, nil, &getUpdatesError{StatusCode: resp.StatusCode}
		}
		return nil, nil, nil, fmt.Errorf("getUpdates: decode answer: %w", err)
	}
	if !answer.OK || resp.StatusCode != http.StatusOK {
		code := answer.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return nil, nil, nil, &getUpdatesError{
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
				return nil, nil, nil, fmt.Errorf("getUpdates: an update without update_id: %w", err)
			}
			p.logger.Error("update passed over: cannot decode it", "update_id", id.ID, "err", err)
			passed = append(passed, id.ID)
			continue
		}
		updates = append(updates, upd)
		raws = append(raws, item)
	}
	return updates, raws, passed, nil
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
