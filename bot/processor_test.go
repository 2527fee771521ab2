package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/state"
)

// scriptedAPI is a Bot API whose answer to each call a test decides; it
// records what was accepted.
type scriptedAPI struct {
	mu     sync.Mutex
	answer func(op string, chat int64, text string) error // nil: accept
	sent   map[int64][]string                             // accepted texts per chat, in order
	calls  map[string]int                                 // calls per op, accepted or not
	thread map[int64][]int                                // message_thread_id of each accepted send, per chat
	nextID int
}

func newScriptedAPI() *scriptedAPI {
	return &scriptedAPI{sent: map[int64][]string{}, calls: map[string]int{}, thread: map[int64][]int{}}
}

func (a *scriptedAPI) do(op string, chat int64, text string) (*models.Message, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[op]++
	if a.answer != nil {
		if err := a.answer(op, chat, text); err != nil {
			return nil, err
		}
	}
	a.sent[chat] = append(a.sent[chat], op+":"+text)
	a.nextID++
	return &models.Message{ID: a.nextID}, nil
}

func (a *scriptedAPI) setAnswer(f func(op string, chat int64, text string) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answer = f
}

func (a *scriptedAPI) texts(chat int64) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.sent[chat]...)
}

func (a *scriptedAPI) SendMessage(_ context.Context, p *tgbot.SendMessageParams) (*models.Message, error) {
	m, err := a.do("send", p.ChatID.(int64), p.Text)
	if err == nil {
		a.mu.Lock()
		a.thread[p.ChatID.(int64)] = append(a.thread[p.ChatID.(int64)], p.MessageThreadID)
		a.mu.Unlock()
	}
	return m, err
}
func (a *scriptedAPI) EditMessageText(_ context.Context, p *tgbot.EditMessageTextParams) (*models.Message, error) {
	return a.do("edit", p.ChatID.(int64), p.Text)
}
func (a *scriptedAPI) AnswerCallbackQuery(_ context.Context, p *tgbot.AnswerCallbackQueryParams) (bool, error) {
	_, err := a.do("answer", 0, p.Text)
	return err == nil, err
}
func (a *scriptedAPI) SendPhoto(_ context.Context, p *tgbot.SendPhotoParams) (*models.Message, error) {
	return a.do("photo", p.ChatID.(int64), uploadText(p.Photo)+"|"+p.Caption)
}
func (a *scriptedAPI) SendDocument(_ context.Context, p *tgbot.SendDocumentParams) (*models.Message, error) {
	return a.do("document", p.ChatID.(int64), uploadText(p.Document)+"|"+p.Caption)
}

// uploadText is an uploaded file's name and bytes, as a test compares them.
func uploadText(f models.InputFile) string {
	up, ok := f.(*models.InputFileUpload)
	if !ok {
		return "not an upload"
	}
	b, _ := io.ReadAll(up.Data)
	return up.Filename + "=" + string(b)
}
func (a *scriptedAPI) SendVenue(_ context.Context, p *tgbot.SendVenueParams) (*models.Message, error) {
	return a.do("venue", p.ChatID.(int64), p.Title)
}
func (a *scriptedAPI) CopyMessage(_ context.Context, p *tgbot.CopyMessageParams) (*models.MessageID, error) {
	m, err := a.do("copy", p.ChatID.(int64), fmt.Sprintf("%v/%d", p.FromChatID, p.MessageID))
	if err != nil {
		return nil, err
	}
	return &models.MessageID{ID: m.ID}, nil
}
func (a *scriptedAPI) CopyMessages(_ context.Context, p *tgbot.CopyMessagesParams) ([]models.MessageID, error) {
	m, err := a.do("copies", p.ChatID.(int64), fmt.Sprintf("%v/%v", p.FromChatID, p.MessageIDs))
	if err != nil {
		return nil, err
	}
	return []models.MessageID{{ID: m.ID}}, nil
}
func (a *scriptedAPI) CreateForumTopic(_ context.Context, p *tgbot.CreateForumTopicParams) (*models.ForumTopic, error) {
	m, err := a.do("topic", p.ChatID.(int64), p.Name)
	if err != nil {
		return nil, err
	}
	return &models.ForumTopic{MessageThreadID: m.ID, Name: p.Name}, nil
}
func (a *scriptedAPI) EditForumTopic(_ context.Context, p *tgbot.EditForumTopicParams) (bool, error) {
	_, err := a.do("rename", p.ChatID.(int64), p.Name)
	return err == nil, err
}
func (a *scriptedAPI) SetMessageReaction(_ context.Context, p *tgbot.SetMessageReactionParams) (bool, error) {
	_, err := a.do("react", p.ChatID.(int64), fmt.Sprint(p.MessageID))
	return err == nil, err
}
func (a *scriptedAPI) SetMyCommands(_ context.Context, p *tgbot.SetMyCommandsParams) (bool, error) {
	_, err := a.do("commands", 0, "")
	return err == nil, err
}

