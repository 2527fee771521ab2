package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/state"
)

// timerPayload is a dialog timer as kept in Redis until it falls due.
type timerPayload struct {
	ID   string `json:"id"` // makes equal timers distinct members of the set
	Chat int64  `json:"chat"`
	User int64  `json:"user"`
	Data string `json:"data"`
	Lang string `json:"lang,omitempty"`
}

// timers turns the timers a dialog asked for into entries saved with its turn.
func (p *UpdateProcessor) timers(ev dialogs.Event, ts []dialogs.Timer) []state.TimerEntry {
	var out []state.TimerEntry
	for _, t := range ts {
		var id [8]byte
		_, _ = rand.Read(id[:])
		payload, _ := json.Marshal(timerPayload{ID: hex.EncodeToString(id[:]), Chat: ev.ChatID, User: ev.UserID, Data: t.Data, Lang: t.Lang})
		out = append(out, state.TimerEntry{Due: p.now().Add(t.After), Payload: payload})
	}
	return out
}

// RunTimers fires due dialog timers every interval until ctx ends. Each
// timer is leased to exactly one instance and handled like an update of its
// chat: under the chat's lock, with the state saved and the replies sent from
// the outbox. A timer whose handling fails, or whose instance dies, comes
// again later; a dialog ignores a timer that no longer fits its state.
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
			if err := p.fire(ctx, raw); err != nil {
				// Back in the queue; if even that fails, the lease runs out
				// and the timer comes again anyway.
				p.log.Warn("timer failed, retrying later", "err", err)
				if err := p.store.Reschedule(context.WithoutCancel(ctx), raw, p.now().Add(5*time.Second)); err != nil {
					p.log.Warn("timer left to its lease", "err", err)
				}
				continue
			}
			if err := p.store.Ack(ctx, raw); err != nil {
				p.log.Warn("timer not acknowledged, it may fire again", "err", err)
			}
		}
	}
}

func (p *UpdateProcessor) fire(ctx context.Context, raw []byte) error {
	var tp timerPayload
	if err := json.Unmarshal(raw, &tp); err != nil {
		p.log.Error("dropping unreadable timer", "err", err)
		return nil
	}
	unlock, err := p.store.Lock(ctx, tp.Chat)
	if err != nil {
		return err
	}
	defer unlock()
	snap, err := p.store.Begin(ctx, tp.Chat, tp.User, 0)
	if err != nil {
		return err
	}
	if err := p.deliverAll(ctx, tp.Chat, snap.Outbox); err != nil {
		return err
	}
	ev := dialogs.Event{UserID: tp.User, ChatID: tp.Chat, LanguageCode: tp.Lang, Kind: dialogs.KindTimer, Data: tp.Data}
	res := p.handle(ctx, snap.State, ev, 0)
	turn := state.Turn{Chat: tp.Chat, User: tp.User, Version: snap.Version, State: res.State, SaveState: true,
		Outbox: render(tp.Chat, "", res), Timers: p.timers(ev, res.Timers)}
	if err := p.store.Commit(ctx, turn); err != nil {
		return err
	}
	return p.deliverAll(ctx, tp.Chat, turn.Outbox)
}
