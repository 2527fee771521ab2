package dialogs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Payments makes the links a subscriber pays by. It is declared here, where
// it is used; payments.Payer implements it over the configured provider
// (the signed link to the provider's page, or YooKassa).
type Payments interface {
	// PayURL returns the URL of the payment page for this sum. key is the
	// business key of the intent: the same key must give the same payment
	// (a double tap, a retry), never a second one.
	PayURL(ctx context.Context, accountID int64, accountNumber string, amount money.Amount, key string) (string, error)
	// AutopayURL returns the provider's autopay set-up page for the account.
	AutopayURL(accountNumber string) string
}

// Trust grants trust payments by the provider's rules (settings passed in);
// billing/postgres.Store implements it. A refusal is a *billing.TrustRefusal.
type Trust interface {
	// OfferTrust says what a grant would give now, granting nothing.
	OfferTrust(ctx context.Context, accountID int64, now time.Time, set billing.TrustSettings) (billing.TrustOffer, error)
	// GrantTrust grants one. key names the request (the "Confirm" press):
	// a key already granted answers with that same grant (amount, expiry,
	// the balance it left) instead of a refusal, so the press delivered
	// again after a crash between the grant and the turn's commit is told
	// "granted" again. Another press is another key: refused this month.
	GrantTrust(ctx context.Context, key string, accountID int64, now time.Time, set billing.TrustSettings) (billing.TrustOffer, error)
}

// PayConfig holds the payment settings.
type PayConfig struct {
	// Limit is the largest sum of one payment (money.DefaultLimit if 0).
	Limit money.Amount
	// Trust are the trust-payment rules.
	Trust billing.TrustSettings
}

// StepPayAmount waits for a typed sum ("Other amount"); State.Account is the
// account and State.Nonce tells this request from the next one.
const StepPayAmount Step = "pay.amount"

// historySize is how many payments the history screen lists.
const historySize = 10

// payFeature holds the payment dependencies for the registered handlers.
type payFeature struct {
	pay   Payments
	trust Trust
	cfg   PayConfig
}

// WithPayments adds Pay (suggested and typed sums), autopay, the payment
// history and trust payments to the menu and the balance screen. pay or
// trust may be nil to leave that part out. Call it right after New.
func (e *Engine) WithPayments(pay Payments, trust Trust, cfg PayConfig) *Engine {
	if cfg.Limit <= 0 {
		cfg.Limit = money.DefaultLimit
	}
	if cfg.Trust.Location == nil {
		cfg.Trust.Location = e.cfg.Location
	}
	f := &payFeature{pay: pay, trust: trust, cfg: cfg}
	if pay != nil {
		e.reg.callback("pay", f.payScreen) // pay[:account]
		// payn: the Pay button of a push (reminder): the pay screen comes as a
		// new message, so the reminder itself stays readable.
		e.reg.callback("payn", func(e *Engine, t *turn, arg string, _ int) error { return f.payScreen(e, t, arg, 0) })
		e.reg.callback("pa", f.payAmount) // pa:account:kopecks
		e.reg.callback("po", f.otherAmount)
		e.reg.callback("ap", f.autopay)
		e.reg.steps[StepPayAmount] = f.typedAmount
		e.reg.effect("paylink", f.linkReply)
	}
	e.reg.callback("hist", f.history)
	if trust != nil {
		e.reg.callback("tr", f.trustOffer)
		e.reg.callback("tro", f.trustConfirm)
	}
	e.reg.menu = append(e.reg.menu, func(e *Engine, t *turn, linked bool) []Button {
		if !linked {
			return nil
		}
		var b []Button
		if pay != nil {
			b = append(b, Button{Text: e.t(t, "btn_pay", nil), Data: "pay"})
		}
		if trust != nil {
			b = append(b, Button{Text: e.t(t, "btn_trust", nil), Data: "tr"})
		}
		return b
	})
	e.reg.balance = append(e.reg.balance, f.balanceButtons)
	e.reg.help = append(e.reg.help, func(e *Engine, t *turn) string {
		var lines []string
		if pay != nil {
			lines = append(lines, e.t(t, "help_payments", nil))
		}
		if trust != nil {
			days := cfg.Trust.Days
			if days <= 0 {
				days = 3
			}
			lines = append(lines, e.t(t, "help_trust", map[string]any{"Days": e.n(t, "trust_days", days, nil)}))
		}
		return strings.Join(lines, "\n")
	})
	return e
}

