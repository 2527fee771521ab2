package dialogs_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/money"
)

const user = int64(777)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func demoAccounts() []billing.Account {
	tariff := billing.Tariff{Name: "Домашний 100", MonthlyFee: money.Rub(600)}
	return []billing.Account{
		{ID: 1, Number: "1000000001", Phone: "+79000000001", City: "Москва", CityEN: "Moscow", Status: billing.StatusActive, Balance: 123450, Tariff: tariff, ChargeDay: 1, TimeZone: "Europe/Moscow"},
		{ID: 2, Number: "1000000002", Phone: "+79000000001", City: "Москва", CityEN: "Moscow", Status: billing.StatusBlocked, Balance: -10000, Tariff: tariff, ChargeDay: 1},
		{ID: 3, Number: "1000000003", Phone: "+79000000001", City: "Томск", CityEN: "Tomsk", Status: billing.StatusFrozen, Balance: 0, Tariff: tariff, ChargeDay: 5, TimeZone: "Asia/Tomsk"},
		{ID: 4, Number: "1000000004", Phone: "+79000000004", City: "Уфа", CityEN: "Ufa", Status: billing.StatusActive, Balance: money.Rub(100), Tariff: tariff, ChargeDay: 10,
			Services: []billing.Service{{Name: "Статический IP", MonthlyFee: money.Rub(150)}}},
	}
}

type harness struct {
	t        *testing.T
	eng      *dialogs.Engine
	accounts *fakeAccounts
	codes    *fakeCodes
	sms      *fakeSMS
	st       dialogs.State
	lang     string
}

func newHarness(t *testing.T, lang string) *harness {
	h := &harness{t: t, accounts: newFakeAccounts(demoAccounts()...), codes: &fakeCodes{}, sms: &fakeSMS{}, lang: lang}
	h.accounts.payments[1] = []billing.Payment{
		{ID: 3, Amount: money.Rub(500), Channel: "card", PaidAt: now.Add(-24 * time.Hour)},
		{ID: 2, Amount: 75050, Channel: "terminal", PaidAt: now.Add(-30 * 24 * time.Hour)},
		{ID: 1, Amount: money.Rub(1000), Channel: "sberbank", PaidAt: now.Add(-60 * 24 * time.Hour)},
	}
	h.eng = dialogs.New(h.accounts, h.codes, h.sms, locales.MustLoad(), dialogs.Config{MaxAccounts: 5, Location: time.UTC, Secret: []byte("k")},
		func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return h
}

// do sends one event and returns the result, keeping the new state.
func (h *harness) do(ev dialogs.Event) dialogs.Result {
	h.t.Helper()
	ev.UserID, ev.ChatID, ev.LanguageCode = user, user, h.lang
	res, err := h.eng.Handle(context.Background(), h.st, ev)
	if err != nil {
		h.t.Fatalf("Handle: %v", err)
	}
	h.st = res.State
	res.Replies = runEffects(h.t, h.eng, res.Replies)
	return res
}

// runEffects does what the sender does with a turn's replies: every
// effect is run and its replies take its place.
func runEffects(t *testing.T, eng *dialogs.Engine, replies []dialogs.Reply) []dialogs.Reply {
	t.Helper()
	var out []dialogs.Reply
	for _, r := range replies {
		if r.Effect == nil {
			out = append(out, r)
			continue
		}
		more, err := eng.RunEffect(context.Background(), *r.Effect)
		if err != nil {
			t.Fatalf("RunEffect %s: %v", r.Effect.Verb, err)
		}
		out = append(out, more...)
	}
	return out
}

func (h *harness) text(s string) dialogs.Result {
	return h.do(dialogs.Event{Kind: dialogs.KindText, Text: s})
}
func (h *harness) cmd(c string) dialogs.Result {
	return h.do(dialogs.Event{Kind: dialogs.KindCommand, Command: c})
}
func (h *harness) press(data string) dialogs.Result {
	return h.do(dialogs.Event{Kind: dialogs.KindCallback, Data: data, MessageID: 42})
}

func all(res dialogs.Result) string {
	var b strings.Builder
	for _, r := range res.Replies {
		b.WriteString(r.Text)
		b.WriteString("\n")
		for _, row := range r.Buttons {
			for _, btn := range row {
				b.WriteString("[" + btn.Text + "|" + btn.Data + btn.URL + "]")
			}
		}
		b.WriteString("\n")
	}
	return b.String() + res.Toast
}

func mustContain(t *testing.T, res dialogs.Result, parts ...string) {
	t.Helper()
	got := all(res)
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("reply lacks %q; got:\n%s", p, got)
		}
	}
}

func TestStartGreetsInTheUsersLanguage(t *testing.T) {
	ru := newHarness(t, "ru")
	mustContain(t, ru.cmd("start"), "Здравствуйте", "[🔗 Привязать лицевой счёт|link]", "[❓ Помощь|help]")
	res := ru.press("link")
	mustContain(t, res, "номер лицевого счёта")
	if ru.st.Step != dialogs.StepLinkNumber {
		t.Fatalf("step %q, want link.number", ru.st.Step)
	}
	var contactButton bool
	for _, r := range res.Replies {
		if r.Keyboard != nil && len(r.Keyboard.Rows) > 0 && r.Keyboard.Rows[0][0].RequestContact {
			contactButton = true
		}
	}
	if !contactButton {
		t.Error("no 'share my phone number' button")
	}
	en := newHarness(t, "en-US")
	mustContain(t, en.cmd("start"), "Hello", "your internet and TV provider account", "[🔗 Link an account|link]")
}

