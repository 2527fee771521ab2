package dialogs

import (
	"slices"

	"github.com/kabinet-bot/kabinet/billing"
)

// Features beyond linking and balance (payments, offices, support...) plug
// into the engine through these registries instead of editing the central
// switch, so each lives in its own file with its own interface. A feature's
// With... setter (e.g. WithOffices) registers its parts; call the setters
// right after New, before the engine handles events.

// callbackFunc handles a button press whose data starts with a registered
// verb ("verb" or "verb:arg"); edit is the id of the message that carried it.
type callbackFunc func(e *Engine, t *turn, arg string, edit int) error

// stepFunc handles any non-command input while the conversation is in a
// feature's step.
type stepFunc func(e *Engine, t *turn) error

// menuFunc returns the main-menu buttons of a feature (nil for none) for a
// person who has a linked account (linked) or not.
type menuFunc func(e *Engine, t *turn, linked bool) []Button

// textFunc may take over a free-text message in the idle state (e.g. "где
// оплатить" leads to the offices); it reports whether it did.
type textFunc func(e *Engine, t *turn) (bool, error)

// balanceFunc returns a feature's buttons for an account's balance screen
// (payments: Pay, History, the trust payment). Added for payments.
type balanceFunc func(e *Engine, t *turn, acc billing.Account) []Button

// locationFunc handles a shared location.
type locationFunc func(e *Engine, t *turn) error

// helpFunc returns a feature's lines of the help screen.
type helpFunc func(e *Engine, t *turn) string

// effectFunc runs an Effect: t carries the asking event's user, chat, key
// and language (no state), data the effect's arguments; what it replies
// takes the effect's place in the outbox. An error means "not now": the
// sender tries again later, so it is only for a failure that passes.
type effectFunc func(e *Engine, t *turn, data string) error

// receiptFunc hears which message a reply with a Receipt became (or why
// it did not), under a turn t without state; its replies take the
// receipt's place in the outbox (usually To other conversations).
type receiptFunc func(e *Engine, t *turn, s Sent) error

// fileFunc makes the bytes of a File when its reply is sent; t carries
// the asking user and language (no state). An error means "not now".
type fileFunc func(e *Engine, t *turn, data string) (Upload, error)

type registry struct {
	files     map[string]fileFunc
	callbacks map[string]callbackFunc
	steps     map[Step]stepFunc
	commands  map[string]stepFunc
	// commandOrder is the features' commands in the order they registered,
	// for the command menu.
	commandOrder []string
	menu         []menuFunc
	// idleText are free-text shortcuts, tried in the idle state and for a
	// text that is not an account number while linking.
	idleText []textFunc
	location locationFunc
	balance  []balanceFunc // payments
	// manage are buttons of a row of their own on the balance screen
	// (self-service), kept off the other screens that show balance's.
	manage   []balanceFunc
	help     []helpFunc
	effects  map[string]effectFunc
	receipts map[string]receiptFunc
	// timers are the handlers of Timer events by the verb of their Data.
	timers map[string]stepFunc
	// group handles every event from a group (nil: groups are ignored).
	group stepFunc
	// idleMessage may take over any message in the idle state, before the
	// free-text shortcuts (support: the subscriber's open request).
	idleMessage []textFunc
	// balanceTop are lines a feature puts at the top of a balance screen
	// (support: an outage going on in the account's city).
	balanceTop []func(e *Engine, t *turn, acc billing.Account) (string, error)
	// startArgs handle a deep link's parameter (/start <param>) by its
	// prefix ("n_": a trusted person's invitation).
	startArgs map[string]stepFunc
}

// startArg registers the prefix of a deep link's parameter.
func (r *registry) startArg(prefix string, f stepFunc) {
	if _, dup := r.startArgs[prefix]; dup {
		panic("dialogs: start parameter registered twice: " + prefix)
	}
	r.startArgs[prefix] = f
}

// receipt registers the verb of Receipt tags ("verb:...").
func (r *registry) receipt(verb string, f receiptFunc) {
	if _, dup := r.receipts[verb]; dup {
		panic("dialogs: receipt registered twice: " + verb)
	}
	r.receipts[verb] = f
}

// timer registers the verb of a feature's Timer data ("verb:...").
func (r *registry) timer(verb string, f stepFunc) {
	if _, dup := r.timers[verb]; dup {
		panic("dialogs: timer registered twice: " + verb)
	}
	r.timers[verb] = f
}

// coreVerbs are the button verbs of the engine's own screens (Engine.callback).
var coreVerbs = []string{"menu", "help", "bal", "balr", "acc", "sw", "un", "unok", "link", "pick", "resend", "cancel", "lang"}

// callback registers a button verb; one verb has one handler, and a
// feature cannot take a verb of the engine's own.
func (r *registry) callback(verb string, f callbackFunc) {
	if _, dup := r.callbacks[verb]; dup || slices.Contains(coreVerbs, verb) {
		panic("dialogs: button verb registered twice: " + verb)
	}
	r.callbacks[verb] = f
}

// file registers a File's kind.
func (r *registry) file(kind string, f fileFunc) {
	if _, dup := r.files[kind]; dup {
		panic("dialogs: file registered twice: " + kind)
	}
	r.files[kind] = f
}

// effect registers an Effect's verb.
func (r *registry) effect(verb string, f effectFunc) {
	if _, dup := r.effects[verb]; dup {
		panic("dialogs: effect registered twice: " + verb)
	}
	r.effects[verb] = f
}

// command registers a feature's /command; its description in the menu is
// the locale text "cmd_<name>".
func (r *registry) command(name string, f stepFunc) {
	if _, dup := r.commands[name]; dup {
		panic("dialogs: command registered twice: " + name)
	}
	r.commands[name] = f
	r.commandOrder = append(r.commandOrder, name)
}

func (r *registry) init() {
	r.callbacks = map[string]callbackFunc{}
	r.steps = map[Step]stepFunc{}
	r.commands = map[string]stepFunc{}
	r.effects = map[string]effectFunc{}
	r.files = map[string]fileFunc{}
	r.receipts = map[string]receiptFunc{}
	r.timers = map[string]stepFunc{}
	r.startArgs = map[string]stepFunc{}
}

// featureMenu collects the feature buttons for the main menu, two per row.
func (e *Engine) featureMenu(t *turn, linked bool) [][]Button {
	var buttons []Button
	for _, f := range e.reg.menu {
		buttons = append(buttons, f(e, t, linked)...)
	}
	var rows [][]Button
	for i := 0; i < len(buttons); i += 2 {
		end := min(i+2, len(buttons))
		rows = append(rows, buttons[i:end])
	}
	return rows
}

// featureBalance collects the feature buttons for a balance screen, two per
// row. Added for payments.
func (e *Engine) featureBalance(t *turn, acc billing.Account) [][]Button {
	var buttons []Button
	for _, f := range e.reg.balance {
		buttons = append(buttons, f(e, t, acc)...)
	}
	var rows [][]Button
	for i := 0; i < len(buttons); i += 2 {
		end := min(i+2, len(buttons))
		rows = append(rows, buttons[i:end])
	}
	return rows
}
