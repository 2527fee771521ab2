package dialogs

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// The subscriber's self-service, from an account's screen "⚙ Управление":
// freeze the account, change the tariff, connect and disconnect services,
// see the traffic as a chart and ask for a statement. Every change asks
// for a confirmation that says what happens, is made by the billing under
// the asking event's key (a press delivered again changes nothing twice; a
// second press finds the account changed already), and a freeze or a
// tariff change is confirmed by SMS to the contract phone, as an effect
// after the turn.
//
// Buttons (every one names the account, authorised again):
//
//	ss:<acc>                    the self-service screen
//	fz:<acc>                    freeze: pick the first day
//	fzs:<acc>:<yyyymmdd>        freeze from that day: pick the length
//	fzd:<acc>:<yyyymmdd>:<days> what happens, and "Confirm"
//	fzo:<acc>:<yyyymmdd>:<days> confirmed
//	uf:<acc>, ufo:<acc>         unfreeze: ask, confirmed
//	tf:<acc>                    the tariffs
//	tfp:<acc>:<tariff>          one tariff: what changes, and "Confirm"
//	tfo:<acc>:<tariff>          confirmed
//	tfc:<acc>                   cancel the waiting change
//	sv:<acc>                    the services
//	svp:<acc>:<service>         one service: its fee, and "Connect" or "Disconnect"
//	svo:<acc>:<service>:<1|0>   confirmed
//	us:<acc>:<months back>      the usage chart of a month (0 this one)
//	st:<acc>                    statement: pick the month
//	stm:<acc>:<months back>     the statement of a month, and its CSV file

// SelfServiceConfig holds the provider's self-service rules.
type SelfServiceConfig struct {
	Freeze billing.FreezeRules
}

// StepFreezeDate waits for a typed first day of a freeze (State.Account).
const StepFreezeDate Step = "self.freeze_date"

// freezeLengths are the lengths offered as buttons, within the rules.
var freezeLengths = []int{7, 14, 30, 60, 90}

// statementMonths is how many months back a statement may be asked for.
const statementMonths = 3

type selfFeature struct {
	bill   SelfService
	charts Charts
	cfg    SelfServiceConfig
}

// WithSelfService adds "⚙ Управление" to the menu and to every balance
// screen. Call it right after New.
func (e *Engine) WithSelfService(bill SelfService, charts Charts, cfg SelfServiceConfig) *Engine {
	if cfg.Freeze.MinDays <= 0 {
		cfg.Freeze = billing.DefaultFreezeRules()
	}
	f := &selfFeature{bill: bill, charts: charts, cfg: cfg}
	for verb, h := range map[string]callbackFunc{
		"ss": f.screen, "fz": f.freezeStart, "fzs": f.freezeLength, "fzd": f.freezeOffer, "fzo": f.freezeConfirm,
		"uf": f.unfreezeAsk, "ufo": f.unfreezeConfirm,
		"tf": f.tariffs, "tfp": f.tariffOffer, "tfo": f.tariffConfirm, "tfc": f.tariffCancel,
		"sv": f.services, "svp": f.serviceOffer, "svo": f.serviceConfirm,
		"us": f.usage, "st": f.statementMonths, "stm": f.statement,
	} {
		e.reg.callback(verb, h)
	}
	e.reg.steps[StepFreezeDate] = f.typedDate
	e.reg.effect("selfsms", f.sms)
	e.reg.file("usage", f.usageChart)
	e.reg.file("statement", f.statementCSV)
	e.reg.menu = append(e.reg.menu, func(e *Engine, t *turn, linked bool) []Button {
		if !linked {
			return nil
		}
		return []Button{{Text: e.t(t, "btn_manage", nil), Data: "ss"}}
	})
	e.reg.manage = append(e.reg.manage, func(e *Engine, t *turn, acc billing.Account) []Button {
		if acc.Status == billing.StatusClosed {
			return nil
		}
		return []Button{{Text: e.t(t, "btn_manage", nil), Data: fmt.Sprintf("ss:%d", acc.ID)}}
	})
	e.reg.help = append(e.reg.help, func(e *Engine, t *turn) string {
		return e.t(t, "help_manage", map[string]any{"Min": cfg.Freeze.MinDays, "Max": cfg.Freeze.MaxDays})
	})
	return e
}

// account reads the account a button names (its first argument; none:
// the current one), linked to the sender. ok false means the answer is
// given already (not linked any more: the menu).
func (f *selfFeature) account(e *Engine, t *turn, arg string) (acc billing.Account, args []string, ok bool, err error) {
	args = strings.Split(arg, ":")
	id, _ := strconv.ParseInt(args[0], 10, 64)
	if id == 0 {
		acc, err = e.accounts.CurrentAccount(t.ctx, t.ev.UserID)
	} else {
		acc, err = e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	}
	if errors.Is(err, billing.ErrNotFound) {
		t.res.Toast = e.t(t, "account_not_linked", nil)
		return acc, nil, false, e.menu(t, 0)
	}
	if err != nil {
		return acc, nil, false, err
	}
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	return acc, args[1:], true, nil
}

// request names a change for the billing: this press, by this person.
func request(t *turn, acc billing.Account) billing.ChangeRequest {
	key := ""
	if t.ev.Key != "" {
		key = fmt.Sprintf("self:%d:%d:%s", t.ev.UserID, acc.ID, t.ev.Key)
	}
	return billing.ChangeRequest{Key: key, UserID: t.ev.UserID}
}

