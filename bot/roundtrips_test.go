package bot

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/state"
)

// roundTrips counts the Redis round trips a test makes (a pipeline is
// one) while on is set, leaving out the heartbeat, which beats on its own
// clock.
type roundTrips struct {
	on atomic.Bool
	n  atomic.Int64
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.on.Load() && !(cmd.Name() == "set" && len(cmd.Args()) > 1 && strings.Contains(cmd.Args()[1].(string), "alive:")) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.on.Load() {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

func (e *procEnv) press(chat int64, msgID int, data string) *models.Update {
	e.next++
	return &models.Update{ID: int64(e.next), CallbackQuery: &models.CallbackQuery{ID: "q" + data, Data: data, From: models.User{ID: chat},
		Message: models.MaybeInaccessibleMessage{Message: &models.Message{ID: msgID, Chat: models.Chat{ID: chat, Type: models.ChatTypePrivate}}}}}
}

// A button press answered by an edit of its message (a balance refresh)
// costs three round trips to Redis: the lock taken with the state read,
// the commit that lets the lock go and takes the send lock, and, after
// both Bot API calls, the one that removes them and lets the send lock go.
// Nothing is left behind: no outbox, no entry in the index of waiting
// replies, no lock.
func TestAButtonPressAnsweredByAnEditCostsThreeRoundTrips(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		count := &roundTrips{}
		rdb.AddHook(count)
		e := newProcEnv(t, rdb, prefix, &echo{editOf: 3})
		e.process(t, e.press(8, 3, "refresh")) // loads the scripts into Redis
		count.on.Store(true)
		e.process(t, e.press(8, 3, "refresh"))
		count.on.Store(false)
		if n := count.n.Load(); n != 3 {
			t.Errorf("a press answered by an edit took %d round trips to Redis, want 3", n)
		}
		if got := e.api.calls["answer"] + e.api.calls["edit"]; got != 4 {
			t.Errorf("%d Bot API calls for two presses, want an answer and an edit each", got)
		}
		ctx := context.Background()
		if out, _ := e.store.Outbox(ctx, state.ChatConv(8)); len(out) != 0 {
			t.Errorf("outbox left: %q", out)
		}
		if n, _ := e.store.PendingCount(ctx); n != 0 {
			t.Errorf("%d conversations left in the index of waiting replies", n)
		}
		if _, ok, err := e.store.TrySend(ctx, state.ChatConv(8)); err != nil || !ok {
			t.Errorf("the send lock was not let go (%v)", err)
		}
	})
}

// threeReplies answers with a message, an edit and another message.
type threeReplies struct{ echo }

func (d *threeReplies) Handle(_ context.Context, st dialogs.State, ev dialogs.Event) (dialogs.Result, error) {
	return dialogs.Result{State: st, Replies: []dialogs.Reply{{Text: "a"}, {Text: "b", Edit: 5}, {Text: "c"}}}, nil
}

// A new message leaves the outbox as soon as Telegram took it, so that a
// crash never sends it twice; an edit may wait in it until the next
// removal, as repeating it shows nothing new. Checked while the last
// message is in flight: the first message is gone, the edit is still
// there with the message being sent; at the end nothing is.
func TestANewMessageLeavesTheOutboxAtOnceAnEditMayWait(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newProcEnv(t, rdb, prefix, &threeReplies{})
		ctx := context.Background()
		inFlight, release := make(chan [][]byte, 1), make(chan struct{})
		e.api.setAnswer(func(op string, chat int64, text string) error {
			if text == "c" {
				out, err := e.store.Outbox(ctx, state.ChatConv(9))
				if err != nil {
					t.Error(err)
				}
				inFlight <- out
				<-release
			}
			return nil
		})
		done := make(chan error, 1)
		go func() { done <- e.proc.Process(ctx, e.text(9, "go")) }()
		var out [][]byte
		select {
		case out = <-inFlight:
		case <-time.After(5 * time.Second):
			t.Fatal("the last message was never sent")
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		var ops []string
		for _, raw := range out {
			it, err := readItem(raw)
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, it.Op+":"+it.Text)
		}
		if strings.Join(ops, " ") != "edit:b send:c" {
			t.Errorf("while the last message was in flight the outbox held %v, want the edit and that message: the first message leaves at once", ops)
		}
		if got := e.api.texts(9); strings.Join(got, " ") != "send:a edit:b send:c" {
			t.Errorf("sent %v", got)
		}
		if left, _ := e.store.Outbox(ctx, state.ChatConv(9)); len(left) != 0 {
			t.Errorf("outbox left: %q", left)
		}
	})
}

// A turn that queues replies while another sender of the conversation is
// at it leaves them to that sender, which gets them from Finish instead of
// letting its lock go: none is left without a sender.
func TestFinishHandsOverWhatATurnQueuedMeanwhile(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newProcEnv(t, rdb, prefix, &echo{})
		ctx := context.Background()
		c := state.ChatConv(11)
		sender, ok, err := e.store.TrySend(ctx, c)
		if err != nil || !ok {
			t.Fatalf("send lock: %v %v", ok, err)
		}
		turn, snap, err := e.store.LockTurn(ctx, c, 11, 1)
		if err != nil || snap.Seen {
			t.Fatalf("lock: %v, seen %v", err, snap.Seen)
		}
		h, err := e.store.CommitAndSend(ctx, turn, state.Turn{Conv: c, User: 11, UpdateID: 1, SaveState: true, Outbox: [][]byte{[]byte("r1")}})
		if err != nil || h.Send != nil || h.Elsewhere {
			t.Fatalf("the commit took the send lock held by another sender of this process (%+v, %v)", h, err)
		}
		more, err := e.store.Finish(ctx, sender)
		if err != nil || len(more) != 1 || string(more[0]) != "r1" {
			t.Fatalf("Finish gave %q (%v), want the reply queued meanwhile", more, err)
		}
		if n, _ := e.store.PendingCount(ctx); n != 1 {
			t.Errorf("the reply handed over is not in the index of waiting replies (%d), so a crash now would leave it unsent", n)
		}
		sender.Done(false)
		if more, err = e.store.Finish(ctx, sender); err != nil || len(more) != 0 {
			t.Fatalf("Finish gave %q (%v), want nothing more", more, err)
		}
		if out, _ := e.store.Outbox(ctx, c); len(out) != 0 {
			t.Errorf("outbox left: %q", out)
		}
		if n, _ := e.store.PendingCount(ctx); n != 0 {
			t.Errorf("%d conversations left in the index", n)
		}
		if _, ok, _ := e.store.TrySend(ctx, c); !ok {
			t.Error("the send lock was kept after the outbox was empty")
		}
		// The update is marked handled: taken again, it is seen.
		again, snap, err := e.store.LockTurn(ctx, c, 11, 1)
		if err != nil || !snap.Seen || snap.Version != 1 {
			t.Fatalf("the update again: seen %v, version %d (%v)", snap.Seen, snap.Version, err)
		}
		again.Release()
	})
}
