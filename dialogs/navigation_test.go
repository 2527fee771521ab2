package dialogs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// replyWith returns the first reply whose text contains s.
func replyWith(t *testing.T, res dialogs.Result, s string) dialogs.Reply {
	t.Helper()
	for _, r := range res.Replies {
		if strings.Contains(r.Text, s) {
			return r
		}
	}
	t.Fatalf("no reply contains %q:\n%s", s, all(res))
	return dialogs.Reply{}
}

func TestUnlinkedStartOffersLinkingContactsAndHelp(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	res := h.cmd("start")
	mustContain(t, res, "Здравствуйте", "[🔗 Привязать лицевой счёт|link]", "[🏢 Офисы и контакты|of]", "[❓ Помощь|help]")
	if h.st.Step != dialogs.StepIdle {
		t.Errorf("step %q after /start: a person who only wants the hotline is pushed into linking", h.st.Step)
	}
	// One tap to the hotline: the provider's one number first, then the cities.
	mustContain(t, h.press("of"), "Единый номер: <b>+7 (8652) 333-333</b>", "Пн–Пт 09:00–21:00, Сб–Вс 09:00–18:00 (по Москве)", "[Москва|oc:8]")
	en, _, _ := newOfficesHarness(t, "en", dialogs.DefaultOfficesConfig())
	en.cmd("start")
	mustContain(t, en.press("of"), "One number for every city: <b>+7 (8652) 333-333</b>", "Mon–Fri 09:00–21:00", "[Moscow|oc:8]")
}

func TestAContactQuestionWhileLinkingLeadsToContacts(t *testing.T) {
	for _, text := range []string{"телефон горячей линии", "позовите оператора", "хочу поговорить с живым человеком", "где оплатить?", "support"} {
		h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
		h.press("link")
		res := h.text(text)
		if strings.Contains(all(res), "от 5 до 20 цифр") {
			t.Errorf("%q got the account-number hint", text)
		}
		mustContain(t, res, "Выберите город", "привязать счёт можно в любой момент")
		if r := res.Replies[0]; r.Keyboard == nil || !r.Keyboard.Remove {
			t.Errorf("%q: the share-my-phone keyboard stays", text)
		}
		if h.st.Step != dialogs.StepIdle {
			t.Errorf("%q: step %q, want the linking left", text, h.st.Step)
		}
	}
	// Anything else still gets the hint and the step stays.
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	h.press("link")
	mustContain(t, h.text("12ab"), "от 5 до 20 цифр")
	if h.st.Step != dialogs.StepLinkNumber {
		t.Errorf("step %q after a wrong number", h.st.Step)
	}
}

func TestLanguageChoiceSetsTheChatsCommandMenu(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	if res := h.cmd("start"); res.ChatCommands != nil {
		t.Errorf("a chat menu set for someone who chose no language: %+v", res.ChatCommands)
	}
	res := h.press("lang:en")
	want := []string{"start", "menu", "balance", "accounts", "offices", "help", "language", "cancel"}
	if len(res.ChatCommands) != len(want) {
		t.Fatalf("chat commands %+v, want %v", res.ChatCommands, want)
	}
	for i, c := range res.ChatCommands {
		if c.Name != want[i] || c.Description == "" {
			t.Errorf("command %d: %+v, want /%s with a description", i, c, want[i])
		}
	}
	if d := res.ChatCommands[5].Description; d != "Help" {
		t.Errorf("/help reads %q after choosing English", d)
	}
	// The choice outlives the chat: /start sets the menu again.
	if res := h.cmd("start"); len(res.ChatCommands) != len(want) || res.ChatCommands[0].Description != "Start" {
		t.Errorf("/start after choosing English: %+v", res.ChatCommands)
	}
}

func TestSwitchAndUnlinkRedrawTheAccountsList(t *testing.T) {
	h := newHarness(t, "ru")
	ctx := context.Background()
	_ = h.accounts.Link(ctx, user, 1, 5)
	_ = h.accounts.Link(ctx, user, 4, 5)
	mustContain(t, h.press("acc"), "1000000004 ✅")
	res := h.press("sw:1")
	list := replyWith(t, res, "Нажмите на номер")
	if list.Edit != 42 || !strings.Contains(list.Text, "1000000001</b>, Москва") || !strings.Contains(list.Text, "✅") ||
		strings.Contains(list.Text, "1000000004</b>, Уфа — 100,00\u00a0₽, активен ✅") {
		t.Errorf("the list the button was on is not redrawn with the new current account: %+v", list)
	}
	if !strings.Contains(all(res), "[1000000001 ✅|sw:1]") {
		t.Errorf("the ✅ did not move:\n%s", all(res))
	}
	mustContain(t, res, "Лицевой счёт 1000000001") // and the balance below it
	h.press("un:4")
	res = h.press("unok:4")
	after := replyWith(t, res, "отвязан")
	if after.Edit != 42 || strings.Contains(after.Text, "Уфа") || !strings.Contains(after.Text, "1000000001") {
		t.Errorf("after the unlink the list still shows the account or is not redrawn: %+v", after)
	}
	if hasData(res, "sw:4") || hasData(res, "un:4") {
		t.Error("buttons of the unlinked account remain")
	}
}

