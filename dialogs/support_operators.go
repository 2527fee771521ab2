package dialogs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kabinet-bot/kabinet/billing"
)

// The operators' side of support: what happens in their forum groups
// (messages, commands and the card's buttons in a request's topic), and
// what becomes of the feature's messages (receipts).

// groupEvent handles what happens in an operators' group: messages and
// buttons in a request's topic. Anything else, and anything from a group
// that is not configured, is ignored.
func (f *supportFeature) groupEvent(e *Engine, t *turn) error {
	if !f.isGroup(t.ev.ChatID) {
		return nil
	}
	t.lang = f.cfg.Lang
	if t.ev.Kind == KindTimer {
		return e.timer(t)
	}
	if !t.ev.Member {
		// Someone outside the team: a public group's reader, or an
		// operator who was removed. Nothing they do acts.
		if t.ev.Kind == KindCallback {
			t.res.Toast = e.t(t, "op_members_only", nil)
		}
		return nil
	}
	if t.ev.Kind == KindCallback {
		verb, arg, _ := strings.Cut(t.ev.Data, ":")
		if verb == "spo" {
			return f.operatorButton(e, t, arg, t.ev.MessageID)
		}
		return nil
	}
	if t.ev.Kind == KindCommand {
		if done, err := f.groupCommand(e, t); done || err != nil {
			return err
		}
	}
	if t.ev.Thread == 0 {
		return nil
	}
	req, err := f.store.ByTopic(t.ctx, t.ev.ChatID, t.ev.Thread)
	if errors.Is(err, ErrNoRequest) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case t.ev.Kind == KindCommand && t.ev.Command == "note":
		_, _, err := f.store.AddMessage(t.ctx, RequestMessage{RequestID: req.ID, Side: SideNote, SrcChat: t.ev.ChatID, SrcMsg: t.ev.MessageID, Text: t.ev.Args, Operator: t.ev.UserID})
		if err == nil {
			t.reply(Reply{React: "✍", Edit: t.ev.MessageID})
		}
		return err
	case t.ev.Kind == KindCommand && t.ev.Command == "name":
		name := truncateRunes(strings.TrimSpace(t.ev.Args), 40)
		if name == "" {
			t.reply(Reply{Text: e.t(t, "op_name_usage", nil)})
			return nil
		}
		if err := f.store.SetOperatorName(t.ctx, t.ev.UserID, name); err != nil {
			return err
		}
		t.reply(Reply{Text: e.t(t, "op_name_set", map[string]any{"Name": esc(name)})})
		return nil
	case t.ev.Kind == KindCommand:
		t.reply(Reply{Text: e.t(t, "op_commands", nil)})
		return nil
	case t.ev.Kind == KindEdited:
		dst, err := f.store.Copied(t.ctx, req.ID, SideOperator, t.ev.MessageID)
		if err != nil || dst == 0 || t.ev.Text == "" {
			return err
		}
		sig, err := f.signature(e, t, req)
		if err != nil {
			return err
		}
		t.reply(Reply{Text: sig + "\n" + asHTML(t.ev), Edit: dst, To: &Target{Chat: req.ChatID}})
		return nil
	case t.ev.Kind == KindText || t.ev.Kind == KindOther && t.ev.Media:
	default:
		return nil
	}
	if req.Status == StatusClosed {
		t.reply(Reply{Text: e.t(t, "op_request_closed", map[string]any{"ID": req.ID})})
		return nil
	}
	return f.relayAnswer(e, t, req, t.ev.Text, asHTML(t.ev), t.ev.Media)
}

// relayAnswer takes an operator's message (text is its text or caption,
// formatted the same as HTML) to the subscriber, signed, and records it.
func (f *supportFeature) relayAnswer(e *Engine, t *turn, req Request, text, formatted string, media bool) error {
	row, _, err := f.store.AddMessage(t.ctx, RequestMessage{RequestID: req.ID, Side: SideOperator, SrcChat: t.ev.ChatID, SrcMsg: t.ev.MessageID, Text: text, Media: media, Operator: t.ev.UserID})
	if err != nil {
		return err
	}
	if req.Status == StatusNew || req.Status == StatusWork {
		// Answering does not take the request: who has it is said by Взять
		// and Передать only, so nobody loses one without being told.
		if _, err := f.store.SetStatus(t.ctx, req.ID, StatusWaiting, 0, e.now()); err != nil {
			return err
		}
	}
	sig, err := f.signature(e, t, req)
	if err != nil {
		return err
	}
	reply := Reply{Text: sig + "\n" + formatted, To: &Target{Chat: req.ChatID}, Receipt: fmt.Sprintf("sup:o:%d:%d", req.ID, row.ID)}
	if media {
		reply.Copy = &Copy{FromChat: t.ev.ChatID, MessageID: t.ev.MessageID}
	}
	t.reply(reply)
	return nil
}

