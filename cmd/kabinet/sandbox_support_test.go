package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// deskJSON is what the page reads of the operators' group (GET /api/support).
type deskJSON struct {
	Enabled   bool   `json:"enabled"`
	ChatID    string `json:"chat_id"`
	Title     string `json:"title"`
	Operators []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"operators"`
}

func (sb *sandboxRun) desk(t *testing.T) deskJSON {
	t.Helper()
	resp, err := http.Get(sb.url + "/api/support")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d deskJSON
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("GET /api/support: %v", err)
	}
	return d
}

// pressIn is pressText inside the element of id scope only: the operators'
// topic and the subscriber's chat both have inline buttons.
func (b *browser) pressIn(scope, cls, label string) {
	b.t.Helper()
	xp := fmt.Sprintf(`(//*[@id=%s]//*[contains(concat(" ", @class, " "), " %s ")][contains(normalize-space(.), %s)])[last()]`,
		xpathString(scope), cls, xpathString(label))
	if b.mobile {
		b.do(chromedp.Tap(xp))
	} else {
		b.do(chromedp.Click(xp))
	}
}

// postAsOperator types into the topic's input and sends it.
func (b *browser) postAsOperator(text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.CSS("#op-input"), text), chromedp.Click(chromedp.CSS("#op-send")))
}

// lastIn is the text of the newest element matching sel that contains want.
func (b *browser) lastIn(sel, want string) string {
	b.t.Helper()
	s, _ := eval[string](b, fmt.Sprintf(`(() => { const all = [...document.querySelectorAll(%s)].filter((e) => e.innerText.includes(%s)); return all.length ? all[all.length - 1].innerText : ""; })()`,
		jsString(sel), jsString(want)))
	return strings.ReplaceAll(s, "\u00a0", " ")
}

var requestNumber = regexp.MustCompile(`Заявка № (\d+) принята`)

