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
	"github.com/kabinet-bot/kabinet/internal/backoff"
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
//
// A chat whose replies cannot be sent now (Telegram answers 5xx or 429, or
// does not answer) is parked: its replies stay in its outbox, its later
// updates are handled and their replies queued behind, and RunOutbox tries
// again with a growing pause. The update itself counts as handled, so the
// long-polling offset and the webhook's answer never wait for one chat.
type UpdateProcessor struct {
	api   API
	store *state.Store
	dlg   Dialogs
	text  *locales.Catalog
	log   *slog.Logger
	now   func() time.Time
	// callTimeout bounds one Bot API call, so that a Telegram that does
	// not answer parks the chat instead of holding its send lock.
	callTimeout time.Duration
}

// Parking: the first retry of a chat comes after parkBase, then twice as
// late each time, at most parkMax; a 429 waits exactly its retry_after.
const (
	parkBase = time.Second
	parkMax  = 5 * time.Minute
)

// NewProcessor wires an UpdateProcessor.
func NewProcessor(api API, store *state.Store, dlg Dialogs, text *locales.Catalog, log *slog.Logger) *UpdateProcessor {
	return &UpdateProcessor{api: api, store: store, dlg: dlg, text: text, log: log, now: time.Now, callTimeout: 10 * time.Second}
}

// SetClock replaces the clock that timers are scheduled and fired by (tests).
func (p *UpdateProcessor) SetClock(now func() time.Time) { p.now = now }

// Process implements Processor. It returns nil once the update is handled
// and its replies are sent or safely queued: then it may be acknowledged.
func (p *UpdateProcessor) Process(ctx context.Context, upd *models.Update) (err error) {
	defer func() {
		if err != nil && !errors.Is(err, state.ErrLockLost) && ctx.Err() == nil {
			p.Unavailable(ctx, upd)
		}
	}()
	chat := ChatKey(upd)
	if err := p.runTurn(ctx, chat, upd); err != nil {
		return err
	}
	// Sent once the turn's lock is released: a slow Bot API never holds up
	// the chat's next update, and no Bot API call is made under that lock.
	return p.send(ctx, chat)
}

// runTurn handles the update under the chat's turn lock and saves it.
func (p *UpdateProcessor) runTurn(ctx context.Context, chat int64, upd *models.Update) error {
	lease, err := p.store.Lock(ctx, chat)
	if err != nil {
		return err
	}
	defer lease.Release()
	user := userID(upd)
	snap, err := p.store.Begin(ctx, chat, user, int64(upd.ID))
	if err != nil {
		return err
	}
	if snap.Seen {
		p.log.Debug("duplicate update", "update_id", upd.ID)
		return nil // its replies, if a crash left them, go out in send
	}
	turn := state.Turn{Chat: chat, User: user, UpdateID: int64(upd.ID)}
	if upd.MyChatMember != nil {
		// The person blocked or unblocked the bot: remember whether we may write.
		st := upd.MyChatMember.NewChatMember.Type
		reachable := st != models.ChatMemberTypeBanned && st != models.ChatMemberTypeLeft
		if err := p.store.SetReachable(ctx, chat, reachable); err != nil {
			return err
		}
		return p.store.Commit(ctx, lease, turn)
	}
	ev, ok := toEvent(upd)
	if !ok {
		return p.store.Commit(ctx, lease, turn)
	}
	cb := ""
	if upd.CallbackQuery != nil {
		cb = upd.CallbackQuery.ID
	}
	return p.turn(ctx, lease, snap, turn, ev, cb)
}

// turn runs the dialog on ev and saves the turn with its replies, queued in
// the chat's outbox behind any that still wait.
func (p *UpdateProcessor) turn(ctx context.Context, lease *state.Lease, snap state.Snapshot, turn state.Turn, ev dialogs.Event, callbackID string) error {
	res := p.handle(ctx, snap.State, ev, turn.UpdateID)
	turn.Version, turn.State, turn.SaveState = snap.Version, res.State, true
	turn.Outbox = render(ev.ChatID, callbackID, res)
	turn.Timers = p.timers(ev, res.Timers)
	return p.store.Commit(ctx, lease, turn)
}

// send sends the chat's outbox in order under its send lock, unless another
// sender holds it (it sends these replies too) or the chat is parked (its
// retry time comes later). A turn that queued replies while this one was
// sending found the lock taken, so the outbox is looked at again after the
// lock is released: no reply is left without a sender.
func (p *UpdateProcessor) send(ctx context.Context, chat int64) error {
	for {
		lease, ok, err := p.store.TrySend(ctx, chat)
		if err != nil || !ok {
			return err
		}
		items, parkedUntil, err := p.store.Waiting(ctx, chat)
		parked := false
		switch {
		case err != nil:
		case len(items) == 0:
			err = p.store.Unpark(ctx, lease)
		case parkedUntil.After(time.Now()):
			parked = true // a 429 or a backoff still runs; RunOutbox comes back at its time
		default:
			parked, err = p.deliverAll(ctx, lease, chat, items)
		}
		lease.Release()
		if err != nil || parked {
			return err
		}
		// Whatever was queued while the lock was held is sent now: its turn
		// found the lock taken and left it to us.
		left, _, err := p.store.Waiting(ctx, chat)
		if err != nil || len(left) == 0 {
			return err
		}
	}
}

// Unavailable stops the spinner on a button pressed while Redis is down (or
// left unhandled behind an update that failed so), with a toast that says
// so; the update is not acknowledged and is handled for real when it comes
// again (its own answer then fails harmlessly: a query is answered once).
// Nothing of the turn happened, so nothing is said that could be untrue.
// Other updates are left alone: they simply come again.
func (p *UpdateProcessor) Unavailable(ctx context.Context, upd *models.Update) {
	q := upd.CallbackQuery
	if q == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	text := p.text.T(locales.Resolve(q.From.LanguageCode), "error_unavailable", nil)
	if _, err := p.api.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: text}); err != nil {
		p.log.Debug("could not answer a button while unavailable", "err", err)
	}
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

