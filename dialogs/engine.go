package dialogs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/locales"
)

// Config holds the settings the conversations follow.
type Config struct {
	// MaxAccounts is how many accounts one Telegram user may link.
	MaxAccounts int
	// Location is the provider's time zone, for dates without a city.
	Location *time.Location
	// ResendPause is how long after a code "send again" is offered; it
	// matches the code service's resend pause (60 s by default).
	ResendPause time.Duration
	// Secret keys the decoy answers for unknown account numbers, so that the
	// masked phone shown for a number is stable but reveals nothing.
	Secret []byte
}

// Engine runs the conversations. It is safe for concurrent use: all
// per-conversation data is in the State passed to Handle.
type Engine struct {
	accounts Accounts
	codes    Codes
	notifier Notifier
	text     *locales.Catalog
	cfg      Config
	now      func() time.Time
	log      *slog.Logger
	reg      registry
}

// New makes an Engine from its dependencies; now is the clock (time.Now in production).
func New(accounts Accounts, codes Codes, notifier Notifier, text *locales.Catalog, cfg Config, now func() time.Time, log *slog.Logger) *Engine {
	if cfg.MaxAccounts <= 0 {
		cfg.MaxAccounts = 5
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.ResendPause <= 0 {
		cfg.ResendPause = time.Minute
	}
	e := &Engine{accounts: accounts, codes: codes, notifier: notifier, text: text, cfg: cfg, now: now, log: log}
	e.reg.init()
	e.reg.effect("code", (*Engine).deliverCode)
	e.reg.effect("linked", (*Engine).linkedNotice)
	return e
}

// turn is one Handle call in progress: the event, the state being changed and
// the replies collected so far.
type turn struct {
	ctx  context.Context
	ev   Event
	st   State
	lang string
	res  Result
}

func (t *turn) reply(rs ...Reply) { t.res.Replies = append(t.res.Replies, rs...) }

// Handle decides what to answer to ev in state st. An error means a
// dependency failed (database, Redis): the caller answers politely and keeps
// the old state, so nothing is half-done.
func (e *Engine) Handle(ctx context.Context, st State, ev Event) (Result, error) {
	t := &turn{ctx: ctx, ev: ev, st: st}
	if !t.st.LangLoaded {
		lang, err := e.accounts.Language(ctx, ev.UserID)
		if err != nil {
			return Result{}, fmt.Errorf("load language: %w", err)
		}
		t.st.Lang, t.st.LangLoaded = lang, true
	}
	t.lang = t.st.Lang
	if t.lang == "" {
		t.lang = locales.Resolve(ev.LanguageCode)
	}
	err := e.dispatch(t)
	t.res.State = t.st
	for _, r := range t.res.Replies {
		if ef := r.Effect; ef != nil {
			ef.Key, ef.UserID, ef.ChatID, ef.Lang = ev.Key, ev.UserID, ev.ChatID, t.lang
		}
		if f := r.File; f != nil {
			f.UserID, f.Lang = ev.UserID, t.lang
		}
	}
	return t.res, err
}

// RunEffect runs an Effect a turn asked for (see Effect), after that turn
// was saved and outside its conversation's lock. It returns the replies
// that take the effect's place; an error means it should be tried again
// later. An effect of a verb nobody registers (left by an older version)
// is dropped.
func (e *Engine) RunEffect(ctx context.Context, ef Effect) ([]Reply, error) {
	f, ok := e.reg.effects[ef.Verb]
	if !ok {
		e.log.Error("dropping an effect of an unknown verb", "verb", ef.Verb)
		return nil, nil
	}
	t := &turn{ctx: ctx, ev: Event{Key: ef.Key, UserID: ef.UserID, ChatID: ef.ChatID}, lang: ef.Lang}
	if t.lang == "" {
		t.lang = locales.Resolve("")
	}
	if err := f(e, t, ef.Data); err != nil {
		return nil, fmt.Errorf("effect %s: %w", ef.Verb, err)
	}
	var out []Reply
	for _, r := range t.res.Replies {
		if r.Effect == nil { // an effect asks for no further effects
			out = append(out, r)
		}
	}
	return out, nil
}

// RenderFile makes the bytes of a File a reply names, when the reply is
// sent (see Reply.File). An error means it should be tried again later;
// ErrNoFile that it cannot be made any more (a kind nobody registers, an
// account no longer linked): the reply is then dropped.
func (e *Engine) RenderFile(ctx context.Context, f File) (Upload, error) {
	render, ok := e.reg.files[f.Kind]
	if !ok {
		return Upload{}, ErrNoFile
	}
	t := &turn{ctx: ctx, ev: Event{UserID: f.UserID, ChatID: f.UserID}, lang: f.Lang}
	if t.lang == "" {
		t.lang = locales.Resolve("")
	}
	u, err := render(e, t, f.Data)
	if err != nil {
		return Upload{}, fmt.Errorf("file %s: %w", f.Kind, err)
	}
	return u, nil
}

// ErrNoFile is RenderFile's answer for a file that cannot be made.
var ErrNoFile = errors.New("the file cannot be made")

// Receipt hands a feature the id of the message a reply with a Receipt
// became, or why it was not delivered. Its replies take the receipt's
// place in the outbox. An error means it should be tried again later; a
// tag nobody registers is dropped.
func (e *Engine) Receipt(ctx context.Context, s Sent) ([]Reply, error) {
	verb, _, _ := strings.Cut(s.Receipt, ":")
	f, ok := e.reg.receipts[verb]
	if !ok {
		e.log.Error("dropping a receipt of an unknown verb", "verb", verb)
		return nil, nil
	}
	t := &turn{ctx: ctx, ev: Event{ChatID: s.Chat, Thread: s.Thread}, lang: locales.Resolve("")}
	if err := f(e, t, s); err != nil {
		return nil, fmt.Errorf("receipt %s: %w", verb, err)
	}
	var out []Reply
	for _, r := range t.res.Replies {
		if r.Effect == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (e *Engine) dispatch(t *turn) error {
	if t.ev.Group {
		// Operators' chats: only a feature that asked sees them, and
		// nothing is ever said there unasked.
		if e.reg.group == nil {
			return nil
		}
		return e.reg.group(e, t)
	}
	switch t.ev.Kind {
	case KindCommand:
		return e.command(t)
	case KindCallback:
		return e.callback(t)
	case KindTimer:
		return e.timer(t)
	case KindEdited:
		if t.st.Step == StepIdle {
			// An edit of a message relayed to an operator is relayed too.
			for _, f := range e.reg.idleMessage {
				if done, err := f(e, t); done || err != nil {
					return err
				}
			}
		}
		t.reply(Reply{Text: e.t(t, "edited_ignored", nil)})
		return e.prompt(t)
	case KindLocation:
		if e.reg.location != nil && (t.st.Step == StepIdle || e.reg.steps[t.st.Step] != nil) {
			return e.reg.location(e, t)
		}
	}
	if f, ok := e.reg.steps[t.st.Step]; ok {
		return f(e, t)
	}
	switch t.st.Step {
	case StepLinkNumber:
		return e.linkInput(t)
	case StepLinkCode:
		return e.codeInput(t)
	case StepLinkPick, StepUnlinkConfirm:
		t.reply(Reply{Text: e.t(t, "use_buttons", nil)})
		return e.prompt(t)
	}
	// Idle: a bare account number starts linking right away, as people
	// often just paste it.
	if t.ev.Kind == KindText && looksLikeAccountNumber(t.ev.Text) {
		t.st = State{Lang: t.st.Lang, LangLoaded: true, Step: StepLinkNumber}
		return e.linkInput(t)
	}
	if t.ev.Kind == KindContact {
		return e.linkContact(t)
	}
	if t.ev.Kind == KindText || t.ev.Kind == KindOther {
		for _, f := range e.reg.idleMessage {
			if done, err := f(e, t); done || err != nil {
				return err
			}
		}
	}
	if t.ev.Kind == KindText {
		for _, f := range e.reg.idleText {
			if done, err := f(e, t); done || err != nil {
				return err
			}
		}
	}
	t.reply(Reply{Text: e.t(t, "not_understood", nil)})
	return e.menu(t, 0)
}

func (e *Engine) command(t *turn) error {
	switch t.ev.Command {
	case "start":
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		for prefix, f := range e.reg.startArgs {
			if strings.HasPrefix(t.ev.Args, prefix) {
				return f(e, t)
			}
		}
		if t.st.Lang != "" {
			// A chosen language outlives a reinstalled app or a cleared chat,
			// and so must the command menu in it.
			t.res.ChatCommands = e.Commands(t.lang)
		}
		linked, err := e.accounts.LinkedAccounts(t.ctx, t.ev.UserID)
		if err != nil {
			return err
		}
		// Someone who only wants the hotline must not be pushed into
		// linking: the menu offers linking next to contacts and help.
		greeting := "start_again"
		if len(linked) == 0 {
			greeting = "start_greeting"
		}
		t.reply(Reply{Text: e.t(t, greeting, nil), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	case "menu", "cancel":
		cancelled := t.st.Step != StepIdle
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		if cancelled {
			t.reply(Reply{Text: e.t(t, "cancelled", nil), Keyboard: &Keyboard{Remove: true}})
		}
		return e.menu(t, 0)
	case "help":
		t.reply(Reply{Text: e.helpText(t), Buttons: [][]Button{{e.menuButton(t)}}})
		return nil
	case "language":
		t.reply(Reply{Text: e.t(t, "language_choose", nil), Buttons: [][]Button{
			{{Text: "Русский", Data: "lang:ru"}, {Text: "English", Data: "lang:en"}},
		}})
		return nil
	case "balance":
		return e.showBalance(t, 0, 0)
	case "accounts":
		return e.showAccounts(t, 0)
	}
	if f, ok := e.reg.commands[t.ev.Command]; ok {
		return f(e, t)
	}
	t.reply(Reply{Text: e.t(t, "unknown_command", nil)})
	return e.prompt(t)
}

// callback routes a button press. Data is "verb" or "verb:arg"; any button
// that names an account is authorised again against the sender's links.
func (e *Engine) callback(t *turn) error {
	verb, arg, _ := strings.Cut(t.ev.Data, ":")
	id, _ := strconv.ParseInt(arg, 10, 64)
	edit := t.ev.MessageID
	if f, ok := e.reg.callbacks[verb]; ok {
		return f(e, t, arg, edit)
	}
	switch verb {
	case "menu":
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		if arg == "n" {
			// "menu:n" sits under a message worth keeping (a payment link, a
			// granted trust payment): the menu comes as a new message.
			edit = 0
		}
		return e.menu(t, edit)
	case "help":
		t.reply(Reply{Text: e.helpText(t), Buttons: [][]Button{{e.menuButton(t)}}, Edit: edit})
		return nil
	case "bal":
		return e.showBalance(t, id, 0)
	case "balr":
		// Refresh: the same message, updated in place.
		return e.showBalance(t, id, edit)
	case "acc":
		return e.showAccounts(t, edit)
	case "sw":
		return e.switchAccount(t, id, edit)
	case "un":
		return e.askUnlink(t, id, edit)
	case "unok":
		return e.unlink(t, id, edit)
	case "link":
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		return e.startLinking(t)
	case "pick":
		return e.pick(t, id)
	case "resend":
		return e.resend(t)
	case "cancel":
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.res.Toast = e.t(t, "cancelled", nil)
		t.reply(Reply{Text: e.t(t, "cancelled", nil), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	case "lang":
		if arg != "ru" && arg != "en" {
			break
		}
		if err := e.accounts.SetLanguage(t.ctx, t.ev.UserID, arg); err != nil {
			return err
		}
		t.st.Lang, t.lang = arg, arg
		// Telegram picks a command menu by the app's language; one chosen
		// here must reach the menu too, for this chat.
		t.res.ChatCommands = e.Commands(arg)
		t.reply(Reply{Text: e.t(t, "language_set", nil), Edit: edit})
		return e.menu(t, 0)
	}
	// A button from an old message, or data nobody sent: answer with where
	// the conversation stands now instead of doing something surprising.
	t.res.Toast = e.t(t, "button_outdated", nil)
	return e.prompt(t)
}

// prompt shows the current step again, after an unexpected input.
func (e *Engine) prompt(t *turn) error {
	switch t.st.Step {
	case StepLinkNumber:
		t.reply(e.linkPrompt(t))
		return nil
	case StepLinkCode:
		t.reply(Reply{Text: e.t(t, "code_prompt", map[string]any{"Phone": t.st.Masked}), Buttons: e.codeButtons(t)})
		return nil
	case StepLinkPick:
		return e.offerCandidates(t)
	case StepUnlinkConfirm:
		return e.askUnlink(t, t.st.Account, 0)
	}
	return e.menu(t, 0)
}

// menu shows the main menu: the linked account's actions, or an offer to
// link one. edit > 0 turns an older message into the menu.
func (e *Engine) menu(t *turn, edit int) error {
	cur, err := e.accounts.CurrentAccount(t.ctx, t.ev.UserID)
	if errors.Is(err, billing.ErrNotFound) {
		rows := [][]Button{{{Text: e.t(t, "btn_link", nil), Data: "link"}}}
		rows = append(rows, e.featureMenu(t, false)...)
		rows = append(rows, []Button{{Text: e.t(t, "btn_help", nil), Data: "help"}})
		t.reply(Reply{Text: e.t(t, "menu_unlinked", nil), Edit: edit, Buttons: rows})
		return nil
	}
	if err != nil {
		return err
	}
	t.reply(Reply{
		Text: e.t(t, "menu_linked", map[string]any{"Number": esc(cur.Number)}),
		Edit: edit,
		Buttons: append(append([][]Button{
			{{Text: e.t(t, "btn_balance", nil), Data: "bal"}},
		}, e.featureMenu(t, true)...),
			[]Button{{Text: e.t(t, "btn_accounts", nil), Data: "acc"}, {Text: e.t(t, "btn_help", nil), Data: "help"}},
		),
	})
	return nil
}

func (e *Engine) menuButton(t *turn) Button {
	return Button{Text: e.t(t, "btn_menu", nil), Data: "menu"}
}

// newMenuButton is "Menu" under a message that must stay readable: the
// menu comes as a new message instead of replacing it.
func (e *Engine) newMenuButton(t *turn) Button {
	return Button{Text: e.t(t, "btn_menu", nil), Data: "menu:n"}
}

// backButton is "◀ Back" to the screen a screen was opened from.
func (e *Engine) backButton(t *turn, data string) Button {
	return Button{Text: e.t(t, "btn_back", nil), Data: data}
}

// The command menu: the core's commands around those the features register.
var (
	coreCommandsHead = []string{"start", "menu", "balance", "accounts"}
	coreCommandsTail = []string{"help", "language", "cancel"}
)

// Commands is the bot's command menu in lang, in the order it is shown:
// what serve registers with Telegram and what a chat gets after /language.
func (e *Engine) Commands(lang string) []Command {
	names := append(append(append([]string(nil), coreCommandsHead...), e.reg.commandOrder...), coreCommandsTail...)
	out := make([]Command, len(names))
	for i, n := range names {
		out[i] = Command{Name: n, Description: e.text.T(lang, "cmd_"+n, nil)}
	}
	return out
}

// helpText is the help screen: what each feature does (each registers its
// own lines), then every command.
func (e *Engine) helpText(t *turn) string {
	var b strings.Builder
	b.WriteString(e.t(t, "help_title", nil))
	b.WriteString("\n" + e.t(t, "help_balance", nil))
	for _, f := range e.reg.help {
		if s := f(e, t); s != "" {
			b.WriteString("\n" + s)
		}
	}
	b.WriteString("\n" + e.t(t, "help_accounts", map[string]any{"Max": e.cfg.MaxAccounts}))
	b.WriteString("\n" + e.t(t, "help_language", nil))
	b.WriteString("\n\n" + e.t(t, "help_commands", nil))
	for _, c := range e.Commands(t.lang) {
		b.WriteString("\n/" + c.Name + " — " + esc(c.Description))
	}
	return b.String()
}

func (e *Engine) t(t *turn, id string, data map[string]any) string {
	return e.text.T(t.lang, id, data)
}

func (e *Engine) n(t *turn, id string, count int, data map[string]any) string {
	return e.text.N(t.lang, id, count, data)
}

// esc escapes a value from a person or a database for Telegram's HTML mode.
func esc(s string) string { return html.EscapeString(s) }

// keyed derives a stable pseudo-random number from the secret and s: the
// decoy's masked phone digits and account id.
func (e *Engine) keyed(s string) uint64 {
	m := hmac.New(sha256.New, e.cfg.Secret)
	m.Write([]byte(s))
	return binary.BigEndian.Uint64(m.Sum(nil))
}