// echo answers every text with "echo: <text>"; with editOf set, as an edit
// of that message.
type echo struct {
	editOf int
	block  chan struct{} // when set, Handle waits for it to close
}

func (d *echo) Handle(_ context.Context, st dialogs.State, ev dialogs.Event) (dialogs.Result, error) {
	if d.block != nil {
		<-d.block
	}
	return dialogs.Result{State: st, Replies: []dialogs.Reply{{Text: "echo: " + ev.Text, Edit: d.editOf}}}, nil
}

func (d *echo) RunEffect(context.Context, dialogs.Effect) ([]dialogs.Reply, error) { return nil, nil }
func (d *echo) Receipt(context.Context, dialogs.Sent) ([]dialogs.Reply, error)     { return nil, nil }
func (d *echo) RenderFile(context.Context, dialogs.File) (dialogs.Upload, error) {
	return dialogs.Upload{}, dialogs.ErrNoFile
}

type procEnv struct {
	api   *scriptedAPI
	store *state.Store
	proc  *UpdateProcessor
	next  int
}

func newProcEnv(t *testing.T, rdb redis.UniversalClient, prefix string, dlg Dialogs) *procEnv {
	store := state.New(rdb, prefix)
	t.Cleanup(store.Close)
	api := newScriptedAPI()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &procEnv{api: api, store: store, proc: NewProcessor(api, store, dlg, locales.MustLoad(), log)}
}

func (e *procEnv) text(chat int64, s string) *models.Update {
	e.next++
	return &models.Update{ID: int64(e.next), Message: &models.Message{ID: e.next, Text: s,
		Chat: models.Chat{ID: chat, Type: models.ChatTypePrivate}, From: &models.User{ID: chat}}}
}

func (e *procEnv) process(t *testing.T, upd *models.Update) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.proc.Process(ctx, upd); err != nil {
		t.Fatalf("update %d: %v", upd.ID, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("update %d took %v: a failing chat held its update", upd.ID, d)
	}
}

// drain runs the background sender until cond holds.
func (e *procEnv) drainUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.proc.RunOutbox(ctx, 20*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parkedUntil(t *testing.T, s *state.Store, chat int64) time.Time {
	t.Helper()
	snap, err := s.Begin(context.Background(), state.ChatConv(chat), chat, 0)
	if err != nil {
		t.Fatal(err)
	}
	return snap.ParkedUntil
}

// A 429 parks the chat for exactly retry_after, without holding the
// update; the reply goes out after that wait, once, and the chat's next
// update queues behind it.
func TestA429ParksTheChatForRetryAfter(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newProcEnv(t, rdb, prefix, &echo{})
		var limited sync.Once
		var limitedAt time.Time
		e.api.setAnswer(func(op string, chat int64, text string) error {
			var err error
			limited.Do(func() {
				limitedAt = time.Now()
				err = &tgbot.TooManyRequestsError{Message: "Too Many Requests: retry after 1", RetryAfter: 1}
			})
			return err
		})
		e.process(t, e.text(1, "a"))
		until := parkedUntil(t, e.store, 1)
		if d := until.Sub(limitedAt); d < 950*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("parked for %v, want retry_after = 1s", d)
		}
		e.process(t, e.text(1, "b"))
		if got := e.api.texts(1); len(got) != 0 {
			t.Fatalf("sent while parked: %v", got)
		}
		// The wait is kept in Redis: a second instance's sender waits too.
		second := newProcEnv(t, rdb, prefix, &echo{})
		second.proc = NewProcessor(e.api, second.store, &echo{}, locales.MustLoad(), e.proc.log)
		if err := second.proc.Drain(context.Background(), state.ChatConv(1)); err != nil {
			t.Fatal(err)
		}
		if got := e.api.texts(1); len(got) != 0 {
			t.Fatalf("a second instance sent %v during retry_after", got)
		}
		e.drainUntil(t, "both replies", func() bool { return len(e.api.texts(1)) == 2 })
		got := e.api.texts(1)
		if got[0] != "send:echo: a" || got[1] != "send:echo: b" {
			t.Fatalf("replies %v, want a then b", got)
		}
		if first := time.Now(); first.Sub(limitedAt) < time.Second {
			t.Errorf("sent again %v after the 429, before retry_after", first.Sub(limitedAt))
		}
	})
}

