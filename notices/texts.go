package notices

import (
	"context"
	"errors"
	"fmt"
	"html"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Every text a notice carries is rendered here, from the locales catalog,
// so that the words of a push live in one place.

// Button is an inline button on a notice: a callback (Data) or a link (URL).
type Button struct {
	Text string
	Data string
	URL  string
}

// Messenger sends a Telegram message to a private chat (whose id is the
// user's id) through the bot's bulk lane. bot.Notifier implements it. nil
// means Telegram took it; ErrUnreachable that the chat blocked the bot (it
// is marked so, and nothing more goes to it until my_chat_member says it is
// back); any other error that it did not go out and is tried again later.
type Messenger interface {
	Send(ctx context.Context, chatID int64, text string, buttons [][]Button) error
}

// ErrUnreachable is the Messenger's answer for a chat that blocked the bot
// (403) or was marked so before: the notice counts as done, as "blocked".
var ErrUnreachable = errors.New("notices: chat unreachable")

// Texts renders a message of the locales catalog; *locales.Catalog implements it.
type Texts interface {
	T(lang, id string, data map[string]any) string
	N(lang, id string, count int, data map[string]any) string
}

// Message is a notice ready to send.
type Message struct {
	Text    string
	Buttons [][]Button
}

func langOr(lang string) string {
	if lang == "" {
		return "ru"
	}
	return lang
}

func date(tx Texts, lang string, d time.Time) string {
	return tx.T(lang, "date_day_month", map[string]any{"Day": d.Day(), "Month": tx.T(lang, fmt.Sprintf("month_%d", int(d.Month())), nil)})
}

// offButton is "Не присылать такие" for a topic of an account.
func offButton(tx Texts, lang string, topic Topic, accountID int64) []Button {
	return []Button{{Text: tx.T(lang, "btn_notice_off", nil), Data: fmt.Sprintf("nx:%s:%d", topic, accountID)}}
}

// LowMessage renders a low-balance notice (kind low, lastday or blocked)
// for the account as it is now. The holder gets Pay (the sum that keeps the
// access on: one tap for the link, one to open it) and the trust payment
// (one tap for the offer, one to confirm); a trusted person gets Pay only.
func LowMessage(tx Texts, lang string, kind Kind, acc billing.Account, trusted bool, now time.Time, loc *time.Location) Message {
	lang = langOr(lang)
	f := acc.Forecast(now, loc)
	need := f.Need
	if acc.Status == billing.StatusBlocked {
		need = acc.MonthlyCharge() - acc.Balance
	}
	if need <= 0 {
		need = acc.MonthlyCharge()
	}
	data := map[string]any{"Amount": need.Format(lang), "Number": html.EscapeString(acc.Number), "Date": date(tx, lang, f.BlockOn)}
	var text string
	switch kind {
	case KindLow:
		text = tx.N(lang, "notice_low", f.DaysLeft, data)
	case KindLastDay:
		text = tx.T(lang, "notice_lastday", data)
	default:
		text = tx.T(lang, "notice_blocked", data)
	}
	if trusted {
		text = tx.T(lang, "notice_trusted_prefix", data) + "\n" + text
	} else {
		text += "\n" + tx.T(lang, "notice_account", data)
	}
	pay := Button{Text: tx.T(lang, "btn_pay_open", map[string]any{"Amount": need.Format(lang)}), Data: payData(acc.ID, need, trusted)}
	rows := [][]Button{{pay}}
	if !trusted {
		rows[0] = append(rows[0], Button{Text: tx.T(lang, "btn_trust", nil), Data: fmt.Sprintf("tr:%d", acc.ID)})
	}
	return Message{Text: text, Buttons: append(rows, offButton(tx, lang, TopicLow, acc.ID))}
}

// payData is the Pay button's callback: the payments feature's "pa" for a
// holder, the notices feature's "tpa" for a trusted person (who is not
// linked to the account, so "pa" would refuse them).
func payData(accountID int64, amount money.Amount, trusted bool) string {
	if trusted {
		return fmt.Sprintf("tpa:%d:%d", accountID, int64(amount))
	}
	return fmt.Sprintf("pa:%d:%d", accountID, int64(amount))
}

// OutageMessage renders an outage's start or end for a subscriber.
func OutageMessage(tx Texts, lang string, kind Kind, o Outage, accountID int64, loc *time.Location) Message {
	lang = langOr(lang)
	data := map[string]any{"City": html.EscapeString(o.City), "Text": html.EscapeString(o.Text)}
	var text string
	switch {
	case kind == KindOutageEnd:
		text = tx.T(lang, "notice_outage_end", data)
	case !o.Until.IsZero():
		data["Until"] = o.Until.In(loc).Format("15:04")
		text = tx.T(lang, "notice_outage_until", data)
	default:
		text = tx.T(lang, "notice_outage", data)
	}
	return Message{Text: text, Buttons: [][]Button{offButton(tx, lang, TopicOutage, accountID)}}
}

// PaymentMessage renders "payment received" (kept as it was before it moved here).
func PaymentMessage(tx Texts, n billing.PaymentNotice) Message {
	lang := langOr(n.Language)
	text := tx.T(lang, "payment_received", map[string]any{
		"Amount":  n.Amount.Format(lang),
		"Balance": n.Balance.Format(lang),
		"Number":  n.AccountNumber,
	})
	return Message{Text: text, Buttons: [][]Button{offButton(tx, lang, TopicPayment, n.AccountID)}}
}

// ReminderMessage renders "your trust payment ends tomorrow" with its Pay button.
func ReminderMessage(tx Texts, r billing.TrustReminder, loc *time.Location) Message {
	end := r.ExpiresAt.In(loc)
	lang := langOr(r.Recipient.Language)
	text := tx.T(lang, "trust_reminder", map[string]any{
		"Amount": r.Amount.Format(lang),
		"Number": r.AccountNumber,
		"Date":   date(tx, lang, end),
		"Time":   end.Format("15:04"),
	})
	return Message{Text: text, Buttons: [][]Button{
		{{Text: tx.T(lang, "btn_pay", nil), Data: fmt.Sprintf("payn:%d", r.AccountID)}},
		offButton(tx, lang, TopicTrust, r.AccountID),
	}}
}