// back is "◀ Back" to the self-service screen of acc.
func (f *selfFeature) back(e *Engine, t *turn, acc billing.Account) Button {
	return e.backButton(t, fmt.Sprintf("ss:%d", acc.ID))
}

// screen is the self-service screen: what can be done with the account.
func (f *selfFeature) screen(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	id := acc.ID
	var freeze Button
	open, _, err := f.bill.FreezeState(t.ctx, id, e.now().Year())
	if err != nil {
		return err
	}
	switch {
	case open != nil && open.Active:
		freeze = Button{Text: e.t(t, "btn_unfreeze", nil), Data: fmt.Sprintf("uf:%d", id)}
	case open != nil:
		freeze = Button{Text: e.t(t, "btn_freeze_cancel", nil), Data: fmt.Sprintf("uf:%d", id)}
	default:
		freeze = Button{Text: e.t(t, "btn_freeze", nil), Data: fmt.Sprintf("fz:%d", id)}
	}
	text := e.t(t, "self_title", map[string]any{"Number": esc(acc.Number), "Tariff": esc(acc.Tariff.Name), "Status": e.t(t, "status_"+string(acc.Status), nil)})
	if open != nil {
		text += "\n" + f.freezeLine(e, t, *open)
	}
	t.reply(Reply{Text: text, Edit: edit, Buttons: [][]Button{
		{{Text: e.t(t, "btn_tariff", nil), Data: fmt.Sprintf("tf:%d", id)}, {Text: e.t(t, "btn_services", nil), Data: fmt.Sprintf("sv:%d", id)}},
		{{Text: e.t(t, "btn_usage", nil), Data: fmt.Sprintf("us:%d:0", id)}, {Text: e.t(t, "btn_statement", nil), Data: fmt.Sprintf("st:%d", id)}},
		{freeze},
		{e.backButton(t, fmt.Sprintf("balr:%d", id)), e.menuButton(t)},
	}})
	return nil
}

// freezeLine says a freeze's days: running until, or scheduled from.
func (f *selfFeature) freezeLine(e *Engine, t *turn, fr billing.Freeze) string {
	data := map[string]any{"Start": e.date(t, fr.Start), "End": e.date(t, fr.End)}
	if fr.Active {
		return e.t(t, "freeze_running", data)
	}
	return e.t(t, "freeze_scheduled", data)
}

// today is the account's today, midnight in its zone.
func (e *Engine) today(acc billing.Account) time.Time {
	n := e.now().In(e.location(acc))
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, n.Location())
}

func ymd(d time.Time) string { return d.Format("20060102") }

// parseYMD reads a yyyymmdd date of a button, in loc.
func parseYMD(s string, loc *time.Location) (time.Time, bool) {
	d, err := time.ParseInLocation("20060102", s, loc)
	return d, err == nil
}

// freezeStart asks from which day: today, tomorrow, in a week, or a typed date.
func (f *selfFeature) freezeStart(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	today := e.today(acc)
	if refused, err := f.freezeRefused(e, t, acc, today, f.cfg.Freeze.MinDays, edit); refused || err != nil {
		return err
	}
	day := func(label string, d time.Time) Button {
		return Button{Text: label, Data: fmt.Sprintf("fzs:%d:%s", acc.ID, ymd(d))}
	}
	// Today, tomorrow, in a week and in two, as far as the rules let.
	var days []Button
	for _, n := range []int{0, 1, 7, 14} {
		if n > f.cfg.Freeze.AheadDays {
			break
		}
		label := e.date(t, today.AddDate(0, 0, n))
		switch n {
		case 0:
			label = e.t(t, "btn_today", nil)
		case 1:
			label = e.t(t, "btn_tomorrow", nil)
		}
		days = append(days, day(label, today.AddDate(0, 0, n)))
	}
	rows := [][]Button{days[:min(2, len(days))]}
	if len(days) > 2 {
		rows = append(rows, days[2:])
	}
	t.st.Step, t.st.Account = StepFreezeDate, acc.ID
	t.reply(Reply{
		Text:    e.t(t, "freeze_ask_start", map[string]any{"Number": esc(acc.Number), "Ahead": e.n(t, "days", f.cfg.Freeze.AheadDays, nil)}),
		Edit:    edit,
		Buttons: append(rows, []Button{f.back(e, t, acc), e.menuButton(t)}),
	})
	return nil
}

// freezeRefused checks the rules for a freeze from start before asking
// more, so that nobody picks dates for a freeze that cannot be.
func (f *selfFeature) freezeRefused(e *Engine, t *turn, acc billing.Account, start time.Time, days, edit int) (bool, error) {
	open, count, err := f.bill.FreezeState(t.ctx, acc.ID, start.Year())
	if err != nil {
		return false, err
	}
	err = billing.CanFreeze(billing.FreezeFacts{
		Status: acc.Status, Balance: acc.Balance, Today: e.today(acc), Start: start, Days: days,
		FreezesThisYear: count, Planned: open != nil,
	}, f.cfg.Freeze)
	return f.explainFreeze(e, t, acc, err, edit)
}

