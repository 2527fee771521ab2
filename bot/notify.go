package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/notices"
	"github.com/kabinet-bot/kabinet/ratelimit"
	"github.com/kabinet-bot/kabinet/state"
)

// PushLane is the key of the pushes' budget in the ratelimit.Limiter: every
// instance's Notifier books its sends there, and a 429 pauses it for all.
const PushLane = "push"

// Notifier sends messages that answer no update: every notice of the
// notices package (low balance, outages, payment received, the trust
// payment's reminder). It uses the same Bot API client as the replies and
// implements notices.Messenger.
//
// Pushes form the bulk lane, paced by a budget in Redis that every instance
// shares (NOTIFY_RATE for the whole bot), since Telegram counts its limit
// for the bot, not per process; a 429 pauses the lane for every instance for
// retry_after.
//
// Its error contract is the scheduler's: nil means "done, do not try this
// one again", which includes a message Telegram refuses for good (400);
// notices.ErrUnreachable means done too, for a chat that blocked the bot
// (403: marked unreachable until a my_chat_member update says it is back)
// or was marked so before. Any other error means "not sent, try later",
// which includes Redis failing (neither the budget nor the chat's
// reachability can then be known).
type Notifier struct {
	api    API
	store  *state.Store
	lane   *ratelimit.Limiter
	log    *slog.Logger
	sleep  func(ctx context.Context, d time.Duration) error
	maxTry int
	paid   bool // send with allow_paid_broadcast
}

// NewNotifier returns a Notifier over the bot's API client, the state store
// that knows which chats are unreachable, and the pushes' budget shared by
// every instance (its Limit is the rate for the whole bot).
func NewNotifier(api API, store *state.Store, lane *ratelimit.Limiter, log *slog.Logger) *Notifier {
	return &Notifier{api: api, store: store, lane: lane, log: log, sleep: sleepCtx, maxTry: 3}
}

// SetPaidBroadcast makes every push carry allow_paid_broadcast, which lets
// the lane's rate go past Telegram's free 30 messages a second, up to 1000,
// for a fee per message (NOTIFY_PAID_BROADCAST).
func (n *Notifier) SetPaidBroadcast(on bool) { n.paid = on }

var _ notices.Messenger = (*Notifier)(nil)

// Send sends an HTML text with inline buttons (callbacks or URLs) to a
// private chat, waiting out 429s for as long as Telegram asks.
func (n *Notifier) Send(ctx context.Context, chatID int64, text string, buttons [][]notices.Button) error {
	ok, err := n.store.Reachable(ctx, chatID)
	if err != nil {
		return err
	}
	if !ok {
		n.log.Info("push skipped: chat unreachable", "event", "push_unreachable", "chat_id", chatID)
		return notices.ErrUnreachable
	}
	params := &tgbot.SendMessageParams{ChatID: chatID, Text: text, ParseMode: models.ParseModeHTML, LinkPreviewOptions: noPreview(), AllowPaidBroadcast: n.paid}
	if len(buttons) > 0 {
		rows := make([][]dialogs.Button, len(buttons))
		for i, row := range buttons {
			for _, b := range row {
				rows[i] = append(rows[i], dialogs.Button{Text: b.Text, Data: b.Data, URL: b.URL})
			}
		}
		params.ReplyMarkup = inlineMarkup(rows)
	}

	failures, limited := 0, 0
	for {
		if err := n.lane.Wait(ctx, PushLane); err != nil {
			return fmt.Errorf("send push: %w", err)
		}
		_, err := n.api.SendMessage(ctx, params)
		wait, limitedNow := retryAfter(err)
		switch {
		case err == nil:
			return nil
		case limitedNow:
			n.log.Warn("rate limited by Telegram", "event", "push_rate_limited", "retry_after_s", wait.Seconds())
			// Every instance waits it out: the pause is in Redis, and
			// Wait lets nobody through before it ends. Giving the work
			// back after a few rounds still never sends before Telegram
			// allows.
			if err := n.lane.Pause(ctx, PushLane, wait); err != nil {
				// The others cannot be told; this instance at least
				// keeps quiet for as long as Telegram asked.
				_ = n.sleep(ctx, wait)
				return fmt.Errorf("send push: %w", err)
			}
			if limited++; limited >= 5 {
				return fmt.Errorf("send push: %w", err)
			}
		case errors.Is(err, tgbot.ErrorForbidden):
			n.log.Info("push dropped: chat unreachable", "event", "push_forbidden", "chat_id", chatID)
			if err := n.store.SetReachable(ctx, chatID, false); err != nil {
				return err
			}
			return notices.ErrUnreachable
		case errors.Is(err, tgbot.ErrorBadRequest):
			// Repeating it cannot help, and it would be repeated forever.
			n.log.Error("Telegram refused a push", "event", "push_refused", "chat_id", chatID, "err", err)
			return nil
		default:
			if failures++; failures >= n.maxTry {
				return fmt.Errorf("send push: %w", err)
			}
			if err := n.sleep(ctx, time.Duration(failures*failures)*100*time.Millisecond); err != nil {
				return err
			}
		}
	}
}
