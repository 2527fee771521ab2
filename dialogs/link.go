package dialogs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
)

// Account numbers are short runs of ASCII digits; people type them with
// spaces or dashes, as printed on the contract.
const (
	minNumberLen = 5
	maxNumberLen = 20
)

// normalizeNumber strips spaces and dashes and accepts only ASCII digits
// (not Arabic-Indic or other Unicode digits, which look alike but are not
// account numbers).
func normalizeNumber(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '\u00a0' || r == '\t':
		default:
			return "", false
		}
	}
	n := b.String()
	return n, len(n) >= minNumberLen && len(n) <= maxNumberLen
}

func looksLikeAccountNumber(s string) bool {
	_, ok := normalizeNumber(s)
	return ok
}

// normalizeCode accepts the 6 ASCII digits of a code, with spaces allowed.
func normalizeCode(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
	if len(code) != 6 {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// normalizePhone turns what Telegram sends in a contact ("79161234567",
// "+7 916 ...", "89161234567") into E.164.
func normalizePhone(s string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	if len(digits) == 11 && digits[0] == '8' {
		digits = "7" + digits[1:]
	}
	if len(digits) == 10 {
		digits = "7" + digits
	}
	return "+" + digits
}

// startLinking asks for an account number or a shared contact, unless the
// user already has the maximum number of accounts.
func (e *Engine) startLinking(t *turn) error {
	full, err := e.atLimit(t)
	if err != nil || full {
		return err
	}
	t.st.Step = StepLinkNumber
	t.reply(e.linkPrompt(t))
	return nil
}

func (e *Engine) linkPrompt(t *turn) Reply {
	return Reply{Text: e.t(t, "link_prompt", nil), Keyboard: &Keyboard{Rows: [][]KeyButton{
		{{Text: e.t(t, "btn_share_phone", nil), RequestContact: true}},
		{{Text: e.t(t, "btn_cancel_key", nil)}},
	}}}
}

// atLimit tells the person (and returns true) when no more accounts can be linked.
func (e *Engine) atLimit(t *turn) (bool, error) {
	linked, err := e.accounts.LinkedAccounts(t.ctx, t.ev.UserID)
	if err != nil {
		return false, err
	}
	if len(linked) < e.cfg.MaxAccounts {
		return false, nil
	}
	t.st.Step = StepIdle
	t.reply(Reply{Text: e.n(t, "link_limit", e.cfg.MaxAccounts, nil), Buttons: [][]Button{
		{{Text: e.t(t, "btn_accounts", nil), Data: "acc"}}, {e.menuButton(t)},
	}})
	return true, nil
}

// linkInput handles what was typed while an account number is awaited.
func (e *Engine) linkInput(t *turn) error {
	switch t.ev.Kind {
	case KindContact:
		return e.linkContact(t)
	case KindText:
	default:
		t.reply(Reply{Text: e.t(t, "link_need_number", nil)})
		t.reply(e.linkPrompt(t))
		return nil
	}
	if isCancelWord(t.ev.Text) || t.ev.Text == e.t(t, "btn_cancel_key", nil) {
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.reply(Reply{Text: e.t(t, "cancelled", nil), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	}
	number, ok := normalizeNumber(t.ev.Text)
	if !ok {
		if done, err := e.shortcutWhileLinking(t); done || err != nil {
			return err
		}
		t.reply(Reply{Text: e.t(t, "link_bad_number", nil)})
		return nil
	}
	if full, err := e.atLimit(t); err != nil || full {
		return err
	}
	allowed, err := e.codes.AllowLookup(t.ctx, t.ev.UserID, number)
	if err != nil {
		return err
	}
	if !allowed {
		t.reply(Reply{Text: e.t(t, "link_lookup_limit", nil)})
		return nil
	}
	acc, err := e.accounts.AccountByNumber(t.ctx, number)
	switch {
	case errors.Is(err, billing.ErrNotFound) || (err == nil && acc.Status == billing.StatusClosed):
		// The same answer as for a real account: a masked phone derived from
		// the number and a code step that never succeeds.
		k := e.keyed("decoy:" + number)
		masked := fmt.Sprintf("+7 *** ***-**-%02d", k%100)
		return e.sendCode(t, -int64(k>>20)-1, number, "", masked)
	case err != nil:
		return err
	}
	if _, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, acc.ID); err == nil {
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.reply(Reply{Text: e.t(t, "link_already", map[string]any{"Number": esc(acc.Number)}), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	} else if !errors.Is(err, billing.ErrNotFound) {
		return err
	}
	return e.sendCode(t, acc.ID, acc.Number, acc.Phone, billing.MaskPhone(acc.Phone))
}

// shortcutWhileLinking lets a question that a feature recognises ("телефон
// горячей линии", "позовите оператора") leave the linking step for its
// screen instead of getting the account-number hint: people who ask it want
// that, not linking. It reports whether a shortcut took the text.
func (e *Engine) shortcutWhileLinking(t *turn) (bool, error) {
	saved, before := t.st, len(t.res.Replies)
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	for _, f := range e.reg.idleText {
		done, err := f(e, t)
		if err != nil {
			return true, err
		}
		if done {
			// The share-my-phone keyboard has done its job; a message with
			// inline buttons cannot remove it, so a short one does, first.
			paused := Reply{Text: e.t(t, "link_paused", nil), Keyboard: &Keyboard{Remove: true}}
			t.res.Replies = append(t.res.Replies[:before], append([]Reply{paused}, t.res.Replies[before:]...)...)
			return true, nil
		}
	}
	t.st = saved
	return false, nil
}

// linkContact handles a shared contact: only the sender's own phone counts.
func (e *Engine) linkContact(t *turn) error {
	c := t.ev.Contact
	if c == nil || c.UserID != t.ev.UserID {
		t.reply(Reply{Text: e.t(t, "contact_not_own", nil)})
		if t.st.Step == StepLinkNumber {
			t.reply(e.linkPrompt(t))
		}
		return nil
	}
	if full, err := e.atLimit(t); err != nil || full {
		return err
	}
	found, err := e.accounts.AccountsByPhone(t.ctx, normalizePhone(c.Phone))
	if err != nil {
		return err
	}
	var candidates []string
	for _, a := range found {
		if _, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, a.ID); errors.Is(err, billing.ErrNotFound) {
			candidates = append(candidates, a.Number)
		} else if err != nil {
			return err
		}
	}
	switch {
	case len(found) == 0:
		t.st.Step = StepLinkNumber
		t.reply(Reply{Text: e.t(t, "contact_no_accounts", nil)})
		return nil
	case len(candidates) == 0:
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.reply(Reply{Text: e.t(t, "contact_all_linked", nil), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	case len(candidates) == 1:
		return e.pickNumber(t, candidates[0])
	}
	t.st.Step, t.st.Candidates = StepLinkPick, candidates
	return e.offerCandidates(t)
}

func (e *Engine) offerCandidates(t *turn) error {
	var rows [][]Button
	for i, n := range t.st.Candidates {
		rows = append(rows, []Button{{Text: billing.MaskNumber(n), Data: fmt.Sprintf("pick:%d", i)}})
	}
	rows = append(rows, []Button{{Text: e.t(t, "btn_cancel", nil), Data: "cancel"}})
	t.reply(Reply{Text: e.n(t, "contact_pick", len(t.st.Candidates), nil), Buttons: rows, Keyboard: nil})
	return nil
}

// pick handles the choice among the accounts on a shared phone. The index
// refers to the candidates saved in the state, so a stale or forged button
// can only pick among the sender's own phone's accounts.
func (e *Engine) pick(t *turn, i int64) error {
	if t.st.Step != StepLinkPick || i < 0 || int(i) >= len(t.st.Candidates) {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	return e.pickNumber(t, t.st.Candidates[i])
}

func (e *Engine) pickNumber(t *turn, number string) error {
	acc, err := e.accounts.AccountByNumber(t.ctx, number)
	if err != nil {
		return err
	}
	return e.sendCode(t, acc.ID, acc.Number, acc.Phone, billing.MaskPhone(acc.Phone))
}

// sendCode issues a code for (user, account) and moves to the code step.
// phone "" is a decoy for a number that does not exist.
func (e *Engine) sendCode(t *turn, accountID int64, number, phone, masked string) error {
	res, err := e.codes.Send(t.ctx, t.ev.Key, t.ev.UserID, accountID, phone, t.lang)
	if err != nil {
		return err
	}
	switch {
	case res.Locked:
		t.reply(Reply{Text: e.t(t, "code_locked", map[string]any{"Wait": e.wait(t, res.RetryAfter)})})
		return nil
	case !res.Sent:
		t.reply(Reply{Text: e.t(t, "code_resend_wait", map[string]any{"Wait": e.wait(t, res.RetryAfter)})})
		return nil
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true, Step: StepLinkCode, Account: accountID, Number: number, Masked: masked, Decoy: phone == "", CodeSentAt: e.now().Unix()}
	t.reply(e.codeDelivery(t))
	t.res.Timers = append(t.res.Timers, Timer{After: e.cfg.ResendPause, Data: fmt.Sprintf("resend:%d:%d", accountID, t.st.CodeSentAt), Lang: t.lang})
	return nil
}

// codeDelivery asks for the code's SMS to be sent once the turn that issued
// it (Codes.Send) is saved; "the code went to ..." comes when the gateway
// took it (deliverCode).
func (e *Engine) codeDelivery(t *turn) Reply {
	d, _ := json.Marshal(codeSMS{Account: t.st.Account, Number: t.st.Number, Masked: t.st.Masked, Decoy: t.st.Decoy})
	return Reply{Effect: &Effect{Verb: "code", Data: string(d)}}
}

// codeSMS is the "code" effect's data: which code to deliver, and what to
// say once it went.
type codeSMS struct {
	Account int64  `json:"a"`
	Number  string `json:"n"`
	Masked  string `json:"m"`
	Decoy   bool   `json:"d,omitempty"`
}

// deliverCode is the "code" effect: the SMS of the code the asking event
// issued, then the message that says where it went. A code the gateway
// would not take is withdrawn by Codes, and the person may ask again at once.
func (e *Engine) deliverCode(t *turn, data string) error {
	var d codeSMS
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil // nothing sensible to say about a request we cannot read
	}
	phone := ""
	if !d.Decoy {
		acc, err := e.accounts.AccountByNumber(t.ctx, d.Number)
		if err != nil {
			return err
		}
		phone = acc.Phone
	}
	err := e.codes.Deliver(t.ctx, t.ev.Key, t.ev.UserID, d.Account, phone)
	if errors.Is(err, ErrCodeUndelivered) {
		t.reply(Reply{Text: e.t(t, "code_sms_failed", nil), Buttons: [][]Button{
			{{Text: e.t(t, "btn_resend", nil), Data: "resend"}},
			{{Text: e.t(t, "btn_cancel", nil), Data: "cancel"}},
		}})
		return nil
	}
	if err != nil {
		return err
	}
	t.st.Masked = d.Masked
	t.reply(e.codeSentReply(t))
	return nil
}

// codeSentReply is the one message after a code went out: where it went,
// how long it is valid, what to type. "Cancel" is on the reply keyboard,
// so that it stays one button under the input field whatever is typed,
// instead of a new one under every answer.
func (e *Engine) codeSentReply(t *turn) Reply {
	return Reply{Text: e.t(t, "code_sent", map[string]any{"Phone": t.st.Masked}), Keyboard: e.codeKeyboard(t)}
}

func (e *Engine) codeKeyboard(t *turn) *Keyboard {
	return &Keyboard{Rows: [][]KeyButton{{{Text: e.t(t, "btn_cancel_key", nil)}}}}
}

// codeButtons: "Send again" once the resend pause is over, nothing before
// (Cancel is on the reply keyboard).
func (e *Engine) codeButtons(t *turn) [][]Button {
	if e.now().Sub(time.Unix(t.st.CodeSentAt, 0)) < e.cfg.ResendPause {
		return nil
	}
	return [][]Button{{{Text: e.t(t, "btn_resend", nil), Data: "resend"}}}
}

// timer handles a Timer that fell due. "resend:<account>:<sent at>" offers
// "send again" if the person is still waiting for that very code; any
// other state means they moved on, and nothing is said.
func (e *Engine) timer(t *turn) error {
	verb, rest, _ := strings.Cut(t.ev.Data, ":")
	if f, ok := e.reg.timers[verb]; ok {
		return f(e, t)
	}
	if verb != "resend" || t.st.Step != StepLinkCode || rest != fmt.Sprintf("%d:%d", t.st.Account, t.st.CodeSentAt) {
		return nil
	}
	t.reply(Reply{Text: e.t(t, "code_resend_ready", map[string]any{"Phone": t.st.Masked}), Buttons: e.codeButtons(t)})
	return nil
}

// resend sends a new code for the account of the current code step.
func (e *Engine) resend(t *turn) error {
	if t.st.Step != StepLinkCode {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	if t.st.Decoy {
		return e.sendCode(t, t.st.Account, t.st.Number, "", t.st.Masked)
	}
	acc, err := e.accounts.AccountByNumber(t.ctx, t.st.Number)
	if err != nil {
		return err
	}
	res, err := e.codes.Send(t.ctx, t.ev.Key, t.ev.UserID, acc.ID, acc.Phone, t.lang)
	if err != nil {
		return err
	}
	switch {
	case res.Locked:
		t.res.Toast = e.t(t, "code_locked", map[string]any{"Wait": e.wait(t, res.RetryAfter)})
		t.reply(Reply{Text: t.res.Toast})
	case !res.Sent:
		// Early taps get a toast; the step stays as it is.
		t.res.Toast = e.t(t, "code_resend_wait", map[string]any{"Wait": e.wait(t, res.RetryAfter)})
	default:
		t.st.CodeSentAt = e.now().Unix()
		t.res.Toast = e.t(t, "code_resent_toast", nil)
		t.reply(e.codeDelivery(t))
		t.res.Timers = append(t.res.Timers, Timer{After: e.cfg.ResendPause, Data: fmt.Sprintf("resend:%d:%d", t.st.Account, t.st.CodeSentAt), Lang: t.lang})
	}
	return nil
}

// codeInput checks a typed code.
func (e *Engine) codeInput(t *turn) error {
	if t.ev.Kind != KindText {
		t.reply(Reply{Text: e.t(t, "code_need_digits", nil), Buttons: e.codeButtons(t)})
		return nil
	}
	if isCancelWord(t.ev.Text) || t.ev.Text == e.t(t, "btn_cancel_key", nil) {
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.reply(Reply{Text: e.t(t, "cancelled", nil), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	}
	code, ok := normalizeCode(t.ev.Text)
	if !ok {
		t.reply(Reply{Text: e.t(t, "code_need_digits", nil), Buttons: e.codeButtons(t)})
		return nil
	}
	res, err := e.codes.Check(t.ctx, t.ev.Key, t.ev.UserID, t.st.Account, code)
	if err != nil {
		return err
	}
	if res.Outcome == CheckOK && t.st.Decoy {
		// A lucky guess on a number that does not exist still links nothing.
		res.Outcome = CheckExpired
	}
	switch res.Outcome {
	case CheckWrong:
		t.reply(Reply{Text: e.n(t, "code_wrong", res.TriesLeft, nil), Buttons: e.codeButtons(t)})
		return nil
	case CheckExpired:
		t.reply(Reply{Text: e.t(t, "code_expired", nil), Buttons: e.codeButtons(t)})
		return nil
	case CheckLocked:
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.reply(Reply{Text: e.t(t, "code_locked", map[string]any{"Wait": e.wait(t, res.RetryAfter)}), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	}
	return e.finishLink(t)
}

func (e *Engine) finishLink(t *turn) error {
	acc, err := e.accounts.AccountByNumber(t.ctx, t.st.Number)
	if err != nil {
		return err
	}
	err = e.accounts.Link(t.ctx, t.ev.UserID, acc.ID, e.cfg.MaxAccounts)
	if errors.Is(err, billing.ErrLinkLimit) {
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		_, err = e.atLimit(t)
		return err
	}
	if err != nil {
		return err
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.reply(Reply{Text: e.t(t, "link_done", map[string]any{"Number": esc(acc.Number)}), Keyboard: &Keyboard{Remove: true}})
	if err := e.showBalance(t, acc.ID, 0); err != nil {
		return err
	}
	// The SMS to the contract phone is a safety net against a stolen code,
	// sent after the person read that the account is linked.
	t.reply(Reply{Effect: &Effect{Verb: "linked", Data: acc.Number}})
	return nil
}

// linkedNotice is the "linked" effect: "a Telegram account was linked to
// your contract" to the contract phone. Its failure must not undo or hold
// up a link that is already made, so it is logged, not retried. The effect
// runs again if the process dies before it is marked done: keyed by the
// event, the notice goes once.
func (e *Engine) linkedNotice(t *turn, number string) error {
	acc, err := e.accounts.AccountByNumber(t.ctx, number)
	if err != nil {
		e.log.Warn("linked-notice sms not sent: account unavailable", "err", err)
		return nil
	}
	key := ""
	if t.ev.Key != "" {
		key = fmt.Sprintf("linked:%d:%d:%s", t.ev.UserID, acc.ID, t.ev.Key)
	}
	if err := e.notifier.Notify(t.ctx, key, acc.Phone, e.t(t, "sms_linked", map[string]any{"Number": acc.Number})); err != nil {
		e.log.Warn("linked-notice sms failed", "account_id", acc.ID, "err", err)
	}
	return nil
}

func isCancelWord(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "отмена", "cancel", "/cancel":
		return true
	}
	return false
}

// wait says a duration the way people do: seconds, minutes or hours, rounded up.
func (e *Engine) wait(t *turn, d time.Duration) string {
	switch {
	case d <= time.Minute:
		s := int((d + time.Second - 1) / time.Second)
		if s < 1 {
			s = 1
		}
		return e.n(t, "dur_seconds", s, nil)
	case d <= time.Hour:
		return e.n(t, "dur_minutes", int((d+time.Minute-1)/time.Minute), nil)
	}
	return e.n(t, "dur_hours", int((d+time.Hour-1)/time.Hour), nil)
}
