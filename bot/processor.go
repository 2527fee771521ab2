package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/state"
)

// API is the part of the Bot API client the processor calls. It is declared
// here, where it is used; *github.com/go-telegram/bot.Bot implements it.
type API interface {
	SendMessage(ctx context.Context, params *tgbot.SendMessageParams) (*models.Message, error)
	EditMessageText(ctx context.Context, params *tgbot.EditMessageTextParams) (*models.Message, error)
	AnswerCallbackQuery(ctx context.Context, params *tgbot.AnswerCallbackQueryParams) (bool, error)
	SendVenue(ctx context.Context, params *tgbot.SendVenueParams) (*models.Message, error)
	SetMyCommands(ctx context.Context, params *tgbot.SetMyCommandsParams) (bool, error)
}

// Dialogs is the conversation engine; *dialogs.Engine implements it.
type Dialogs interface {
	Handle(ctx context.Context, st dialogs.State, ev dialogs.Event) (dialogs.Result, error)
}

// UpdateProcessor handles one update end to end: per-chat lock, de-duplication,
// dialog state, the engine, an atomic save, and sending the replies from the
// outbox. It implements Processor for the webhook and the poller.
type UpdateProcessor struct {
	api    API
	store  *state.Store
	dlg    Dialogs
	text   *locales.Catalog
	log    *slog.Logger
	sleep  func(ctx context.Context, d time.Duration) error
	maxTry int
	now    func() time.Time
}

// NewProcessor wires an UpdateProcessor.
func NewProcessor(api API, store *state.Store, dlg Dialogs, text *locales.Catalog, log *slog.Logger) *UpdateProcessor {
	return &UpdateProcessor{api: api, store: store, dlg: dlg, text: text, log: log, sleep: sleepCtx, maxTry: 5, now: time.Now}
}

// SetClock replaces the clock that timers are scheduled and fired by (tests).
func (p *UpdateProcessor) SetClock(now func() time.Time) { p.now = now }

// Process implements Processor. It returns nil once the update is handled
// and its replies are sent (or safely queued): then it may be acknowledged.
func (p *UpdateProcessor) Process(ctx context.Context, upd *models.Update) (err error) {
	chat := ChatKey(upd)
	unlock, err := p.store.Lock(ctx, chat)
	if err != nil {
		return err
	}
	defer unlock()

	// One round trip reads what the turn starts from; replies of an earlier
	// update that a crash left unsent go out first, so the chat reads in order.
	user := userID(upd)
	snap, err := p.store.Begin(ctx, chat, user, int64(upd.ID))
	if err != nil {
		return err
	}
	if err := p.deliverAll(ctx, chat, snap.Outbox); err != nil {
		return err
	}
	if snap.Seen {
		p.log.Debug("duplicate update", "update_id", upd.ID)
		return nil
	}

	turn := state.Turn{Chat: chat, User: user, UpdateID: int64(upd.ID)}
	if upd.MyChatMember != nil {
		// The person blocked or unblocked the bot: remember whether we may write.
		st := upd.MyChatMember.NewChatMember.Type
		reachable := st != models.ChatMemberTypeBanned && st != models.ChatMemberTypeLeft
		if err := p.store.SetReachable(ctx, chat, reachable); err != nil {
			return err
		}
		return p.store.Commit(ctx, turn)
	}
	ev, ok := toEvent(upd)
	if !ok {
		return p.store.Commit(ctx, turn)
	}
	res := p.handle(ctx, snap.State, ev, upd.ID)
	turn.Version, turn.State, turn.SaveState = snap.Version, res.State, true
	cb := ""
	if upd.CallbackQuery != nil {
		cb = upd.CallbackQuery.ID
	}
	turn.Outbox = render(ev.ChatID, cb, res)
	turn.Timers = p.timers(ev, res.Timers)
	if err := p.store.Commit(ctx, turn); err != nil {
		return err
	}
	// The outbox was empty before this turn, so it now holds exactly these.
	return p.deliverAll(ctx, chat, turn.Outbox)
}

// handle runs the engine. A failing dependency or a panic gets a polite
// answer and leaves the state as it was, so nothing is half-done.
func (p *UpdateProcessor) handle(ctx context.Context, st dialogs.State, ev dialogs.Event, updateID int64) (res dialogs.Result) {
	lang := st.Lang
	if lang == "" {
		lang = locales.Resolve(ev.LanguageCode)
	}
	fail := func(id string) dialogs.Result {
		msg := p.text.T(lang, id, nil)
		r := dialogs.Result{State: st, Replies: []dialogs.Reply{{Text: msg}}}
		if ev.Kind == dialogs.KindCallback {
			r.Toast = msg
		}
		return r
	}
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("panic while handling update", "update_id", updateID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			res = fail("error_internal")
		}
	}()
	res, err := p.dlg.Handle(ctx, st, ev)
	if err != nil {
		p.log.Error("dialog failed", "update_id", updateID, "err", err)
		return fail("error_temporary")
	}
	return res
}

