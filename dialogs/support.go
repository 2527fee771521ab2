package dialogs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/kabinet-bot/kabinet/billing"
)

// Support is what the support feature needs from its store of requests
// (support.Store implements it over PostgreSQL). Every write is keyed so
// that the same update handled again after a crash changes nothing twice.
type Support interface {
	// Open files a request once per key: the same key returns the request
	// it filed then. msgs are the subscriber's messages that describe it.
	Open(ctx context.Context, key string, r NewRequest, msgs []RequestMessage) (Request, error)
	// Request returns one request (ErrNoRequest if there is none).
	Request(ctx context.Context, id int64) (Request, error)
	// Active returns the user's newest request that is not closed (ErrNoRequest).
	Active(ctx context.Context, userID int64) (Request, error)
	// ByTopic returns the request of a forum topic (ErrNoRequest).
	ByTopic(ctx context.Context, chat int64, thread int) (Request, error)
	// List returns the user's newest n requests, newest first.
	List(ctx context.Context, userID int64, n int) ([]Request, error)
	// AddMessage records one message of a request, once per (request, side,
	// source message): the same message again returns the row it made.
	// relay tells that it must be relayed now; false while the request's
	// topic is being made (TopicCreated relays it then), and for notes.
	AddMessage(ctx context.Context, m RequestMessage) (row RequestMessage, relay bool, err error)
	// Copied returns the message of the other side that relays message
	// src of side (0 if it was not relayed yet), for relaying an edit.
	Copied(ctx context.Context, requestID int64, side string, src int) (int, error)
	// TopicCreated records the request's topic and returns the subscriber's
	// messages that waited for it, now to be relayed.
	TopicCreated(ctx context.Context, requestID int64, thread int) ([]RequestMessage, error)
	// AlbumWaiting hands over the messages of an album that wait to be
	// relayed together (none while the topic is being made).
	AlbumWaiting(ctx context.Context, requestID int64, album string) ([]RequestMessage, error)
	// TopicLost forgets a topic that was deleted, so that the next message
	// waits for a new one, and makes msg wait for it too.
	TopicLost(ctx context.Context, requestID int64, msgID int64) error
	// Message returns one message row (ErrNoRequest if there is none).
	Message(ctx context.Context, id int64) (RequestMessage, error)
	// Delivered records that message row id was relayed as message dst.
	Delivered(ctx context.Context, id int64, dst int) error
	// SetStatus changes a request's status; operator (0: keep) is who did it.
	// It reports whether anything changed, so that a repeated press is quiet.
	SetStatus(ctx context.Context, id int64, status RequestStatus, operator int64, now time.Time) (bool, error)
	// Rate stores the subscriber's rating (1-5) and, later, a comment.
	Rate(ctx context.Context, id int64, rating int, comment string) error
	// OperatorName is the name an operator signs with ("" if never set).
	OperatorName(ctx context.Context, userID int64) (string, error)
	// SetOperatorName stores it.
	SetOperatorName(ctx context.Context, userID int64, name string) error
	// SetDetails records a request's kind ("problem", "callback",
	// "connect") and the details operators need (when to call, the address).
	SetDetails(ctx context.Context, id int64, kind, details string) error
	// Details returns them.
	Details(ctx context.Context, id int64) (kind, details string, err error)
	// AnnounceOutage records an outage in a city, once per key.
	AnnounceOutage(ctx context.Context, key string, o Outage) (Outage, error)
	// EndOutage marks an outage over; false when it was over already.
	EndOutage(ctx context.Context, id int64, now time.Time) (Outage, bool, error)
	// Outages lists the outages going on in a city ("": everywhere).
	Outages(ctx context.Context, city string) ([]Outage, error)
	// Assign gives a request to an operator; false if it was theirs already.
	Assign(ctx context.Context, id, operator int64) (bool, error)
	// Operators lists the operators who set a signature (/name).
	Operators(ctx context.Context) ([]Operator, error)
}

// Operator is someone who answers requests, by the name they sign with.
type Operator struct {
	UserID int64
	Name   string
}

// Outage is a known failure of the network in a city.
type Outage struct {
	ID    int64
	City  string
	Until time.Time // expected end; zero if unknown
	Text  string
	By    int64 // the operator who announced it
	Ended bool
}

// ErrNoRequest is what Support answers when there is no such request.
var ErrNoRequest = errors.New("dialogs: no such support request")

// RequestStatus is where a support request stands.
type RequestStatus string

// The statuses a subscriber sees in "My requests".
const (
	StatusNew     RequestStatus = "new"     // filed, nobody took it yet
	StatusWork    RequestStatus = "work"    // an operator works on it
	StatusWaiting RequestStatus = "waiting" // the operator answered: waiting for the subscriber
	StatusSolved  RequestStatus = "solved"  // the operator marked it solved
	StatusClosed  RequestStatus = "closed"  // closed: a new message opens a new request
)

