package dialogs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
)

// The requests that are not a problem report (a callback, a new
// connection), the outages operators announce, canned answers and the
// first-response watch: the rest of support, on the same requests.

// StepSupportConnect collects a new connection's city, address and name,
// in that order (State.Details holds the answers so far).
const StepSupportConnect Step = "support.connect"

// cannedAnswers are the keys of the saved answers (/canned <key>); their
// texts are "canned_<key>" in the locale files, sent in the subscriber's
// language.
var cannedAnswers = []string{"reboot", "cable", "payment", "outage", "wait"}

// callbackSlots are the parts of a day a callback can be asked for, with
// their hours in the city's time.
var callbackSlots = []struct {
	code       string
	start, end int
}{{"m", 9, 12}, {"d", 12, 17}, {"e", 17, 21}}

func (f *supportFeature) registerRequests(e *Engine) {
	e.reg.steps[StepSupportConnect] = f.connectInput
	e.reg.timer("supfirst", f.firstResponse)
}

// requestButton handles the buttons of the callback and connection flows.
func (f *supportFeature) requestButton(e *Engine, t *turn, verb, arg string, edit int) error {
	switch verb {
	case "cb": // a callback: which phone
		t.st = State{Lang: t.st.Lang, LangLoaded: true, Step: StepSupportPhone, Category: "callback"}
		if arg == "c" { // the contract phone
			acc, err := e.accounts.CurrentAccount(t.ctx, t.ev.UserID)
			if err != nil && !errors.Is(err, billing.ErrNotFound) {
				return err
			}
			if err == nil {
				t.st.Step, t.st.Phone, t.st.Account = StepIdle, acc.Phone, acc.ID
				return f.askSlot(e, t, edit)
			}
		}
		var rows [][]Button
		if acc, err := e.accounts.CurrentAccount(t.ctx, t.ev.UserID); err == nil {
			rows = append(rows, []Button{{Text: e.t(t, "btn_sup_cb_contract", map[string]any{"Phone": billing.MaskPhone(acc.Phone)}), Data: "sup:cb:c"}})
		} else if !errors.Is(err, billing.ErrNotFound) {
			return err
		}
		t.reply(Reply{Text: e.t(t, "sup_cb_phone", nil), Edit: edit, Buttons: rows})
		t.reply(Reply{Text: e.t(t, "sup_cb_phone_keys", nil), Keyboard: &Keyboard{Rows: [][]KeyButton{
			{{Text: e.t(t, "btn_share_phone", nil), RequestContact: true}},
			{{Text: e.t(t, "btn_cancel_key", nil)}},
		}}})
		return nil
	case "slot": // "<day>:<part>"
		day, part, _ := strings.Cut(arg, ":")
		when, ok := f.slotText(e, t, day, part, t.lang)
		if t.st.Category != "callback" || t.st.Phone == "" || !ok {
			t.res.Toast = e.t(t, "button_outdated", nil)
			return e.prompt(t)
		}
		t.st.Summary = day + ":" + part
		t.reply(Reply{Text: e.t(t, "sup_cb_confirm", map[string]any{"Phone": esc(billing.MaskPhone(t.st.Phone)), "When": when}), Edit: edit, Buttons: [][]Button{
			{{Text: e.t(t, "btn_sup_confirm", nil), Data: "sup:cbok"}},
			{{Text: e.t(t, "btn_cancel", nil), Data: "cancel"}},
		}})
		return nil
	case "cbok":
		if t.st.Category != "callback" || t.st.Summary == "" {
			t.res.Toast = e.t(t, "button_outdated", nil)
			return e.prompt(t)
		}
		day, part, _ := strings.Cut(t.st.Summary, ":")
		when, _ := f.slotText(e, t, day, part, f.cfg.Lang)
		return f.fileOther(e, t, "callback", e.text.T(f.cfg.Lang, "op_callback_details", map[string]any{"Phone": t.st.Phone, "When": when}))
	case "conn": // a new connection: the city first
		t.st = State{Lang: t.st.Lang, LangLoaded: true, Step: StepSupportConnect, Category: "connect"}
		t.reply(Reply{Text: e.t(t, "sup_conn_city", nil), Edit: edit, Keyboard: &Keyboard{Rows: [][]KeyButton{{{Text: e.t(t, "btn_cancel_key", nil)}}}}})
		return nil
	case "ckind": // home or business: the last answer
		if t.st.Category != "connect" || len(t.st.Details) != 3 || t.st.Phone == "" || (arg != "home" && arg != "biz") {
			t.res.Toast = e.t(t, "button_outdated", nil)
			return e.prompt(t)
		}
		details := e.text.T(f.cfg.Lang, "op_connect_details", map[string]any{
			"City": t.st.Details[0], "Address": t.st.Details[1], "Name": t.st.Details[2], "Phone": t.st.Phone,
			"Kind": e.text.T(f.cfg.Lang, "sup_conn_"+arg, nil),
		})
		return f.fileOther(e, t, "connect", details)
	}
	t.res.Toast = e.t(t, "button_outdated", nil)
	return e.prompt(t)
}