// Drain sends a chat's outbox in order. Items are removed only after the
// Bot API accepted them (or refused them for good), so a crash repeats at
// most the one item in flight. Call it holding the chat's lock.
func (p *UpdateProcessor) Drain(ctx context.Context, chat int64) error {
	items, err := p.store.Outbox(ctx, chat)
	if err != nil {
		return err
	}
	return p.deliverAll(ctx, chat, items)
}

// deliverAll sends items, the head of the chat's outbox, in order, removing
// each from the outbox once sent.
func (p *UpdateProcessor) deliverAll(ctx context.Context, chat int64, items [][]byte) error {
	for _, raw := range items {
		var it outItem
		if err := json.Unmarshal(raw, &it); err != nil {
			p.log.Error("dropping unreadable outbox item", "chat_id", chat, "err", err)
		} else if err := p.deliver(ctx, it); err != nil {
			if errors.Is(err, errUnreachable) {
				p.log.Info("chat unreachable, outbox dropped", "chat_id", chat)
				if err := p.store.SetReachable(ctx, chat, false); err != nil {
					return err
				}
				return p.store.Clear(ctx, chat)
			}
			return err
		}
		if err := p.store.Pop(ctx, chat); err != nil {
			return err
		}
	}
	return nil
}

var errUnreachable = errors.New("chat unreachable")

// deliver makes one Bot API call, waiting out 429s and retrying transient
// failures. A request Telegram refuses for good (400) is logged and skipped:
// repeating it cannot help, and it must not block the chat's later replies.
func (p *UpdateProcessor) deliver(ctx context.Context, it outItem) error {
	var err error
	for try := 1; try <= p.maxTry; try++ {
		err = p.call(ctx, it)
		wait, limited := retryAfter(err)
		switch {
		case err == nil:
			return nil
		case limited:
			p.log.Warn("rate limited by Telegram", "retry_after_s", wait.Seconds(), "op", it.Op)
			if err := p.sleep(ctx, wait); err != nil {
				return err
			}
			try-- // a 429 is not a failed try: Telegram told us when to come back
		case errors.Is(err, tgbot.ErrorForbidden):
			return errUnreachable
		case errors.Is(err, tgbot.ErrorBadRequest):
			desc := err.Error()
			switch {
			case strings.Contains(desc, "message is not modified"):
				return nil // a refresh with nothing new: the person sees the same screen
			case it.Op == opEdit && (strings.Contains(desc, "message to edit not found") || strings.Contains(desc, "message can't be edited")):
				it.Op, it.MessageID = opSend, 0 // too old to edit: send it anew
				try--
				continue
			case it.Op == opAnswer:
				return nil // the query expired (e.g. after a restart); the replies still come
			}
			p.log.Error("Telegram refused a reply", "op", it.Op, "chat_id", it.ChatID, "err", err)
			return nil
		default:
			p.log.Warn("Bot API call failed, retrying", "op", it.Op, "try", try, "err", err)
			if err := p.sleep(ctx, time.Duration(try*try)*100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("deliver %s: %w", it.Op, err)
}

func (p *UpdateProcessor) call(ctx context.Context, it outItem) error {
	var err error
	switch it.Op {
	case opAnswer:
		_, err = p.api.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: it.CallbackID, Text: it.Text})
	case opEdit:
		params := &tgbot.EditMessageTextParams{ChatID: it.ChatID, MessageID: it.MessageID, Text: it.Text, ParseMode: models.ParseModeHTML, LinkPreviewOptions: noPreview()}
		if len(it.Buttons) > 0 {
			params.ReplyMarkup = inlineMarkup(it.Buttons)
		}
		_, err = p.api.EditMessageText(ctx, params)
	case opVenue:
		if it.Venue == nil {
			return nil // cannot happen: render always sets it
		}
		_, err = p.api.SendVenue(ctx, &tgbot.SendVenueParams{ChatID: it.ChatID, Latitude: it.Venue.Lat, Longitude: it.Venue.Lon,
			Title: it.Venue.Title, Address: it.Venue.Address, ReplyMarkup: it.markup()})
	case opCommands:
		cmds := make([]models.BotCommand, len(it.Commands))
		for i, c := range it.Commands {
			cmds[i] = models.BotCommand{Command: c.Name, Description: c.Description}
		}
		_, err = p.api.SetMyCommands(ctx, &tgbot.SetMyCommandsParams{Commands: cmds, Scope: &models.BotCommandScopeChat{ChatID: it.ChatID}})
	default:
		_, err = p.api.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: it.ChatID, Text: it.Text, ParseMode: models.ParseModeHTML, ReplyMarkup: it.markup(), LinkPreviewOptions: noPreview()})
	}
	return err
}

func noPreview() *models.LinkPreviewOptions {
	off := true
	return &models.LinkPreviewOptions{IsDisabled: &off}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// DrainPending sends what a crash left in any chat's outbox; serve calls it at start.
func (p *UpdateProcessor) DrainPending(ctx context.Context) error {
	chats, err := p.store.PendingChats(ctx)
	if err != nil {
		return err
	}
	for _, chat := range chats {
		unlock, err := p.store.Lock(ctx, chat)
		if err != nil {
			return err
		}
		err = p.Drain(ctx, chat)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}