// signature is how an operator's answer is signed for the subscriber: the
// name they set with /name (or their first name) and "support", in the
// subscriber's language; never their Telegram account.
func (f *supportFeature) signature(e *Engine, t *turn, req Request) (string, error) {
	name, err := f.store.OperatorName(t.ctx, t.ev.UserID)
	if err != nil {
		return "", err
	}
	if name == "" {
		name = t.ev.FromName
	}
	return e.text.T(req.Lang, "sup_signature", map[string]any{"Name": esc(name)}), nil
}

// asHTML is what a person wrote, with their formatting, as HTML.
func asHTML(ev Event) string {
	if ev.HTML == "" {
		return esc(ev.Text)
	}
	return ev.HTML
}

func (f *supportFeature) isGroup(chat int64) bool {
	for _, g := range f.cfg.Groups {
		if g == chat {
			return true
		}
	}
	for _, g := range f.cfg.CityGroups {
		if g == chat {
			return true
		}
	}
	return false
}

// operatorButton handles the card's buttons: take, solved, close.
func (f *supportFeature) operatorButton(e *Engine, t *turn, arg string, _ int) error {
	if !t.ev.Group || !f.isGroup(t.ev.ChatID) {
		return nil // a card's button anywhere else does nothing
	}
	verb, idArg, _ := strings.Cut(arg, ":")
	idArg, toArg, _ := strings.Cut(idArg, ":")
	id, _ := strconv.ParseInt(idArg, 10, 64)
	req, err := f.store.Request(t.ctx, id)
	if errors.Is(err, ErrNoRequest) || err == nil && req.Group != t.ev.ChatID {
		t.res.Toast = e.t(t, "button_outdated", nil)
		return nil
	}
	if err != nil {
		return err
	}
	name, err := f.store.OperatorName(t.ctx, t.ev.UserID)
	if err != nil {
		return err
	}
	if name == "" {
		name = t.ev.FromName
	}
	topic := &Target{Chat: req.Group, Thread: req.Thread}
	subscriber := &Target{Chat: req.ChatID}
	switch verb {
	case "take":
		if req.Status == StatusClosed {
			t.res.Toast = e.t(t, "button_outdated", nil)
			return nil
		}
		changed, err := f.store.Assign(t.ctx, id, t.ev.UserID)
		if err != nil {
			return err
		}
		t.res.Toast = e.t(t, "op_taken_toast", nil)
		if !changed {
			t.res.Toast = e.t(t, "op_already_yours", nil)
		}
		if changed {
			t.reply(Reply{Text: e.t(t, "op_taken", map[string]any{"Name": esc(name)}), To: topic}, f.renamed(e, req, StatusWork))
		}
	case "give": // to whom
		ops, err := f.store.Operators(t.ctx)
		if err != nil {
			return err
		}
		var row []Button
		var rows [][]Button
		for _, o := range ops {
			if o.UserID == t.ev.UserID {
				continue
			}
			row = append(row, Button{Text: o.Name, Data: fmt.Sprintf("spo:to:%d:%d", id, o.UserID)})
			if len(row) == 3 {
				rows, row = append(rows, row), nil
			}
		}
		if row != nil {
			rows = append(rows, row)
		}
		if len(rows) == 0 {
			t.res.Toast = e.t(t, "op_give_nobody", nil)
			return nil
		}
		t.reply(Reply{Text: e.t(t, "op_give_whom", map[string]any{"ID": id}), Buttons: rows, To: topic})
	case "to":
		to, _ := strconv.ParseInt(toArg, 10, 64)
		toName, err := f.store.OperatorName(t.ctx, to)
		if err != nil {
			return err
		}
		if toName == "" {
			t.res.Toast = e.t(t, "button_outdated", nil)
			return nil
		}
		changed, err := f.store.Assign(t.ctx, id, to)
		if err != nil || !changed {
			return err
		}
		t.res.Toast = e.t(t, "op_given_toast", nil)
		t.reply(Reply{Text: e.t(t, "op_given", map[string]any{"From": esc(name), "To": esc(toName)}), To: topic, Edit: t.ev.MessageID})
		if req.Status == StatusNew {
			t.reply(f.renamed(e, req, StatusWork))
		}
	case "solve":
		changed, err := f.store.SetStatus(t.ctx, id, StatusSolved, t.ev.UserID, e.now())
		if err != nil || !changed {
			t.res.Toast = e.t(t, "op_status_already", nil)
			return err
		}
		t.res.Toast = e.t(t, "op_solved_toast", nil)
		t.reply(Reply{Text: e.t(t, "op_solved", map[string]any{"Name": esc(name)}), To: topic}, f.renamed(e, req, StatusSolved))
		t.reply(Reply{Text: e.text.T(req.Lang, "sup_solved_ask", map[string]any{"ID": id}), To: subscriber, Buttons: [][]Button{{
			{Text: e.text.T(req.Lang, "btn_sup_yes", nil), Data: fmt.Sprintf("sup:yes:%d", id)},
			{Text: e.text.T(req.Lang, "btn_sup_no", nil), Data: fmt.Sprintf("sup:no:%d", id)},
		}}})
		t.res.Timers = append(t.res.Timers, Timer{After: f.cfg.AutoClose, Data: fmt.Sprintf("supclose:%d:%d", id, e.now().Unix()), Lang: f.cfg.Lang})
	case "close":
		changed, err := f.store.SetStatus(t.ctx, id, StatusClosed, t.ev.UserID, e.now())
		if err != nil || !changed {
			t.res.Toast = e.t(t, "op_status_already", nil)
			return err
		}
		t.res.Toast = e.t(t, "op_closed_toast", nil)
		t.reply(Reply{Text: e.t(t, "op_closed", map[string]any{"Name": esc(name)}), To: topic}, f.renamed(e, req, StatusClosed))
		t.reply(Reply{Text: e.text.T(req.Lang, "sup_closed", map[string]any{"ID": id}), To: subscriber})
	default:
		t.res.Toast = e.t(t, "button_outdated", nil)
	}
	return nil
}