// balanceButtons: Pay and History on every balance screen, and the trust
// payment when the money is not enough.
func (f *payFeature) balanceButtons(e *Engine, t *turn, acc billing.Account) []Button {
	var b []Button
	if f.pay != nil {
		b = append(b, Button{Text: e.t(t, "btn_pay", nil), Data: fmt.Sprintf("pay:%d", acc.ID)})
	}
	b = append(b, Button{Text: e.t(t, "btn_history", nil), Data: fmt.Sprintf("hist:%d", acc.ID)})
	if f.trust != nil && trustMayHelp(acc) {
		b = append(b, Button{Text: e.t(t, "btn_trust", nil), Data: fmt.Sprintf("tr:%d", acc.ID)})
	}
	return b
}

// trustMayHelp: the balance screen offers a trust payment only where the
// rules could allow one; the store has the final word.
func trustMayHelp(acc billing.Account) bool {
	switch acc.Status {
	case billing.StatusBlocked:
		return true
	case billing.StatusActive:
		return acc.Balance < acc.MonthlyCharge()
	}
	return false
}

// Where a payment screen was opened from, the last part of its button data
// ("pay:12:m"), so that "◀ Back" leads there: the balance screen (no
// suffix, the usual way in), the menu, or the pay screen (opened itself
// from the balance or from the menu).
const (
	fromBalance    = ""
	fromMenu       = "m"
	fromPay        = "p"
	fromPayOfMenu  = "pm"
	originSuffixes = "m p pm"
)

// withOrigin adds the origin to a button's data.
func withOrigin(data, from string) string {
	if from == fromBalance {
		return data
	}
	return data + ":" + from
}

// backTo is the data of "◀ Back" from a screen about account id opened from.
func backTo(id int64, from string) string {
	switch from {
	case fromMenu:
		return "menu"
	case fromPay:
		return fmt.Sprintf("pay:%d", id)
	case fromPayOfMenu:
		return fmt.Sprintf("pay:%d:m", id)
	}
	return fmt.Sprintf("balr:%d", id)
}

// account finds the account a payment button is about: arg "" means the
// current one, or a picker when several are linked (verb says where the
// picker leads); "<id>[:<origin>]" names one. ok false means a reply was
// already given. from is where the screen was opened from.
func (f *payFeature) account(e *Engine, t *turn, arg, verb string, edit int) (acc billing.Account, from string, ok bool, err error) {
	if arg == "" {
		linked, err := e.accounts.LinkedAccounts(t.ctx, t.ev.UserID)
		if err != nil {
			return billing.Account{}, "", false, err
		}
		switch len(linked) {
		case 0:
			return billing.Account{}, "", false, e.menu(t, 0)
		case 1:
			return linked[0], fromMenu, true, nil
		}
		var rows [][]Button
		for _, a := range linked {
			rows = append(rows, []Button{{Text: a.Number + " — " + a.Balance.Format(t.lang), Data: fmt.Sprintf("%s:%d:%s", verb, a.ID, fromMenu)}})
		}
		rows = append(rows, []Button{e.menuButton(t)})
		t.reply(Reply{Text: e.t(t, "pay_choose_account", nil), Buttons: rows, Edit: edit})
		return billing.Account{}, "", false, nil
	}
	idArg, from, _ := strings.Cut(arg, ":")
	if from != fromBalance && !strings.Contains(" "+originSuffixes+" ", " "+from+" ") {
		from = fromBalance
	}
	id, err := strconv.ParseInt(idArg, 10, 64)
	if err != nil || id <= 0 {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return billing.Account{}, "", false, e.prompt(t)
	}
	acc, err = e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	if errors.Is(err, billing.ErrNotFound) {
		t.res.Toast = e.t(t, "account_not_linked", nil)
		return billing.Account{}, "", false, e.menu(t, 0)
	}
	return acc, from, err == nil, err
}

