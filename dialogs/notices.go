package dialogs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// The notification settings ("🔔 Уведомления"), the "Не присылать такие"
// button under every notice, and trusted persons: someone the holder
// invites with a one-time link to get the account's low-balance notices.

// NoticesConfig configures the notices feature.
type NoticesConfig struct {
	// BotUsername makes the invitation links (t.me/<bot>?start=n_<token>).
	BotUsername string
	// InviteTTL is how long an invitation link works (24 h).
	InviteTTL time.Duration
}

// noticeTopics are the switches of the settings screen, in its order: the
// values of notices.Topic.
var noticeTopics = []string{"low", "payment", "outage", "trust"}

// invitePrefix starts a deep link's parameter that carries an invitation.
const invitePrefix = "n_"

type noticesFeature struct {
	store Notices
	pay   Payments // nil: a trusted person's Pay is left out
	cfg   NoticesConfig
}

// WithNotices adds the notification settings to the menu (and /notifications),
// the "Не присылать такие" button of the notices, and trusted persons. pay
// makes a trusted person's Pay link (they are not linked to the account).
// Call it right after New.
func (e *Engine) WithNotices(store Notices, pay Payments, cfg NoticesConfig) *Engine {
	if cfg.InviteTTL <= 0 {
		cfg.InviteTTL = 24 * time.Hour
	}
	f := &noticesFeature{store: store, pay: pay, cfg: cfg}
	e.reg.callback("ns", f.settings)   // ns[:account[:op]]
	e.reg.callback("nx", f.turnOff)    // nx:topic:account
	e.reg.callback("ntp", f.trusted)   // ntp:account
	e.reg.callback("nti", f.invite)    // nti:account
	e.reg.callback("ntx", f.endByHold) // ntx:account:user
	e.reg.callback("ntq", f.endByMe)   // ntq:account
	e.reg.callback("tpa", f.trustedPay)
	e.reg.effect("tpaylink", f.trustedLink)
	e.reg.startArg(invitePrefix, f.accept)
	e.reg.command("notifications", func(e *Engine, t *turn) error { return f.settings(e, t, "", 0) })
	e.reg.menu = append(e.reg.menu, func(e *Engine, t *turn, linked bool) []Button {
		if !linked {
			return nil
		}
		return []Button{{Text: e.t(t, "btn_notices", nil), Data: "ns"}}
	})
	e.reg.help = append(e.reg.help, func(e *Engine, t *turn) string { return e.t(t, "help_notices", nil) })
	return e
}

// holderAccount is the account a button names, authorised: linked to the
// sender. "" is the current account. ok false means the reply is given.
func (f *noticesFeature) holderAccount(e *Engine, t *turn, arg string) (billing.Account, bool, error) {
	if arg == "" {
		acc, err := e.accounts.CurrentAccount(t.ctx, t.ev.UserID)
		if errors.Is(err, billing.ErrNotFound) {
			return acc, false, f.trustedOnly(e, t)
		}
		return acc, err == nil, err
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return billing.Account{}, false, e.prompt(t)
	}
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	if errors.Is(err, billing.ErrNotFound) {
		t.res.Toast = e.t(t, "account_not_linked", nil)
		return acc, false, e.menu(t, 0)
	}
	return acc, err == nil, err
}

