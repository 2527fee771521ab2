package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/ratelimit"
	"github.com/kabinet-bot/kabinet/state"
)

// scripted is a dialog engine whose result a test decides: reply turns an
// event into replies, effect runs effects, and the receipts it is given are
// kept.
type scripted struct {
	reply  func(ev dialogs.Event) []dialogs.Reply
	effect func(ef dialogs.Effect) ([]dialogs.Reply, error)

	mu       sync.Mutex
	effects  int
	receipts []dialogs.Sent
	failRcpt int // the first failRcpt receipts fail
	// receiptReply, when set, is what a receipt answers.
	receiptReply func(s dialogs.Sent) []dialogs.Reply
	// file makes the files replies name.
	file func(f dialogs.File) (dialogs.Upload, error)
}

func (d *scripted) RenderFile(_ context.Context, f dialogs.File) (dialogs.Upload, error) {
	if d.file == nil {
		return dialogs.Upload{}, dialogs.ErrNoFile
	}
	return d.file(f)
}

func (d *scripted) Handle(_ context.Context, st dialogs.State, ev dialogs.Event) (dialogs.Result, error) {
	res := dialogs.Result{State: st, Replies: d.reply(ev)}
	for _, r := range res.Replies {
		if r.Effect != nil {
			r.Effect.Key, r.Effect.UserID, r.Effect.ChatID = ev.Key, ev.UserID, ev.ChatID
		}
	}
	return res, nil
}

func (d *scripted) RunEffect(_ context.Context, ef dialogs.Effect) ([]dialogs.Reply, error) {
	d.mu.Lock()
	d.effects++
	d.mu.Unlock()
	return d.effect(ef)
}

func (d *scripted) Receipt(_ context.Context, s dialogs.Sent) ([]dialogs.Reply, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failRcpt > 0 {
		d.failRcpt--
		return nil, errors.New("database unavailable")
	}
	d.receipts = append(d.receipts, s)
	if d.receiptReply != nil {
		return d.receiptReply(s), nil
	}
	return nil, nil
}

func (d *scripted) counts() (effects int, receipts []dialogs.Sent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.effects, append([]dialogs.Sent(nil), d.receipts...)
}

func TestAnEffectRunsAfterTheTurnOutsideItsLockInItsPlace(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var e *procEnv
		var lockFree bool
		d := &scripted{
			reply: func(ev dialogs.Event) []dialogs.Reply {
				return []dialogs.Reply{{Text: "before"}, {Effect: &dialogs.Effect{Verb: "sms", Data: "x"}}, {Text: "after"}}
			},
			effect: func(ef dialogs.Effect) ([]dialogs.Reply, error) {
				// The turn's lock must be free while the outside is called.
				l, ok, err := e.store.TryLock(context.Background(), state.ChatConv(1))
				if err == nil && ok {
					lockFree = true
					l.Release()
				}
				return []dialogs.Reply{{Text: "effect " + ef.Data + " of " + ef.Key}}, nil
			},
		}
		e = newProcEnv(t, rdb, prefix, d)
		upd := e.text(1, "go")
		e.process(t, upd)
		want := []string{"send:before", fmt.Sprintf("send:effect x of u%d", upd.ID), "send:after"}
		if got := e.api.texts(1); !slices.Equal(got, want) {
			t.Fatalf("sent %q, want %q", got, want)
		}
		if !lockFree {
			t.Fatal("the effect ran under the conversation's turn lock")
		}
		if out, _ := e.store.Outbox(context.Background(), state.ChatConv(1)); len(out) != 0 {
			t.Fatalf("%d items left in the outbox", len(out))
		}
	})
}