func TestAccountsListNamesCitiesInEnglish(t *testing.T) {
	h := newHarness(t, "en")
	_ = h.accounts.Link(context.Background(), user, 1, 5)
	res := h.press("acc")
	mustContain(t, res, "1000000001</b>, Moscow")
	if strings.Contains(all(res), "Москва") {
		t.Errorf("a Russian city name in English:\n%s", all(res))
	}
}

func TestHelpCoversEveryFeatureAndListsTheCommands(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	h.eng.WithOffices(newFakeOffices(t), dialogs.DefaultOfficesConfig())
	got := all(h.cmd("help"))
	for _, want := range []string{"Баланс", "Оплатить", "автоплатёж", "Доверительный платёж", "ещё 3 дня", "Офисы и контакты", "Мои счета", "до 5 лицевых счетов", "/language",
		"/start — Начать", "/menu — Главное меню", "/balance — Баланс", "/accounts — Мои счета", "/offices — Офисы", "/help — Справка", "/language — Сменить язык", "/cancel — Отменить действие"} {
		if !strings.Contains(got, want) {
			t.Errorf("help lacks %q:\n%s", want, got)
		}
	}
}

func TestPayHistoryAndTrustScreensLeadBack(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	acc := h.acc
	// From the balance screen back to it, in place.
	mustContain(t, h.press(fmt.Sprintf("pay:%d", acc)), fmt.Sprintf("[◀ Назад|balr:%d]", acc), fmt.Sprintf("|hist:%d:p]", acc))
	mustContain(t, h.press(fmt.Sprintf("hist:%d", acc)), fmt.Sprintf("[◀ Назад|balr:%d]", acc))
	mustContain(t, h.press(fmt.Sprintf("tr:%d", acc)), fmt.Sprintf("[◀ Назад|balr:%d]", acc))
	// From the menu back to the menu; the history opened from the pay screen back to it.
	res := h.press("pay")
	mustContain(t, res, "[◀ Назад|menu]", fmt.Sprintf("|hist:%d:pm]", acc))
	mustContain(t, h.press(fmt.Sprintf("hist:%d:pm", acc)), fmt.Sprintf("[◀ Назад|pay:%d:m]", acc))
	mustContain(t, h.press(fmt.Sprintf("hist:%d:p", acc)), fmt.Sprintf("[◀ Назад|pay:%d]", acc))
	mustContain(t, h.press("tr"), "[◀ Назад|menu]")
	// Back really leads there: the balance, edited in place.
	back := h.press(fmt.Sprintf("balr:%d", acc))
	if r := replyWith(t, back, "Лицевой счёт 1000234567"); r.Edit != 42 {
		t.Errorf("back to the balance is not in place: %+v", r)
	}

	// "Menu" under a payment link, or under a granted trust payment, comes as a new message.
	link := h.press(fmt.Sprintf("pa:%d:50000", acc))
	mustContain(t, link, "[☰ Меню|menu:n]")
	if r := h.press("menu:n"); len(r.Replies) == 0 || r.Replies[0].Edit != 0 {
		t.Errorf("the menu overwrote the payment link: %+v", r.Replies)
	}
	mustContain(t, h.press(fmt.Sprintf("tro:%d", acc)), "[☰ Меню|menu:n]", fmt.Sprintf("|payn:%d]", acc))
	if r := h.press("menu"); len(r.Replies) == 0 || r.Replies[0].Edit != 42 {
		t.Errorf("a plain Menu button does not turn its message into the menu: %+v", r.Replies)
	}
}

func TestTheCodeStepIsOneMessageWithOneCancel(t *testing.T) {
	h := newHarness(t, "ru")
	h.press("link")
	res := h.text("1000000001")
	if len(res.Replies) != 1 {
		t.Fatalf("%d messages after the account number, want one:\n%s", len(res.Replies), all(res))
	}
	r := res.Replies[0]
	if !strings.Contains(r.Text, "Код отправлен") || !strings.Contains(r.Text, "Введите 6 цифр") {
		t.Errorf("the code message: %q", r.Text)
	}
	if r.Keyboard == nil || len(r.Keyboard.Rows) != 1 || r.Keyboard.Rows[0][0].Text != "Отмена" || r.Keyboard.Rows[0][0].RequestContact {
		t.Errorf("the share-my-phone keyboard is not replaced by one Cancel: %+v", r.Keyboard)
	}
	for _, wrong := range []string{"abc", "12", "000000"} {
		res := h.text(wrong)
		if hasData(res, "cancel") {
			t.Errorf("%q: another Cancel under the answer:\n%s", wrong, all(res))
		}
	}
	// Cancel typed from the keyboard leaves the step and removes the keyboard.
	res = h.text("Отмена")
	if h.st.Step != dialogs.StepIdle || res.Replies[0].Keyboard == nil || !res.Replies[0].Keyboard.Remove {
		t.Errorf("Cancel: step %q, replies %+v", h.st.Step, res.Replies)
	}
}

func TestTypedSumHintsDoNotAddACancelEachTime(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	mustContain(t, h.press(fmt.Sprintf("po:%d", h.acc)), "[✖ Отмена|cancel]")
	for _, wrong := range []string{"abc", "0", "-5", "99999999"} {
		if res := h.text(wrong); hasData(res, "cancel") {
			t.Errorf("%q: another Cancel:\n%s", wrong, all(res))
		}
	}
}