// settings is the screen "🔔 Уведомления" of an account, and its switches:
// ns:<account>:<op>, op one of t<topic>=<0|1>, d=<1..7> (days before), q=<0|1>
// (quiet hours). A button names the value it sets, never "toggle": the
// press run again after a crash (its update delivered again) sets the same.
func (f *noticesFeature) settings(e *Engine, t *turn, arg string, edit int) error {
	accArg, op, _ := strings.Cut(arg, ":")
	acc, ok, err := f.holderAccount(e, t, accArg)
	if !ok || err != nil {
		return err
	}
	p, err := f.store.NoticePrefs(t.ctx, t.ev.UserID, acc.ID)
	if err != nil {
		return err
	}
	if op != "" {
		what, value, _ := strings.Cut(op, "=")
		on := value == "1"
		switch {
		case what == "d":
			if n, err := strconv.Atoi(value); err == nil && n >= 1 && n <= 7 {
				p.DaysBefore = n
			}
		case what == "q":
			p.Quiet = on
		case strings.HasPrefix(what, "t"):
			setTopic(&p, what[1:], on)
		}
		if err := f.store.SetNoticePrefs(t.ctx, t.ev.UserID, acc.ID, p); err != nil {
			return err
		}
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	mark := func(on bool) string {
		if on {
			return "✅ "
		}
		return "▫️ "
	}
	flip := func(on bool) int {
		if on {
			return 0
		}
		return 1
	}
	var rows [][]Button
	for _, topic := range noticeTopics {
		on := topicOn(p, topic)
		rows = append(rows, []Button{{Text: mark(on) + e.t(t, "notices_topic_"+topic, nil), Data: fmt.Sprintf("ns:%d:t%s=%d", acc.ID, topic, flip(on))}})
	}
	rows = append(rows,
		[]Button{{Text: e.n(t, "btn_notices_days", p.DaysBefore, nil), Data: fmt.Sprintf("ns:%d:d=%d", acc.ID, p.DaysBefore%7+1)}},
		[]Button{{Text: mark(p.Quiet) + e.t(t, "btn_notices_quiet", nil), Data: fmt.Sprintf("ns:%d:q=%d", acc.ID, flip(p.Quiet))}},
		[]Button{{Text: e.t(t, "btn_notices_trusted", nil), Data: fmt.Sprintf("ntp:%d", acc.ID)}},
		[]Button{e.menuButton(t)},
	)
	text := e.t(t, "notices_settings", map[string]any{"Number": esc(acc.Number)})
	mine, err := f.store.TrustedAccounts(t.ctx, t.ev.UserID)
	if err != nil {
		return err
	}
	for _, a := range mine {
		text += "\n" + e.t(t, "notices_you_are_trusted", map[string]any{"Number": esc(a.Number)})
		rows = append(rows[:len(rows)-1], []Button{{Text: e.t(t, "btn_trusted_quit", map[string]any{"Number": a.Number}), Data: fmt.Sprintf("ntq:%d", a.AccountID)}}, rows[len(rows)-1])
	}
	t.reply(Reply{Text: text, Edit: edit, Buttons: rows})
	if op != "" {
		t.res.Toast = e.t(t, "notices_saved", nil)
	}
	return nil
}

// trustedOnly is the settings screen of someone with no linked account:
// only the accounts they are a trusted person of, each with a way out.
func (f *noticesFeature) trustedOnly(e *Engine, t *turn) error {
	mine, err := f.store.TrustedAccounts(t.ctx, t.ev.UserID)
	if err != nil {
		return err
	}
	if len(mine) == 0 {
		return e.menu(t, 0)
	}
	var lines []string
	var rows [][]Button
	for _, a := range mine {
		lines = append(lines, e.t(t, "notices_you_are_trusted", map[string]any{"Number": esc(a.Number)}))
		rows = append(rows, []Button{{Text: e.t(t, "btn_trusted_quit", map[string]any{"Number": a.Number}), Data: fmt.Sprintf("ntq:%d", a.AccountID)}})
	}
	t.reply(Reply{Text: strings.Join(lines, "\n"), Buttons: append(rows, []Button{e.menuButton(t)})})
	return nil
}

func topicOn(p NoticePrefs, topic string) bool {
	switch topic {
	case "low":
		return p.Low
	case "payment":
		return p.Payment
	case "outage":
		return p.Outage
	case "trust":
		return p.Trust
	}
	return false
}

func setTopic(p *NoticePrefs, topic string, on bool) bool {
	switch topic {
	case "low":
		p.Low = on
	case "payment":
		p.Payment = on
	case "outage":
		p.Outage = on
	case "trust":
		p.Trust = on
	default:
		return false
	}
	return true
}

// turnOff is "Не присылать такие" under a notice: that kind stops for that
// account, and the answer says where to turn it back on. A trusted person
// (who gets only the low-balance kind) ends their subscription instead.
func (f *noticesFeature) turnOff(e *Engine, t *turn, arg string, _ int) error {
	topic, accArg, _ := strings.Cut(arg, ":")
	id, err := strconv.ParseInt(accArg, 10, 64)
	var p NoticePrefs
	if err != nil || id <= 0 || !setTopic(&p, topic, false) {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	if errors.Is(err, billing.ErrNotFound) {
		if ta, ok, err := f.trustedAccount(t, id); err != nil || ok {
			if err != nil {
				return err
			}
			return f.quit(e, t, ta)
		}
		t.res.Toast = e.t(t, "account_not_linked", nil)
		return e.menu(t, 0)
	}
	if err != nil {
		return err
	}
	if p, err = f.store.NoticePrefs(t.ctx, t.ev.UserID, acc.ID); err != nil {
		return err
	}
	setTopic(&p, topic, false)
	if err := f.store.SetNoticePrefs(t.ctx, t.ev.UserID, acc.ID, p); err != nil {
		return err
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.res.Toast = e.t(t, "notices_saved", nil)
	t.reply(Reply{
		Text: e.t(t, "notices_turned_off", map[string]any{"Topic": e.t(t, "notices_topic_"+topic, nil), "Number": esc(acc.Number)}),
		Buttons: [][]Button{
			{{Text: e.t(t, "btn_notices_back_on", nil), Data: fmt.Sprintf("ns:%d:t%s=1", acc.ID, topic)}},
			{{Text: e.t(t, "btn_notices", nil), Data: fmt.Sprintf("ns:%d", acc.ID)}, e.newMenuButton(t)},
		},
	})
	return nil
}

// trustedAccount finds an account the sender is a trusted person of.
func (f *noticesFeature) trustedAccount(t *turn, accountID int64) (TrustedAccount, bool, error) {
	mine, err := f.store.TrustedAccounts(t.ctx, t.ev.UserID)
	if err != nil {
		return TrustedAccount{}, false, err
	}
	for _, a := range mine {
		if a.AccountID == accountID {
			return a, true, nil
		}
	}
	return TrustedAccount{}, false, nil
}

// trusted is the holder's screen of trusted persons: who gets this
// account's low-balance notices, a button to end each, and an invitation.
func (f *noticesFeature) trusted(e *Engine, t *turn, arg string, edit int) error {
	acc, ok, err := f.holderAccount(e, t, arg)
	if !ok || err != nil {
		return err
	}
	people, err := f.store.TrustedPersons(t.ctx, acc.ID)
	if err != nil {
		return err
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	text := e.t(t, "trusted_title", map[string]any{"Number": esc(acc.Number)})
	var rows [][]Button
	if len(people) == 0 {
		text += "\n\n" + e.t(t, "trusted_none", nil)
	}
	for _, p := range people {
		name := p.Name
		if name == "" {
			name = e.t(t, "trusted_noname", nil)
		}
		text += "\n• " + e.t(t, "trusted_person", map[string]any{"Name": esc(name), "Date": e.date(t, p.Since.In(e.location(acc)))})
		rows = append(rows, []Button{{Text: e.t(t, "btn_trusted_end", map[string]any{"Name": name}), Data: fmt.Sprintf("ntx:%d:%d", acc.ID, p.UserID)}})
	}
	rows = append(rows,
		[]Button{{Text: e.t(t, "btn_trusted_invite", nil), Data: fmt.Sprintf("nti:%d", acc.ID)}},
		[]Button{e.backButton(t, fmt.Sprintf("ns:%d", acc.ID)), e.menuButton(t)},
	)
	t.reply(Reply{Text: text, Edit: edit, Buttons: rows})
	return nil
}

// inviteToken is the invitation's secret, derived from the press that
// asked for it: the press delivered again makes the same token, so the
// invitation recorded under its key and the link shown agree.
func (e *Engine) inviteToken(key string, userID, accountID int64) string {
	m := hmac.New(sha256.New, e.cfg.Secret)
	fmt.Fprintf(m, "invite|%s|%d|%d", key, userID, accountID)
	if key == "" {
		fmt.Fprintf(m, "|%d", e.now().UnixNano()) // tests: no key, never a repeat
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// tokenHash is what the store keeps of a token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// invite makes a one-time link for a trusted person, valid InviteTTL.
func (f *noticesFeature) invite(e *Engine, t *turn, arg string, _ int) error {
	acc, ok, err := f.holderAccount(e, t, arg)
	if !ok || err != nil {
		return err
	}
	key := t.ev.Key
	token := e.inviteToken(key, t.ev.UserID, acc.ID)
	if key == "" {
		key = token
	}
	now := e.now()
	if err := f.store.CreateInvite(t.ctx, key, acc.ID, t.ev.UserID, tokenHash(token), now, now.Add(f.cfg.InviteTTL)); err != nil {
		return err
	}
	link := fmt.Sprintf("https://t.me/%s?start=%s%s", f.cfg.BotUsername, invitePrefix, token)
	t.reply(Reply{
		Text:    e.t(t, "trusted_invite", map[string]any{"Number": esc(acc.Number), "Link": esc(link), "Hours": int(f.cfg.InviteTTL.Hours())}),
		Buttons: [][]Button{{e.backButton(t, fmt.Sprintf("ntp:%d", acc.ID)), e.newMenuButton(t)}},
	})
	return nil
}

// accept is /start n_<token>: the invited person becomes a trusted person
// of the account, if the link is still good.
func (f *noticesFeature) accept(e *Engine, t *turn) error {
	token := strings.TrimPrefix(t.ev.Args, invitePrefix)
	a, err := f.store.AcceptInvite(t.ctx, tokenHash(token), t.ev.UserID, t.ev.FromName, e.now())
	if errors.Is(err, ErrInviteInvalid) {
		t.reply(Reply{Text: e.t(t, "trusted_invite_invalid", nil)})
		return e.menu(t, 0)
	}
	if err != nil {
		return err
	}
	t.reply(Reply{
		Text:    e.t(t, "trusted_accepted", map[string]any{"Number": esc(a.Number)}),
		Buttons: [][]Button{{{Text: e.t(t, "btn_trusted_quit", map[string]any{"Number": a.Number}), Data: fmt.Sprintf("ntq:%d", a.AccountID)}}, {e.menuButton(t)}},
	})
	return nil
}

// endByHold is the holder ending someone's trusted subscription.
func (f *noticesFeature) endByHold(e *Engine, t *turn, arg string, edit int) error {
	accArg, userArg, _ := strings.Cut(arg, ":")
	user, err := strconv.ParseInt(userArg, 10, 64)
	if err != nil {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	acc, ok, err := f.holderAccount(e, t, accArg)
	if !ok || err != nil {
		return err
	}
	if err := f.store.EndTrusted(t.ctx, acc.ID, user); err != nil {
		return err
	}
	t.res.Toast = e.t(t, "trusted_ended", nil)
	return f.trusted(e, t, strconv.FormatInt(acc.ID, 10), edit)
}

// endByMe is the trusted person leaving.
func (f *noticesFeature) endByMe(e *Engine, t *turn, arg string, _ int) error {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	a, ok, err := f.trustedAccount(t, id)
	if err != nil {
		return err
	}
	if !ok {
		t.res.Toast = e.t(t, "trusted_ended", nil)
		return e.menu(t, 0)
	}
	return f.quit(e, t, a)
}

func (f *noticesFeature) quit(e *Engine, t *turn, a TrustedAccount) error {
	if err := f.store.EndTrusted(t.ctx, a.AccountID, t.ev.UserID); err != nil {
		return err
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.reply(Reply{Text: e.t(t, "trusted_quit", map[string]any{"Number": esc(a.Number)}), Buttons: [][]Button{{e.newMenuButton(t)}}})
	return nil
}

// trustedPay is a trusted person's Pay under a notice (tpa:account:kopecks):
// the link for the sum the notice named, as for the holder.
func (f *noticesFeature) trustedPay(e *Engine, t *turn, arg string, edit int) error {
	accArg, sumArg, _ := strings.Cut(arg, ":")
	id, err1 := strconv.ParseInt(accArg, 10, 64)
	amount, err2 := strconv.ParseInt(sumArg, 10, 64)
	if err1 != nil || err2 != nil || amount <= 0 || f.pay == nil {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	a, ok, err := f.trustedAccount(t, id)
	if err != nil {
		return err
	}
	if !ok {
		t.res.Toast = e.t(t, "trusted_ended", nil)
		return e.menu(t, 0)
	}
	key := fmt.Sprintf("tpay:%d:%d:%d:m%d", t.ev.UserID, a.AccountID, amount, edit)
	if edit == 0 && t.ev.Key != "" {
		key = fmt.Sprintf("tpay:%d:%d:%d:e%s", t.ev.UserID, a.AccountID, amount, t.ev.Key)
	}
	d, _ := json.Marshal(payLink{Account: a.AccountID, Amount: amount, Key: key})
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.reply(Reply{Effect: &Effect{Verb: "tpaylink", Data: string(d)}})
	return nil
}

// trustedLink is the "tpaylink" effect: the payment link for a trusted
// person, after the turn, as the payments feature's "paylink" is.
func (f *noticesFeature) trustedLink(e *Engine, t *turn, data string) error {
	var d payLink
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil
	}
	a, ok, err := f.trustedAccount(t, d.Account)
	if err != nil {
		return err
	}
	if !ok {
		t.reply(Reply{Text: e.t(t, "trusted_ended", nil), Buttons: [][]Button{{e.newMenuButton(t)}}})
		return nil
	}
	amount := money.Amount(d.Amount)
	u, err := f.pay.PayURL(t.ctx, a.AccountID, a.Number, amount, d.Key)
	if err != nil {
		e.log.Warn("payment link unavailable", "account_id", a.AccountID, "err", err)
		t.reply(Reply{Text: e.t(t, "pay_unavailable", nil), Buttons: [][]Button{{e.newMenuButton(t)}}})
		return nil
	}
	t.reply(Reply{
		Text:    e.t(t, "pay_link", map[string]any{"Amount": amount.Format(t.lang), "Number": esc(a.Number)}),
		Buttons: [][]Button{{{Text: e.t(t, "btn_pay_open", map[string]any{"Amount": amount.Format(t.lang)}), URL: u}}, {e.newMenuButton(t)}},
	})
	return nil
}
