package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
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
	EditForumTopic(ctx context.Context, params *tgbot.EditForumTopicParams) (bool, error)
	AnswerCallbackQuery(ctx context.Context, params *tgbot.AnswerCallbackQueryParams) (bool, error)
	SendVenue(ctx context.Context, params *tgbot.SendVenueParams) (*models.Message, error)
	SetMyCommands(ctx context.Context, params *tgbot.SetMyCommandsParams) (bool, error)
	CopyMessage(ctx context.Context, params *tgbot.CopyMessageParams) (*models.MessageID, error)
	CopyMessages(ctx context.Context, params *tgbot.CopyMessagesParams) ([]models.MessageID, error)
	CreateForumTopic(ctx context.Context, params *tgbot.CreateForumTopicParams) (*models.ForumTopic, error)
	SetMessageReaction(ctx context.Context, params *tgbot.SetMessageReactionParams) (bool, error)
	SendPhoto(ctx context.Context, params *tgbot.SendPhotoParams) (*models.Message, error)
	SendDocument(ctx context.Context, params *tgbot.SendDocumentParams) (*models.Message, error)
}

// Dialogs is the conversation engine; *dialogs.Engine implements it.
type Dialogs interface {
	Handle(ctx context.Context, st dialogs.State, ev dialogs.Event) (dialogs.Result, error)
	// RunEffect runs an effect a turn asked for (see dialogs.Effect).
	RunEffect(ctx context.Context, ef dialogs.Effect) ([]dialogs.Reply, error)
	// Receipt tells the feature that asked which message a reply became
	// (or why it did not); its replies take the receipt's place.
	Receipt(ctx context.Context, s dialogs.Sent) ([]dialogs.Reply, error)
	// RenderFile makes the bytes of a reply's File when it is sent;
	// dialogs.ErrNoFile means it cannot be made any more.
	RenderFile(ctx context.Context, f dialogs.File) (dialogs.Upload, error)
}

// Lane is a send budget shared by every instance (ratelimit.Limiter): the
// sender takes a slot before each message to a group, and a 429 there
// pauses the group for all.
type Lane interface {
	Take(ctx context.Context, key string, within time.Duration) (ok bool, retryIn time.Duration, err error)
	Pause(ctx context.Context, key string, d time.Duration) error
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
	// groups is the budget of messages to groups (nil: none is kept).
	groups  Lane
	members MemberCheck
	metrics pipelineMetrics
}

// GroupLimit is the budget that keeps a group at perMinute messages a
// minute (Telegram's limit is about 20, topic creation and edits included)
// in every minute, not only on average: a burst of a quarter of it, then an
// even pace of the other three quarters (20: a burst of 5, then one every
// 4 s).
func GroupLimit(perMinute int) (rate float64, burst int) {
	return 0.75 * float64(perMinute) / 60, max(1, perMinute/4)
}

// SetGroupLane makes messages to groups and their topics take a slot of
// lane first, under key "group:<chat id>" (see GroupLimit). A message whose
// slot is further than a second away waits in its conversation's outbox,
// and other conversations go on.
func (p *UpdateProcessor) SetGroupLane(lane Lane) { p.groups = lane }

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

// MemberCheck tells whether a person is a member of an operators' group;
// *Members implements it.
type MemberCheck interface {
	IsMember(ctx context.Context, chat, user int64) (bool, error)
}

// SetMembers makes the processor ask members about the sender of every
// update from a group, so that the dialogs let only members act there
// (dialogs.Event.Member). Without it no one in a group is a member.
func (p *UpdateProcessor) SetMembers(m MemberCheck) { p.members = m }

