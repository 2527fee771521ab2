package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/state"
)

// processFunc lets a test write its Processor as a function.
type processFunc func(ctx context.Context, upd *models.Update) error

func (f processFunc) Process(ctx context.Context, upd *models.Update) error { return f(ctx, upd) }

// chatUpdate is a text message update in a private chat.
func chatUpdate(id, chat int64, text string) *models.Update {
	return &models.Update{ID: id, Message: &models.Message{
		ID:   int(id),
		Date: 1700000000,
		Chat: models.Chat{ID: chat, Type: models.ChatTypePrivate},
		From: &models.User{ID: chat, FirstName: "Test"},
		Text: text,
	}}
}

// logBuffer collects log output written from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func captureLogs() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func closeSequencer(t *testing.T, seq *Sequencer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := seq.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// waitResult fails the test instead of hanging when a result never comes.
func waitResult(t *testing.T, result <-chan error) error {
	t.Helper()
	select {
	case err := <-result:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10 s")
		return nil
	}
}

func TestSequencerKeepsOrderWithinChat(t *testing.T) {
	const chats, perChat = 100, 20
	var (
		mu       sync.Mutex
		seen     = make(map[int64][]int64) // chat -> update ids in handling order
		inFlight = make(map[int64]int)
		overlaps atomic.Int64
	)
	logger, _ := captureLogs()
	seq := NewSequencer(processFunc(func(ctx context.Context, upd *models.Update) error {
		chat := upd.Message.Chat.ID
		mu.Lock()
		inFlight[chat]++
		if inFlight[chat] > 1 {
			overlaps.Add(1)
		}
		mu.Unlock()

		// Uneven work shakes the interleaving between chats.
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)

		mu.Lock()
		inFlight[chat]--
		seen[chat] = append(seen[chat], upd.ID)
		mu.Unlock()
		return nil
	}), 8, logger)

	// One goroutine per chat submits that chat's updates in order, all
	// chats at once, as concurrent webhook requests would.
	var wg sync.WaitGroup
	results := make(chan (<-chan error), chats*perChat)
	for chat := int64(1); chat <= chats; chat++ {
		wg.Go(func() {
			for n := int64(1); n <= perChat; n++ {
				results <- seq.Submit(context.Background(), chatUpdate(chat*1000+n, chat, "hi"))
			}
		})
	}
	wg.Wait()
	close(results)
	for result := range results {
		if err := waitResult(t, result); err != nil {
			t.Fatalf("update failed: %v", err)
		}
	}
	closeSequencer(t, seq)

	if n := overlaps.Load(); n > 0 {
		t.Errorf("%d times two updates of one chat were handled at the same time", n)
	}
	for chat := int64(1); chat <= chats; chat++ {
		ids := seen[chat]
		if len(ids) != perChat {
			t.Fatalf("chat %d: %d updates handled, want %d", chat, len(ids), perChat)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("chat %d: handled out of order: %v", chat, ids)
			}
		}
	}
}