// NewRequest is what a subscriber files.
type NewRequest struct {
	UserID, ChatID int64
	AccountID      int64  // 0: no linked account
	Phone          string // for a request without an account: the phone to call back
	Category       string
	City           string // the account's city, for routing and the topic's name
	Lang           string
	Group          int64 // the operators' group it goes to
}

// Request is a support request.
type Request struct {
	ID                  int64
	UserID, ChatID      int64
	AccountID           int64
	Phone               string
	Category, City      string
	Lang                string
	Status              RequestStatus
	Group               int64
	Thread              int // 0 until its topic is made
	Operator            int64
	Rating              int
	CreatedAt, SolvedAt time.Time
	LastText            string // the newest message's text, for "My requests"
}

// Sides of a request's messages.
const (
	SideSubscriber = "sub"
	SideOperator   = "op"
	SideNote       = "note" // internal: never relayed
)

// RequestMessage is one message of a request.
type RequestMessage struct {
	ID        int64 // the row, once stored
	RequestID int64
	Side      string
	SrcChat   int64
	SrcMsg    int
	Text      string // the text or caption, for the history
	Media     bool
	Album     string // media_group_id: relayed together with the rest of its album
	Operator  int64  // SideOperator: who wrote it
}

// SupportConfig holds the support settings.
type SupportConfig struct {
	// Groups are the operators' forum supergroups; requests are spread
	// over them by RouteBy.
	Groups []int64
	// CityGroups sends the requests of a city to a group (the rest go
	// round-robin over Groups).
	CityGroups map[string]int64
	// OpenAt tells whether operators answer at t in loc, and if not, when
	// they start again (the provider's working hours).
	OpenAt func(t time.Time, loc *time.Location) (open bool, next time.Time)
	// AutoClose closes a solved request the subscriber did not answer.
	AutoClose time.Duration
	// Lang is the operators' language.
	Lang string
	// FirstResponse: a request no operator answered within this much
	// working time is reported once in its group's General topic (0: 15m).
	FirstResponse time.Duration
}

// The request categories, in the order of the buttons.
var supportCategories = []string{"net", "slow", "tv", "pay", "equip", "other"}

// Steps of the support flow.
const (
	StepSupportPhone    Step = "support.phone"    // no account: the phone to reach them
	StepSupportDescribe Step = "support.describe" // collecting the description
	StepSupportComment  Step = "support.comment"  // an optional comment after the rating
)

type supportFeature struct {
	store Support
	cfg   SupportConfig
}

// WithSupport adds support: requests filed in the chat, answered by live
// operators in forum topics, relayed both ways. Call it right after New.
func (e *Engine) WithSupport(store Support, cfg SupportConfig) *Engine {
	if cfg.Lang == "" {
		cfg.Lang = "ru"
	}
	if cfg.AutoClose <= 0 {
		cfg.AutoClose = 24 * time.Hour
	}
	if cfg.FirstResponse <= 0 {
		cfg.FirstResponse = 15 * time.Minute
	}
	if cfg.OpenAt == nil {
		cfg.OpenAt = func(time.Time, *time.Location) (bool, time.Time) { return true, time.Time{} }
	}
	f := &supportFeature{store: store, cfg: cfg}
	e.reg.callback("sup", f.callback)
	e.reg.callback("spo", f.operatorButton)
	e.reg.steps[StepSupportPhone] = f.phoneInput
	e.reg.steps[StepSupportDescribe] = f.describeInput
	e.reg.steps[StepSupportComment] = f.commentInput
	e.reg.command("support", func(e *Engine, t *turn) error { return f.start(e, t, 0) })
	e.reg.menu = append(e.reg.menu, func(e *Engine, t *turn, linked bool) []Button {
		return []Button{{Text: e.t(t, "btn_support", nil), Data: "sup"}}
	})
	e.reg.idleMessage = append(e.reg.idleMessage, f.relayFromSubscriber)
	e.reg.idleText = append(e.reg.idleText, func(e *Engine, t *turn) (bool, error) {
		if !looksLikeProblem(t.ev.Text) {
			return false, nil
		}
		return true, f.start(e, t, 0)
	})
	e.reg.help = append(e.reg.help, func(e *Engine, t *turn) string { return e.t(t, "help_support", nil) })
	// While an outage lasts in the account's city, its balance screen says
	// so first: "no internet" is then not about the money.
	e.reg.balanceTop = append(e.reg.balanceTop, func(e *Engine, t *turn, acc billing.Account) (string, error) {
		return f.outagesText(e, t, acc.City, e.location(acc))
	})
	e.reg.receipt("sup", f.receipt)
	e.reg.timer("supclose", f.autoClose)
	e.reg.timer("supalbum", f.relayAlbum)
	e.reg.group = f.groupEvent
	f.registerRequests(e)
	return e
}