// autoClose closes a solved request nobody answered within AutoClose: the
// timer names the moment it was solved, so one solved again later waits
// for its own timer.
func (f *supportFeature) autoClose(e *Engine, t *turn) error {
	parts := strings.Split(t.ev.Data, ":")
	if len(parts) != 3 {
		return nil
	}
	id, _ := strconv.ParseInt(parts[1], 10, 64)
	at, _ := strconv.ParseInt(parts[2], 10, 64)
	req, err := f.store.Request(t.ctx, id)
	if errors.Is(err, ErrNoRequest) || err == nil && (req.Status != StatusSolved || req.SolvedAt.Unix() != at) {
		return nil
	}
	if err != nil {
		return err
	}
	changed, err := f.store.SetStatus(t.ctx, id, StatusClosed, 0, e.now())
	if err != nil || !changed {
		return err
	}
	t.reply(Reply{Text: e.text.T(req.Lang, "sup_autoclosed", map[string]any{"ID": id}), To: &Target{Chat: req.ChatID}})
	t.reply(Reply{Text: e.text.T(f.cfg.Lang, "op_autoclosed", nil), To: &Target{Chat: req.Group, Thread: req.Thread}}, f.renamed(e, req, StatusClosed))
	return nil
}

// receipt hears what became of the feature's messages: "t:<req>" a created
// topic, "m:<req>:<row>" a subscriber's message copied to it, "o:<req>:<row>"
// an operator's answer delivered to the subscriber.
func (f *supportFeature) receipt(e *Engine, t *turn, s Sent) error {
	parts := strings.Split(s.Receipt, ":")
	if len(parts) < 3 {
		return nil
	}
	id, _ := strconv.ParseInt(parts[2], 10, 64)
	var row int64
	if len(parts) > 3 {
		row, _ = strconv.ParseInt(parts[3], 10, 64)
	}
	req, err := f.store.Request(t.ctx, id)
	if errors.Is(err, ErrNoRequest) {
		return nil
	}
	if err != nil {
		return err
	}
	topic := &Target{Chat: req.Group, Thread: req.Thread}
	switch parts[1] {
	case "t":
		if s.Failed != "" {
			e.log.Error("support topic not created: check the bot's rights in the group", "request", id, "why", s.Failed)
			return nil
		}
		waiting, err := f.store.TopicCreated(t.ctx, id, s.Thread)
		if err != nil {
			return err
		}
		req.Thread = s.Thread
		card, err := f.card(e, t, req)
		if err != nil {
			return err
		}
		t.reply(card)
		t.reply(f.copies(req, waiting)...)
	case "m":
		switch s.Failed {
		case "":
			return f.store.Delivered(t.ctx, row, s.MessageID)
		case FailTopicGone:
			// Deleted or closed by hand: a new topic, which gets this
			// message and the card again.
			if err := f.store.TopicLost(t.ctx, id, row); err != nil {
				return err
			}
			t.reply(Reply{Topic: f.topicName(e, req), To: &Target{Chat: req.Group}, Receipt: fmt.Sprintf("sup:t:%d", id)})
		default:
			e.log.Warn("a subscriber's message was not relayed", "request", id, "why", s.Failed)
		}
	case "o":
		switch s.Failed {
		case "":
			if err := f.store.Delivered(t.ctx, row, s.MessageID); err != nil {
				return err
			}
			m, err := f.store.Message(t.ctx, row)
			if err != nil && !errors.Is(err, ErrNoRequest) {
				return err
			}
			if err == nil {
				t.reply(Reply{React: "👌", Edit: m.SrcMsg, To: topic}) // delivered (✅ is not among the reactions Telegram allows)
			}
		case FailBlocked:
			t.reply(Reply{Text: e.text.T(f.cfg.Lang, "op_blocked", nil), To: topic})
		default:
			t.reply(Reply{Text: e.text.T(f.cfg.Lang, "op_not_delivered", nil), To: topic})
		}
	}
	return nil
}