func TestSequencerRunsChatsInParallel(t *testing.T) {
	const (
		workers = 8
		chats   = 32
		work    = 20 * time.Millisecond
	)
	var running, peak atomic.Int64
	logger, _ := captureLogs()
	seq := NewSequencer(processFunc(func(ctx context.Context, upd *models.Update) error {
		now := running.Add(1)
		for {
			old := peak.Load()
			if now <= old || peak.CompareAndSwap(old, now) {
				break
			}
		}
		time.Sleep(work)
		running.Add(-1)
		return nil
	}), workers, logger)
	defer closeSequencer(t, seq)

	start := time.Now()
	var results []<-chan error
	for chat := int64(1); chat <= chats; chat++ {
		results = append(results, seq.Submit(context.Background(), chatUpdate(chat, chat, "hi")))
	}
	for _, result := range results {
		if err := waitResult(t, result); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	serial := chats * work
	t.Logf("%d chats x %v of work with %d workers: %v (serial would take %v), peak concurrency %d",
		chats, work, workers, elapsed, serial, peak.Load())

	if p := peak.Load(); p > workers {
		t.Errorf("%d updates ran at once, more than the %d workers", p, workers)
	}
	if p := peak.Load(); p < 2 {
		t.Errorf("peak concurrency %d: different chats were not handled in parallel", p)
	}
	if elapsed >= serial {
		t.Errorf("took %v, no faster than handling one by one (%v)", elapsed, serial)
	}
}

func TestSequencerSlowChatDoesNotDelayOthers(t *testing.T) {
	const slowChat = 1
	release := make(chan struct{})
	logger, _ := captureLogs()
	seq := NewSequencer(processFunc(func(ctx context.Context, upd *models.Update) error {
		if upd.Message.Chat.ID == slowChat {
			<-release
		}
		return nil
	}), 2, logger)
	defer closeSequencer(t, seq)

	// The slow chat has several updates queued; with two workers, sharding
	// by hash would put some other chats behind it.
	var slow []<-chan error
	for n := int64(1); n <= 3; n++ {
		slow = append(slow, seq.Submit(context.Background(), chatUpdate(n, slowChat, "hi")))
	}
	var others []<-chan error
	for chat := int64(2); chat <= 21; chat++ {
		others = append(others, seq.Submit(context.Background(), chatUpdate(100+chat, chat, "hi")))
	}
	for _, result := range others {
		if err := waitResult(t, result); err != nil {
			t.Fatal(err)
		}
	}
	for _, result := range slow {
		select {
		case <-result:
			t.Fatal("the slow chat finished before it was released")
		default:
		}
	}
	close(release)
	for _, result := range slow {
		if err := waitResult(t, result); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSequencerRecoversPanic(t *testing.T) {
	const text = "my contract 7712345 please"
	logger, logs := captureLogs()
	var handled sync.Map
	seq := NewSequencer(processFunc(func(ctx context.Context, upd *models.Update) error {
		switch upd.ID {
		case 2:
			// A careless panic message that quotes the person's text.
			panic(fmt.Sprintf("cannot parse %q", upd.Message.Text))
		case 4:
			var m map[string]int
			//lint:ignore SA5000 the test needs a runtime error, not a panic call
			m["x"] = 1 // a runtime error: assignment to entry in nil map
		}
		handled.Store(upd.ID, true)
		return nil
	}), 2, logger)
	defer closeSequencer(t, seq)

	var results []<-chan error
	for id := int64(1); id <= 5; id++ {
		results = append(results, seq.Submit(context.Background(), chatUpdate(id, 42, text)))
	}
	errs := make([]error, len(results))
	for i, result := range results {
		errs[i] = waitResult(t, result)
	}

	for _, i := range []int{0, 2, 4} {
		if errs[i] != nil {
			t.Errorf("update %d: %v, want it handled after the panic", i+1, errs[i])
		}
		if _, ok := handled.Load(int64(i + 1)); !ok {
			t.Errorf("update %d was not handled", i+1)
		}
	}
	for _, i := range []int{1, 3} {
		var pe *PanicError
		if !errors.As(errs[i], &pe) {
			t.Fatalf("update %d: got %v, want a *PanicError", i+1, errs[i])
		}
		if pe.UpdateID != int64(i+1) || len(pe.Stack) == 0 {
			t.Errorf("update %d: PanicError has update_id %d and %d bytes of stack", i+1, pe.UpdateID, len(pe.Stack))
		}
		if !IsPanic(fmt.Errorf("wrapped: %w", errs[i])) {
			t.Errorf("IsPanic does not see through wrapping")
		}
		if strings.Contains(pe.Error(), "7712345") {
			t.Errorf("PanicError text leaks the message: %s", pe.Error())
		}
	}

	out := logs.String()
	if strings.Contains(out, "7712345") {
		t.Errorf("the log holds the message text:\n%s", out)
	}
	for _, want := range []string{`"update_id":2`, `"update_id":4`, "assignment to entry in nil map", "sequencer_test.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}

func TestSequencerCloseFinishesUpdatesInHand(t *testing.T) {
	var done atomic.Int64
	logger, _ := captureLogs()
	seq := NewSequencer(processFunc(func(ctx context.Context, upd *models.Update) error {
		time.Sleep(10 * time.Millisecond)
		done.Add(1)
		return nil
	}), 4, logger)

	var results []<-chan error
	for id := int64(1); id <= 20; id++ {
		results = append(results, seq.Submit(context.Background(), chatUpdate(id, id%3, "hi")))
	}
	closeSequencer(t, seq)

	if n := done.Load(); n != 20 {
		t.Fatalf("Close returned with %d of 20 updates handled", n)
	}
	for _, result := range results {
		if err := waitResult(t, result); err != nil {
			t.Errorf("update in hand failed: %v", err)
		}
	}

	late := waitResult(t, seq.Submit(context.Background(), chatUpdate(21, 1, "hi")))
	if !errors.Is(late, ErrSequencerClosed) {
		t.Errorf("submit after Close: %v, want ErrSequencerClosed", late)
	}
	if n := done.Load(); n != 20 {
		t.Errorf("an update submitted after Close was handled")
	}
}

func TestSequencerCloseGivesUpAtDeadline(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	logger, _ := captureLogs()
	seq := NewSequencer(processFunc(func(ctx context.Context, upd *models.Update) error {
		close(started)
		<-release
		return nil
	}), 1, logger)
	result := seq.Submit(context.Background(), chatUpdate(1, 1, "hi"))
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := seq.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck update: %v, want a deadline error", err)
	}
	close(release)
	if err := waitResult(t, result); err != nil {
		t.Errorf("the stuck update, once released: %v", err)
	}
}

func TestSequencerSkipsUpdateWhoseContextEnded(t *testing.T) {
	var called atomic.Bool
	logger, _ := captureLogs()
	seq := NewSequencer(processFunc(func(ctx context.Context, upd *models.Update) error {
		called.Store(true)
		return nil
	}), 1, logger)
	defer closeSequencer(t, seq)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := waitResult(t, seq.Submit(ctx, chatUpdate(1, 1, "hi")))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if called.Load() {
		t.Error("the processor ran for an update whose caller had given up")
	}
}

func TestConvKey(t *testing.T) {
	user := models.User{ID: 555}
	tests := []struct {
		name string
		upd  models.Update
		want int64
	}{
		{"message", models.Update{ID: 1, Message: &models.Message{Chat: models.Chat{ID: 10}}}, 10},
		{"edited message", models.Update{ID: 1, EditedMessage: &models.Message{Chat: models.Chat{ID: 11}}}, 11},
		{"channel post", models.Update{ID: 1, ChannelPost: &models.Message{Chat: models.Chat{ID: -1001}}}, -1001},
		{"callback on a message", models.Update{ID: 1, CallbackQuery: &models.CallbackQuery{
			From:    user,
			Message: models.MaybeInaccessibleMessage{Message: &models.Message{Chat: models.Chat{ID: -1002}}},
		}}, -1002},
		{"callback on an inaccessible message", models.Update{ID: 1, CallbackQuery: &models.CallbackQuery{
			From: user,
			Message: models.MaybeInaccessibleMessage{
				Type:                models.MaybeInaccessibleMessageTypeInaccessibleMessage,
				InaccessibleMessage: &models.InaccessibleMessage{Chat: models.Chat{ID: 12}},
			},
		}}, 12},
		{"callback on an inline message", models.Update{ID: 1, CallbackQuery: &models.CallbackQuery{
			From: user, InlineMessageID: "abc",
		}}, 555},
		{"my_chat_member", models.Update{ID: 1, MyChatMember: &models.ChatMemberUpdated{Chat: models.Chat{ID: 13}}}, 13},
		{"chat_member", models.Update{ID: 1, ChatMember: &models.ChatMemberUpdated{Chat: models.Chat{ID: -14}}}, -14},
		{"pre_checkout_query", models.Update{ID: 1, PreCheckoutQuery: &models.PreCheckoutQuery{From: &user}}, 555},
		{"shipping_query", models.Update{ID: 1, ShippingQuery: &models.ShippingQuery{From: &user}}, 555},
		{"poll: no chat", models.Update{ID: 77, Poll: &models.Poll{ID: "p"}}, 77},
		{"empty", models.Update{ID: 78}, 78},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConvKey(&tt.upd); got != state.ChatConv(tt.want) {
				t.Errorf("ConvKey = %v, want %d", got, tt.want)
			}
		})
	}
}

func TestTopicsAreConversationsOfTheirOwn(t *testing.T) {
	forum := models.Chat{ID: -100500, Type: models.ChatTypeSupergroup, IsForum: true}
	user := models.User{ID: 555}
	for _, tt := range []struct {
		name string
		upd  models.Update
		want state.Conv
	}{
		{"a message in a topic", models.Update{ID: 1, Message: &models.Message{Chat: forum, MessageThreadID: 17, IsTopicMessage: true}}, state.Conv{Chat: -100500, Thread: 17}},
		{"an edit in a topic", models.Update{ID: 1, EditedMessage: &models.Message{Chat: forum, MessageThreadID: 18, IsTopicMessage: true}}, state.Conv{Chat: -100500, Thread: 18}},
		{"a reply in a group without topics", models.Update{ID: 1, Message: &models.Message{Chat: forum, MessageThreadID: 19}}, state.ChatConv(-100500)},
		{"a button under a message in a topic", models.Update{ID: 1, CallbackQuery: &models.CallbackQuery{From: user,
			Message: models.MaybeInaccessibleMessage{Message: &models.Message{Chat: forum, MessageThreadID: 17, IsTopicMessage: true}}}}, state.Conv{Chat: -100500, Thread: 17}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConvKey(&tt.upd); got != tt.want {
				t.Errorf("ConvKey = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestConvKeyFromJSON checks the keys of updates as Telegram sends them,
// where the library decides between accessible and inaccessible messages.
func TestConvKeyFromJSON(t *testing.T) {
	tests := []struct {
		name, json string
		want       int64
	}{
		{"callback, message accessible",
			`{"update_id":5,"callback_query":{"id":"q","from":{"id":555,"is_bot":false,"first_name":"A"},"message":{"message_id":9,"date":1700000000,"chat":{"id":-100777,"type":"supergroup"}},"chat_instance":"c","data":"bal"}}`,
			-100777},
		{"callback, message inaccessible (date 0)",
			`{"update_id":6,"callback_query":{"id":"q","from":{"id":555,"is_bot":false,"first_name":"A"},"message":{"message_id":9,"date":0,"chat":{"id":555,"type":"private"}},"chat_instance":"c","data":"bal"}}`,
			555},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var upd models.Update
			if err := json.Unmarshal([]byte(tt.json), &upd); err != nil {
				t.Fatal(err)
			}
			if got := ConvKey(&upd); got != state.ChatConv(tt.want) {
				t.Errorf("ConvKey = %v, want %d", got, tt.want)
			}
		})
	}
}