// --- The subscriber's side ---

// start shows the categories; edit > 0 turns the pressed message into them.
func (f *supportFeature) start(e *Engine, t *turn, edit int) error {
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	// Someone with a request open most likely wants to add to it: say so,
	// and offer a new one only as the second choice.
	if req, err := f.store.Active(t.ctx, t.ev.UserID); err == nil {
		t.reply(Reply{Text: e.t(t, "sup_open_already", map[string]any{"ID": req.ID, "Status": e.t(t, "sup_status_"+string(req.Status), nil)}), Edit: edit, Buttons: [][]Button{
			{{Text: e.t(t, "btn_sup_write", map[string]any{"ID": req.ID}), Data: fmt.Sprintf("sup:w:%d", req.ID)}},
			{{Text: e.t(t, "btn_sup_new", nil), Data: "sup:new"}},
			{{Text: e.t(t, "btn_sup_mine", nil), Data: "sup:mine"}, e.menuButton(t)},
		}})
		return nil
	} else if !errors.Is(err, ErrNoRequest) {
		return err
	}
	return f.categories(e, t, edit)
}

// categories asks what happened.
func (f *supportFeature) categories(e *Engine, t *turn, edit int) error {
	var rows [][]Button
	for i := 0; i < len(supportCategories); i += 2 {
		var row []Button
		for _, c := range supportCategories[i:min(i+2, len(supportCategories))] {
			row = append(row, Button{Text: e.t(t, "sup_cat_"+c, nil), Data: "sup:cat:" + c})
		}
		rows = append(rows, row)
	}
	rows = append(rows,
		[]Button{{Text: e.t(t, "btn_sup_callback", nil), Data: "sup:cb"}},
		[]Button{{Text: e.t(t, "btn_sup_connect", nil), Data: "sup:conn"}},
		[]Button{{Text: e.t(t, "btn_sup_mine", nil), Data: "sup:mine"}}, []Button{e.menuButton(t)})
	t.reply(Reply{Text: e.t(t, "sup_choose", nil), Buttons: rows, Edit: edit})
	return nil
}

func (f *supportFeature) callback(e *Engine, t *turn, arg string, edit int) error {
	verb, rest, _ := strings.Cut(arg, ":")
	switch verb {
	case "":
		return f.start(e, t, edit)
	case "new":
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		return f.categories(e, t, edit)
	case "cat":
		return f.category(e, t, rest, edit, true)
	case "go": // "file it anyway", past what the bot already knows
		return f.category(e, t, rest, edit, false)
	case "send":
		return f.file(e, t)
	case "mine":
		return f.mine(e, t, edit)
	case "w": // write into this request
		id, _ := strconv.ParseInt(rest, 10, 64)
		req, err := f.store.Request(t.ctx, id)
		if err != nil && !errors.Is(err, ErrNoRequest) {
			return err
		}
		if err != nil || req.UserID != t.ev.UserID || req.Status == StatusClosed {
			t.res.Toast = e.t(t, "button_outdated", nil)
			return e.prompt(t)
		}
		t.st = State{Lang: t.st.Lang, LangLoaded: true, Request: id}
		t.reply(Reply{Text: e.t(t, "sup_write_prompt", map[string]any{"ID": id})})
		return nil
	case "yes", "no", "rate":
		return f.afterSolved(e, t, verb, rest, edit)
	case "cb", "slot", "cbok", "conn", "ckind":
		return f.requestButton(e, t, verb, rest, edit)
	case "skip":
		if t.st.Step == StepSupportComment {
			t.st = State{Lang: t.st.Lang, LangLoaded: true}
			t.reply(Reply{Text: e.t(t, "sup_thanks", nil), Buttons: [][]Button{{e.menuButton(t)}}, Edit: edit})
			return nil
		}
	}
	t.res.Toast = e.t(t, "button_outdated", nil)
	return e.prompt(t)
}

func validCategory(c string) bool {
	for _, x := range supportCategories {
		if x == c {
			return true
		}
	}
	return false
}

