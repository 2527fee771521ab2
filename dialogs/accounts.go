package dialogs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kabinet-bot/kabinet/billing"
)

// showAccounts lists the linked accounts with switch and unlink buttons.
func (e *Engine) showAccounts(t *turn, edit int) error {
	return e.accountsScreen(t, "", edit)
}

// accountsScreen is the accounts list, under a line saying what just
// happened (head, "" for none): every action on the list redraws it, so the
// list never shows an account that was unlinked or an old ✅.
func (e *Engine) accountsScreen(t *turn, head string, edit int) error {
	t.st.Step, t.st.Account = StepIdle, 0
	linked, err := e.accounts.LinkedAccounts(t.ctx, t.ev.UserID)
	if err != nil {
		return err
	}
	if len(linked) == 0 {
		if head != "" {
			t.reply(Reply{Text: head, Edit: edit})
			edit = 0
		}
		return e.menu(t, edit)
	}
	cur, err := e.accounts.CurrentAccount(t.ctx, t.ev.UserID)
	if err != nil && !errors.Is(err, billing.ErrNotFound) {
		return err
	}
	var b strings.Builder
	if head != "" {
		b.WriteString(head + "\n\n")
	}
	b.WriteString(e.n(t, "accounts_title", len(linked), map[string]any{"Max": e.cfg.MaxAccounts}))
	var rows [][]Button
	for _, a := range linked {
		mark := ""
		if a.ID == cur.ID {
			mark = " ✅"
		}
		b.WriteString("\n" + e.t(t, "accounts_item", map[string]any{
			"Number": esc(a.Number), "City": esc(accountCity(t, a)), "Balance": a.Balance.Format(t.lang),
			"Status": e.t(t, "status_"+string(a.Status), nil),
		}) + mark)
		rows = append(rows, []Button{
			{Text: a.Number + mark, Data: fmt.Sprintf("sw:%d", a.ID)},
			{Text: e.t(t, "btn_unlink", nil), Data: fmt.Sprintf("un:%d", a.ID)},
		})
	}
	b.WriteString("\n\n" + e.t(t, "accounts_hint", nil))
	if len(linked) < e.cfg.MaxAccounts {
		rows = append(rows, []Button{{Text: e.t(t, "btn_link_another", nil), Data: "link"}})
	}
	rows = append(rows, []Button{e.menuButton(t)})
	t.reply(Reply{Text: b.String(), Buttons: rows, Edit: edit})
	return nil
}

func (e *Engine) switchAccount(t *turn, id int64, edit int) error {
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	if errors.Is(err, billing.ErrNotFound) {
		t.res.Toast = e.t(t, "account_not_linked", nil)
		return e.showAccounts(t, edit)
	}
	if err != nil {
		return err
	}
	if err := e.accounts.SetCurrent(t.ctx, t.ev.UserID, acc.ID); err != nil {
		return err
	}
	t.res.Toast = e.t(t, "account_switched", map[string]any{"Number": acc.Number})
	// The list the button was pressed on gets its ✅ moved; the balance of
	// the new current account comes below it.
	if edit > 0 {
		if err := e.showAccounts(t, edit); err != nil {
			return err
		}
	}
	return e.showBalance(t, acc.ID, 0)
}

// accountCity is the account's city in the person's language.
func accountCity(t *turn, a billing.Account) string {
	if t.lang == "en" && a.CityEN != "" {
		return a.CityEN
	}
	return a.City
}

func (e *Engine) askUnlink(t *turn, id int64, edit int) error {
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	if errors.Is(err, billing.ErrNotFound) {
		t.res.Toast = e.t(t, "account_not_linked", nil)
		return e.showAccounts(t, edit)
	}
	if err != nil {
		return err
	}
	t.st.Step, t.st.Account = StepUnlinkConfirm, acc.ID
	t.reply(Reply{Text: e.t(t, "unlink_confirm", map[string]any{"Number": esc(acc.Number)}), Edit: edit, Buttons: [][]Button{
		{{Text: e.t(t, "btn_unlink_yes", nil), Data: fmt.Sprintf("unok:%d", acc.ID)}, {Text: e.t(t, "btn_unlink_no", nil), Data: "acc"}},
	}})
	return nil
}

// unlink acts only on the confirmation of the question just asked: an old
// "yes" button from another question does nothing.
func (e *Engine) unlink(t *turn, id int64, edit int) error {
	if t.st.Step != StepUnlinkConfirm || t.st.Account != id {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return e.prompt(t)
	}
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	if errors.Is(err, billing.ErrNotFound) {
		t.st.Step, t.st.Account = StepIdle, 0
		return e.showAccounts(t, edit)
	}
	if err != nil {
		return err
	}
	if err := e.accounts.Unlink(t.ctx, t.ev.UserID, id); err != nil {
		return err
	}
	t.st.Step, t.st.Account = StepIdle, 0
	// The question turns back into the list, without the unlinked account.
	return e.accountsScreen(t, e.t(t, "unlink_done", map[string]any{"Number": esc(acc.Number)}), edit)
}
