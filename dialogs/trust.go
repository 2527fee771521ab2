package dialogs

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// trustOffer says what a trust payment gives and until when, and asks for
// "Confirm"; nothing is granted yet.
func (f *payFeature) trustOffer(e *Engine, t *turn, arg string, edit int) error {
	acc, from, ok, err := f.account(e, t, arg, "tr", edit)
	if !ok || err != nil {
		return err
	}
	if from != fromMenu {
		from = fromBalance
	}
	back := e.backButton(t, backTo(acc.ID, from))
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	offer, err := f.trust.OfferTrust(t.ctx, acc.ID, e.now(), f.cfg.Trust)
	if done, err := f.trustRefused(e, t, acc, err, edit, back); done || err != nil {
		return err
	}
	days := f.cfg.Trust.Days
	if days <= 0 {
		days = 3
	}
	fee := e.t(t, "trust_fee_free", nil)
	if offer.Fee > 0 {
		fee = e.t(t, "trust_fee", map[string]any{"Fee": offer.Fee.Format(t.lang)})
	}
	t.reply(Reply{
		Text: e.t(t, "trust_offer", map[string]any{
			"Number": esc(acc.Number),
			"Amount": offer.Amount.Format(t.lang),
			"Days":   e.n(t, "trust_days", days, nil),
			"Date":   e.date(t, offer.ExpiresAt.In(e.location(acc))),
			"Fee":    fee,
			"Need":   trustNeed(acc, offer, e.now()).Format(t.lang),
		}),
		Edit: edit,
		Buttons: [][]Button{
			{{Text: e.t(t, "btn_trust_confirm", nil), Data: fmt.Sprintf("tro:%d", acc.ID)}},
			{back, e.menuButton(t)},
		},
	})
	return nil
}

// trustConfirm grants it. 50 presses at once grant one: the store locks
// the account and the month is a unique key; the others get "already taken
// this month". One press delivered twice (a crash before the turn was
// committed) is told "granted" both times, with the same sums and date.
func (f *payFeature) trustConfirm(e *Engine, t *turn, arg string, edit int) error {
	if arg == "" {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	acc, _, ok, err := f.account(e, t, arg, "tr", edit)
	if !ok || err != nil {
		return err
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	// Keyed by this press: the same press delivered again is the same grant.
	key := ""
	if t.ev.Key != "" {
		key = fmt.Sprintf("trust:%d:%d:%s", t.ev.UserID, acc.ID, t.ev.Key)
	}
	g, err := f.trust.GrantTrust(t.ctx, key, acc.ID, e.now(), f.cfg.Trust)
	if done, err := f.trustRefused(e, t, acc, err, edit, e.backButton(t, backTo(acc.ID, fromBalance))); done || err != nil {
		return err
	}
	t.reply(Reply{
		Text: e.t(t, "trust_granted", map[string]any{
			"Amount":  g.Amount.Format(t.lang),
			"Date":    e.date(t, g.ExpiresAt.In(e.location(acc))),
			"Time":    g.ExpiresAt.In(e.location(acc)).Format("15:04"),
			"Balance": g.Balance.Format(t.lang),
			"Need":    trustNeed(acc, g, e.now()).Format(t.lang),
		}),
		Edit: edit,
		// The confirmation stays readable: Pay and Menu come as new messages.
		Buttons: [][]Button{{{Text: e.t(t, "btn_pay", nil), Data: fmt.Sprintf("payn:%d", acc.ID)}, e.newMenuButton(t)}},
	})
	return nil
}

// trustNeed is what to pay before a trust payment ends to keep the service
// on after it: the forecast of the account as the grant leaves it.
func trustNeed(acc billing.Account, g billing.TrustOffer, now time.Time) money.Amount {
	acc.Balance = g.Balance
	acc.Trust = &billing.ActiveTrust{Amount: g.Amount, ExpiresAt: g.ExpiresAt}
	return acc.Forecast(now, time.UTC).Need
}

// trustRefused explains a refusal with its reason and, where there is one,
// the date from which a trust payment becomes possible. done tells that err
// was a refusal and the reply is given.
func (f *payFeature) trustRefused(e *Engine, t *turn, acc billing.Account, err error, edit int, back Button) (done bool, _ error) {
	var r *billing.TrustRefusal
	if !errors.As(err, &r) {
		return false, err
	}
	data := map[string]any{}
	if !r.From.IsZero() {
		data["Date"] = e.date(t, r.From.In(f.cfg.Trust.Location))
	}
	var rows [][]Button
	if f.pay != nil && r.Reason != billing.TrustClosed {
		rows = append(rows, []Button{{Text: e.t(t, "btn_pay", nil), Data: fmt.Sprintf("pay:%d", acc.ID)}})
	}
	rows = append(rows, []Button{back, e.menuButton(t)})
	t.reply(Reply{
		Text:    e.t(t, "trust_refused_"+strings.ToLower(string(r.Reason)), data),
		Edit:    edit,
		Buttons: rows,
	})
	return true, nil
}
