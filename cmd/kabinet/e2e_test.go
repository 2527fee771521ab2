package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

// TestSubscriberJourney is the whole first visit of a subscriber, over long
// polling and over the webhook: /start, linking by account number with a
// wrong code and a resend, the balance and its refresh, a second account
// by shared contact, switching, unlinking.
func TestSubscriberJourney(t *testing.T) {
	for _, m := range []mode{polling, webhook} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			s := newStack(t, m, nil)
			u := newUser("ru")

			// /start greets and offers linking next to contacts and help.
			s.emu.SendCommand(u, "/start")
			s.next(u, "Здравствуйте")
			s.next(u, "привяжите лицевой счёт")
			s.press(u, "Привязать лицевой счёт")
			prompt := s.next(u, "номер лицевого счёта")
			kb := prompt.ReplyKeyboard
			if kb == nil || !kb.Keyboard[0][0].RequestContact {
				t.Fatalf("no 'share my phone number' button under %q", prompt.Text)
			}
			if cmds := s.emu.CommandsFor(u); len(cmds) < 5 || cmds[0].Command != "start" {
				t.Errorf("commands for a Russian user: %+v", cmds)
			}
			if cmds := s.emu.CommandsFor(emulator.User{ID: 1, LanguageCode: "en"}); len(cmds) == 0 || cmds[1].Description != "Main menu" {
				t.Errorf("commands for an English user: %+v", cmds)
			}

			// Link by account number; spaces and dashes are fine.
			s.emu.SendText(u, "1000 000-004")
			code := s.next(u, "+7 *** ***-**-04")
			if !strings.Contains(code.Text, "Введите 6 цифр") || code.ReplyKeyboard == nil || code.ReplyKeyboard.Keyboard[0][0].Text != "Отмена" {
				t.Errorf("the code message is not one message with Cancel under the input: %+v", code)
			}
			first := s.lastCode("+79000000004")
			s.emu.SendText(u, wrong(first))
			// "Send again" is not offered during the first 60 s; then the bot
			// offers it by itself, and the old code dies.
			if strings.Contains(buttons(s.next(u, "Осталось 4 попытки")), "Отправить") {
				t.Error("'send again' offered before 60 s")
			}
			s.clock.Advance(61 * time.Second)
			s.next(u, "Код не пришёл?")
			s.press(u, "Отправить код ещё раз")
			s.next(u, "Код отправлен по СМС на номер +7 *** ***-**-04")
			s.waitFor("a second SMS", func() bool { return len(s.sms.Messages("+79000000004")) == 2 })
			second := s.lastCode("+79000000004")
			if first != second {
				s.emu.SendText(u, first)
				s.next(u, "Неверный код")
			}
			s.emu.SendText(u, second)
			s.next(u, "Лицевой счёт 1000000004 привязан к вашему Telegram")
			bal := s.next(u, "Лицевой счёт 1000000004\nТариф")
			for _, want := range []string{"Домашний 100", "20,00 ₽", "Денег хватит на 1 день", "Статус: активен", "Последние платежи"} {
				if !strings.Contains(bal.Text, strings.ReplaceAll(want, " ₽", "\u00a0₽")) {
					t.Errorf("balance lacks %q:\n%s", want, bal.Text)
				}
			}
			s.waitFor("the linked notice", func() bool {
				m, ok := s.sms.Last("+79000000004")
				return ok && strings.Contains(m.Text, "привязан аккаунт Telegram")
			})

			// Refresh edits the same message in place.
			s.clock.Advance(time.Minute)
			s.press(u, "Обновить")
			s.waitFor("the refreshed balance", func() bool {
				m, ok := s.emu.Message(u.ID, bal.ID)
				return ok && m.Edited && strings.Contains(m.Text, "Лицевой счёт 1000000004")
			})
			s.waitFor("the refresh toast", func() bool { return hasPrefix(s.toasts(), "Обновлено") })

			// A second account, by sharing the own contact: three accounts on that phone.
			s.press(u, "Мои счета")
			s.next(u, "Ваши счета")
			s.press(u, "Привязать ещё счёт")
			s.next(u, "номер лицевого счёта")
			s.emu.SendContact(u, ownContact(u, "79000000001"))
			pick := s.next(u, "3 счёта")
			if strings.Contains(pick.Text+buttons(pick), "1000000002") {
				t.Errorf("account numbers not masked in the pick list: %s", buttons(pick))
			}
			s.press(u, "10*****002")
			s.next(u, "+7 *** ***-**-01")
			s.emu.SendText(u, s.lastCode("+79000000001"))
			s.next(u, "Лицевой счёт 1000000002\nТариф")

			// Switch back to the first account.
			s.press(u, "Мои счета")
			accounts := s.next(u, "Ваши счета")
			if !strings.Contains(accounts.Text, "2 из 5") {
				t.Errorf("accounts screen: %s", accounts.Text)
			}
			s.press(u, "1000000004")
			s.next(u, "Лицевой счёт 1000000004\nТариф")
			s.waitFor("the switch toast", func() bool { return hasPrefix(s.toasts(), "Текущий счёт: 1000000004") })
			// The list the button was on moves its ✅ in place.
			s.waitFor("the list redrawn", func() bool {
				m, ok := s.emu.Message(u.ID, accounts.ID)
				return ok && m.Edited && strings.Contains(buttons(m), "[1000000004 ✅]")
			})

			// Unlink the second one after a confirmation.
			s.press(u, "Мои счета")
			s.next(u, "Ваши счета")
			unlinkSecond(t, s, u)
			// The question turns back into the list, without that account.
			after := s.next(u, "Счёт 1000000002 отвязан")
			if strings.Contains(after.Text, "1000000002</b>,") || !strings.Contains(after.Text, "1 из 5") || strings.Contains(buttons(after), "1000000002") {
				t.Errorf("after unlinking: %s %s", after.Text, buttons(after))
			}
		})
	}
}