// askSlot offers the parts of today that are still ahead and of tomorrow.
func (f *supportFeature) askSlot(e *Engine, t *turn, edit int) error {
	var rows [][]Button
	for day := 0; day <= 1; day++ {
		var row []Button
		for _, sl := range callbackSlots {
			text, ok := f.slotText(e, t, strconv.Itoa(day), sl.code, t.lang)
			if ok {
				row = append(row, Button{Text: text, Data: fmt.Sprintf("sup:slot:%d:%s", day, sl.code)})
			}
		}
		if len(row) > 0 {
			rows = append(rows, row)
		}
	}
	t.st.Category = "callback"
	t.reply(Reply{Text: e.t(t, "sup_cb_when", nil), Edit: edit, Keyboard: &Keyboard{Remove: true}})
	t.reply(Reply{Text: e.t(t, "sup_cb_when_pick", nil), Buttons: append(rows, []Button{{Text: e.t(t, "btn_cancel", nil), Data: "cancel"}})})
	return nil
}

// slotText names a callback slot ("сегодня днём, 12:00–17:00") in lang; ok
// is false for a slot of today that has begun, or that does not exist.
func (f *supportFeature) slotText(e *Engine, t *turn, day, part, lang string) (string, bool) {
	d, err := strconv.Atoi(day)
	if err != nil || d < 0 || d > 1 {
		return "", false
	}
	for _, sl := range callbackSlots {
		if sl.code != part {
			continue
		}
		now := e.now().In(e.cfg.Location)
		if d == 0 && now.Hour() >= sl.start {
			return "", false
		}
		return e.text.T(lang, "sup_slot_"+day+part, map[string]any{"From": fmt.Sprintf("%02d:00", sl.start), "To": fmt.Sprintf("%02d:00", sl.end)}), true
	}
	return "", false
}

// connectInput takes a new connection's city, address and name.
func (f *supportFeature) connectInput(e *Engine, t *turn) error {
	if t.ev.Kind != KindText {
		t.reply(Reply{Text: e.t(t, "use_text", nil)})
		return nil
	}
	if isCancelWord(t.ev.Text) || t.ev.Text == e.t(t, "btn_cancel_key", nil) {
		return f.cancel(e, t)
	}
	answer := truncateRunes(strings.TrimSpace(t.ev.Text), 200)
	if answer == "" {
		return nil
	}
	t.st.Details = append(t.st.Details, answer)
	switch len(t.st.Details) {
	case 1:
		t.reply(Reply{Text: e.t(t, "sup_conn_address", nil)})
	case 2:
		t.reply(Reply{Text: e.t(t, "sup_conn_name", nil)})
	default:
		t.st.Step = StepSupportPhone
		t.reply(Reply{Text: e.t(t, "sup_ask_phone_connect", nil), Keyboard: &Keyboard{Rows: [][]KeyButton{
			{{Text: e.t(t, "btn_share_phone", nil), RequestContact: true}},
			{{Text: e.t(t, "btn_cancel_key", nil)}},
		}}})
	}
	return nil
}

// afterPhone goes on from a phone given for a callback or a connection.
func (f *supportFeature) afterPhone(e *Engine, t *turn) (bool, error) {
	switch t.st.Category {
	case "callback":
		t.st.Step = StepIdle
		return true, f.askSlot(e, t, 0)
	case "connect":
		t.st.Step = StepIdle
		t.reply(Reply{Text: e.t(t, "sup_conn_kind", nil), Keyboard: &Keyboard{Remove: true}})
		t.reply(Reply{Text: e.t(t, "sup_conn_kind_pick", nil), Buttons: [][]Button{
			{{Text: e.t(t, "sup_conn_home", nil), Data: "sup:ckind:home"}, {Text: e.t(t, "sup_conn_biz", nil), Data: "sup:ckind:biz"}},
			{{Text: e.t(t, "btn_cancel", nil), Data: "cancel"}},
		}})
		return true, nil
	}
	return false, nil
}