// explainFreeze answers a freeze refusal; done tells that err was one.
func (f *selfFeature) explainFreeze(e *Engine, t *turn, acc billing.Account, err error, edit int) (done bool, _ error) {
	var r *billing.FreezeRefusal
	if !errors.As(err, &r) {
		return false, err
	}
	rules := f.cfg.Freeze
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.reply(Reply{
		Text: e.t(t, "freeze_refused_"+string(r.Reason), map[string]any{
			"Min": e.n(t, "days", rules.MinDays, nil), "Max": e.n(t, "days", rules.MaxDays, nil),
			"PerYear": e.n(t, "times_at_most", rules.PerYear, nil), "Ahead": e.n(t, "days", rules.AheadDays, nil),
			"Fee": rules.Fee.Format(t.lang),
		}),
		Edit:    edit,
		Buttons: [][]Button{{f.back(e, t, acc), e.menuButton(t)}},
	})
	return true, nil
}

// typedDate reads a first day typed as "15.12" or "15.12.2026".
func (f *selfFeature) typedDate(e *Engine, t *turn) error {
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, t.st.Account)
	if errors.Is(err, billing.ErrNotFound) {
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		return e.menu(t, 0)
	}
	if err != nil {
		return err
	}
	if t.ev.Kind != KindText || isCancelWord(t.ev.Text) {
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		if t.ev.Kind == KindText {
			t.reply(Reply{Text: e.t(t, "cancelled", nil)})
		}
		return e.menu(t, 0)
	}
	d, ok := parseDayMonth(t.ev.Text, e.today(acc))
	if !ok && !strings.ContainsAny(t.ev.Text, "0123456789") {
		// No date at all: the person has moved on (asks for support,
		// pastes something), so the text is taken as if nothing were asked.
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		return e.dispatch(t)
	}
	if !ok {
		t.reply(Reply{Text: e.t(t, "freeze_date_bad", nil), Buttons: [][]Button{{f.back(e, t, acc), e.menuButton(t)}}})
		return nil
	}
	return f.freezeLength(e, t, fmt.Sprintf("%d:%s", acc.ID, ymd(d)), 0)
}

// parseDayMonth reads "15.12", "15.12.2026", "15/12" or "15-12": a day
// and month without a year is the next such day on or after today.
func parseDayMonth(s string, today time.Time) (time.Time, bool) {
	s = strings.NewReplacer("/", ".", "-", ".", " ", "").Replace(strings.TrimSpace(s))
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return time.Time{}, false
	}
	dd, err1 := strconv.Atoi(parts[0])
	mm, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || mm < 1 || mm > 12 || dd < 1 || dd > 31 {
		return time.Time{}, false
	}
	year := today.Year()
	if len(parts) == 3 {
		y, err := strconv.Atoi(parts[2])
		if err != nil {
			return time.Time{}, false
		}
		if y < 100 {
			y += 2000
		}
		year = y
	}
	d := time.Date(year, time.Month(mm), dd, 0, 0, 0, 0, today.Location())
	if d.Day() != dd { // 31.02 is no day
		return time.Time{}, false
	}
	if len(parts) == 2 && d.Before(today) {
		d = d.AddDate(1, 0, 0)
	}
	return d, true
}