func TestLinkByNumberThenBalance(t *testing.T) {
	h := newHarness(t, "ru")
	h.cmd("start")
	res := h.text("1000 0000-01")
	mustContain(t, res, "+7 *** ***-**-01")
	if len(h.codes.sent) != 1 || h.codes.sent[0].phone != "+79000000001" || h.codes.sent[0].account != 1 {
		t.Fatalf("code sent %+v, want one to the contract phone of account 1", h.codes.sent)
	}
	if h.st.Step != dialogs.StepLinkCode {
		t.Fatalf("step %q", h.st.Step)
	}
	mustContain(t, h.text("000000"), "Осталось 4 попытки")
	res = h.text("123 456")
	mustContain(t, res, "привязан", "Лицевой счёт 1000000001", "1\u00a0234,50\u00a0₽", "Домашний 100", "хватит на 67 дней, до 31 января", "1 декабря", "750,50")
	if got := h.sms.sent["+79000000001"]; len(got) != 1 || !strings.Contains(got[0], "Telegram") {
		t.Errorf("linked notice to the contract phone: %v", got)
	}
	if h.st.Step != dialogs.StepIdle {
		t.Errorf("step %q after linking", h.st.Step)
	}
}

func TestBadAccountNumbersGetAHintAndChangeNothing(t *testing.T) {
	for _, input := range []string{"1' OR '1'='1", "١٢٣٤٥٦٧٨٩٠", strings.Repeat("9", 5000), "12ab34", "123"} {
		h := newHarness(t, "ru")
		h.press("link")
		res := h.text(input)
		mustContain(t, res, "от 5 до 20 цифр")
		if len(h.codes.sent) != 0 || h.codes.lookups != 0 {
			t.Errorf("%.20q: a lookup or a code happened", input)
		}
		if h.st.Step != dialogs.StepLinkNumber {
			t.Errorf("%.20q: step %q", input, h.st.Step)
		}
	}
}

func TestUnknownNumberLooksLikeARealOne(t *testing.T) {
	h := newHarness(t, "ru")
	h.cmd("start")
	res := h.text("5555555555")
	mustContain(t, res, "+7 *** ***-**-", "Введите 6 цифр")
	if !h.st.Decoy || h.st.Step != dialogs.StepLinkCode {
		t.Fatalf("state %+v, want a decoy code step", h.st)
	}
	if len(h.codes.sent) != 1 || h.codes.sent[0].phone != "" {
		t.Fatalf("decoy must count a code but send no SMS: %+v", h.codes.sent)
	}
	// The same number gets the same mask, so asking twice reveals nothing.
	h2 := newHarness(t, "ru")
	h2.cmd("start")
	if a, b := all(res), all(h2.text("5555555555")); a != b {
		t.Errorf("decoy answers differ:\n%s\n%s", a, b)
	}
}

func TestContactMustBeTheSendersOwn(t *testing.T) {
	h := newHarness(t, "ru")
	h.cmd("start")
	res := h.do(dialogs.Event{Kind: dialogs.KindContact, Contact: &dialogs.Contact{Phone: "79000000001", UserID: 999}})
	mustContain(t, res, "только своим номером")
	if len(h.codes.sent) != 0 {
		t.Fatal("a code was sent for someone else's contact")
	}
}

func TestContactWithThreeAccountsOffersAPick(t *testing.T) {
	h := newHarness(t, "ru")
	h.cmd("start")
	res := h.do(dialogs.Event{Kind: dialogs.KindContact, Contact: &dialogs.Contact{Phone: "+7 900 000-00-01", UserID: user}})
	mustContain(t, res, "3 счёта", "10*****001", "10*****002", "10*****003")
	if strings.Contains(all(res), "1000000002") {
		t.Error("account numbers must be masked in the pick list")
	}
	h.press("pick:1")
	if len(h.codes.sent) != 1 || h.codes.sent[0].account != 2 {
		t.Fatalf("code for %+v, want account 2", h.codes.sent)
	}
	// A forged index does nothing.
	h.st.Step = dialogs.StepLinkPick
	res = h.press("pick:9")
	if len(h.codes.sent) != 1 || res.Toast == "" {
		t.Error("forged pick was not refused")
	}
}

func TestCallbackForAnAccountNotLinkedDoesNothing(t *testing.T) {
	h := newHarness(t, "ru")
	_ = h.accounts.Link(context.Background(), user, 1, 5)
	res := h.press("balr:4")
	if strings.Contains(all(res), "1000000004") {
		t.Fatalf("showed an account that is not linked:\n%s", all(res))
	}
	mustContain(t, res, "не привязан")
	h.press("sw:4")
	if cur, _ := h.accounts.CurrentAccount(context.Background(), user); cur.ID != 1 {
		t.Errorf("switched to an unlinked account")
	}
	h.press("un:4")
	if h.st.Step == dialogs.StepUnlinkConfirm {
		t.Error("asked to unlink an account that is not linked")
	}
}