// unlinkSecond presses the "Отвязать" button in the row of 1000000002, on
// the newest accounts list.
func unlinkSecond(t *testing.T, s *stack, u emulator.User) {
	t.Helper()
	msgs := s.emu.BotMessages(u.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, row := range msgs[i].InlineKeyboard {
			if len(row) == 2 && strings.Contains(row[0].Text, "1000000002") {
				s.emu.PressButton(u, msgs[i].ID, row[1].CallbackData)
				s.next(u, "Отвязать счёт 1000000002")
				s.press(u, "Да, отвязать")
				return
			}
		}
	}
	t.Fatalf("no unlink button for 1000000002 in the chat")
}

func buttons(m emulator.ChatMessage) string {
	var b strings.Builder
	for _, row := range m.InlineKeyboard {
		for _, btn := range row {
			b.WriteString("[" + btn.Text + "]")
		}
	}
	return b.String()
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// wrong returns a code that is not code.
func wrong(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// TestLanguageChoiceReachesTheCommandMenu: Telegram picks the command menu
// by the app's language; after /language → English the chat's own menu is
// English, while a Russian app's default stays Russian.
func TestLanguageChoiceReachesTheCommandMenu(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, nil)
	u := newUser("ru")
	s.emu.SendCommand(u, "/language")
	s.next(u, "Выберите язык")
	s.press(u, "English")
	s.next(u, "Language: English")
	s.waitFor("the chat's command menu", func() bool {
		return len(s.emu.Commands(emulator.CommandScope{Type: "chat", ChatID: u.ID}, "")) > 0
	})
	cmds := s.emu.CommandsFor(u)
	got := map[string]string{}
	for _, c := range cmds {
		got[c.Command] = c.Description
	}
	if got["help"] != "Help" || got["menu"] != "Main menu" || got["offices"] == "" {
		t.Errorf("the menu of a chat that chose English: %+v", cmds)
	}
	if other := s.emu.CommandsFor(emulator.User{ID: u.ID + 1, LanguageCode: "ru"}); len(other) == 0 || other[1].Description != "Главное меню" {
		t.Errorf("another Russian chat's menu changed: %+v", other)
	}
}
