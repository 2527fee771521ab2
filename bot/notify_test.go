package bot

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/notices"
	"github.com/kabinet-bot/kabinet/ratelimit"
	"github.com/kabinet-bot/kabinet/state"
)

// newTestNotifier wires a Notifier to an emulated Bot API through the real
// client, with a user who has started the bot, and the default push rate.
func newTestNotifier(t *testing.T) (*Notifier, *emulator.Server, *state.Store, emulator.User, *logBuffer) {
	t.Helper()
	emu := emulator.New(emulator.Options{})
	t.Cleanup(emu.Close)
	rdb, prefix := redistest.New(t)
	log, logs := captureLogs()
	n := newInstance(t, emu, rdb, prefix, 25, log)
	u := emulator.User{ID: 4242, FirstName: "Тест", LanguageCode: "ru"}
	emu.SendCommand(u, "/start")
	return n, emu, state.New(rdb, prefix), u, logs
}

// newInstance is one bot instance's Notifier: its own Bot API client, Redis
// connection and limiter object, on the Redis and key prefix every
// instance of the bot shares, at rate pushes a second for the whole bot.
func newInstance(t testing.TB, emu *emulator.Server, rdb *redis.Client, prefix string, rate float64, log *slog.Logger) *Notifier {
	t.Helper()
	api, err := tgbot.New(emu.Token(), tgbot.WithServerURL(emu.URL()), tgbot.WithSkipGetMe())
	if err != nil {
		t.Fatal(err)
	}
	own := redis.NewClient(rdb.Options())
	t.Cleanup(func() { _ = own.Close() })
	return NewNotifier(api, state.New(own, prefix), ratelimit.New(own, prefix, ratelimit.Limit{Rate: rate, Burst: 1}), log)
}

func TestNotifierSendsHTMLWithButtons(t *testing.T) {
	n, emu, _, u, _ := newTestNotifier(t)
	err := n.Send(context.Background(), u.ID, "Платёж <b>500,00 ₽</b> получен &lt;счёт&gt;", [][]notices.Button{
		{{Text: "Оплатить", Data: "pay:7"}},
		{{Text: "Открыть", URL: "https://pay.example/?a=1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := emu.BotMessages(u.ID)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Text != "Платёж 500,00 ₽ получен <счёт>" || m.ParseMode != "HTML" {
		t.Errorf("the person reads %q (parse mode %q)", m.Text, m.ParseMode)
	}
	kb := m.InlineKeyboard
	if len(kb) != 2 || kb[0][0].CallbackData != "pay:7" || kb[1][0].URL != "https://pay.example/?a=1" {
		t.Errorf("buttons: %+v", kb)
	}
}

// A 429 is waited out for retry_after, then the push goes out once.
func TestNotifierHonoursRetryAfter(t *testing.T) {
	n, emu, _, u, _ := newTestNotifier(t)
	emu.FailNext("sendMessage", 1, http.StatusTooManyRequests, "", 1)
	start := time.Now()
	if err := n.Send(context.Background(), u.ID, "Платёж получен", nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("sent again after %v, before retry_after (1 s) passed", took)
	}
	if got := len(emu.BotMessages(u.ID)); got != 1 {
		t.Errorf("%d messages delivered, want 1", got)
	}
}

// A person who blocked the bot: the chat is marked unreachable and the push
// answers notices.ErrUnreachable, which the scheduler records as done
// ("blocked", never retried); later pushes make no call.
func TestNotifierMarksBlockedChatUnreachable(t *testing.T) {
	n, emu, store, u, _ := newTestNotifier(t)
	emu.BlockBot(u)
	ctx := context.Background()
	if err := n.Send(ctx, u.ID, "Платёж получен", nil); !errors.Is(err, notices.ErrUnreachable) {
		t.Fatalf("a blocked chat answered %v, want notices.ErrUnreachable", err)
	}
	if ok, err := store.Reachable(ctx, u.ID); err != nil || ok {
		t.Errorf("reachable = %v, %v after a 403; want false", ok, err)
	}
	calls := len(emu.CallsTo("sendMessage"))
	if err := n.Send(ctx, u.ID, "Ещё платёж", nil); !errors.Is(err, notices.ErrUnreachable) {
		t.Fatalf("an unreachable chat answered %v, want notices.ErrUnreachable", err)
	}
	if got := len(emu.CallsTo("sendMessage")); got != calls {
		t.Errorf("a push to an unreachable chat still called sendMessage (%d calls, was %d)", got, calls)
	}
}

// Telegram failing for a while: the push is given back (an error) so the
// scheduler tries it later, and nothing was delivered twice.
func TestNotifierGivesBackOnLastingFailure(t *testing.T) {
	n, emu, _, u, _ := newTestNotifier(t)
	var sleeps recordedSleeps
	n.sleep = sleeps.sleep
	emu.FailNext("sendMessage", 10, http.StatusInternalServerError, "", 0)
	if err := n.Send(context.Background(), u.ID, "Платёж получен", nil); err == nil {
		t.Fatal("a push Telegram never accepted reported as sent")
	}
	if got := len(emu.BotMessages(u.ID)); got != 0 {
		t.Errorf("%d messages delivered", got)
	}
	if got := len(emu.CallsTo("sendMessage")); got != n.maxTry {
		t.Errorf("%d attempts, want %d", got, n.maxTry)
	}
}

// A message Telegram refuses for good (400) is logged and not retried.
func TestNotifierDropsRefusedMessage(t *testing.T) {
	n, emu, _, u, logs := newTestNotifier(t)
	if err := n.Send(context.Background(), u.ID, "broken <b>html", nil); err != nil {
		t.Fatalf("a refused push is an error, so it would be retried forever: %v", err)
	}
	if got := len(emu.CallsTo("sendMessage")); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
	if !strings.Contains(logs.String(), "push_refused") {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
}