// fileOther files a callback or a connection request: no description,
// the details on the card.
func (f *supportFeature) fileOther(e *Engine, t *turn, kind, details string) error {
	if len(f.cfg.Groups) == 0 && len(f.cfg.CityGroups) == 0 {
		t.st = State{Lang: t.st.Lang, LangLoaded: true}
		t.reply(Reply{Text: e.t(t, "sup_unavailable", nil)})
		return e.menu(t, 0)
	}
	nr := NewRequest{UserID: t.ev.UserID, ChatID: t.ev.ChatID, Phone: t.st.Phone, Category: kind, Lang: t.lang}
	loc := e.cfg.Location
	if acc, err := e.accounts.CurrentAccount(t.ctx, t.ev.UserID); err == nil && kind == "callback" {
		nr.AccountID, nr.City, loc = acc.ID, acc.City, e.location(acc)
	} else if err != nil && !errors.Is(err, billing.ErrNotFound) {
		return err
	}
	if kind == "connect" && len(t.st.Details) > 0 {
		nr.City = t.st.Details[0]
	}
	nr.Group = f.route(nr.City, t.ev.UserID)
	key := t.ev.Key
	if key == "" {
		key = "n" + strconv.FormatInt(newNonce(), 10)
	}
	req, err := f.store.Open(t.ctx, requestKey(t, key), nr, nil)
	if err != nil {
		return err
	}
	if err := f.store.SetDetails(t.ctx, req.ID, kind, details); err != nil {
		return err
	}
	f.watchFirstResponse(e, t, req, loc)
	t.st = State{Lang: t.st.Lang, LangLoaded: true}
	t.reply(Reply{Text: e.t(t, "sup_filed_"+kind, map[string]any{"ID": req.ID, "When": f.whenAnswered(e, t, loc)}), Edit: t.ev.MessageID, Buttons: [][]Button{{e.newMenuButton(t)}}})
	if req.Thread == 0 {
		t.reply(Reply{Topic: f.topicName(e, req), To: &Target{Chat: req.Group}, Receipt: fmt.Sprintf("sup:t:%d", req.ID)})
	}
	return nil
}

// watchFirstResponse asks for a timer at the end of the first-response
// time, counted in working time: from now when operators are on duty,
// else from when they start.
func (f *supportFeature) watchFirstResponse(e *Engine, t *turn, req Request, loc *time.Location) {
	start := e.now()
	if open, next := f.cfg.OpenAt(start, loc); !open && !next.IsZero() {
		start = next
	}
	due := start.Add(f.cfg.FirstResponse).Sub(e.now())
	t.res.Timers = append(t.res.Timers, Timer{After: due, Data: fmt.Sprintf("supfirst:%d", req.ID), Lang: f.cfg.Lang})
}

// firstResponse reports, in the group's General topic, a request that no
// operator has taken or answered by its first-response time.
func (f *supportFeature) firstResponse(e *Engine, t *turn) error {
	_, arg, _ := strings.Cut(t.ev.Data, ":")
	id, _ := strconv.ParseInt(arg, 10, 64)
	req, err := f.store.Request(t.ctx, id)
	if errors.Is(err, ErrNoRequest) || err == nil && req.Status != StatusNew {
		return nil
	}
	if err != nil {
		return err
	}
	t.reply(Reply{Text: e.text.T(f.cfg.Lang, "op_first_response", map[string]any{"ID": id, "Minutes": int(f.cfg.FirstResponse.Minutes()),
		"Name": esc(f.topicName(e, req))}), To: &Target{Chat: req.Group}})
	return nil
}

// outagesText tells a subscriber of the outages in their city ("" if none).
func (f *supportFeature) outagesText(e *Engine, t *turn, city string, loc *time.Location) (string, error) {
	if city == "" {
		return "", nil
	}
	outages, err := f.store.Outages(t.ctx, city)
	if err != nil || len(outages) == 0 {
		return "", err
	}
	var lines []string
	for _, o := range outages {
		until := ""
		if !o.Until.IsZero() {
			until = e.t(t, "sup_outage_until", map[string]any{"Time": o.Until.In(loc).Format("15:04")})
		}
		lines = append(lines, e.t(t, "sup_outage", map[string]any{"City": esc(city), "Text": esc(o.Text), "Until": until}))
	}
	return strings.Join(lines, "\n\n"), nil
}