func TestAFailingEffectWaitsAndRunsAgainBeforeWhatFollows(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var mu sync.Mutex
		fails := 1
		d := &scripted{
			reply: func(ev dialogs.Event) []dialogs.Reply {
				if ev.Text == "go" {
					return []dialogs.Reply{{Effect: &dialogs.Effect{Verb: "pay"}}, {Text: "after"}}
				}
				return []dialogs.Reply{{Text: "next"}}
			},
			effect: func(dialogs.Effect) ([]dialogs.Reply, error) {
				mu.Lock()
				defer mu.Unlock()
				if fails > 0 {
					fails--
					return nil, errors.New("provider timeout")
				}
				return []dialogs.Reply{{Text: "link"}}, nil
			},
		}
		e := newProcEnv(t, rdb, prefix, d)
		e.process(t, e.text(1, "go"))
		if got := e.api.texts(1); len(got) != 0 {
			t.Fatalf("sent %q past an effect that failed", got)
		}
		if until := parkedUntil(t, e.store, 1); until.IsZero() {
			t.Fatal("the conversation is not parked after the effect failed")
		}
		e.process(t, e.text(1, "more")) // queues behind, in order
		e.drainUntil(t, "every reply", func() bool { return len(e.api.texts(1)) == 3 })
		if got, want := e.api.texts(1), []string{"send:link", "send:after", "send:next"}; !slices.Equal(got, want) {
			t.Fatalf("sent %q, want %q", got, want)
		}
		if n, _ := d.counts(); n != 2 {
			t.Fatalf("the effect ran %d times, want 2 (one failure, one success)", n)
		}
	})
}

func TestAReplyToATopicArrivesThereOnceWithItsReceipt(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		d := &scripted{
			reply: func(ev dialogs.Event) []dialogs.Reply {
				return []dialogs.Reply{
					{Text: "relayed: " + ev.Text, To: &dialogs.Target{Chat: -100500, Thread: 17}, Receipt: "rel:" + ev.Text},
					{Text: "sent to support"},
				}
			},
		}
		d.failRcpt = 1 // the first try to record it fails: it is tried again, the message is not sent again
		e := newProcEnv(t, rdb, prefix, d)
		e.process(t, e.text(1, "hello"))
		e.drainUntil(t, "the receipt", func() bool { _, r := d.counts(); return len(r) == 1 })
		if got := e.api.texts(1); !slices.Equal(got, []string{"send:sent to support"}) {
			t.Fatalf("the subscriber's chat got %q", got)
		}
		if got := e.api.texts(-100500); !slices.Equal(got, []string{"send:relayed: hello"}) {
			t.Fatalf("the group got %q, want the relay once", got)
		}
		e.api.mu.Lock()
		threads := append([]int(nil), e.api.thread[-100500]...)
		id := e.api.nextID
		e.api.mu.Unlock()
		if !slices.Equal(threads, []int{17}) {
			t.Fatalf("sent into threads %v, want topic 17", threads)
		}
		_, receipts := d.counts()
		if want := (dialogs.Sent{Receipt: "rel:hello", Chat: -100500, Thread: 17, MessageID: id}); receipts[0] != want && receipts[0].MessageID == 0 {
			t.Fatalf("receipt %+v, want %+v", receipts[0], want)
		}
		if receipts[0].Chat != -100500 || receipts[0].Thread != 17 || receipts[0].MessageID == 0 {
			t.Fatalf("receipt %+v does not name the sent message", receipts[0])
		}
		for _, c := range []state.Conv{state.ChatConv(1), {Chat: -100500, Thread: 17}} {
			if out, _ := e.store.Outbox(context.Background(), c); len(out) != 0 {
				t.Fatalf("%v: %d items left in the outbox", c, len(out))
			}
		}
	})
}

func TestATransferRepeatedAfterACrashIsQueuedOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := state.New(rdb, prefix)
		t.Cleanup(s.Close)
		ctx := context.Background()
		topic := state.Conv{Chat: -100500, Thread: 3}
		for range 2 {
			if err := s.Transfer(ctx, topic, "u7#0.0", []byte("item")); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Transfer(ctx, topic, "u8#0.0", []byte("other")); err != nil {
			t.Fatal(err)
		}
		out, _ := s.Outbox(ctx, topic)
		if len(out) != 2 || string(out[0]) != "item" || string(out[1]) != "other" {
			t.Fatalf("outbox %q, want item once, then other", out)
		}
		if pending, _ := s.PendingChats(ctx); !slices.Contains(pending, topic) {
			t.Fatalf("the topic %v is not in the index of waiting replies %v", topic, pending)
		}
	})
}

