package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

// The subscribers' side: first each chat does every kind of thing once,
// one at a time (outside the measurement), so that the tool learns what
// each reply looks like in this chat and which balance message to press
// buttons under; then the measurement plays the mix.

// learnOrder: the balance first, for the message whose buttons the rest press.
var learnOrder = []kind{kindBalance, kindRefresh, kindPay, kindStart, kindOffices, kindText}

// learn plays one of every kind in ch, each after the previous is answered.
func learn(ctx context.Context, emu *emulator.Server, rec *recorder, ch *chatState) error {
	for _, k := range learnOrder {
		rec.mu.Lock()
		mark := len(ch.learned)
		rec.mu.Unlock()
		id := send(emu, ch, k)
		var first emulator.Call
		err := waitUntil(ctx, func() bool {
			if emu.UpdateStatus(id) != emulator.UpdateDone {
				return false
			}
			if k.callback() {
				q, ok := emu.CallbackQueryFor(id)
				return ok && q.Answered
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(ch.learned) > mark {
				first = ch.learned[mark]
				return true
			}
			return false
		})
		if err != nil {
			return fmt.Errorf("chat %d: no reply to %s before the measurement: %w", ch.user.ID, kindNames[k], err)
		}
		// Telegram's confirmation of an update need not wait for its
		// replies (Kabinet keeps the updates it fetched in Redis and
		// confirms them at once): the next kind is sent only once this
		// one's replies have all come, so that its first reply is not
		// taken for the next kind's.
		if err := settle(ctx, rec, ch); err != nil {
			return fmt.Errorf("chat %d: replies to %s: %w", ch.user.ID, kindNames[k], err)
		}
		if k.callback() {
			continue
		}
		ch.sigs[k] = signature(first)
		if k == kindBalance {
			ch.balanceMsg = messageID(first)
			ch.refreshData, ch.payData = buttonData(first, "balr:"), buttonData(first, "pay:")
			if ch.refreshData == "" || ch.payData == "" {
				// An echo bot's reply has no buttons; its presses need
				// only some data.
				ch.refreshData, ch.payData = "balr:0", "pay:0"
			}
		}
	}
	// Every message kind must have a reply of its own look, or their order
	// could not be checked.
	for i, a := range learnOrder {
		for _, b := range learnOrder[i+1:] {
			if !a.callback() && !b.callback() && ch.sigs[a] == ch.sigs[b] {
				return fmt.Errorf("chat %d: the replies to %s and %s look alike (%q)", ch.user.ID, kindNames[a], kindNames[b], ch.sigs[a])
			}
		}
	}
	rec.mu.Lock()
	ch.learning, ch.learned = false, nil
	rec.mu.Unlock()
	return nil
}

// settleQuiet is how long a chat gets no message before its replies count
// as all come.
const settleQuiet = 150 * time.Millisecond

// settle waits until ch has had no message for settleQuiet.
func settle(ctx context.Context, rec *recorder, ch *chatState) error {
	rec.mu.Lock()
	n := len(ch.learned)
	rec.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settleQuiet):
		}
		rec.mu.Lock()
		now := len(ch.learned)
		rec.mu.Unlock()
		if now == n {
			return nil
		}
		n = now
	}
}

// send plays one update of kind k in ch and returns its update_id.
func send(emu *emulator.Server, ch *chatState, k kind) int64 {
	switch k {
	case kindStart:
		return emu.SendCommand(ch.user, "/start")
	case kindBalance:
		return emu.SendCommand(ch.user, "/balance")
	case kindRefresh:
		return emu.PressButton(ch.user, ch.balanceMsg, ch.refreshData)
	case kindPay:
		return emu.PressButton(ch.user, ch.balanceMsg, ch.payData)
	case kindOffices:
		return emu.SendCommand(ch.user, "/offices")
	}
	return emu.SendText(ch.user, freeText)
}

// waitUntil polls cond every 2 ms until it holds, for up to a minute.
func waitUntil(ctx context.Context, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// step is one update of the measurement.
type step struct {
	chat *chatState
	kind kind
}

// script is the measurement's updates in the order they are sent: each
// chat's messages drawn from the mix, the chats interleaved at random, as
// people write at the same time. The same seed gives every target the same
// script.
func script(chats []*chatState, messages int, seed uint64) []step {
	rng := rand.New(rand.NewPCG(seed, 0x6b6162696e6574))
	weights := 0
	for _, w := range mix {
		weights += w
	}
	pick := func() kind {
		n := rng.IntN(weights)
		for k, w := range mix {
			if n < w {
				return kind(k)
			}
			n -= w
		}
		return kindText
	}
	var order []int
	for i := range chats {
		for range messages {
			order = append(order, i)
		}
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	out := make([]step, len(order))
	for n, i := range order {
		out[n] = step{chat: chats[i], kind: pick()}
	}
	return out
}

// play sends the script: all at once when spread is 0, else evenly over
// spread.
func play(ctx context.Context, emu *emulator.Server, rec *recorder, steps []step, spread time.Duration) {
	start := time.Now()
	for i, s := range steps {
		if spread > 0 {
			due := start.Add(time.Duration(int64(spread) * int64(i) / int64(len(steps))))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
		}
		u := rec.sending(s.chat, s.kind)
		id := send(emu, s.chat, s.kind)
		if s.kind.callback() {
			if q, ok := emu.CallbackQueryFor(id); ok {
				rec.pressed(u, q.ID)
			}
		}
	}
}