func TestUnexpectedInputGetsAPoliteAnswerAndTheStepAgain(t *testing.T) {
	h := newHarness(t, "en")
	h.cmd("start")
	h.text("1000000001")
	for _, ev := range []dialogs.Event{{Kind: dialogs.KindOther}, {Kind: dialogs.KindEdited}, {Kind: dialogs.KindText, Text: strings.Repeat("x", 5000)}} {
		res := h.do(ev)
		mustContain(t, res, "6 digits")
		if h.st.Step != dialogs.StepLinkCode {
			t.Fatalf("step changed to %q", h.st.Step)
		}
	}
	res := h.press("unok:1")
	if res.Toast == "" || h.st.Step != dialogs.StepLinkCode {
		t.Errorf("an old button changed the state or went unanswered: %+v", res)
	}
}

func TestSeveralAccountsSwitchAndUnlink(t *testing.T) {
	h := newHarness(t, "ru")
	ctx := context.Background()
	_ = h.accounts.Link(ctx, user, 1, 5)
	_ = h.accounts.Link(ctx, user, 4, 5)
	res := h.press("acc")
	mustContain(t, res, "2 из 5", "1000000001", "1000000004", "sw:1", "un:4")
	h.press("sw:1")
	if cur, _ := h.accounts.CurrentAccount(ctx, user); cur.ID != 1 {
		t.Fatalf("current %d, want 1", cur.ID)
	}
	mustContain(t, h.press("un:1"), "Отвязать счёт <b>1000000001</b>")
	h.press("unok:1")
	if linked, _ := h.accounts.LinkedAccounts(ctx, user); len(linked) != 1 || linked[0].ID != 4 {
		t.Fatalf("linked after unlink: %+v", linked)
	}
}

func TestBalanceStatusesAndPlurals(t *testing.T) {
	h := newHarness(t, "ru")
	ctx := context.Background()
	for id, want := range map[int64][]string{
		2: {"заблокирован за неуплату", "Пополните счёт на 700,00"},
		3: {"добровольная блокировка"},
		4: {"Статический IP", "хватит на 14 дней", "Не хватает 650,00", "приостановлен 9 декабря"},
	} {
		_ = h.accounts.Link(ctx, user, id, 5)
		mustContain(t, h.press("bal:"+string(rune('0'+id))), want...)
	}
}

func TestEnglishBalance(t *testing.T) {
	h := newHarness(t, "en")
	_ = h.accounts.Link(context.Background(), user, 1, 5)
	mustContain(t, h.cmd("balance"), "1,234.50", "67 days, until January 31", "December 1")
}

// "Send again" appears only once the resend pause is over: the code step
// asks for a timer, and the timer offers the button if the person is still
// waiting for that code.
func TestSendAgainIsOfferedAfterThePause(t *testing.T) {
	h := newHarness(t, "ru")
	h.cmd("start")
	res := h.text("1000000001")
	if strings.Contains(all(res), "resend") {
		t.Fatal("'send again' offered at once")
	}
	if len(res.Timers) != 1 || res.Timers[0].After != time.Minute {
		t.Fatalf("timers %+v, want one after 60 s", res.Timers)
	}
	timer := res.Timers[0]
	now = now.Add(61 * time.Second)
	defer func() { now = now.Add(-61 * time.Second) }()
	mustContain(t, h.do(dialogs.Event{Kind: dialogs.KindTimer, Data: timer.Data}), "Код не пришёл", "resend")
	// A timer for an older code, or after the step ended, says nothing.
	if r := h.do(dialogs.Event{Kind: dialogs.KindTimer, Data: "resend:1:12345"}); len(r.Replies) != 0 {
		t.Errorf("stale timer answered: %s", all(r))
	}
	h.cmd("cancel")
	if r := h.do(dialogs.Event{Kind: dialogs.KindTimer, Data: timer.Data}); len(r.Replies) != 0 {
		t.Errorf("timer after cancel answered: %s", all(r))
	}
}

// /language switches the language for good, whatever Telegram's language is.
func TestLanguageChoiceIsKept(t *testing.T) {
	h := newHarness(t, "ru")
	mustContain(t, h.cmd("language"), "lang:ru", "lang:en")
	res := h.press("lang:en")
	mustContain(t, res, "Language: English")
	if h.accounts.lang[user] != "en" || h.st.Lang != "en" {
		t.Fatalf("choice not stored: %q / %q", h.accounts.lang[user], h.st.Lang)
	}
	// A fresh conversation (the dialog state expired) still speaks English.
	h.st = dialogs.State{}
	mustContain(t, h.cmd("help"), "What I can do")
	// A forged language is refused and changes nothing.
	h.press("lang:de")
	if h.accounts.lang[user] != "en" {
		t.Errorf("language changed to %q", h.accounts.lang[user])
	}
}