// member asks whether the sender of a group's update is a member of that
// group. An anonymous administrator (the group writing as itself) is.
func (p *UpdateProcessor) member(ctx context.Context, upd *models.Update) (bool, error) {
	if p.members == nil {
		return false, nil
	}
	var chat models.Chat
	var from *models.User
	switch {
	case upd.Message != nil:
		chat, from = upd.Message.Chat, upd.Message.From
		if sc := upd.Message.SenderChat; sc != nil && sc.ID == chat.ID {
			return true, nil
		}
	case upd.EditedMessage != nil:
		chat, from = upd.EditedMessage.Chat, upd.EditedMessage.From
		if sc := upd.EditedMessage.SenderChat; sc != nil && sc.ID == chat.ID {
			return true, nil
		}
	case upd.CallbackQuery != nil && upd.CallbackQuery.Message.Message != nil:
		chat, from = upd.CallbackQuery.Message.Message.Chat, &upd.CallbackQuery.From
	default:
		return false, nil
	}
	if chat.Type == models.ChatTypePrivate || chat.Type == "" || from == nil {
		return false, nil
	}
	ok, err := p.members.IsMember(ctx, chat.ID, from.ID)
	if err != nil {
		return false, fmt.Errorf("membership of a group's sender: %w", err)
	}
	return ok, nil
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
	conv := ConvKey(upd)
	// Asked before the turn: no Bot API call is made under its lock.
	member, err := p.member(ctx, upd)
	if err != nil {
		return err
	}
	h, err := p.runTurn(ctx, conv, upd, member)
	if err != nil {
		return err
	}
	// Sent once the turn's lock is released: a slow Bot API never holds up
	// the chat's next update, and no Bot API call is made under that lock.
	return p.afterTurn(ctx, conv, h)
}

// afterTurn sends what a turn left in the outbox, as its commit handed it
// over: with the send lock already taken, or the usual way when another
// process holds that lock (a dead one's is taken over).
func (p *UpdateProcessor) afterTurn(ctx context.Context, conv state.Conv, h state.Handoff) error {
	switch {
	case h.Send != nil:
		return p.sendFrom(ctx, conv, h.Send, h.Items)
	case h.Elsewhere:
		return p.send(ctx, conv)
	}
	return nil
}

// runTurn handles the update under the conversation's turn lock and saves
// it; member is what member said of the sender of a group's update. Taking
// the lock reads the state too, and the save lets the lock go and takes
// the send lock: a turn is two round trips to Redis.
func (p *UpdateProcessor) runTurn(ctx context.Context, conv state.Conv, upd *models.Update, member bool) (state.Handoff, error) {
	start := time.Now()
	user := userID(upd)
	lease, snap, err := p.store.LockTurn(ctx, conv, user, int64(upd.ID))
	if err != nil {
		return state.Handoff{}, err
	}
	p.metrics.waited(time.Since(start))
	defer lease.Release()
	if snap.Seen {
		p.log.Debug("duplicate update", "update_id", upd.ID)
		p.metrics.duplicate()
		// Its replies, if a crash left them, go out now.
		return state.Handoff{Elsewhere: true}, nil
	}
	turn := state.Turn{Conv: conv, User: user, UpdateID: int64(upd.ID)}
	if upd.MyChatMember != nil {
		// The person blocked or unblocked the bot: remember whether we may write.
		st := upd.MyChatMember.NewChatMember.Type
		reachable := st != models.ChatMemberTypeBanned && st != models.ChatMemberTypeLeft
		if err := p.store.SetReachable(ctx, conv.Chat, reachable); err != nil {
			return state.Handoff{}, err
		}
		return p.store.CommitAndSend(ctx, lease, turn)
	}
	ev, ok := toEvent(upd)
	if !ok {
		return p.store.CommitAndSend(ctx, lease, turn)
	}
	ev.Member = ev.Group && member
	cb := ""
	if upd.CallbackQuery != nil {
		cb = upd.CallbackQuery.ID
	}
	return p.turn(ctx, lease, snap, turn, ev, cb)
}

// turn runs the dialog on ev and saves the turn with its replies, queued in
// the chat's outbox behind any that still wait.
func (p *UpdateProcessor) turn(ctx context.Context, lease *state.Lease, snap state.Snapshot, turn state.Turn, ev dialogs.Event, callbackID string) (state.Handoff, error) {
	res := p.handle(ctx, snap.State, ev, turn.UpdateID)
	turn.Version, turn.State, turn.SaveState = snap.Version, res.State, true
	turn.Outbox = render(turn.Conv, ev.Key, callbackID, res)
	turn.Timers = p.timers(ev, res.Timers)
	return p.store.CommitAndSend(ctx, lease, turn)
}