// category answers what the bot already knows about a problem of this
// category (check), then asks for a phone (no account) or a description.
func (f *supportFeature) category(e *Engine, t *turn, cat string, edit int, check bool) error {
	if !validCategory(cat) {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	acc, err := e.accounts.CurrentAccount(t.ctx, t.ev.UserID)
	linked := err == nil
	if err != nil && !errors.Is(err, billing.ErrNotFound) {
		return err
	}
	if check && linked && (cat == "net" || cat == "slow") {
		known, err := f.known(e, t, acc, cat)
		if err != nil {
			return err
		}
		if known != nil {
			t.reply(*known)
			return nil
		}
	}
	carried := t.st // a message that started the request is its first description
	t.st = State{Lang: t.st.Lang, LangLoaded: true, Step: StepSupportDescribe, Category: cat,
		Messages: carried.Messages, Texts: carried.Texts, MediaAt: carried.MediaAt, AlbumAt: carried.AlbumAt, Media: carried.Media, Summary: carried.Summary}
	if !linked {
		t.st.Step = StepSupportPhone
		t.reply(Reply{Text: e.t(t, "sup_ask_phone", nil), Edit: edit, Keyboard: &Keyboard{Rows: [][]KeyButton{
			{{Text: e.t(t, "btn_share_phone", nil), RequestContact: true}},
			{{Text: e.t(t, "btn_cancel_key", nil)}},
		}}})
		return nil
	}
	t.st.Account = acc.ID
	t.reply(f.describePrompt(e, t, edit))
	return nil
}

// known is what the bot can say before a "no connection" or "slow"
// request is filed: a blocked account needs money, not an engineer.
func (f *supportFeature) known(e *Engine, t *turn, acc billing.Account, cat string) (*Reply, error) {
	anyway := []Button{{Text: e.t(t, "btn_sup_anyway", nil), Data: "sup:go:" + cat}}
	switch acc.Status {
	case billing.StatusBlocked:
		need := acc.Forecast(e.now(), e.location(acc)).Need
		rows := e.featureBalance(t, acc) // Pay, trust payment
		rows = append(rows, anyway, []Button{e.menuButton(t)})
		return &Reply{Text: e.t(t, "sup_known_blocked", map[string]any{"Number": esc(acc.Number), "Need": need.Format(t.lang)}), Buttons: rows}, nil
	case billing.StatusFrozen:
		return &Reply{Text: e.t(t, "sup_known_frozen", map[string]any{"Number": esc(acc.Number)}), Buttons: [][]Button{anyway, {e.menuButton(t)}}}, nil
	}
	text, err := f.outagesText(e, t, acc.City, e.location(acc))
	if err != nil || text == "" {
		return nil, err
	}
	return &Reply{Text: text, Buttons: [][]Button{anyway, {e.menuButton(t)}}}, nil
}

func (f *supportFeature) describePrompt(e *Engine, t *turn, edit int) Reply {
	if len(t.st.Messages) > 0 {
		r := f.confirm(e, t)
		r.Edit = edit
		return r
	}
	return Reply{Text: e.t(t, "sup_describe", map[string]any{"Category": e.t(t, "sup_cat_"+t.st.Category, nil)}), Edit: edit,
		Keyboard: &Keyboard{Rows: [][]KeyButton{{{Text: e.t(t, "btn_cancel_key", nil)}}}}}
}

// phoneInput takes the phone of a subscriber without an account.
func (f *supportFeature) phoneInput(e *Engine, t *turn) error {
	if t.ev.Kind == KindText && (isCancelWord(t.ev.Text) || t.ev.Text == e.t(t, "btn_cancel_key", nil)) {
		return f.cancel(e, t)
	}
	var phone string
	switch {
	case t.ev.Kind == KindContact && t.ev.Contact != nil:
		phone = normalizePhone(t.ev.Contact.Phone)
	case t.ev.Kind == KindText:
		phone = normalizePhone(t.ev.Text)
	}
	if n := len(phone) - 1; n < 10 || n > 15 {
		t.reply(Reply{Text: e.t(t, "sup_phone_again", nil)})
		return nil
	}
	t.st.Phone = phone
	if done, err := f.afterPhone(e, t); done {
		return err
	}
	t.st.Step = StepSupportDescribe
	t.reply(f.describePrompt(e, t, 0))
	return nil
}

// maxDescribe bounds the messages one description collects.
const maxDescribe = 10

// describeInput collects the messages that describe the problem: text,
// photos, files, voice. Each is kept by its id and copied to the
// operators as it is.
func (f *supportFeature) describeInput(e *Engine, t *turn) error {
	if t.ev.Kind == KindText && (isCancelWord(t.ev.Text) || t.ev.Text == e.t(t, "btn_cancel_key", nil)) {
		return f.cancel(e, t)
	}
	if (t.ev.Kind != KindText && !(t.ev.Kind == KindOther && t.ev.Media)) || t.ev.MessageID == 0 {
		t.reply(Reply{Text: e.t(t, "sup_describe_what", nil)})
		return nil
	}
	if len(t.st.Messages) >= maxDescribe {
		t.reply(f.confirm(e, t))
		return nil
	}
	t.st.Messages = append(t.st.Messages, t.ev.MessageID)
	t.st.Texts = append(t.st.Texts, truncateRunes(t.ev.Text, 500))
	t.st.MediaAt = append(t.st.MediaAt, t.ev.Media)
	t.st.AlbumAt = append(t.st.AlbumAt, t.ev.Album)
	if t.ev.Media {
		t.st.Media++
	}
	if t.st.Summary == "" && strings.TrimSpace(t.ev.Text) != "" {
		t.st.Summary = truncateRunes(strings.TrimSpace(t.ev.Text), 300)
	}
	t.reply(f.confirm(e, t))
	return nil
}

// confirm shows what will be sent, with Send.
func (f *supportFeature) confirm(e *Engine, t *turn) Reply {
	texts := len(t.st.Messages) - t.st.Media
	what := []string{}
	if texts > 0 {
		what = append(what, e.n(t, "sup_n_texts", texts, nil))
	}
	if t.st.Media > 0 {
		what = append(what, e.n(t, "sup_n_files", t.st.Media, nil))
	}
	text := e.t(t, "sup_confirm", map[string]any{"Category": e.t(t, "sup_cat_"+t.st.Category, nil), "What": strings.Join(what, ", ")})
	if t.st.Summary != "" {
		text += "\n\n<blockquote>" + esc(t.st.Summary) + "</blockquote>"
	}
	return Reply{Text: text, Buttons: [][]Button{
		{{Text: e.t(t, "btn_sup_send", nil), Data: "sup:send"}},
		{{Text: e.t(t, "btn_cancel", nil), Data: "cancel"}},
	}}
}

func (f *supportFeature) cancel(e *Engine, t *turn) error {
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.reply(Reply{Text: e.t(t, "cancelled", nil), Keyboard: &Keyboard{Remove: true}})
	return e.menu(t, 0)
}

// file files the request: once per press (the key), with the messages
// collected, and asks for its topic in the operators' group.
func (f *supportFeature) file(e *Engine, t *turn) error {
	if t.st.Step != StepSupportDescribe || len(t.st.Messages) == 0 {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	if len(f.cfg.Groups) == 0 && len(f.cfg.CityGroups) == 0 {
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.reply(Reply{Text: e.t(t, "sup_unavailable", nil), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	}
	nr := NewRequest{UserID: t.ev.UserID, ChatID: t.ev.ChatID, Phone: t.st.Phone, Category: t.st.Category, Lang: t.lang}
	loc := e.cfg.Location
	if t.st.Account != 0 {
		acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, t.st.Account)
		if err != nil && !errors.Is(err, billing.ErrNotFound) {
			return err
		}
		if err == nil {
			nr.AccountID, nr.City, loc = acc.ID, acc.City, e.location(acc)
		}
	}
	nr.Group = f.route(nr.City, t.ev.UserID)
	msgs := make([]RequestMessage, len(t.st.Messages))
	for i, id := range t.st.Messages {
		msgs[i] = RequestMessage{Side: SideSubscriber, SrcChat: t.ev.ChatID, SrcMsg: id}
		if i < len(t.st.Texts) && i < len(t.st.MediaAt) && i < len(t.st.AlbumAt) {
			msgs[i].Text, msgs[i].Media, msgs[i].Album = t.st.Texts[i], t.st.MediaAt[i], t.st.AlbumAt[i]
		}
	}
	key := t.ev.Key
	if key == "" {
		key = "n" + strconv.FormatInt(newNonce(), 10) // an event that names no update: its own request
	}
	req, err := f.store.Open(t.ctx, requestKey(t, key), nr, msgs)
	if err != nil {
		return err
	}
	f.watchFirstResponse(e, t, req, loc)
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.reply(Reply{Text: e.t(t, "sup_filed", map[string]any{"ID": req.ID, "When": f.whenAnswered(e, t, loc)}), Keyboard: &Keyboard{Remove: true}})
	if req.Thread == 0 {
		t.reply(Reply{Topic: f.topicName(e, req), To: &Target{Chat: req.Group}, Receipt: fmt.Sprintf("sup:t:%d", req.ID)})
	}
	return nil
}

// requestKey names what filed a request: update ids repeat (across bots
// sharing a database, and Telegram restarts them after a quiet week), so
// the key holds the person and the chat too.
func requestKey(t *turn, key string) string {
	return fmt.Sprintf("open:%d:%d:%s", t.ev.UserID, t.ev.ChatID, key)
}

// route picks the operators' group of a request: the city's, else by turns
// (by the user, so that one subscriber's requests go to one group).
func (f *supportFeature) route(city string, user int64) int64 {
	if g, ok := f.cfg.CityGroups[city]; ok {
		return g
	}
	if len(f.cfg.Groups) == 0 {
		for _, g := range f.cfg.CityGroups {
			return g
		}
	}
	return f.cfg.Groups[int(uint64(user)%uint64(len(f.cfg.Groups)))]
}

// whenAnswered says when operators answer, in the subscriber's city time.
func (f *supportFeature) whenAnswered(e *Engine, t *turn, loc *time.Location) string {
	open, next := f.cfg.OpenAt(e.now(), loc)
	if open {
		return e.t(t, "sup_hours_open", nil)
	}
	return e.t(t, "sup_hours_closed", map[string]any{"When": e.date(t, next.In(loc)) + ", " + next.In(loc).Format("15:04")})
}

// statusMarks start a topic's name, so that the list of topics shows where
// each request stands.
var statusMarks = map[RequestStatus]string{StatusWork: "🛠 ", StatusWaiting: "⏳ ", StatusSolved: "✅ ", StatusClosed: "🔒 "}

func (f *supportFeature) topicName(e *Engine, r Request) string {
	city := r.City
	if city == "" {
		city = "—"
	}
	return truncateRunes(statusMarks[r.Status]+fmt.Sprintf("№%d · %s · %s", r.ID, city, e.text.T(f.cfg.Lang, "sup_cat_"+r.Category, nil)), 128)
}

// renamed is the reply that shows a request's new status in its topic's name.
func (f *supportFeature) renamed(e *Engine, r Request, status RequestStatus) Reply {
	r.Status = status
	return Reply{Topic: f.topicName(e, r), To: &Target{Chat: r.Group, Thread: r.Thread}}
}

// relayFromSubscriber takes a message of a subscriber with an open request
// to the operators: copied as it is into the request's topic, an edit as
// an edit of the copy.
func (f *supportFeature) relayFromSubscriber(e *Engine, t *turn) (bool, error) {
	if t.ev.Kind == KindOther && !t.ev.Media || t.ev.MessageID == 0 {
		return false, nil
	}
	req, err := f.target(t)
	if errors.Is(err, ErrNoRequest) {
		if t.ev.Kind == KindEdited {
			return false, nil
		}
		return f.afterClosed(e, t)
	}
	if err != nil {
		return true, err
	}
	if t.ev.Kind == KindEdited {
		dst, err := f.store.Copied(t.ctx, req.ID, SideSubscriber, t.ev.MessageID)
		if err != nil || dst == 0 || req.Thread == 0 || t.ev.Text == "" {
			return dst != 0, err
		}
		t.reply(Reply{Text: asHTML(t.ev), Edit: dst, To: &Target{Chat: req.Group, Thread: req.Thread}})
		return true, nil
	}
	row, relay, err := f.store.AddMessage(t.ctx, RequestMessage{RequestID: req.ID, Side: SideSubscriber, SrcChat: t.ev.ChatID, SrcMsg: t.ev.MessageID, Text: t.ev.Text, Media: t.ev.Media, Album: t.ev.Album})
	if err != nil {
		return true, err
	}
	if req.Status == StatusSolved || req.Status == StatusWaiting {
		// The subscriber answered: it is the operators' turn again.
		if _, err := f.store.SetStatus(t.ctx, req.ID, StatusWork, 0, e.now()); err != nil {
			return true, err
		}
	}
	switch {
	case t.ev.Album != "":
		// Telegram sends an album as one message each, a moment apart: it
		// goes to the operators whole, once the last part is surely in.
		t.res.Timers = append(t.res.Timers, Timer{After: albumWait, Data: fmt.Sprintf("supalbum:%d:%s", req.ID, t.ev.Album), Lang: t.lang})
	case relay:
		t.reply(f.copies(req, []RequestMessage{row})...)
	}
	return true, nil
}

// target is the request a subscriber's message goes to: the one they
// chose to write into ("My requests"), while it is open, else their newest
// open one.
func (f *supportFeature) target(t *turn) (Request, error) {
	if t.st.Request != 0 {
		req, err := f.store.Request(t.ctx, t.st.Request)
		if err == nil && req.UserID == t.ev.UserID && req.Status != StatusClosed {
			return req, nil
		}
		if err != nil && !errors.Is(err, ErrNoRequest) {
			return req, err
		}
	}
	return f.store.Active(t.ctx, t.ev.UserID)
}

// reopenWindow is how long after a request was filed a message to the bot
// is taken as a follow-up of it.
const reopenWindow = 30 * 24 * time.Hour

// afterClosed: a message after the subscriber's last request was closed
// opens a new request, never the closed one. The message is kept as the new
// request's first description; the person picks a topic.
func (f *supportFeature) afterClosed(e *Engine, t *turn) (bool, error) {
	last, err := f.store.List(t.ctx, t.ev.UserID, 1)
	if err != nil || len(last) == 0 || last[0].Status != StatusClosed || e.now().Sub(last[0].CreatedAt) > reopenWindow {
		return false, err
	}
	if t.ev.Kind == KindText && !looksLikeProblem(t.ev.Text) && len([]rune(t.ev.Text)) < 15 {
		return false, nil // "спасибо", "ок": not a new problem
	}
	carried := State{Lang: t.st.Lang, LangLoaded: true, Messages: []int{t.ev.MessageID},
		Texts: []string{truncateRunes(t.ev.Text, 500)}, MediaAt: []bool{t.ev.Media}, AlbumAt: []string{t.ev.Album}, Summary: truncateRunes(strings.TrimSpace(t.ev.Text), 300)}
	if t.ev.Media {
		carried.Media = 1
	}
	if err := f.start(e, t, 0); err != nil {
		return true, err
	}
	t.st = carried
	t.res.Replies[len(t.res.Replies)-1].Text = e.t(t, "sup_reopen", map[string]any{"ID": last[0].ID}) + "\n\n" + t.res.Replies[len(t.res.Replies)-1].Text
	return true, nil
}

// albumWait is how long after an album's message its relay waits for the rest.
const albumWait = 2 * time.Second

// relayAlbum is the timer that relays an album whole.
func (f *supportFeature) relayAlbum(e *Engine, t *turn) error {
	parts := strings.SplitN(t.ev.Data, ":", 3)
	if len(parts) != 3 {
		return nil
	}
	id, _ := strconv.ParseInt(parts[1], 10, 64)
	req, err := f.store.Request(t.ctx, id)
	if errors.Is(err, ErrNoRequest) {
		return nil
	}
	if err != nil {
		return err
	}
	msgs, err := f.store.AlbumWaiting(t.ctx, id, parts[2])
	if err != nil {
		return err
	}
	t.reply(f.copies(req, msgs)...)
	return nil
}

// copies relays subscriber messages into the request's topic as they
// are, an album's messages together as one album. The receipt records the
// copy of an album's first message.
func (f *supportFeature) copies(req Request, msgs []RequestMessage) []Reply {
	var out []Reply
	for i := 0; i < len(msgs); i++ {
		m := msgs[i]
		c := &Copy{FromChat: m.SrcChat, MessageID: m.SrcMsg}
		for m.Album != "" && i+1 < len(msgs) && msgs[i+1].Album == m.Album && len(c.More) < 9 {
			i++
			c.More = append(c.More, msgs[i].SrcMsg)
		}
		out = append(out, Reply{Copy: c, To: &Target{Chat: req.Group, Thread: req.Thread}, Receipt: fmt.Sprintf("sup:m:%d:%d", req.ID, m.ID)})
	}
	return out
}

// mine lists the subscriber's requests.
func (f *supportFeature) mine(e *Engine, t *turn, edit int) error {
	reqs, err := f.store.List(t.ctx, t.ev.UserID, 5)
	if err != nil {
		return err
	}
	if len(reqs) == 0 {
		t.reply(Reply{Text: e.t(t, "sup_mine_none", nil), Edit: edit, Buttons: [][]Button{{{Text: e.t(t, "btn_support", nil), Data: "sup"}}, {e.menuButton(t)}}})
		return nil
	}
	var b strings.Builder
	b.WriteString(e.t(t, "sup_mine_title", nil))
	for _, r := range reqs {
		b.WriteString("\n\n" + e.t(t, "sup_mine_line", map[string]any{
			"ID": r.ID, "Category": e.t(t, "sup_cat_"+r.Category, nil), "Status": e.t(t, "sup_status_"+string(r.Status), nil),
			"Date": e.date(t, r.CreatedAt.In(e.cfg.Location)),
		}))
		if r.LastText != "" {
			b.WriteString("\n<i>" + esc(truncateRunes(r.LastText, 120)) + "</i>")
		}
	}
	rows := [][]Button{}
	for _, r := range reqs {
		if r.Status != StatusClosed {
			rows = append(rows, []Button{{Text: e.t(t, "btn_sup_write", map[string]any{"ID": r.ID}), Data: fmt.Sprintf("sup:w:%d", r.ID)}})
		}
	}
	rows = append(rows, []Button{{Text: e.t(t, "btn_support", nil), Data: "sup"}}, []Button{e.menuButton(t)})
	t.reply(Reply{Text: b.String(), Edit: edit, Buttons: rows})
	return nil
}

// afterSolved handles "Is it solved?" and the rating.
func (f *supportFeature) afterSolved(e *Engine, t *turn, verb, rest string, edit int) error {
	idArg, score, _ := strings.Cut(rest, ":")
	id, _ := strconv.ParseInt(idArg, 10, 64)
	req, err := f.store.Request(t.ctx, id)
	if errors.Is(err, ErrNoRequest) || err == nil && req.UserID != t.ev.UserID {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	if err != nil {
		return err
	}
	topic := &Target{Chat: req.Group, Thread: req.Thread}
	if (verb == "yes" || verb == "no") && req.Status != StatusSolved || verb == "rate" && (req.Status != StatusClosed || req.Rating != 0) {
		// An answer from an old message: the request moved on since.
		t.res.Toast = e.t(t, "button_outdated", nil)
		return nil
	}
	switch verb {
	case "yes":
		changed, err := f.store.SetStatus(t.ctx, id, StatusClosed, 0, e.now())
		if err != nil {
			return err
		}
		var stars []Button
		for n := 1; n <= 5; n++ {
			stars = append(stars, Button{Text: strconv.Itoa(n) + "⭐", Data: fmt.Sprintf("sup:rate:%d:%d", id, n)})
		}
		t.reply(Reply{Text: e.t(t, "sup_rate_ask", map[string]any{"ID": id}), Edit: edit, Buttons: [][]Button{stars}})
		if changed && req.Thread != 0 {
			t.reply(Reply{Text: e.text.T(f.cfg.Lang, "op_closed_by_subscriber", nil), To: topic}, f.renamed(e, req, StatusClosed))
		}
	case "no":
		if _, err := f.store.SetStatus(t.ctx, id, StatusWork, 0, e.now()); err != nil {
			return err
		}
		t.reply(Reply{Text: e.t(t, "sup_not_solved", nil), Edit: edit})
		if req.Thread != 0 {
			t.reply(Reply{Text: e.text.T(f.cfg.Lang, "op_not_solved", nil), To: topic}, f.renamed(e, req, StatusWork))
		}
	case "rate":
		n, err := strconv.Atoi(score)
		if err != nil || n < 1 || n > 5 {
			t.res.Toast = e.t(t, "button_outdated", nil)
			return nil
		}
		if err := f.store.Rate(t.ctx, id, n, ""); err != nil {
			return err
		}
		t.st = State{Lang: t.st.Lang, LangLoaded: true, Step: StepSupportComment, Request: id}
		t.reply(Reply{Text: e.t(t, "sup_comment_ask", nil), Edit: edit, Buttons: [][]Button{{{Text: e.t(t, "btn_sup_skip", nil), Data: "sup:skip"}}}})
		if req.Thread != 0 {
			t.reply(Reply{Text: e.text.T(f.cfg.Lang, "op_rated", map[string]any{"Stars": strings.Repeat("⭐", n)}), To: topic})
		}
	}
	return nil
}

// commentInput takes the optional comment after a rating.
func (f *supportFeature) commentInput(e *Engine, t *turn) error {
	if t.ev.Kind != KindText {
		t.reply(Reply{Text: e.t(t, "sup_comment_ask", nil), Buttons: [][]Button{{{Text: e.t(t, "btn_sup_skip", nil), Data: "sup:skip"}}}})
		return nil
	}
	id := t.st.Request
	if err := f.store.Rate(t.ctx, id, 0, truncateRunes(t.ev.Text, 1000)); err != nil {
		return err
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.reply(Reply{Text: e.t(t, "sup_thanks", nil), Buttons: [][]Button{{e.menuButton(t)}}})
	if req, err := f.store.Request(t.ctx, id); err == nil && req.Thread != 0 {
		t.reply(Reply{Text: e.text.T(f.cfg.Lang, "op_comment", map[string]any{"Text": esc(truncateRunes(t.ev.Text, 1000))}), To: &Target{Chat: req.Group, Thread: req.Thread}})
	}
	return nil
}

// --- Recognising a problem in free text ---

// problemWords are the starts of words that say "something is wrong,
// I need a person"; a typo of one letter still counts.
var problemWords = []string{
	"не работ", "неработ", "нет интернет", "нет связи", "связи нет", "пропал", "медлен", "тормоз", "не грузит", "не показыва",
	"оператор", "человек", "поддержк", "помогите", "помощь", "сломал", "роутер", "приставк",
	"help", "support", "operator", "not working", "no internet", "slow", "broken",
}

// looksLikeProblem tells whether a free text reads like a problem or a
// call for a person ("не работает интернет", "позовите человека", "help").
func looksLikeProblem(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len([]rune(s)) > 200 {
		return false
	}
	s = strings.ReplaceAll(s, "ё", "е")
	joined := strings.Join(strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }), " ")
	for _, w := range problemWords {
		if strings.Contains(joined, w) {
			return true
		}
	}
	// One letter off in a single word ("оператр", "suport").
	for _, word := range strings.Fields(joined) {
		for _, w := range problemWords {
			if !strings.Contains(w, " ") && len([]rune(w)) >= 5 && nearPrefix(word, w) {
				return true
			}
		}
	}
	return false
}

// nearPrefix: word starts with w but for one letter added, dropped or changed.
func nearPrefix(word, w string) bool {
	a, b := []rune(word), []rune(w)
	if len(a) < len(b)-1 {
		return false
	}
	best := len(b)
	for _, n := range []int{len(b) - 1, len(b), len(b) + 1} {
		if n < 1 || n > len(a) {
			continue
		}
		best = min(best, editDistance(a[:n], b))
	}
	return best <= 1
}

func editDistance(a, b []rune) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
