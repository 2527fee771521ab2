package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/backoff"
	"github.com/kabinet-bot/kabinet/state"
)

// timerPayload is a dialog timer as kept in Redis until it falls due.
type timerPayload struct {
	ID   string `json:"id"` // makes equal timers distinct members of the set
	Chat int64  `json:"chat"`
	// Thread is the forum topic of a timer a group's conversation asked for.
	Thread int    `json:"thread,omitempty"`
	User   int64  `json:"user"`
	Data   string `json:"data"`
	Lang   string `json:"lang,omitempty"`
	// Tries counts the failed attempts to fire it.
	Tries int `json:"tries,omitempty"`
}

// A timer whose handling keeps failing is tried maxTimerTries times, with
// a growing pause, then dropped with an error in the log: a reminder that
// comes hours late is worse than none, and it must not loop forever.
const (
	maxTimerTries = 5
	timerRetry    = 5 * time.Second
	timerRetryMax = 5 * time.Minute
)

// timers turns the timers a dialog asked for into entries saved with its turn.
func (p *UpdateProcessor) timers(ev dialogs.Event, ts []dialogs.Timer) []state.TimerEntry {
	var out []state.TimerEntry
	for _, t := range ts {
		var id [8]byte
		_, _ = rand.Read(id[:])
		payload, _ := json.Marshal(timerPayload{ID: hex.EncodeToString(id[:]), Chat: ev.ChatID, Thread: ev.Thread, User: ev.UserID, Data: t.Data, Lang: t.Lang})
		out = append(out, state.TimerEntry{Due: p.now().Add(t.After), Payload: payload})
	}
	return out
}

// RunTimers fires due dialog timers every interval until ctx ends. Each
// timer is leased to exactly one instance (the lease is extended while it
// is handled) and handled like an update of its chat: under the chat's
// lock, with the state saved and the replies sent from the outbox. A timer
// whose handling fails comes again later, at most maxTimerTries times; one
// whose instance dies comes again when its lease runs out. A dialog ignores
// a timer that no longer fits its state.
func (p *UpdateProcessor) RunTimers(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due, err := p.store.DueTimers(ctx, p.now(), 100)
		if err != nil {
			p.log.Warn("timers unavailable", "err", err)
			continue
		}
		for _, raw := range due {
			p.runTimer(ctx, raw)
		}
	}
}

// runTimer fires one claimed timer, keeping its lease while it runs.
func (p *UpdateProcessor) runTimer(ctx context.Context, raw []byte) {
	var tp timerPayload
	if err := json.Unmarshal(raw, &tp); err != nil {
		p.log.Error("dropping unreadable timer", "err", err)
		_ = p.store.Ack(ctx, raw)
		return
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(state.TimerLease / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = p.store.ExtendTimer(context.WithoutCancel(ctx), raw, p.now())
			}
		}
	}()
	err := p.fire(ctx, tp)
	if err == nil {
		if err := p.store.Ack(ctx, raw); err != nil {
			p.log.Warn("timer not acknowledged, it may fire again", "err", err)
		}
		return
	}
	tp.Tries++
	if tp.Tries >= maxTimerTries {
		p.log.Error("timer dropped after repeated failures", "chat_id", tp.Chat, "tries", tp.Tries, "err", err)
		_ = p.store.Ack(context.WithoutCancel(ctx), raw)
		return
	}
	p.log.Warn("timer failed, retrying later", "chat_id", tp.Chat, "tries", tp.Tries, "err", err)
	next, _ := json.Marshal(tp)
	// If even that fails, the lease runs out and the timer comes again anyway.
	if err := p.store.Reschedule(context.WithoutCancel(ctx), raw, next, p.now().Add(backoff.Delay(tp.Tries, timerRetry, timerRetryMax))); err != nil {
		p.log.Warn("timer left to its lease", "err", err)
	}
}

func (p *UpdateProcessor) fire(ctx context.Context, tp timerPayload) error {
	h, err := p.fireTurn(ctx, tp)
	if err != nil {
		return err
	}
	return p.afterTurn(ctx, state.Conv{Chat: tp.Chat, Thread: tp.Thread}, h)
}

// fireTurn handles the timer under the chat's turn lock and saves it.
func (p *UpdateProcessor) fireTurn(ctx context.Context, tp timerPayload) (state.Handoff, error) {
	conv := state.Conv{Chat: tp.Chat, Thread: tp.Thread}
	lease, snap, err := p.store.LockTurn(ctx, conv, tp.User, 0)
	if err != nil {
		return state.Handoff{}, err
	}
	defer lease.Release()
	ev := dialogs.Event{Key: "t" + tp.ID, UserID: tp.User, ChatID: tp.Chat, LanguageCode: tp.Lang, Kind: dialogs.KindTimer, Data: tp.Data, Group: tp.Chat < 0, Thread: tp.Thread} // a timer leased again is the same event
	return p.turn(ctx, lease, snap, state.Turn{Conv: conv, User: tp.User}, ev, "")
}