// card is the first message of a request's topic: who asks and what the
// billing says about their account, with the operators' buttons.
func (f *supportFeature) card(e *Engine, t *turn, req Request) (Reply, error) {
	t.lang = f.cfg.Lang
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	line(e.t(t, "op_card_title", map[string]any{"ID": req.ID, "Category": e.t(t, "sup_cat_"+req.Category, nil)}))
	if req.AccountID != 0 {
		acc, err := e.accounts.LinkedAccount(t.ctx, req.UserID, req.AccountID)
		if err != nil && !errors.Is(err, billing.ErrNotFound) {
			return Reply{}, err
		}
		if err == nil {
			line(e.t(t, "op_card_account", map[string]any{"Number": esc(acc.Number), "City": esc(acc.City), "Phone": esc(billing.MaskPhone(acc.Phone))}))
			line(e.t(t, "op_card_tariff", map[string]any{"Tariff": esc(acc.Tariff.Name), "Fee": acc.Tariff.MonthlyFee.Format(t.lang),
				"Balance": acc.Balance.Format(t.lang), "Status": e.t(t, "status_"+string(acc.Status), nil)}))
			pays, err := e.accounts.RecentPayments(t.ctx, acc.ID, 2)
			if err != nil {
				return Reply{}, err
			}
			for _, p := range pays {
				line(e.t(t, "op_card_payment", map[string]any{"Amount": p.Amount.Format(t.lang), "Date": e.date(t, p.PaidAt.In(e.location(acc)))}))
			}
		}
	} else if req.Phone != "" {
		line(e.t(t, "op_card_no_account", map[string]any{"Phone": esc(req.Phone)}))
	}
	kind, details, err := f.store.Details(t.ctx, req.ID)
	if err != nil {
		return Reply{}, err
	}
	if details != "" {
		line(e.t(t, "op_card_"+kind, map[string]any{"Details": esc(details)}))
	}
	if req.City != "" {
		outages, err := f.store.Outages(t.ctx, req.City)
		if err != nil {
			return Reply{}, err
		}
		for _, o := range outages {
			line(e.t(t, "op_card_outage", map[string]any{"ID": o.ID, "Text": esc(truncateRunes(o.Text, 100))}))
		}
	}
	line(e.t(t, "op_card_lang", map[string]any{"Lang": req.Lang}))
	return Reply{Text: strings.TrimRight(b.String(), "\n"), To: &Target{Chat: req.Group, Thread: req.Thread}, Buttons: [][]Button{
		{{Text: e.t(t, "btn_op_take", nil), Data: fmt.Sprintf("spo:take:%d", req.ID)}, {Text: e.t(t, "btn_op_give", nil), Data: fmt.Sprintf("spo:give:%d", req.ID)}},
		{{Text: e.t(t, "btn_op_solve", nil), Data: fmt.Sprintf("spo:solve:%d", req.ID)}, {Text: e.t(t, "btn_op_close", nil), Data: fmt.Sprintf("spo:close:%d", req.ID)}},
	}}, nil
}