// payScreen shows the suggested sums: the monthly charge, what clears the
// debt and lifts a block (when there is one), three months ahead, and
// "Other amount".
func (f *payFeature) payScreen(e *Engine, t *turn, arg string, edit int) error {
	acc, from, ok, err := f.account(e, t, arg, "pay", edit)
	if !ok || err != nil {
		return err
	}
	if from != fromMenu {
		from = fromBalance
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	charge := acc.MonthlyCharge()
	var sums []struct {
		label  string
		amount money.Amount
	}
	add := func(label string, a money.Amount) {
		if a <= 0 || a > f.cfg.Limit {
			return
		}
		for _, s := range sums {
			if s.amount == a {
				return
			}
		}
		sums = append(sums, struct {
			label  string
			amount money.Amount
		}{label, a})
	}
	if need := charge - acc.Balance; need > 0 && (acc.Status == billing.StatusBlocked || acc.Balance < 0) {
		add("pay_btn_debt", need)
	}
	add("pay_btn_fee", charge)
	add("pay_btn_three", 3*charge)
	var rows [][]Button
	for _, s := range sums {
		rows = append(rows, []Button{{
			Text: e.t(t, s.label, map[string]any{"Amount": s.amount.Format(t.lang)}),
			Data: fmt.Sprintf("pa:%d:%d", acc.ID, int64(s.amount)),
		}})
	}
	children := fromPay
	if from == fromMenu {
		children = fromPayOfMenu
	}
	rows = append(rows,
		[]Button{{Text: e.t(t, "btn_pay_other", nil), Data: fmt.Sprintf("po:%d", acc.ID)}},
		[]Button{{Text: e.t(t, "btn_autopay", nil), Data: fmt.Sprintf("ap:%d", acc.ID)}, {Text: e.t(t, "btn_history", nil), Data: withOrigin(fmt.Sprintf("hist:%d", acc.ID), children)}},
		[]Button{e.backButton(t, backTo(acc.ID, from)), e.menuButton(t)},
	)
	t.reply(Reply{Text: e.t(t, "pay_title", map[string]any{
		"Number": esc(acc.Number), "Balance": acc.Balance.Format(t.lang),
	}), Buttons: rows, Edit: edit})
	return nil
}

// payAmount answers a suggested sum with the payment link. The key is the
// button's message: pressing it twice gives the same payment, and so does
// the press delivered again after a crash.
func (f *payFeature) payAmount(e *Engine, t *turn, arg string, edit int) error {
	accArg, sumArg, _ := strings.Cut(arg, ":")
	amount, err := strconv.ParseInt(sumArg, 10, 64)
	if err != nil || amount <= 0 || money.Amount(amount) > f.cfg.Limit || accArg == "" {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	acc, _, ok, err := f.account(e, t, accArg, "pay", 0)
	if !ok || err != nil {
		return err
	}
	key := fmt.Sprintf("pay:%d:%d:%d:m%d", t.ev.UserID, acc.ID, amount, edit)
	if edit == 0 && t.ev.Key != "" {
		// A button under a message Telegram no longer shows the bot (older
		// than 48 hours) comes without the message: every such press of this
		// sum would be one payment, maybe one paid long ago. The press
		// itself is the intent then; delivered again, it is the same.
		key = fmt.Sprintf("pay:%d:%d:%d:e%s", t.ev.UserID, acc.ID, amount, t.ev.Key)
	}
	return f.sendLink(e, t, acc, money.Amount(amount), key)
}

// sendLink leaves the pay flow and asks for the payment link: the provider
// is called by the "paylink" effect, after the turn, outside its lock.
func (f *payFeature) sendLink(e *Engine, t *turn, acc billing.Account, amount money.Amount, key string) error {
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	d, _ := json.Marshal(payLink{Account: acc.ID, Amount: int64(amount), Key: key})
	t.reply(Reply{Effect: &Effect{Verb: "paylink", Data: string(d)}})
	return nil
}

// payLink is the "paylink" effect's data.
type payLink struct {
	Account int64  `json:"a"`
	Amount  int64  `json:"s"` // kopecks
	Key     string `json:"k"` // the intent's key: the same key is the same payment
}

// linkReply is the "paylink" effect: the payment is created at the
// provider (the same key gives the same payment, so running it again after
// a crash makes none twice) and its link shown. A provider that does not
// answer gets a polite "try again" instead of holding the chat's later
// replies behind retries.
func (f *payFeature) linkReply(e *Engine, t *turn, data string) error {
	var d payLink
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil
	}
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, d.Account)
	if errors.Is(err, billing.ErrNotFound) {
		t.reply(Reply{Text: e.t(t, "account_not_linked", nil), Buttons: [][]Button{{e.newMenuButton(t)}}})
		return nil
	}
	if err != nil {
		return err
	}
	amount := money.Amount(d.Amount)
	u, err := f.pay.PayURL(t.ctx, acc.ID, acc.Number, amount, d.Key)
	if err != nil {
		e.log.Warn("payment link unavailable", "account_id", acc.ID, "err", err)
		t.reply(Reply{Text: e.t(t, "pay_unavailable", nil), Buttons: [][]Button{
			{{Text: e.t(t, "btn_pay", nil), Data: fmt.Sprintf("pay:%d", acc.ID)}},
			{e.newMenuButton(t)},
		}})
		return nil
	}
	t.reply(Reply{
		Text: e.t(t, "pay_link", map[string]any{"Amount": amount.Format(t.lang), "Number": esc(acc.Number)}),
		Buttons: [][]Button{
			{{Text: e.t(t, "btn_pay_open", map[string]any{"Amount": amount.Format(t.lang)}), URL: u}},
			{e.newMenuButton(t)}, // the link must stay where it is
		},
	})
	return nil
}