// send sends the conversation's outbox in order under its send lock,
// unless another sender holds it (it sends these replies too) or the
// conversation is parked (its retry time comes later).
func (p *UpdateProcessor) send(ctx context.Context, conv state.Conv) error {
	lease, ok, err := p.store.TrySend(ctx, conv)
	if err != nil || !ok {
		return err
	}
	items, parkedUntil, err := p.store.Waiting(ctx, conv)
	if err != nil || (len(items) > 0 && parkedUntil.After(time.Now())) {
		lease.Release() // a 429 or a backoff still runs; RunOutbox comes back at its time
		return err
	}
	return p.sendFrom(ctx, conv, lease, items)
}

// sendFrom sends items, the conversation's outbox, under lease, its send
// lock, and ends with Finish, which lets the lock go only once the outbox
// is empty: a turn that queued replies meanwhile found the lock taken and
// left them to this sender, and Finish hands them over. Conversations
// that this one moved messages into are sent next.
func (p *UpdateProcessor) sendFrom(ctx context.Context, conv state.Conv, lease *state.Lease, items [][]byte) error {
	var moved []state.Conv
	defer func() {
		for _, to := range moved {
			if err := p.send(ctx, to); err != nil && !errors.Is(err, state.ErrLockLost) {
				p.log.Warn("could not send moved messages yet", "err", err)
			}
		}
	}()
	for {
		parked, to, err := p.deliverAll(ctx, lease, conv, items)
		moved = append(moved, to...)
		if err != nil || parked {
			lease.Release()
			return err
		}
		if items, err = p.store.Finish(ctx, lease); err != nil || len(items) == 0 {
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

// deliverAll works through items, the head of the conversation's outbox,
// in order, removing each once it is done: a message once Telegram
// accepted it (or refused it for good), an effect or a receipt once the
// feature did its part, a transfer once the item is in the other
// conversation's outbox (those conversations are returned, to be sent
// next). An effect and a sent message with a receipt are replaced in
// place by what follows from them. When something fails for now, the
// conversation is parked and parked is true; err is only for Redis
// failing or the lock lost.
func (p *UpdateProcessor) deliverAll(ctx context.Context, lease *state.Lease, conv state.Conv, items [][]byte) (parked bool, moved []state.Conv, err error) {
	for len(items) > 0 {
		if lease.Lost() {
			return false, moved, state.ErrLockLost // another holder sends them now
		}
		it, err := readItem(items[0])
		if err != nil {
			p.log.Error("dropping unreadable outbox item", "chat_id", conv.Chat, "err", err)
			it = outItem{Op: "unreadable"}
		}
		var next [][]byte // what takes the item's place
		sent := false     // a message went: it counts toward the chat's reply lane
		var res delivery  // what the Bot API call came to, for a call
		switch it.Op {
		case "unreadable":
		case opEffect:
			replies, err := p.dlg.RunEffect(ctx, *it.Effect)
			p.metrics.effect(it.Effect.Verb, err)
			if err != nil {
				p.log.Warn("effect failed, retrying later", "chat_id", conv.Chat, "err", err)
				return true, moved, p.park(ctx, lease, conv, 0, true)
			}
			next = render(conv, it.ID, "", dialogs.Result{Replies: replies})
		case opTransfer:
			to := state.Conv{Chat: it.To.Chat, Thread: it.To.Thread}
			if err := p.store.Transfer(ctx, to, it.ID, it.Item); err != nil {
				return false, moved, err
			}
			moved = append(moved, to)
		case opReceipt:
			replies, err := p.dlg.Receipt(ctx, *it.Sent)
			if err != nil {
				p.log.Warn("receipt not recorded, retrying later", "chat_id", conv.Chat, "err", err)
				return true, moved, p.park(ctx, lease, conv, 0, true)
			}
			// Keyed by the receipt: handled again after a crash, its
			// transfers have the same ids and are moved once.
			next = render(conv, receiptKey(*it.Sent), "", dialogs.Result{Replies: replies})
			if len(next) == 0 {
				next = nil
			}
		default:
			if counts(it) {
				// The chat's reply lane (state.SetReplyLane): a short wait is
				// waited, a long one waits in the outbox.
				pace, err := p.store.Pace(ctx, lease)
				if err != nil {
					return false, moved, err
				}
				if pace > time.Second {
					return true, moved, p.park(ctx, lease, conv, pace, false)
				} else if err := sleepCtx(ctx, pace); err != nil {
					return false, moved, err
				}
			}
			res = p.deliver(ctx, it)
			sent = res.outcome == sentOK && counts(it)
			switch res.outcome {
			case sentOK, refused:
				if it.Receipt != "" {
					s := &dialogs.Sent{Receipt: it.Receipt, Chat: it.ChatID, Thread: it.Thread, MessageID: res.msgID, Failed: res.failed}
					if it.Op == opTopic {
						s.Thread = res.thread
					}
					raw, _ := json.Marshal(outItem{Op: opReceipt, Sent: s})
					next = [][]byte{raw}
				}
			case unreachable:
				p.log.Info("chat unreachable, outbox dropped", "chat_id", conv.Chat)
				if err := p.told(ctx, it, &moved); err != nil {
					return false, moved, err
				}
				if err := p.store.SetReachable(ctx, conv.Chat, false); err != nil {
					return false, moved, err
				}
				return false, moved, p.store.Clear(ctx, lease)
			case throttled, later:
				if ctx.Err() != nil {
					return false, moved, ctx.Err() // stopping: the outbox stays for the next start
				}
				return true, moved, p.park(ctx, lease, conv, res.wait, res.outcome == later)
			}
		}
		if next != nil {
			if err := p.store.ReplaceHead(ctx, lease, next, sent); err != nil {
				return false, moved, err
			}
			items = append(next, items[1:]...)
			continue
		}
		if repeatable(it, res) {
			lease.Done(sent) // leaves the outbox with the next write: a repeat after a crash is harmless
		} else if err := p.store.Pop(ctx, lease, sent); err != nil {
			return false, moved, err
		}
		items = items[1:]
	}
	return false, moved, nil
}

// repeatable tells the Bot API calls that may be made twice without anyone
// seeing it, so that they need not leave the outbox one by one as soon as
// Telegram took them (see Lease.Done): a button's answer (a second one is
// refused as too old, which counts as done), an edit (a second one is "not
// modified"), the chat's command menu, a topic's name, a reaction. A new
// message is not: sent twice, it is read twice.
func repeatable(it outItem, res delivery) bool {
	if res.outcome != sentOK || res.resent || it.Receipt != "" {
		return false
	}
	switch it.Op {
	case opAnswer, opEdit, opCommands, opRename, opReact:
		return true
	}
	return false
}

// receiptKey makes the ids of what a receipt's replies move elsewhere: a
// receipt's tag names one message of its feature, and the message id it
// became, so it is unique and the same when handled again.
func receiptKey(s dialogs.Sent) string {
	return "rc:" + s.Receipt + ":" + strconv.Itoa(s.MessageID) + ":" + s.Failed
}

// told hands a feature the news that its message can never reach a chat
// that blocked the bot (the chat's outbox is dropped next, so only what
// goes to other conversations is kept of the replies).
func (p *UpdateProcessor) told(ctx context.Context, it outItem, moved *[]state.Conv) error {
	if it.Receipt == "" {
		return nil
	}
	s := dialogs.Sent{Receipt: it.Receipt, Chat: it.ChatID, Thread: it.Thread, Failed: dialogs.FailBlocked}
	replies, err := p.dlg.Receipt(ctx, s)
	if err != nil {
		return err
	}
	for _, raw := range render(state.ChatConv(it.ChatID), receiptKey(s), "", dialogs.Result{Replies: replies}) {
		t, err := readItem(raw)
		if err != nil || t.Op != opTransfer {
			continue
		}
		to := state.Conv{Chat: t.To.Chat, Thread: t.To.Thread}
		if err := p.store.Transfer(ctx, to, t.ID, t.Item); err != nil {
			return err
		}
		*moved = append(*moved, to)
	}
	return nil
}

// counts tells the Bot API calls Telegram counts as messages to the chat.
func counts(it outItem) bool {
	switch it.Op {
	case opSend, opEdit, opVenue, opCopy, opTopic, opRename, opFile:
		return true
	}
	return false
}

// readItem decodes an outbox item and checks that it has what its op needs.
func readItem(raw []byte) (outItem, error) {
	var it outItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return it, err
	}
	switch {
	case it.Op == opEffect && it.Effect == nil,
		it.Op == opTransfer && (it.To == nil || it.ID == "" || len(it.Item) == 0),
		it.Op == opReceipt && it.Sent == nil,
		it.Op == opFile && it.File == nil:
		return it, fmt.Errorf("a %s item without its data", it.Op)
	}
	return it, nil
}

// park makes the conversation's outbox wait: exactly retry_after for a
// 429 or a lane's wait, otherwise a pause that grows with each failure in
// a row. A wait for a lane is not a failure and does not count as one.
func (p *UpdateProcessor) park(ctx context.Context, lease *state.Lease, conv state.Conv, wait time.Duration, failed bool) error {
	attempts, err := p.store.ParkAttempts(ctx, conv)
	if err != nil {
		return err
	}
	if failed {
		attempts++
	}
	switch {
	case !failed:
		p.metrics.parked(parkLane)
	case wait > 0:
		p.metrics.parked(parkRetryAfter)
	default:
		p.metrics.parked(parkFailure)
	}
	if wait <= 0 {
		wait = backoff.Delay(max(attempts, 1), parkBase, parkMax)
	}
	if failed {
		p.log.Warn("replies to a chat wait for a retry", "chat_id", conv.Chat, "attempt", attempts, "retry_in_s", wait.Seconds())
	}
	return p.store.Park(ctx, lease, time.Now().Add(wait), attempts)
}

// outcome is what became of one outbox item.
type outcome int

const (
	sentOK      outcome = iota // sent: remove it
	refused                    // refused for good (400): remove it, its feature is told
	unreachable                // the person blocked the bot: drop the chat's outbox
	later                      // not now: park the chat (wait > 0 is Telegram's retry_after)
	throttled                  // the group's budget has no slot now: wait, it is no failure
)

// delivery is what one Bot API call came to.
type delivery struct {
	outcome outcome
	wait    time.Duration // later, throttled: how long
	msgID   int           // sentOK: the message sent, copied or edited
	thread  int           // sentOK of opTopic: the new topic
	failed  string        // refused: dialogs.Fail...
	resent  bool          // an edit of a message that is gone, sent as a new message
}

// deliver makes one Bot API call. A request Telegram refuses for good (400)
// is logged and skipped: repeating it cannot help, and it must not block the
// chat's later replies. Nothing is retried here: a failure parks the chat,
// so that no chat holds a worker, its lock or the intake while it waits.
func (p *UpdateProcessor) deliver(ctx context.Context, it outItem) delivery {
	group := groupLane(it)
	if group != "" && p.groups != nil {
		ok, retryIn, err := p.groups.Take(ctx, group, time.Second)
		switch {
		case err != nil:
			p.log.Warn("group budget unavailable", "err", err)
			return delivery{outcome: later}
		case !ok:
			return delivery{outcome: throttled, wait: retryIn}
		}
	}
	if it.Op == opFile && it.File != nil {
		// Made now, from what the reply names: the bytes never wait in Redis.
		up, err := p.dlg.RenderFile(ctx, *it.File)
		switch {
		case errors.Is(err, dialogs.ErrNoFile):
			p.log.Warn("a file can no longer be made, dropped", "chat_id", it.ChatID, "kind", it.File.Kind)
			return delivery{outcome: refused, failed: dialogs.FailRefused}
		case err != nil:
			p.log.Warn("a file could not be made, retrying later", "chat_id", it.ChatID, "kind", it.File.Kind, "err", err)
			return delivery{outcome: later}
		}
		it.upload = &up
	}
	resent := false
	for {
		callCtx, cancel := context.WithTimeout(ctx, p.callTimeout)
		msgID, thread, err := p.call(callCtx, it)
		cancel()
		if wait, limited := retryAfter(err); limited {
			p.log.Warn("rate limited by Telegram", "retry_after_s", wait.Seconds(), "op", it.Op)
			if group != "" && p.groups != nil {
				// Telegram counts per group: every topic, on every instance, waits.
				if err := p.groups.Pause(ctx, group, wait); err != nil {
					p.log.Warn("group pause not shared", "err", err)
				}
			}
			return delivery{outcome: later, wait: wait}
		}
		switch {
		case err == nil:
			return delivery{outcome: sentOK, msgID: msgID, thread: thread, resent: resent}
		case errors.Is(err, tgbot.ErrorForbidden):
			if it.ChatID < 0 {
				// A group that removed the bot: its messages are refused,
				// the group is not a person who blocked us.
				p.log.Error("Telegram refused a message to a group", "op", it.Op, "chat_id", it.ChatID, "err", err)
				return delivery{outcome: refused, failed: dialogs.FailRefused}
			}
			return delivery{outcome: unreachable}
		case errors.Is(err, tgbot.ErrorBadRequest):
			desc := err.Error()
			switch {
			case strings.Contains(desc, "message is not modified"):
				return delivery{outcome: sentOK, msgID: it.MessageID} // a refresh with nothing new: the person sees the same screen
			case it.Op == opEdit && (strings.Contains(desc, "message to edit not found") || strings.Contains(desc, "message can't be edited")):
				it.Op, it.MessageID = opSend, 0 // too old to edit: send it anew
				resent = true
				continue
			case it.Op == opAnswer:
				return delivery{outcome: sentOK} // the query expired (e.g. after a restart); the replies still come
			case topicGone(desc):
				p.log.Warn("a forum topic is gone", "chat_id", it.ChatID, "op", it.Op)
				return delivery{outcome: refused, failed: dialogs.FailTopicGone}
			}
			p.log.Error("Telegram refused a reply", "op", it.Op, "chat_id", it.ChatID, "err", err)
			return delivery{outcome: refused, failed: dialogs.FailRefused}
		}
		p.log.Warn("Bot API call failed", "op", it.Op, "chat_id", it.ChatID, "err", err)
		return delivery{outcome: later}
	}
}

// topicGone: Telegram's answers for a topic that was deleted or closed.
func topicGone(desc string) bool {
	for _, s := range []string{"message thread not found", "TOPIC_DELETED", "TOPIC_CLOSED", "TOPIC_ID_INVALID"} {
		if strings.Contains(desc, s) {
			return true
		}
	}
	return false
}

// groupLane is the budget key of a message to a group or supergroup ("" for
// a private chat, and for calls Telegram does not count as messages).
func groupLane(it outItem) string {
	if it.ChatID >= 0 || !counts(it) {
		return ""
	}
	return "group:" + strconv.FormatInt(it.ChatID, 10)
}

// call makes the item's Bot API call; the id is of the message sent,
// copied or edited, thread that of a created topic.
func (p *UpdateProcessor) call(ctx context.Context, it outItem) (msgID, thread int, err error) {
	var msg *models.Message
	switch it.Op {
	case opAnswer:
		_, err = p.api.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: it.CallbackID, Text: it.Text})
	case opEdit:
		params := &tgbot.EditMessageTextParams{ChatID: it.ChatID, MessageID: it.MessageID, Text: it.Text, ParseMode: models.ParseModeHTML, LinkPreviewOptions: noPreview()}
		if len(it.Buttons) > 0 {
			params.ReplyMarkup = inlineMarkup(it.Buttons)
		}
		msg, err = p.api.EditMessageText(ctx, params)
	case opVenue:
		if it.Venue == nil {
			return 0, 0, nil // cannot happen: render always sets it
		}
		msg, err = p.api.SendVenue(ctx, &tgbot.SendVenueParams{ChatID: it.ChatID, MessageThreadID: it.Thread, Latitude: it.Venue.Lat, Longitude: it.Venue.Lon,
			Title: it.Venue.Title, Address: it.Venue.Address, ReplyMarkup: it.markup()})
	case opCommands:
		cmds := make([]models.BotCommand, len(it.Commands))
		for i, c := range it.Commands {
			cmds[i] = models.BotCommand{Command: c.Name, Description: c.Description}
		}
		_, err = p.api.SetMyCommands(ctx, &tgbot.SetMyCommandsParams{Commands: cmds, Scope: &models.BotCommandScopeChat{ChatID: it.ChatID}})
	case opCopy:
		if it.Copy == nil {
			return 0, 0, nil
		}
		if len(it.Copy.More) > 0 { // an album: copied together, it stays one
			var ids []models.MessageID
			ids, err = p.api.CopyMessages(ctx, &tgbot.CopyMessagesParams{ChatID: it.ChatID, MessageThreadID: it.Thread, FromChatID: it.Copy.FromChat,
				MessageIDs: append([]int{it.Copy.MessageID}, it.Copy.More...)})
			if err == nil && len(ids) > 0 {
				return ids[0].ID, 0, nil
			}
			break
		}
		params := &tgbot.CopyMessageParams{ChatID: it.ChatID, MessageThreadID: it.Thread, FromChatID: it.Copy.FromChat, MessageID: it.Copy.MessageID, ReplyMarkup: it.markup()}
		if it.Text != "" {
			params.Caption, params.ParseMode = it.Text, models.ParseModeHTML
		}
		var id *models.MessageID
		if id, err = p.api.CopyMessage(ctx, params); err == nil && id != nil {
			return id.ID, 0, nil
		}
	case opTopic:
		var topic *models.ForumTopic
		if topic, err = p.api.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: it.ChatID, Name: it.Text}); err == nil && topic != nil {
			return topic.MessageThreadID, topic.MessageThreadID, nil
		}
	case opFile:
		if it.upload == nil {
			return 0, 0, nil // cannot happen: deliver made it
		}
		file := &models.InputFileUpload{Filename: it.upload.Name, Data: bytes.NewReader(it.upload.Body)}
		var caption string
		var mode models.ParseMode
		if it.Text != "" {
			caption, mode = it.Text, models.ParseModeHTML
		}
		if it.File.Photo {
			msg, err = p.api.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: it.ChatID, MessageThreadID: it.Thread, Photo: file,
				Caption: caption, ParseMode: mode, ReplyMarkup: it.markup()})
		} else {
			msg, err = p.api.SendDocument(ctx, &tgbot.SendDocumentParams{ChatID: it.ChatID, MessageThreadID: it.Thread, Document: file,
				Caption: caption, ParseMode: mode, ReplyMarkup: it.markup()})
		}
	case opRename:
		_, err = p.api.EditForumTopic(ctx, &tgbot.EditForumTopicParams{ChatID: it.ChatID, MessageThreadID: it.Thread, Name: it.Text})
	case opReact:
		_, err = p.api.SetMessageReaction(ctx, &tgbot.SetMessageReactionParams{ChatID: it.ChatID, MessageID: it.MessageID,
			Reaction: []models.ReactionType{{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Type: models.ReactionTypeTypeEmoji, Emoji: it.Emoji}}}})
	default:
		msg, err = p.api.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: it.ChatID, MessageThreadID: it.Thread, Text: it.Text, ParseMode: models.ParseModeHTML, ReplyMarkup: it.markup(), LinkPreviewOptions: noPreview()})
	}
	if err != nil || msg == nil {
		return 0, 0, err
	}
	return msg.ID, 0, nil
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

// sendWaiting drains the outboxes of conversations, each under its lock.
func (p *UpdateProcessor) sendWaiting(ctx context.Context, convs []state.Conv) {
	for _, c := range convs {
		if ctx.Err() != nil {
			return
		}
		if err := p.Drain(ctx, c); err != nil && !errors.Is(err, state.ErrLockLost) {
			p.log.Warn("could not send waiting replies", "chat_id", c.Chat, "err", err)
		}
	}
}

// Drain sends a conversation's outbox in order if nobody else is sending it
// and no retry pause of it still runs.
func (p *UpdateProcessor) Drain(ctx context.Context, c state.Conv) error { return p.send(ctx, c) }
