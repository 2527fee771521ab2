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
// should be closed only after Run has returned, or the batch in hand is
// refused and fetched again on the next start.
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

// Run polls until ctx is cancelled, then finishes the batch in hand,
// confirms it to Telegram and returns nil. It returns an error only when
// Telegram rejects the token or the API URL (401, 403, 404), which no
// amount of retrying can fix. Every other failure is logged and retried
// after a growing pause.
func (p *Poller) Run(ctx context.Context) error {
	var (
		offset    int64 // the first update_id not yet handled
		confirmed int64 // the offset Telegram was last told
		failures  int   // failures in a row, for the backoff
	)
	for {
		if ctx.Err() != nil {
			p.confirm(ctx, offset, confirmed)
			return nil
		}

		updates, lastID, err := p.getUpdates(ctx, getUpdatesRequest{
			Offset:         offset,
			Timeout:        int(p.cfg.Timeout / time.Second),
			AllowedUpdates: p.cfg.AllowedUpdates,
		}, p.cfg.Timeout+15*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				p.confirm(ctx, offset, confirmed)
				return nil
			}
			var apiErr *getUpdatesError
			if errors.As(err, &apiErr) && apiErr.fatal() {
				return fmt.Errorf("long polling: %w", err)
			}
			failures++
			wait := p.backoff(failures)
			if errors.As(err, &apiErr) && apiErr.RetryAfter > wait {
				wait = apiErr.RetryAfter
			}
			p.logger.Warn("getUpdates failed", "err", err, "retry_in", wait.String(), "failures", failures)
			if p.sleep(ctx, wait) != nil {
				p.confirm(ctx, offset, confirmed)
				return nil
			}
			continue
		}
		confirmed = offset

		next, failed := p.handleBatch(ctx, updates, offset)
		if failed == 0 && lastID >= next {
			// The batch ended with updates that could not be decoded.
			next = lastID + 1
		}
		offset = next
		if failed == 0 {
			failures = 0
			continue
		}
		// Something the processor needs (Redis, the billing database) is
		// probably down; asking again at once would only fail again.
		failures++
		wait := p.backoff(failures)
		p.logger.Warn("updates not handled, fetching them again",
			"failed", failed, "offset", offset, "retry_in", wait.String())
		if p.sleep(ctx, wait) != nil {
			p.confirm(ctx, offset, confirmed)
			return nil
		}
	}
}

// handleBatch hands the updates to the sequencer and waits for all of them.
// It returns the next offset: past the last update if every one was handled
// (a panic counts as handled), otherwise the smallest update_id that failed,
// so that it is fetched again; the handled updates after it come again too,
// and the processor's de-duplication drops them. Once an update of a chat
// fails, the later updates of that chat in the batch are not handled now:
// handling them before the failed one is retried would break the order.
func (p *Poller) handleBatch(ctx context.Context, updates []*models.Update, offset int64) (next int64, failed int) {
	if len(updates) == 0 {
		return offset, 0
	}
	slices.SortFunc(updates, func(a, b *models.Update) int { return cmp.Compare(a.ID, b.ID) })

	// The batch has its own deadline and ignores the cancellation of ctx:
	// at shutdown the updates in hand are finished, not abandoned halfway.
	batchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.HandleTimeout)
	defer cancel()

	results := make([]error, len(updates))
	byChat := make(map[state.Conv][]int) // conversation -> indexes into updates, in order
	for i, upd := range updates {
		key := ConvKey(upd)
		byChat[key] = append(byChat[key], i)
	}
	var wg sync.WaitGroup
	for _, indexes := range byChat {
		wg.Go(func() {
			for n, i := range indexes {
				var err error
				select {
				case err = <-p.seq.Submit(batchCtx, updates[i]):
				case <-batchCtx.Done():
					err = fmt.Errorf("update %d: %w", updates[i].ID, batchCtx.Err())
				}
				results[i] = err
				if err != nil && !IsPanic(err) {
					for _, later := range indexes[n+1:] {
						results[later] = errSkippedAfterFailure
						if p.cfg.Skipped != nil {
							p.cfg.Skipped(batchCtx, updates[later])
						}
					}
					return
				}
			}
		})
	}
	wg.Wait()

	next = offset
	held := false // an update failed, so the offset stops at it
	for i, upd := range updates {
		err := results[i]
		if err == nil || IsPanic(err) {
			if !held {
				next = upd.ID + 1
			}
			continue
		}
		if !held {
			next, held = upd.ID, true
		}
		if !errors.Is(err, errSkippedAfterFailure) {
			failed++
			p.logger.Warn("update not handled", "update_id", upd.ID, "err", err)
		}
	}
	return next, failed
}

// errSkippedAfterFailure marks an update left for the next round because an
// earlier update of its chat failed.
var errSkippedAfterFailure = errors.New("skipped: an earlier update of the chat failed")

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
	_, _, err := p.getUpdates(ctx, getUpdatesRequest{Offset: offset, Limit: 1}, 5*time.Second)
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

// getUpdates makes one call. It returns the updates it could decode and the
// largest update_id of the answer, counting those it could not. Every error
// it returns has the token redacted.
func (p *Poller) getUpdates(ctx context.Context, req getUpdatesRequest, deadline time.Duration) (updates []*models.Update, lastID int64, err error) {
	defer func() { err = RedactToken(err, p.cfg.Token) }()

	body, err := json.Marshal(req)
	if err != nil {
		return nil, 0, fmt.Errorf("getUpdates: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost,
		p.cfg.APIURL+"/bot"+p.cfg.Token+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("getUpdates: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	resp, err := p.cfg.Client.Do(httpReq)
	if err != nil {
		return nil, 0, fmt.Errorf("getUpdates: %w", err)
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxGetUpdatesBody))
	if err != nil {
		return nil, 0, fmt.Errorf("getUpdates: read answer: %w", err)
	}
	var answer getUpdatesResponse
	if err := json.Unmarshal(raw, &answer); err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, 0, &getUpdatesError{StatusCode: resp.StatusCode}
		}
		return nil, 0, fmt.Errorf("getUpdates: decode answer: %w", err)
	}
	if !answer.OK || resp.StatusCode != http.StatusOK {
		code := answer.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return nil, 0, &getUpdatesError{
			StatusCode:  code,
			Description: answer.Description,
			RetryAfter:  time.Duration(answer.Parameters.RetryAfter) * time.Second,
		}
	}

	updates = make([]*models.Update, 0, len(answer.Result))
	for _, item := range answer.Result {
		upd := new(models.Update)
		if err := json.Unmarshal(item, upd); err != nil {
			// One update this library cannot decode must not block all
			// the others forever: it is logged and passed over, and
			// the offset moves past it with the others.
			var id struct {
				ID int64 `json:"update_id"`
			}
			if idErr := json.Unmarshal(item, &id); idErr != nil || id.ID <= 0 {
				return nil, 0, fmt.Errorf("getUpdates: an update without update_id: %w", err)
			}
			p.logger.Error("update passed over: cannot decode it", "update_id", id.ID, "err", err)
			lastID = max(lastID, id.ID)
			continue
		}
		updates = append(updates, upd)
		lastID = max(lastID, upd.ID)
	}
	return updates, lastID, nil
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