// groupCommand handles the operators' commands that work anywhere in the
// group: /outage, /outage_end, /outages, and /canned in a request's topic.
func (f *supportFeature) groupCommand(e *Engine, t *turn) (bool, error) {
	switch t.ev.Command {
	case "outage":
		o, ok := f.parseOutage(e, t.ev.Args)
		if !ok {
			t.reply(Reply{Text: e.t(t, "op_outage_usage", nil)})
			return true, nil
		}
		o.By = t.ev.UserID
		o, err := f.store.AnnounceOutage(t.ctx, fmt.Sprintf("outage:%d:%d:%s", t.ev.ChatID, t.ev.UserID, t.ev.Key), o)
		if err != nil {
			return true, err
		}
		until := ""
		if !o.Until.IsZero() {
			until = e.t(t, "sup_outage_until", map[string]any{"Time": o.Until.In(e.cfg.Location).Format("15:04")})
		}
		t.reply(Reply{Text: e.t(t, "op_outage_set", map[string]any{"ID": o.ID, "City": esc(o.City), "Until": until})})
		return true, nil
	case "outage_end":
		id, err := strconv.ParseInt(strings.TrimSpace(t.ev.Args), 10, 64)
		if err != nil {
			t.reply(Reply{Text: e.t(t, "op_outage_end_usage", nil)})
			return true, nil
		}
		o, changed, err := f.store.EndOutage(t.ctx, id, e.now())
		if err != nil {
			return true, err
		}
		switch {
		case o.ID == 0:
			t.reply(Reply{Text: e.t(t, "op_outage_unknown", map[string]any{"ID": id})})
		case changed:
			t.reply(Reply{Text: e.t(t, "op_outage_ended", map[string]any{"ID": id, "City": esc(o.City)})})
		default:
			t.reply(Reply{Text: e.t(t, "op_outage_was_ended", map[string]any{"ID": id})})
		}
		return true, nil
	case "outages":
		outages, err := f.store.Outages(t.ctx, "")
		if err != nil {
			return true, err
		}
		if len(outages) == 0 {
			t.reply(Reply{Text: e.t(t, "op_outages_none", nil)})
			return true, nil
		}
		var b strings.Builder
		for _, o := range outages {
			b.WriteString(e.t(t, "op_outages_line", map[string]any{"ID": o.ID, "City": esc(o.City), "Text": esc(truncateRunes(o.Text, 100))}) + "\n")
		}
		t.reply(Reply{Text: strings.TrimRight(b.String(), "\n")})
		return true, nil
	case "canned":
		return true, f.canned(e, t)
	}
	return false, nil
}

// parseOutage reads "/outage Липецк до 18:00 text": the city, an optional
// expected end (today in the provider's time, tomorrow if that has passed)
// and the text.
func (f *supportFeature) parseOutage(e *Engine, args string) (Outage, bool) {
	fields := strings.Fields(args)
	if len(fields) == 0 {
		return Outage{}, false
	}
	o := Outage{City: fields[0]}
	rest := fields[1:]
	if len(rest) >= 2 && (strings.EqualFold(rest[0], "до") || strings.EqualFold(rest[0], "until")) {
		if hm, err := time.Parse("15:04", rest[1]); err == nil {
			now := e.now().In(e.cfg.Location)
			until := time.Date(now.Year(), now.Month(), now.Day(), hm.Hour(), hm.Minute(), 0, 0, e.cfg.Location)
			if !until.After(now) {
				until = until.AddDate(0, 0, 1)
			}
			o.Until, rest = until, rest[2:]
		}
	}
	o.Text = truncateRunes(strings.Join(rest, " "), 500)
	return o, true
}

// canned lists the saved answers, or sends one to the subscriber as the
// operator's answer, in the subscriber's language.
func (f *supportFeature) canned(e *Engine, t *turn) error {
	key := strings.TrimSpace(t.ev.Args)
	valid := false
	for _, k := range cannedAnswers {
		valid = valid || k == key
	}
	if !valid {
		var b strings.Builder
		b.WriteString(e.t(t, "op_canned_title", nil))
		for _, k := range cannedAnswers {
			b.WriteString("\n/canned " + k + " — " + esc(truncateRunes(e.t(t, "canned_"+k, nil), 60)))
		}
		t.reply(Reply{Text: b.String()})
		return nil
	}
	req, err := f.store.ByTopic(t.ctx, t.ev.ChatID, t.ev.Thread)
	if errors.Is(err, ErrNoRequest) {
		t.reply(Reply{Text: e.t(t, "op_canned_where", nil)})
		return nil
	}
	if err != nil {
		return err
	}
	canned := e.text.T(req.Lang, "canned_"+key, nil)
	return f.relayAnswer(e, t, req, canned, esc(canned), false)
}