// deliverAll sends items, the head of the chat's outbox, in order, removing
// each from the outbox once Telegram accepted it (or refused it for good).
// When a send fails for now, the chat is parked and parked is true; err is
// only for Redis failing or the lock lost.
func (p *UpdateProcessor) deliverAll(ctx context.Context, lease *state.Lease, chat int64, items [][]byte) (parked bool, err error) {
	for _, raw := range items {
		if lease.Lost() {
			return false, state.ErrLockLost // another holder sends them now
		}
		var it outItem
		if err := json.Unmarshal(raw, &it); err != nil {
			p.log.Error("dropping unreadable outbox item", "chat_id", chat, "err", err)
		} else {
			switch outcome, wait := p.deliver(ctx, it); outcome {
			case sentOK:
			case unreachable:
				p.log.Info("chat unreachable, outbox dropped", "chat_id", chat)
				if err := p.store.SetReachable(ctx, chat, false); err != nil {
					return false, err
				}
				return false, p.store.Clear(ctx, lease)
			case later:
				if ctx.Err() != nil {
					return false, ctx.Err() // stopping: the outbox stays for the next start
				}
				return true, p.park(ctx, lease, chat, wait)
			}
		}
		if err := p.store.Pop(ctx, lease); err != nil {
			return false, err
		}
	}
	return false, nil
}

// park makes the chat's replies wait: exactly retry_after for a 429,
// otherwise a pause that grows with each failure in a row.
func (p *UpdateProcessor) park(ctx context.Context, lease *state.Lease, chat int64, wait time.Duration) error {
	attempts, err := p.store.ParkAttempts(ctx, chat)
	if err != nil {
		return err
	}
	attempts++
	if wait <= 0 {
		wait = backoff.Delay(attempts, parkBase, parkMax)
	}
	p.log.Warn("replies to a chat wait for a retry", "chat_id", chat, "attempt", attempts, "retry_in_s", wait.Seconds())
	return p.store.Park(ctx, lease, time.Now().Add(wait), attempts)
}

// outcome is what became of one outbox item.
type outcome int

const (
	sentOK      outcome = iota // sent, or refused for good: remove it
	unreachable                // the person blocked the bot: drop the chat's outbox
	later                      // not now: park the chat (wait > 0 is Telegram's retry_after)
)

// deliver makes one Bot API call. A request Telegram refuses for good (400)
// is logged and skipped: repeating it cannot help, and it must not block the
// chat's later replies. Nothing is retried here: a failure parks the chat,
// so that no chat holds a worker, its lock or the intake while it waits.
func (p *UpdateProcessor) deliver(ctx context.Context, it outItem) (outcome, time.Duration) {
	for {
		callCtx, cancel := context.WithTimeout(ctx, p.callTimeout)
		err := p.call(callCtx, it)
		cancel()
		if wait, limited := retryAfter(err); limited {
			p.log.Warn("rate limited by Telegram", "retry_after_s", wait.Seconds(), "op", it.Op)
			return later, wait
		}
		switch {
		case err == nil:
			return sentOK, 0
		case errors.Is(err, tgbot.ErrorForbidden):
			return unreachable, 0
		case errors.Is(err, tgbot.ErrorBadRequest):
			desc := err.Error()
			switch {
			case strings.Contains(desc, "message is not modified"):
				return sentOK, 0 // a refresh with nothing new: the person sees the same screen
			case it.Op == opEdit && (strings.Contains(desc, "message to edit not found") || strings.Contains(desc, "message can't be edited")):
				it.Op, it.MessageID = opSend, 0 // too old to edit: send it anew
				continue
			case it.Op == opAnswer:
				return sentOK, 0 // the query expired (e.g. after a restart); the replies still come
			}
			p.log.Error("Telegram refused a reply", "op", it.Op, "chat_id", it.ChatID, "err", err)
			return sentOK, 0
		}
		p.log.Warn("Bot API call failed", "op", it.Op, "chat_id", it.ChatID, "err", err)
		return later, 0
	}
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

// RunOutbox sends the replies that wait in any chat's outbox, every
// interval until ctx ends: chats parked after a failed send, when their retry
// time comes, and replies a crash left unsent. At start it sends every
// waiting reply at once. A chat another instance is handling is left to it.
func (p *UpdateProcessor) RunOutbox(ctx context.Context, every time.Duration) {
	if chats, err := p.store.PendingChats(ctx); err != nil {
		p.log.Warn("replies left from before a restart unavailable", "err", err)
	} else {
		p.sendWaiting(ctx, chats)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		chats, err := p.store.DuePending(ctx, time.Now(), 100)
		if err != nil {
			p.log.Warn("waiting replies unavailable", "err", err)
			continue
		}
		p.sendWaiting(ctx, chats)
	}
}

// sendWaiting drains the outboxes of chats, each under its lock.
func (p *UpdateProcessor) sendWaiting(ctx context.Context, chats []int64) {
	for _, chat := range chats {
		if ctx.Err() != nil {
			return
		}
		if err := p.Drain(ctx, chat); err != nil && !errors.Is(err, state.ErrLockLost) {
			p.log.Warn("could not send waiting replies", "chat_id", chat, "err", err)
		}
	}
}

// Drain sends a chat's outbox in order if nobody else is sending it and no
// retry pause of the chat still runs.
func (p *UpdateProcessor) Drain(ctx context.Context, chat int64) error { return p.send(ctx, chat) }