// TestSandboxSupport: support works in the sandbox out of the box. A
// subscriber (Сергей, whose accounts are linked) files a request in the
// chat; in the operators' group beside it the request is a topic, marked
// unread, opened by the bot's card; the person picks Анна, answers and
// takes the request with the card's button; the subscriber reads the answer
// signed "Анна, поддержка", not with the operator's Telegram account. Then
// Олег answers, and the signature follows the operator picked. On a desktop
// window (the group beside the chat) and a phone (switched with it).
func TestSandboxSupport(t *testing.T) {
	for _, tc := range sandboxSizes {
		t.Run(tc.name, func(t *testing.T) {
			sb := startSandbox(t)
			desk := sb.desk(t)
			if !desk.Enabled || desk.Title != "Поддержка" || len(desk.Operators) != 2 {
				t.Fatalf("the sandbox's support group: %+v", desk)
			}
			anna, oleg := desk.Operators[0], desk.Operators[1]
			if !strings.HasPrefix(anna.Name, "Анна ") || !strings.HasPrefix(oleg.Name, "Олег ") {
				t.Fatalf("the operators are %q and %q", anna.Name, oleg.Name)
			}

			b := newBrowser(t, tc.width, tc.height, tc.mobile)
			b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
			b.pressText("persona", "Сергей")
			if tc.mobile {
				b.do(chromedp.Sleep(400 * time.Millisecond)) // the persona list slides away
				if onScreen, _ := eval[bool](b, `document.querySelector("#support").getBoundingClientRect().left < innerWidth`); onScreen {
					t.Error("on a phone the operators' group shows together with the chat")
				}
			} else if !b.visible("#support") || !b.visible("#messages") {
				t.Fatal("on a desktop the operators' group is not beside the chat")
			}

			// The subscriber files a request.
			b.press("#start")
			b.waitText("#messages", "Главное меню")
			b.pressIn("messages", "kb-btn", "Поддержка")
			b.waitText("#messages", "Что случилось?")
			b.pressIn("messages", "kb-btn", "Другое")
			b.waitText("#messages", "Опишите проблему")
			b.send("Роутер не раздаёт Wi-Fi после грозы")
			b.waitText("#messages", "1 сообщение")
			b.pressIn("messages", "kb-btn", "Отправить")
			filed := requestNumber.FindStringSubmatch(b.waitText("#messages", "принята"))
			if filed == nil {
				t.Fatalf("no request number in the chat:\n%s", b.screenText())
			}
			id := filed[1]
			b.screenshot("1-request-filed.png")

			// The operators' group: the request's topic, unread.
			if tc.mobile {
				b.waitJS(`!document.querySelector("#support-badge").hidden`, "an unread count on the button to the operators' group")
				b.press("#open-support")
				b.do(chromedp.Sleep(400 * time.Millisecond)) // the group slides in
			}
			const topic = `.topic-item[data-thread]`
			b.waitText("#topic-list", "№"+id)
			b.waitCount(".topic-item.unread .unread-badge", 1)
			if got := b.text(topic + " .topic-name"); !strings.Contains(got, "№"+id+" · Москва · 💬 Другое") {
				t.Errorf("the topic is named %q", got)
			}
			b.screenshot("2-topic-unread.png")

			b.pressIn("topic-list", "topic-item", "№"+id)
			card := b.waitText("#topic-messages", "Заявка №"+id)
			b.waitText("#topic-messages", "Роутер не раздаёт Wi-Fi после грозы")
			for _, want := range []string{"1000000001", "Взять", "Решено", "Закрыть"} {
				if !strings.Contains(card, want) {
					t.Errorf("the topic lacks %q:\n%s", want, card)
				}
			}
			b.waitJS(`document.querySelectorAll(".topic-item.unread").length === 0`, "the topic read once open")
			b.screenshot("3-topic-open.png")

			// Анна answers and takes the request.
			b.pressIn("op-picker", "op-pick", "Анна")
			b.postAsOperator("Перезагрузите роутер, пожалуйста")
			b.waitText("#topic-messages .msg.out", "Перезагрузите роутер")
			// The bot marks it delivered with 👌 under it.
			b.waitJS(`[...document.querySelectorAll("#topic-messages .msg.out")].some((m) => m.innerText.includes("Перезагрузите") && [...m.querySelectorAll(".reaction")].some((r) => r.textContent === "👌"))`,
				"the delivered mark 👌 under Анна's answer")
			b.pressIn("topic-messages", "kb-btn", "Взять")
			b.waitText("#support-toast", "Заявка ваша")
			b.waitText("#topic-messages", "Заявку взял(а) Анна.")
			b.screenshot("4-anna-answered.png")

			// The subscriber reads it, signed with Анна's display name only.
			if tc.mobile {
				b.press("#close-support")
				b.do(chromedp.Sleep(400 * time.Millisecond))
			}
			b.waitText("#messages", "Перезагрузите роутер")
			got := b.lastIn("#messages .msg.in", "Перезагрузите роутер")
			if !strings.HasPrefix(got, "Анна, поддержка\nПерезагрузите роутер, пожалуйста") {
				t.Errorf("the subscriber reads %q, want it signed «Анна, поддержка» on a line of its own", got)
			}
			for _, account := range []string{"Смирнова", anna.Username, anna.ID} {
				if strings.Contains(got, account) {
					t.Errorf("the answer shows the operator's Telegram account (%q): %q", account, got)
				}
			}
			if sig := b.lastIn("#messages .msg.in .text b", "поддержка"); sig != "Анна, поддержка" {
				t.Errorf("the signature in bold is %q", sig)
			}
			b.screenshot("5-subscriber-reads-anna.png")

			// Олег answers too: his signature, and Анна's message is now
			// someone else's, under her name.
			if tc.mobile {
				b.press("#open-support")
				b.do(chromedp.Sleep(400 * time.Millisecond))
			}
			b.pressIn("op-picker", "op-pick", "Олег")
			b.waitJS(fmt.Sprintf(`[...document.querySelectorAll("#topic-messages .msg.in .sender")].some((e) => e.innerText === %s)`, jsString(anna.Name)),
				"Анна's answer on the left under her name")
			b.postAsOperator("Я проверю линию со своей стороны")
			b.waitText("#topic-messages .msg.out", "Я проверю линию")
			b.screenshot("6-oleg-answers.png")
			if tc.mobile {
				b.press("#close-support")
				b.do(chromedp.Sleep(400 * time.Millisecond))
			}
			b.waitText("#messages", "Я проверю линию")
			if got := b.lastIn("#messages .msg.in", "Я проверю линию"); !strings.HasPrefix(got, "Олег, поддержка\n") {
				t.Errorf("Олег's answer reads %q, want it signed «Олег, поддержка»", got)
			}
			if n := b.count(".system.error"); n != 0 {
				t.Errorf("%d red lines:\n%s\n%s", n, b.screenText(), b.text("#topic-messages"))
			}
			b.screenshot("7-subscriber-reads-oleg.png")
		})
	}
}