// otherAmount asks for a typed sum.
func (f *payFeature) otherAmount(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg, "po", edit)
	if !ok || err != nil {
		return err
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true, Step: StepPayAmount, Account: acc.ID, Nonce: newNonce()}
	t.reply(f.amountPrompt(e, t))
	return nil
}

// newNonce is random, not the clock: two requests in one clock tick (or
// under a test's fixed clock) must still be two payments.
func newNonce() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) >> 1)
}

func (f *payFeature) amountPrompt(e *Engine, t *turn) Reply {
	return Reply{
		Text:    e.t(t, "pay_amount_prompt", map[string]any{"Max": f.cfg.Limit.Format(t.lang)}),
		Buttons: [][]Button{{{Text: e.t(t, "btn_cancel", nil), Data: "cancel"}}},
	}
}

// typedAmount reads the typed sum; a wrong one gets its hint and the prompt
// stays. Typing the same sum again in this step gives the same payment.
func (f *payFeature) typedAmount(e *Engine, t *turn) error {
	if t.ev.Kind != KindText {
		t.reply(f.amountPrompt(e, t))
		return nil
	}
	amount, err := money.ParseMax(t.ev.Text, f.cfg.Limit)
	if err != nil {
		hint := "pay_amount_invalid"
		switch {
		case errors.Is(err, money.ErrZero):
			hint = "pay_amount_zero"
		case errors.Is(err, money.ErrNegative):
			hint = "pay_amount_negative"
		case errors.Is(err, money.ErrOverLimit):
			hint = "pay_amount_over"
		}
		// "Cancel" stays on the prompt above: one, not one per wrong try.
		t.reply(Reply{Text: e.t(t, hint, map[string]any{"Max": f.cfg.Limit.Format(t.lang)})})
		return nil
	}
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, t.st.Account)
	if errors.Is(err, billing.ErrNotFound) {
		// Unlinked in another chat meanwhile.
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.reply(Reply{Text: e.t(t, "account_not_linked", nil)})
		return e.menu(t, 0)
	}
	if err != nil {
		return err
	}
	key := fmt.Sprintf("pay:%d:%d:%d:n%d", t.ev.UserID, acc.ID, int64(amount), t.st.Nonce)
	return f.sendLink(e, t, acc, amount, key)
}

// autopay explains autopay and links to its set-up page.
func (f *payFeature) autopay(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg, "ap", edit)
	if !ok || err != nil {
		return err
	}
	t.reply(Reply{
		Text: e.t(t, "autopay_text", map[string]any{"Number": esc(acc.Number)}),
		Buttons: [][]Button{
			{{Text: e.t(t, "btn_autopay_open", nil), URL: f.pay.AutopayURL(acc.Number)}},
			{{Text: e.t(t, "btn_pay", nil), Data: fmt.Sprintf("pay:%d", acc.ID)}, e.menuButton(t)},
		},
	})
	return nil
}

// history lists the last payments with date, sum and channel.
func (f *payFeature) history(e *Engine, t *turn, arg string, edit int) error {
	acc, from, ok, err := f.account(e, t, arg, "hist", edit)
	if !ok || err != nil {
		return err
	}
	payments, err := e.accounts.RecentPayments(t.ctx, acc.ID, historySize)
	if err != nil {
		return err
	}
	loc := e.location(acc)
	var b strings.Builder
	b.WriteString(e.t(t, "history_title", map[string]any{"Number": esc(acc.Number)}))
	if len(payments) == 0 {
		b.WriteString("\n" + e.t(t, "history_empty", nil))
	}
	for _, p := range payments {
		b.WriteString("\n" + e.t(t, "balance_payment", map[string]any{
			"Date":    p.PaidAt.In(loc).Format("02.01.2006"),
			"Amount":  p.Amount.Format(t.lang),
			"Channel": e.channel(t, p.Channel),
		}))
	}
	var rows [][]Button
	if f.pay != nil && from != fromPay && from != fromPayOfMenu {
		// From the pay screen, "Back" is the way to pay.
		rows = append(rows, []Button{{Text: e.t(t, "btn_pay", nil), Data: withOrigin(fmt.Sprintf("pay:%d", acc.ID), from)}})
	}
	rows = append(rows, []Button{e.backButton(t, backTo(acc.ID, from)), e.menuButton(t)})
	t.reply(Reply{Text: b.String(), Buttons: rows, Edit: edit})
	return nil
}
