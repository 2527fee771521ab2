package dialogs

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
)

// showBalance shows an account's balance screen. id 0 means the current
// account; any other id must be linked to the sender. edit > 0 refreshes
// the message in place.
func (e *Engine) showBalance(t *turn, id int64, edit int) error {
	var acc billing.Account
	var err error
	if id == 0 {
		acc, err = e.accounts.CurrentAccount(t.ctx, t.ev.UserID)
	} else {
		acc, err = e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	}
	if errors.Is(err, billing.ErrNotFound) {
		if id != 0 {
			t.res.Toast = e.t(t, "account_not_linked", nil)
		}
		return e.menu(t, 0)
	}
	if err != nil {
		return err
	}
	payments, err := e.accounts.RecentPayments(t.ctx, acc.ID, 3)
	if err != nil {
		return err
	}
	text := e.balanceText(t, acc, payments)
	for _, f := range e.reg.balanceTop {
		top, err := f(e, t, acc)
		if err != nil {
			return err
		}
		if top != "" {
			text = top + "\n\n" + text
		}
	}
	rows := append([][]Button{
		{{Text: e.t(t, "btn_refresh", nil), Data: fmt.Sprintf("balr:%d", acc.ID)}},
	}, e.featureBalance(t, acc)...) // payments: Pay, History, trust payment
	if manage := e.manageRow(t, acc); len(manage) > 0 {
		rows = append(rows, manage)
	}
	rows = append(rows, []Button{{Text: e.t(t, "btn_accounts", nil), Data: "acc"}, e.menuButton(t)})
	t.reply(Reply{Text: text, Edit: edit, Buttons: rows})
	if edit > 0 {
		t.res.Toast = e.t(t, "balance_refreshed", nil)
	}
	return nil
}

// manageRow is the self-service's row of the balance screen (none
// without the feature, or for a closed account).
func (e *Engine) manageRow(t *turn, acc billing.Account) []Button {
	var b []Button
	for _, f := range e.reg.manage {
		b = append(b, f(e, t, acc)...)
	}
	return b
}

func (e *Engine) balanceText(t *turn, acc billing.Account, payments []billing.Payment) string {
	loc := e.location(acc)
	now := e.now().In(loc)
	var b strings.Builder
	line := func(s string) { b.WriteString(s); b.WriteByte('\n') }
	line(e.t(t, "balance_title", map[string]any{"Number": esc(acc.Number)}))
	line(e.t(t, "balance_tariff", map[string]any{"Name": esc(acc.Tariff.Name), "Fee": acc.Tariff.MonthlyFee.Format(t.lang)}))
	for _, s := range acc.Services {
		line(e.t(t, "balance_service", map[string]any{"Name": esc(s.Name), "Fee": s.MonthlyFee.Format(t.lang)}))
	}
	line("")
	line(e.t(t, "balance_amount", map[string]any{"Amount": acc.Balance.Format(t.lang)}))
	line(e.t(t, "balance_status", map[string]any{"Status": e.t(t, "status_"+string(acc.Status), nil)}))
	switch acc.Status {
	case billing.StatusActive:
		// Only the money that stays counts: a running trust payment is taken
		// back at its end, so the forecast never promises days it pays for.
		fc := acc.Forecast(e.now(), loc)
		if acc.Trust != nil {
			line(e.t(t, "balance_trust", map[string]any{"Amount": acc.Trust.Amount.Format(t.lang), "Date": e.date(t, acc.Trust.ExpiresAt.In(loc))}))
		}
		if fc.Unlimited {
			break
		}
		if fc.DaysLeft == 0 {
			line(e.t(t, "balance_runs_out_today", nil))
		} else {
			line(e.n(t, "balance_days_left", fc.DaysLeft, map[string]any{"Date": e.date(t, fc.BlockOn)}))
		}
		if fc.Need == 0 {
			next := acc.NextChargeDate(now, loc)
			line(e.t(t, "balance_next_charge", map[string]any{"Date": e.date(t, next), "Amount": acc.MonthlyCharge().Format(t.lang)}))
		} else {
			line(e.t(t, "balance_block_on", map[string]any{"Date": e.date(t, fc.BlockOn), "Amount": fc.Need.Format(t.lang)}))
		}
	case billing.StatusBlocked:
		need := acc.MonthlyCharge() - acc.Balance
		line(e.t(t, "balance_blocked_hint", map[string]any{"Amount": need.Format(t.lang)}))
	case billing.StatusFrozen:
		if acc.FrozenUntil.IsZero() {
			line(e.t(t, "balance_frozen_hint", nil))
		} else {
			line(e.t(t, "balance_frozen_until", map[string]any{"Date": e.date(t, acc.FrozenUntil)}))
		}
	case billing.StatusClosed:
		line(e.t(t, "balance_closed_hint", nil))
	}
	line("")
	if len(payments) == 0 {
		line(e.t(t, "balance_no_payments", nil))
	} else {
		line(e.t(t, "balance_payments", nil))
		for _, p := range payments {
			line(e.t(t, "balance_payment", map[string]any{
				"Date":    p.PaidAt.In(loc).Format("02.01.2006"),
				"Amount":  p.Amount.Format(t.lang),
				"Channel": e.channel(t, p.Channel),
			}))
		}
	}
	b.WriteString(e.t(t, "balance_updated", map[string]any{"Time": now.Format("15:04")}))
	return b.String()
}

// location is the account's city's time zone, or the provider's.
func (e *Engine) location(acc billing.Account) *time.Location {
	if acc.TimeZone != "" {
		if loc, err := time.LoadLocation(acc.TimeZone); err == nil {
			return loc
		}
	}
	return e.cfg.Location
}

// date writes a day and month the way people say them: "1 декабря", "December 1".
func (e *Engine) date(t *turn, d time.Time) string {
	return e.t(t, "date_day_month", map[string]any{"Day": d.Day(), "Month": e.t(t, fmt.Sprintf("month_%d", int(d.Month())), nil)})
}

// channel names a payment channel; unknown ones read as "other".
func (e *Engine) channel(t *turn, c string) string {
	switch c {
	case "card", "sberbank", "terminal", "cash", "autopay", "trust", "yookassa", "ewallet":
		return e.t(t, "channel_"+c, nil)
	}
	return e.t(t, "channel_other", nil)
}