// Messages to one group share its budget: beyond it, the topic waits in
// its outbox (not counted as a failure), and a private chat goes on.
func TestTheGroupBudgetHoldsATopicAndNotOthers(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		d := &scripted{reply: func(ev dialogs.Event) []dialogs.Reply {
			if ev.Text == "private" {
				return []dialogs.Reply{{Text: "p"}}
			}
			return []dialogs.Reply{{Text: ev.Text, To: &dialogs.Target{Chat: -100500, Thread: 9}}}
		}}
		e := newProcEnv(t, rdb, prefix, d)
		lane := ratelimit.New(rdb, prefix, ratelimit.Limit{Rate: 0.4, Burst: 2})
		e.proc.SetGroupLane(lane)
		for _, s := range []string{"g1", "g2", "g3"} {
			e.process(t, e.text(2, s))
		}
		if got := e.api.texts(-100500); len(got) != 2 {
			t.Fatalf("the group got %q at once, want the burst of 2", got)
		}
		topic := state.Conv{Chat: -100500, Thread: 9}
		if n, _ := e.store.ParkAttempts(context.Background(), topic); n != 0 {
			t.Fatalf("waiting for the budget counted as %d failures", n)
		}
		e.process(t, e.text(3, "private"))
		if got := e.api.texts(3); len(got) != 1 {
			t.Fatal("a private chat waited for the group's budget")
		}
		e.drainUntil(t, "the third message", func() bool { return len(e.api.texts(-100500)) == 3 })
	})
}

// A 429 from a group pauses the whole group for every instance.
func TestA429FromAGroupPausesTheGroupForAll(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		d := &scripted{reply: func(ev dialogs.Event) []dialogs.Reply {
			return []dialogs.Reply{{Text: ev.Text, To: &dialogs.Target{Chat: -100600, Thread: 4}}}
		}}
		e := newProcEnv(t, rdb, prefix, d)
		lane := ratelimit.New(rdb, prefix, ratelimit.Limit{Rate: 100, Burst: 10})
		e.proc.SetGroupLane(lane)
		var once sync.Once
		e.api.setAnswer(func(op string, chat int64, text string) error {
			var err error
			if chat == -100600 {
				once.Do(func() { err = &tgbot.TooManyRequestsError{Message: "Too Many Requests: retry after 2", RetryAfter: 2} })
			}
			return err
		})
		e.process(t, e.text(2, "x"))
		other := ratelimit.New(rdb, prefix, ratelimit.Limit{Rate: 100, Burst: 10}) // a second instance's handle
		paused, err := other.Paused(context.Background(), "group:-100600")
		if err != nil || paused < time.Second {
			t.Fatalf("the group's lane is paused %v (%v) for another instance, want about 2s", paused, err)
		}
	})
}

// A private chat's messages are paced by its reply lane, kept in Redis:
// a burst at once, then the rate; a long wait is spent parked, not counted
// as a failure, and another instance's sender keeps to the same pace.
func TestTheReplyLanePacesOneChatAndNotOthers(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		d := &scripted{reply: func(ev dialogs.Event) []dialogs.Reply {
			return []dialogs.Reply{{Text: ev.Text + "1"}, {Text: ev.Text + "2"}, {Text: ev.Text + "3"}}
		}}
		e := newProcEnv(t, rdb, prefix, d)
		e.store.SetReplyLane(0.5, 2) // one every 2 s after a burst of 2
		start := time.Now()
		e.process(t, e.text(1, "a"))
		if got := e.api.texts(1); len(got) != 2 {
			t.Fatalf("sent %q at once, want the burst of 2", got)
		}
		if n, _ := e.store.ParkAttempts(context.Background(), state.ChatConv(1)); n != 0 {
			t.Fatalf("waiting for the lane counted as %d failures", n)
		}
		e.process(t, e.text(2, "b")) // another chat is not held
		if got := e.api.texts(2); len(got) != 2 {
			t.Fatalf("another chat got %q, want its own burst", got)
		}
		// Another instance sends the rest, at the same pace.
		other := newProcEnv(t, rdb, prefix, d)
		other.api = e.api
		other.proc = NewProcessor(e.api, other.store, d, e.proc.text, e.proc.log)
		other.store.SetReplyLane(0.5, 2)
		other.drainUntil(t, "the third message", func() bool { return len(e.api.texts(1)) == 3 })
		if took := time.Since(start); took < 1800*time.Millisecond {
			t.Fatalf("the third message went %v after the first, want the lane's 2 s", took)
		}
	})
}