// freezeLength asks for how long, from the chosen first day.
func (f *selfFeature) freezeLength(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	start, ok := parseYMD(first(args), e.location(acc))
	if !ok {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return f.screen(e, t, strconv.FormatInt(acc.ID, 10), edit)
	}
	if refused, err := f.freezeRefused(e, t, acc, start, f.cfg.Freeze.MinDays, edit); refused || err != nil {
		return err
	}
	var row []Button
	var rows [][]Button
	for _, n := range freezeLengths {
		if n < f.cfg.Freeze.MinDays || (f.cfg.Freeze.MaxDays > 0 && n > f.cfg.Freeze.MaxDays) {
			continue
		}
		row = append(row, Button{Text: e.n(t, "days", n, nil), Data: fmt.Sprintf("fzd:%d:%s:%d", acc.ID, ymd(start), n)})
		if len(row) == 3 {
			rows, row = append(rows, row), nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	rows = append(rows, []Button{f.back(e, t, acc), e.menuButton(t)})
	// Another typed date still replaces this one.
	t.st.Step, t.st.Account = StepFreezeDate, acc.ID
	t.reply(Reply{Text: e.t(t, "freeze_ask_days", map[string]any{"Start": e.date(t, start),
		"Min": e.n(t, "days", f.cfg.Freeze.MinDays, nil), "Max": e.n(t, "days", f.cfg.Freeze.MaxDays, nil)}), Edit: edit, Buttons: rows})
	return nil
}

func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// freezeArgs reads "<yyyymmdd>:<days>" of a freeze button.
func freezeArgs(args []string, loc *time.Location) (time.Time, int, bool) {
	if len(args) != 2 {
		return time.Time{}, 0, false
	}
	start, ok := parseYMD(args[0], loc)
	days, err := strconv.Atoi(args[1])
	return start, days, ok && err == nil
}

// freezeOffer says what happens and asks for "Confirm".
func (f *selfFeature) freezeOffer(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	start, days, ok := freezeArgs(args, e.location(acc))
	if !ok {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return f.screen(e, t, strconv.FormatInt(acc.ID, 10), edit)
	}
	if refused, err := f.freezeRefused(e, t, acc, start, days, edit); refused || err != nil {
		return err
	}
	fee := e.t(t, "freeze_fee_none", nil)
	if f.cfg.Freeze.Fee > 0 {
		fee = e.t(t, "freeze_fee", map[string]any{"Fee": f.cfg.Freeze.Fee.Format(t.lang)})
	}
	t.reply(Reply{
		Text: e.t(t, "freeze_offer", map[string]any{
			"Number": esc(acc.Number), "Start": e.date(t, start), "End": e.date(t, start.AddDate(0, 0, days)),
			"Days": e.n(t, "days", days, nil), "Charge": acc.MonthlyCharge().Format(t.lang), "Fee": fee,
			"Balance": acc.Balance.Format(t.lang),
		}),
		Edit: edit,
		Buttons: [][]Button{
			{{Text: e.t(t, "btn_freeze_confirm", nil), Data: fmt.Sprintf("fzo:%d:%s:%d", acc.ID, ymd(start), days)}},
			{f.back(e, t, acc), e.menuButton(t)},
		},
	})
	return nil
}

// freezeConfirm freezes. A second press finds the same freeze made and
// says so; only the press that made it sends the SMS.
func (f *selfFeature) freezeConfirm(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	start, days, ok := freezeArgs(args, e.location(acc))
	if !ok {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return f.screen(e, t, strconv.FormatInt(acc.ID, 10), edit)
	}
	fr, changed, err := f.bill.Freeze(t.ctx, request(t, acc), acc.ID, start, days, e.now(), f.cfg.Freeze)
	if done, err := f.explainFreeze(e, t, acc, err, edit); done || err != nil {
		return err
	}
	id := "freeze_done"
	if !fr.Active {
		id = "freeze_done_later"
	}
	if !changed {
		t.res.Toast = e.t(t, "self_already", nil)
	}
	t.reply(Reply{
		Text:    e.t(t, id, map[string]any{"Start": e.date(t, fr.Start), "End": e.date(t, fr.End)}),
		Edit:    edit,
		Buttons: [][]Button{{f.back(e, t, acc), e.newMenuButton(t)}},
	})
	if changed {
		t.reply(Reply{Effect: &Effect{Verb: "selfsms", Data: fmt.Sprintf("%d:freeze:%s:%s", acc.ID, ymd(fr.Start), ymd(fr.End))}})
	}
	return nil
}

// unfreezeAsk asks before ending a freeze early (or cancelling one).
func (f *selfFeature) unfreezeAsk(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	open, _, err := f.bill.FreezeState(t.ctx, acc.ID, e.now().Year())
	if err != nil {
		return err
	}
	if open == nil {
		t.res.Toast = e.t(t, "freeze_none", nil)
		return f.screen(e, t, strconv.FormatInt(acc.ID, 10), edit)
	}
	id, btn := "unfreeze_ask", "btn_unfreeze_confirm"
	if !open.Active {
		id, btn = "freeze_cancel_ask", "btn_freeze_cancel_confirm"
	}
	t.reply(Reply{
		Text: e.t(t, id, map[string]any{"Start": e.date(t, open.Start), "End": e.date(t, open.End), "Charge": acc.MonthlyCharge().Format(t.lang),
			"Next": e.date(t, acc.NextChargeDate(e.now(), e.location(acc)))}),
		Edit:    edit,
		Buttons: [][]Button{{{Text: e.t(t, btn, nil), Data: fmt.Sprintf("ufo:%d", acc.ID)}}, {f.back(e, t, acc), e.menuButton(t)}},
	})
	return nil
}

func (f *selfFeature) unfreezeConfirm(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	changed, err := f.bill.Unfreeze(t.ctx, request(t, acc), acc.ID, e.now())
	if err != nil {
		return err
	}
	if !changed {
		t.res.Toast = e.t(t, "freeze_none", nil)
	}
	t.reply(Reply{Text: e.t(t, "unfreeze_done", nil), Edit: edit, Buttons: [][]Button{{f.back(e, t, acc), e.newMenuButton(t)}}})
	if changed {
		t.reply(Reply{Effect: &Effect{Verb: "selfsms", Data: fmt.Sprintf("%d:unfreeze", acc.ID)}})
	}
	return nil
}

// tariffs lists the current plan, the waiting change and the plans one may move to.
func (f *selfFeature) tariffs(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	return f.tariffScreen(e, t, acc, "", edit)
}

func (f *selfFeature) tariffScreen(e *Engine, t *turn, acc billing.Account, head string, edit int) error {
	plans, err := f.bill.Tariffs(t.ctx, acc.ID)
	if err != nil {
		return err
	}
	var b strings.Builder
	if head != "" {
		b.WriteString(head + "\n\n")
	}
	b.WriteString(e.t(t, "tariff_current", map[string]any{"Number": esc(acc.Number), "Plan": f.plan(e, t, plans.Current)}))
	var rows [][]Button
	if p := plans.Pending; p != nil {
		b.WriteString("\n" + e.t(t, "tariff_pending", map[string]any{"Name": esc(p.To.Name), "Date": e.date(t, p.From)}))
		rows = append(rows, []Button{{Text: e.t(t, "btn_tariff_cancel", nil), Data: fmt.Sprintf("tfc:%d", acc.ID)}})
	}
	if len(plans.Available) == 0 {
		b.WriteString("\n\n" + e.t(t, "tariff_none", nil))
	} else {
		b.WriteString("\n\n" + e.t(t, "tariff_available", nil))
		for _, p := range plans.Available {
			b.WriteString("\n• " + f.plan(e, t, p))
			rows = append(rows, []Button{{Text: p.Name + " — " + p.MonthlyFee.Format(t.lang), Data: fmt.Sprintf("tfp:%d:%d", acc.ID, p.ID)}})
		}
	}
	rows = append(rows, []Button{f.back(e, t, acc), e.menuButton(t)})
	t.reply(Reply{Text: b.String(), Edit: edit, Buttons: rows})
	return nil
}

// plan describes a plan on one line: name, speed, fee, TV.
func (f *selfFeature) plan(e *Engine, t *turn, p billing.TariffPlan) string {
	id := "tariff_plan"
	if p.TV {
		id = "tariff_plan_tv"
	}
	return e.t(t, id, map[string]any{"Name": esc(p.Name), "Speed": p.SpeedMbps, "Fee": p.MonthlyFee.Format(t.lang)})
}

// findPlan finds a plan the account may move to.
func findPlan(plans billing.Tariffs, id int64) (billing.TariffPlan, bool) {
	for _, p := range plans.Available {
		if p.ID == id {
			return p, true
		}
	}
	return billing.TariffPlan{}, false
}

// tariffOffer says what changes with a plan and from when, warns when the
// balance will not pay its first month, and asks for "Confirm".
func (f *selfFeature) tariffOffer(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	plans, err := f.bill.Tariffs(t.ctx, acc.ID)
	if err != nil {
		return err
	}
	id, _ := strconv.ParseInt(first(args), 10, 64)
	target, ok := findPlan(plans, id)
	if !ok {
		t.res.Toast = e.t(t, "tariff_refused_not_offered", nil)
		return f.tariffScreen(e, t, acc, "", edit)
	}
	v, err := billing.CheckTariffChange(billing.TariffFacts{
		Status: acc.Status, Balance: acc.Balance, Current: plans.Current, Target: target, Offered: true, Services: acc.MonthlyCharge() - acc.Tariff.MonthlyFee,
	})
	if done, err := f.explainTariff(e, t, acc, err, edit); done || err != nil {
		return err
	}
	from := acc.NextChargeDate(e.now(), e.location(acc))
	diff := "tariff_cheaper"
	if v.Difference > 0 {
		diff = "tariff_dearer"
	}
	lines := []string{
		e.t(t, "tariff_offer", map[string]any{"From": f.plan(e, t, plans.Current), "To": f.plan(e, t, target), "Date": e.date(t, from)}),
		e.t(t, diff, map[string]any{"Amount": abs(v.Difference).Format(t.lang), "First": v.FirstMonth.Format(t.lang)}),
	}
	if v.Short > 0 {
		lines = append(lines, e.t(t, "tariff_short", map[string]any{"Short": v.Short.Format(t.lang), "Date": e.date(t, from)}))
	}
	if plans.Pending != nil {
		lines = append(lines, e.t(t, "tariff_replaces", map[string]any{"Name": esc(plans.Pending.To.Name)}))
	}
	t.reply(Reply{
		Text: strings.Join(lines, "\n\n"),
		Edit: edit,
		Buttons: [][]Button{
			{{Text: e.t(t, "btn_tariff_confirm", nil), Data: fmt.Sprintf("tfo:%d:%d", acc.ID, target.ID)}},
			{e.backButton(t, fmt.Sprintf("tf:%d", acc.ID)), e.menuButton(t)},
		},
	})
	return nil
}

func abs(a money.Amount) money.Amount {
	if a < 0 {
		return -a
	}
	return a
}

// explainTariff answers a tariff refusal; done tells that err was one.
func (f *selfFeature) explainTariff(e *Engine, t *turn, acc billing.Account, err error, edit int) (done bool, _ error) {
	var r *billing.TariffRefusal
	if !errors.As(err, &r) {
		return false, err
	}
	t.reply(Reply{Text: e.t(t, "tariff_refused_"+string(r.Reason), nil), Edit: edit,
		Buttons: [][]Button{{e.backButton(t, fmt.Sprintf("tf:%d", acc.ID)), e.menuButton(t)}}})
	return true, nil
}

func (f *selfFeature) tariffConfirm(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	id, _ := strconv.ParseInt(first(args), 10, 64)
	ch, changed, err := f.bill.ChangeTariff(t.ctx, request(t, acc), acc.ID, id, e.now())
	if done, err := f.explainTariff(e, t, acc, err, edit); done || err != nil {
		return err
	}
	if !changed {
		t.res.Toast = e.t(t, "self_already", nil)
	}
	head := e.t(t, "tariff_done", map[string]any{"Name": esc(ch.To.Name), "Date": e.date(t, ch.From)})
	if err := f.tariffScreen(e, t, acc, head, edit); err != nil {
		return err
	}
	if changed {
		t.reply(Reply{Effect: &Effect{Verb: "selfsms", Data: fmt.Sprintf("%d:tariff:%s", acc.ID, ymd(ch.From))}})
	}
	return nil
}

func (f *selfFeature) tariffCancel(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	changed, err := f.bill.CancelTariffChange(t.ctx, request(t, acc), acc.ID, e.now())
	if err != nil {
		return err
	}
	head := e.t(t, "tariff_cancelled", map[string]any{"Name": esc(acc.Tariff.Name)})
	if !changed {
		t.res.Toast = e.t(t, "self_already", nil)
	}
	return f.tariffScreen(e, t, acc, head, edit)
}

// services lists the connected services and those one may connect.
func (f *selfFeature) services(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	return f.servicesScreen(e, t, acc, "", edit)
}

func (f *selfFeature) servicesScreen(e *Engine, t *turn, acc billing.Account, head string, edit int) error {
	list, err := f.bill.Services(t.ctx, acc.ID)
	if err != nil {
		return err
	}
	var on, off []string
	var rows [][]Button
	for _, s := range list {
		line := e.t(t, "service_line", map[string]any{"Name": esc(s.Name), "Fee": s.MonthlyFee.Format(t.lang)})
		mark := "➕ "
		if s.Connected {
			on, mark = append(on, line), "✅ "
		} else {
			off = append(off, line)
		}
		rows = append(rows, []Button{{Text: mark + s.Name, Data: fmt.Sprintf("svp:%d:%d", acc.ID, s.ID)}})
	}
	var b strings.Builder
	if head != "" {
		b.WriteString(head + "\n\n")
	}
	b.WriteString(e.t(t, "services_title", map[string]any{"Number": esc(acc.Number)}))
	if len(on) == 0 {
		b.WriteString("\n" + e.t(t, "services_none", nil))
	} else {
		b.WriteString("\n" + e.t(t, "services_connected", nil) + "\n" + strings.Join(on, "\n"))
	}
	if len(off) > 0 {
		b.WriteString("\n\n" + e.t(t, "services_available", nil) + "\n" + strings.Join(off, "\n"))
	}
	rows = append(rows, []Button{f.back(e, t, acc), e.menuButton(t)})
	t.reply(Reply{Text: b.String(), Edit: edit, Buttons: rows})
	return nil
}

// serviceOffer shows a service's fee, what connecting takes at once and
// from when the fee counts, or what disconnecting means, with "Confirm".
func (f *selfFeature) serviceOffer(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	list, err := f.bill.Services(t.ctx, acc.ID)
	if err != nil {
		return err
	}
	id, _ := strconv.ParseInt(first(args), 10, 64)
	var s *billing.ServiceOption
	for i := range list {
		if list[i].ID == id {
			s = &list[i]
		}
	}
	if s == nil {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return f.servicesScreen(e, t, acc, "", edit)
	}
	next := acc.NextChargeDate(e.now(), e.location(acc))
	data := map[string]any{"Name": esc(s.Name), "Fee": s.MonthlyFee.Format(t.lang), "Next": e.date(t, next),
		"Now": billing.ServiceFirstPart(s.MonthlyFee, e.today(acc), next).Format(t.lang)}
	id2, btn, on := "service_offer_on", "btn_service_on", 1
	if s.Connected {
		id2, btn, on = "service_offer_off", "btn_service_off", 0
	}
	t.reply(Reply{
		Text: e.t(t, id2, data),
		Edit: edit,
		Buttons: [][]Button{
			{{Text: e.t(t, btn, nil), Data: fmt.Sprintf("svo:%d:%d:%d", acc.ID, s.ID, on)}},
			{e.backButton(t, fmt.Sprintf("sv:%d", acc.ID)), e.menuButton(t)},
		},
	})
	return nil
}

func (f *selfFeature) serviceConfirm(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	if len(args) != 2 {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return f.servicesScreen(e, t, acc, "", edit)
	}
	id, _ := strconv.ParseInt(args[0], 10, 64)
	on := args[1] == "1"
	charged, changed, err := f.bill.SetService(t.ctx, request(t, acc), acc.ID, id, on, e.now())
	if errors.Is(err, billing.ErrNotFound) {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return f.servicesScreen(e, t, acc, "", edit)
	}
	if err != nil {
		return err
	}
	if !changed {
		t.res.Toast = e.t(t, "self_already", nil)
	}
	head := e.t(t, "service_off_done", nil)
	if on {
		head = e.t(t, "service_on_done", map[string]any{"Charged": charged.Format(t.lang)})
	}
	return f.servicesScreen(e, t, acc, head, edit)
}

// month is the first day of the month back months before the account's
// current one, and the first of the month after it.
func (e *Engine) month(acc billing.Account, back int) (from, to time.Time) {
	today := e.today(acc)
	from = time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, today.Location()).AddDate(0, -back, 0)
	return from, from.AddDate(0, 1, 0)
}

// monthName is "декабрь 2026" / "December 2026".
func (e *Engine) monthName(t *turn, d time.Time) string {
	return e.t(t, "month_year", map[string]any{"Month": e.t(t, fmt.Sprintf("month_nom_%d", int(d.Month())), nil), "Year": d.Year()})
}

// usage sends the month's traffic as a chart with the totals under it.
// The picture is drawn when it is sent, from the account and the month.
func (f *selfFeature) usage(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	back, _ := strconv.Atoi(first(args))
	if back < 0 || back > 1 {
		back = 0
	}
	from, to := e.month(acc, back)
	days, err := f.bill.Usage(t.ctx, acc.ID, from, to)
	if err != nil {
		return err
	}
	other := Button{Text: e.t(t, "btn_usage_last", nil), Data: fmt.Sprintf("us:%d:1", acc.ID)}
	if back == 1 {
		other = Button{Text: e.t(t, "btn_usage_this", nil), Data: fmt.Sprintf("us:%d:0", acc.ID)}
	}
	buttons := [][]Button{{other, {Text: e.t(t, "btn_statement", nil), Data: fmt.Sprintf("st:%d", acc.ID)}}, {f.back(e, t, acc), e.newMenuButton(t)}}
	if len(days) == 0 {
		t.reply(Reply{Text: e.t(t, "usage_none", map[string]any{"Month": e.monthName(t, from)}), Edit: edit, Buttons: buttons})
		return nil
	}
	var in, out, secs int64
	var sessions int
	for _, d := range days {
		in, out, secs, sessions = in+d.BytesIn, out+d.BytesOut, secs+d.SessionsSeconds, sessions+d.Sessions
	}
	avg := time.Duration(0)
	if sessions > 0 {
		avg = time.Duration(secs/int64(sessions)) * time.Second
	}
	caption := e.t(t, "usage_caption", map[string]any{
		"Number": esc(acc.Number), "Month": e.monthName(t, from),
		"In": gigabytes(t.lang, in), "Out": gigabytes(t.lang, out),
		"Sessions": e.n(t, "sessions", sessions, nil), "Average": e.hoursMinutes(t, avg),
		"PerDay": gigabytes(t.lang, in/int64(len(days))),
	})
	t.reply(Reply{
		Text:    caption,
		File:    &File{Kind: "usage", Data: fmt.Sprintf("%d:%s", acc.ID, from.Format("200601")), Photo: true},
		Buttons: buttons,
	})
	return nil
}

// gigabytes writes bytes as gigabytes with one decimal, in the language's way.
func gigabytes(lang string, b int64) string {
	s := strconv.FormatFloat(float64(b)/1e9, 'f', 1, 64)
	if lang == "ru" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// hoursMinutes writes a duration as "1 ч 20 мин".
func (e *Engine) hoursMinutes(t *turn, d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if h == 0 {
		return e.t(t, "duration_m", map[string]any{"M": m})
	}
	return e.t(t, "duration_hm", map[string]any{"H": h, "M": m})
}

// fileAccount reads the account and month a file names, linked to the
// user still: a file is made at send time, when the link may be gone.
func (f *selfFeature) fileAccount(e *Engine, t *turn, data string) (billing.Account, time.Time, time.Time, error) {
	idText, monthText, _ := strings.Cut(data, ":")
	id, _ := strconv.ParseInt(idText, 10, 64)
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	if errors.Is(err, billing.ErrNotFound) {
		return acc, time.Time{}, time.Time{}, ErrNoFile
	}
	if err != nil {
		return acc, time.Time{}, time.Time{}, err
	}
	from, err := time.ParseInLocation("200601", monthText, e.location(acc))
	if err != nil {
		return acc, time.Time{}, time.Time{}, ErrNoFile
	}
	return acc, from, from.AddDate(0, 1, 0), nil
}

// usageChart draws the usage file: one bar a day, in gigabytes.
func (f *selfFeature) usageChart(e *Engine, t *turn, data string) (Upload, error) {
	acc, from, to, err := f.fileAccount(e, t, data)
	if err != nil {
		return Upload{}, err
	}
	days, err := f.bill.Usage(t.ctx, acc.ID, from, to)
	if err != nil {
		return Upload{}, err
	}
	c := UsageChart{
		Title:  e.t(t, "usage_chart_title", map[string]any{"Number": acc.Number, "Month": e.monthName(t, from)}),
		XLabel: e.t(t, "usage_chart_x", nil),
		YLabel: e.t(t, "usage_chart_y", nil),
	}
	byDay := map[int]float64{}
	for _, d := range days {
		byDay[d.Day.Day()] = float64(d.BytesIn) / 1e9
	}
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		c.Days = append(c.Days, d.Day())
		c.Values = append(c.Values, byDay[d.Day()])
	}
	png, err := f.charts.UsageChart(c)
	if err != nil {
		return Upload{}, err
	}
	return Upload{Name: fmt.Sprintf("usage-%s-%s.png", acc.Number, from.Format("2006-01")), Type: "image/png", Body: png}, nil
}

// statementMonths asks for which month.
func (f *selfFeature) statementMonths(e *Engine, t *turn, arg string, edit int) error {
	acc, _, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	var rows [][]Button
	for back := 0; back < statementMonths; back++ {
		from, _ := e.month(acc, back)
		rows = append(rows, []Button{{Text: e.monthName(t, from), Data: fmt.Sprintf("stm:%d:%d", acc.ID, back)}})
	}
	rows = append(rows, []Button{f.back(e, t, acc), e.menuButton(t)})
	t.reply(Reply{Text: e.t(t, "statement_ask", map[string]any{"Number": esc(acc.Number)}), Edit: edit, Buttons: rows})
	return nil
}

// statement lists a month's operations in a message, then sends them as a
// CSV file, made when it is sent.
func (f *selfFeature) statement(e *Engine, t *turn, arg string, edit int) error {
	acc, args, ok, err := f.account(e, t, arg)
	if !ok || err != nil {
		return err
	}
	back, _ := strconv.Atoi(first(args))
	if back < 0 || back >= statementMonths {
		back = 0
	}
	from, to := e.month(acc, back)
	ops, err := f.bill.Operations(t.ctx, acc.ID, from, to)
	if err != nil {
		return err
	}
	loc := e.location(acc)
	var b strings.Builder
	b.WriteString(e.t(t, "statement_title", map[string]any{"Number": esc(acc.Number), "Month": e.monthName(t, from)}))
	var in, out money.Amount
	for _, o := range ops {
		b.WriteString("\n" + o.At.In(loc).Format("02.01 15:04") + " " + esc(e.operation(t, o)))
		if o.Amount > 0 {
			in += o.Amount
			b.WriteString(" +" + o.Amount.Format(t.lang))
		} else if o.Amount < 0 {
			out -= o.Amount
			b.WriteString(" −" + (-o.Amount).Format(t.lang))
		}
	}
	if len(ops) == 0 {
		b.WriteString("\n" + e.t(t, "statement_empty", nil))
	}
	b.WriteString("\n\n" + e.t(t, "statement_totals", map[string]any{"In": in.Format(t.lang), "Out": out.Format(t.lang)}))
	buttons := [][]Button{{f.back(e, t, acc), e.newMenuButton(t)}}
	if len(ops) == 0 {
		t.reply(Reply{Text: b.String(), Edit: edit, Buttons: buttons})
		return nil
	}
	t.reply(Reply{Text: b.String(), Edit: edit})
	t.reply(Reply{
		Text:    e.t(t, "statement_file", map[string]any{"Month": e.monthName(t, from)}),
		File:    &File{Kind: "statement", Data: fmt.Sprintf("%d:%s", acc.ID, from.Format("200601"))},
		Buttons: buttons,
	})
	return nil
}

// operation names an operation of the statement for a person.
func (e *Engine) operation(t *turn, o billing.Operation) string {
	switch o.Kind {
	case billing.OpPayment:
		return e.t(t, "op_payment", map[string]any{"Channel": e.channel(t, o.What)})
	case billing.OpCharge:
		if o.What == "" {
			return e.t(t, "op_freeze_fee", nil)
		}
		return e.t(t, "op_charge", map[string]any{"What": o.What})
	case billing.OpFreeze, billing.OpThaw, billing.OpTariff, billing.OpTrust:
		return e.t(t, "op_"+string(o.Kind), map[string]any{"What": o.What})
	}
	return string(o.Kind)
}

// statementCSV makes the statement file: one operation a line, with a
// header, in the person's language, UTF-8 with a BOM so that Excel reads
// the Cyrillic right.
func (f *selfFeature) statementCSV(e *Engine, t *turn, data string) (Upload, error) {
	acc, from, to, err := f.fileAccount(e, t, data)
	if err != nil {
		return Upload{}, err
	}
	ops, err := f.bill.Operations(t.ctx, acc.ID, from, to)
	if err != nil {
		return Upload{}, err
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	w.Comma = ';'
	_ = w.Write([]string{e.t(t, "csv_date", nil), e.t(t, "csv_operation", nil), e.t(t, "csv_amount", nil)})
	loc := e.location(acc)
	for _, o := range ops {
		amount := ""
		if o.Amount != 0 {
			amount = strconv.FormatFloat(float64(o.Amount)/100, 'f', 2, 64)
		}
		_ = w.Write([]string{o.At.In(loc).Format("2006-01-02 15:04"), e.operation(t, o), amount})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return Upload{}, err
	}
	return Upload{Name: fmt.Sprintf("statement-%s-%s.csv", acc.Number, from.Format("2006-01")), Type: "text/csv", Body: buf.Bytes()}, nil
}

// sms is the "selfsms" effect: the contract phone hears of a freeze, its
// end or a tariff change ("Если это были не вы..."), once per press. Its
// failure must not undo the change: it is logged, not retried.
func (f *selfFeature) sms(e *Engine, t *turn, data string) error {
	parts := strings.Split(data, ":")
	id, _ := strconv.ParseInt(parts[0], 10, 64)
	acc, err := e.accounts.LinkedAccount(t.ctx, t.ev.UserID, id)
	if err != nil {
		e.log.Warn("self-service sms not sent: account unavailable", "err", err)
		return nil
	}
	loc := e.location(acc)
	var text string
	switch {
	case len(parts) == 4 && parts[1] == "freeze":
		start, _ := parseYMD(parts[2], loc)
		end, _ := parseYMD(parts[3], loc)
		text = e.t(t, "sms_freeze", map[string]any{"Number": acc.Number, "Start": start.Format("02.01"), "End": end.Format("02.01")})
	case len(parts) == 2 && parts[1] == "unfreeze":
		text = e.t(t, "sms_unfreeze", map[string]any{"Number": acc.Number})
	case len(parts) == 3 && parts[1] == "tariff":
		from, _ := parseYMD(parts[2], loc)
		text = e.t(t, "sms_tariff", map[string]any{"Number": acc.Number, "Date": from.Format("02.01")})
	default:
		return nil
	}
	key := ""
	if t.ev.Key != "" {
		key = fmt.Sprintf("self:%d:%d:%s", t.ev.UserID, acc.ID, t.ev.Key)
	}
	if err := e.notifier.Notify(t.ctx, key, acc.Phone, text); err != nil {
		e.log.Warn("self-service sms failed", "account_id", acc.ID, "err", err)
	}
	return nil
}