// A chat whose every send fails with 5xx is parked with a growing pause;
// other chats go on meanwhile; after recovery its replies arrive in order,
// once each.
func TestAFailingChatIsParkedAndOthersGoOn(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newProcEnv(t, rdb, prefix, &echo{})
		var broken sync.Mutex
		down := true
		e.api.setAnswer(func(op string, chat int64, text string) error {
			broken.Lock()
			defer broken.Unlock()
			if chat == 1 && down {
				return errors.New("Internal Server Error: 502")
			}
			return nil
		})
		for i := range 3 {
			e.process(t, e.text(1, fmt.Sprint("broken ", i)))
			e.process(t, e.text(2, fmt.Sprint("fine ", i)))
		}
		if got := e.api.texts(2); len(got) != 3 {
			t.Fatalf("the healthy chat got %v", got)
		}
		if until := parkedUntil(t, e.store, 1); until.IsZero() {
			t.Fatal("the broken chat is not parked")
		}
		if n, _ := e.store.ParkAttempts(context.Background(), state.ChatConv(1)); n != 1 {
			t.Errorf("%d failed attempts recorded, want 1: queued replies are not sent while parked", n)
		}
		// One more failure doubles the pause.
		ctx := context.Background()
		first := parkedUntil(t, e.store, 1)
		lease, _ := e.store.Lock(ctx, state.ChatConv(1))
		_ = e.store.Park(ctx, lease, time.Now(), 1) // due now
		lease.Release()
		if err := e.proc.Drain(ctx, state.ChatConv(1)); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.store.ParkAttempts(ctx, state.ChatConv(1)); n != 2 {
			t.Errorf("attempts after a second failure: %d", n)
		}
		second := parkedUntil(t, e.store, 1)
		if p1, p2 := time.Until(first), time.Until(second); p2 < time.Second {
			t.Errorf("second pause %v not longer than the first (%v)", p2, p1)
		}
		broken.Lock()
		down = false
		broken.Unlock()
		lease, _ = e.store.Lock(ctx, state.ChatConv(1))
		_ = e.store.Park(ctx, lease, time.Now(), 2)
		lease.Release()
		e.drainUntil(t, "the broken chat's replies", func() bool { return len(e.api.texts(1)) == 3 })
		for i, got := range e.api.texts(1) {
			if want := fmt.Sprint("send:echo: broken ", i); got != want {
				t.Errorf("reply %d = %q, want %q", i, got, want)
			}
		}
		if chats, _ := e.store.PendingChats(ctx); len(chats) != 0 {
			t.Errorf("still pending: %v", chats)
		}
	})
}

// 403: the chat is marked unreachable and its outbox dropped.
func TestA403MarksTheChatUnreachable(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newProcEnv(t, rdb, prefix, &echo{})
		e.api.setAnswer(func(op string, chat int64, text string) error {
			return fmt.Errorf("%w, Forbidden: bot was blocked by the user", tgbot.ErrorForbidden)
		})
		e.process(t, e.text(3, "a"))
		ctx := context.Background()
		if ok, _ := e.store.Reachable(ctx, 3); ok {
			t.Error("a chat that blocked the bot is reachable")
		}
		if out, _ := e.store.Outbox(ctx, state.ChatConv(3)); len(out) != 0 {
			t.Errorf("outbox kept: %q", out)
		}
		if chats, _ := e.store.PendingChats(ctx); len(chats) != 0 {
			t.Errorf("pending: %v", chats)
		}
	})
}