func TestTheProcessorCountsDuplicatesParksAndEffects(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		d := &scripted{
			reply: func(ev dialogs.Event) []dialogs.Reply {
				return []dialogs.Reply{{Effect: &dialogs.Effect{Verb: "code"}}, {Text: "a"}}
			},
			effect: func(dialogs.Effect) ([]dialogs.Reply, error) { return nil, nil },
		}
		e := newProcEnv(t, rdb, prefix, d)
		reg := prometheus.NewRegistry()
		e.proc.SetMetrics(reg)
		var once sync.Once
		e.api.setAnswer(func(op string, chat int64, text string) error {
			var err error
			once.Do(func() { err = &tgbot.TooManyRequestsError{Message: "Too Many Requests: retry after 1", RetryAfter: 1} })
			return err
		})
		upd := e.text(1, "x")
		e.process(t, upd)
		e.process(t, upd) // delivered again
		if n := testutil.ToFloat64(e.proc.metrics.duplicates); n != 1 {
			t.Errorf("%v duplicates counted, want 1", n)
		}
		if n := testutil.ToFloat64(e.proc.metrics.parks.WithLabelValues(parkRetryAfter)); n != 1 {
			t.Errorf("%v parks for a 429 counted, want 1", n)
		}
		if n := testutil.ToFloat64(e.proc.metrics.effects.WithLabelValues("code", "ok")); n != 1 {
			t.Errorf("%v effects counted, want 1", n)
		}
	})
}

// A reply with a file: the file is made when it is sent, from what the
// reply names, and goes as a photo or a document with its caption; its
// bytes never sit in the outbox. A file that fails to be made waits and
// is made again, before the replies after it; one that can no longer be
// made is dropped and what follows goes on.
func TestAFileIsMadeWhenItIsSentAndNeverStored(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var mu sync.Mutex
		fails := 1
		var stored []string
		var e *procEnv
		d := &scripted{
			reply: func(ev dialogs.Event) []dialogs.Reply {
				return []dialogs.Reply{
					{Text: "chart of <b>May</b>", File: &dialogs.File{Kind: "usage", Data: "7:202605", Photo: true}},
					{Text: "csv", File: &dialogs.File{Kind: "statement", Data: "7:202605"}},
					{Text: "gone", File: &dialogs.File{Kind: "gone"}},
					{Text: "after"},
				}
			},
			file: func(f dialogs.File) (dialogs.Upload, error) {
				mu.Lock()
				defer mu.Unlock()
				if out, err := e.store.Outbox(context.Background(), state.ChatConv(1)); err == nil {
					for _, raw := range out {
						stored = append(stored, string(raw))
					}
				}
				switch {
				case f.Kind == "gone":
					return dialogs.Upload{}, dialogs.ErrNoFile
				case fails > 0:
					fails--
					return dialogs.Upload{}, errors.New("database unavailable")
				}
				return dialogs.Upload{Name: f.Kind + ".bin", Type: "image/png", Body: []byte("BYTES-" + f.Data)}, nil
			},
		}
		e = newProcEnv(t, rdb, prefix, d)
		e.process(t, e.text(1, "go"))
		if got := e.api.texts(1); len(got) != 0 {
			t.Fatalf("sent %q past a file that failed to be made", got)
		}
		e.drainUntil(t, "every reply", func() bool { return len(e.api.texts(1)) == 3 })
		want := []string{"photo:usage.bin=BYTES-7:202605|chart of <b>May</b>", "document:statement.bin=BYTES-7:202605|csv", "send:after"}
		if got := e.api.texts(1); !slices.Equal(got, want) {
			t.Fatalf("sent %q, want %q", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(stored) == 0 {
			t.Fatal("the outbox was never looked at while the files were made")
		}
		for _, raw := range stored {
			if strings.Contains(raw, "BYTES") {
				t.Fatalf("a file's bytes are in the outbox: %s", raw)
			}
		}
	})
}
