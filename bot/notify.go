package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/payments"
	"github.com/kabinet-bot/kabinet/state"
)

// pushGap spaces the pushes of one instance: Telegram allows about 30
// messages a second to different chats, and replies to people who are
// writing to the bot share that budget, so pushes stay below it.
const pushGap = time.Second / 25

// Notifier sends messages that answer no update: the "payment received"
// push and the trust payment's reminder. It uses the same Bot API client as
// the replies and implements payments.Messenger for the payments scheduler.
//
// Its error contract is the scheduler's: nil means "done, do not try this
// one again", which includes a chat that blocked the bot (403: marked
// unreachable until a my_chat_member update says it is back) and a message
// Telegram refuses for good (400). An error means "not sent, try later".
type Notifier struct {
	api    API
	store  *state.Store
	log    *slog.Logger
	sleep  func(ctx context.Context, d time.Duration) error
	maxTry int

	// The pushes of one instance form one lane: a 429 pauses all of them
	// for retry_after, and pushGap paces them.
	mu   sync.Mutex
	next time.Time
}

// NewNotifier returns a Notifier over the bot's API client and the state
// store that knows which chats are unreachable.
func NewNotifier(api API, store *state.Store, log *slog.Logger) *Notifier {
	return &Notifier{api: api, store: store, log: log, sleep: sleepCtx, maxTry: 3}
}

var _ payments.Messenger = (*Notifier)(nil)

// Send sends an HTML text with inline buttons (callbacks or URLs) to a
// private chat, waiting out 429s for as long as Telegram asks.
func (n *Notifier) Send(ctx context.Context, chatID int64, text string, buttons [][]payments.Button) error {
	ok, err := n.store.Reachable(ctx, chatID)
	if err != nil {
		return err
	}
	if !ok {
		n.log.Info("push skipped: chat unreachable", "event", "push_unreachable", "chat_id", chatID)
		return nil
	}
	params := &tgbot.SendMessageParams{ChatID: chatID, Text: text, ParseMode: models.ParseModeHTML, LinkPreviewOptions: noPreview()}
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
		if err := n.wait(ctx); err != nil {
			return err
		}
		_, err := n.api.SendMessage(ctx, params)
		wait, limitedNow := retryAfter(err)
		switch {
		case err == nil:
			return nil
		case limitedNow:
			n.pause(wait)
			n.log.Warn("rate limited by Telegram", "event", "push_rate_limited", "retry_after_s", wait.Seconds())
			// The pause stays on the lane, so giving the work back after
			// a few rounds still never sends before Telegram allows.
			if limited++; limited >= 5 {
				return fmt.Errorf("send push: %w", err)
			}
		case errors.Is(err, tgbot.ErrorForbidden):
			n.log.Info("push dropped: chat unreachable", "event", "push_forbidden", "chat_id", chatID)
			if err := n.store.SetReachable(ctx, chatID, false); err != nil {
				return err
			}
			return nil
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

// wait holds a push until the lane is free, then books the next slot.
func (n *Notifier) wait(ctx context.Context) error {
	n.mu.Lock()
	now := time.Now()
	at := n.next
	if at.Before(now) {
		at = now
	}
	n.next = at.Add(pushGap)
	n.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return n.sleep(ctx, d)
	}
	return nil
}

// pause keeps the lane closed for d from now (never shortening a pause).
func (n *Notifier) pause(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if until := time.Now().Add(d); until.After(n.next) {
		n.next = until
	}
}