// An edit of a message that is gone is sent as a new message; a 400 that
// no retry can help is skipped without blocking the chat.
func TestEditFallsBackToSendAndA400IsSkipped(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newProcEnv(t, rdb, prefix, &echo{editOf: 77})
		e.api.setAnswer(func(op string, chat int64, text string) error {
			switch {
			case op == "edit":
				return fmt.Errorf("%w, Bad Request: message to edit not found", tgbot.ErrorBadRequest)
			case strings.Contains(text, "bad"):
				return fmt.Errorf("%w, Bad Request: can't parse entities", tgbot.ErrorBadRequest)
			}
			return nil
		})
		e.process(t, e.text(4, "a"))
		e.process(t, e.text(4, "bad"))
		e.process(t, e.text(4, "c"))
		if got := e.api.texts(4); len(got) != 2 || got[0] != "send:echo: a" || got[1] != "send:echo: c" {
			t.Fatalf("sent %v, want a and c as new messages", got)
		}
		if e.api.calls["edit"] != 3 {
			t.Errorf("%d edits tried, want 3", e.api.calls["edit"])
		}
	})
}

// An outbox item nobody can read (written by an older version, or broken)
// is dropped, and the chat's later replies still go.
func TestAnUnreadableOutboxItemIsDropped(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newProcEnv(t, rdb, prefix, &echo{})
		ctx := context.Background()
		lease, _ := e.store.Lock(ctx, state.ChatConv(5))
		if err := e.store.Commit(ctx, lease, state.Turn{Conv: state.ChatConv(5), User: 5, Outbox: [][]byte{[]byte("{not json")}}); err != nil {
			t.Fatal(err)
		}
		lease.Release()
		e.process(t, e.text(5, "a"))
		if got := e.api.texts(5); len(got) != 1 || got[0] != "send:echo: a" {
			t.Fatalf("sent %v", got)
		}
		if out, _ := e.store.Outbox(ctx, state.ChatConv(5)); len(out) != 0 {
			t.Errorf("outbox left: %q", out)
		}
	})
}

// A turn whose lock expires mid-way (forced) and goes to another instance
// that handles the same update again: the reply is sent once, not twice
// and not never.
func TestALockLostMidTurnSendsNoReplyTwice(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		slow := &echo{block: make(chan struct{})}
		e := newProcEnv(t, rdb, prefix, slow)
		second := NewProcessor(e.api, e.store, &echo{}, locales.MustLoad(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		upd := e.text(6, "a")
		errc := make(chan error, 1)
		go func() { errc <- e.proc.Process(context.Background(), upd) }()
		// The first holder is inside the dialog; its lock is lost.
		time.Sleep(100 * time.Millisecond)
		if err := e.store.DropLock(context.Background(), state.ChatConv(6)); err != nil {
			t.Fatal(err)
		}
		// The update comes again (a webhook retry) to the second instance.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := second.Process(ctx, upd); err != nil {
			t.Fatal(err)
		}
		close(slow.block)
		if err := <-errc; !errors.Is(err, state.ErrLockLost) {
			t.Fatalf("the first holder: %v, want ErrLockLost", err)
		}
		if got := e.api.texts(6); len(got) != 1 || got[0] != "send:echo: a" {
			t.Fatalf("replies %v, want exactly one", got)
		}
	})
}

// A button pressed while Redis is down gets a toast that the bot is
// unavailable, at once, and the update is not acknowledged: it is handled
// when it comes again.
func TestAButtonWhileRedisIsDownGetsAToast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: Redis is down
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	store := state.New(rdb, "down:")
	defer store.Close()
	api := newScriptedAPI()
	proc := NewProcessor(api, store, &echo{}, locales.MustLoad(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	upd := &models.Update{ID: 1, CallbackQuery: &models.CallbackQuery{ID: "q1", Data: "bal", From: models.User{ID: 8, LanguageCode: "ru"},
		Message: models.MaybeInaccessibleMessage{Message: &models.Message{ID: 3, Chat: models.Chat{ID: 8, Type: models.ChatTypePrivate}}}}}
	start := time.Now()
	if err := proc.Process(context.Background(), upd); err == nil {
		t.Fatal("handled with Redis down")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the button spun %v", took)
	}
	if got := api.texts(0); len(got) != 1 || got[0] != "answer:Бот временно недоступен — нажмите ещё раз через минуту." {
		t.Fatalf("answers %v", got)
	}
}
