package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

// inGeneral waits for a bot message in the group's General topic.
func (s *stack) inGeneral(want string) {
	s.t.Helper()
	s.inTopic(0, want)
}

func TestOutageFirstResponseCannedAnswerAndAutoClose(t *testing.T) {
	s, op := supportStack(t, polling, "SUPPORT_HOURS", "mon-sun 24h")
	u := newUser("ru")
	s.emu.SendCommand(u, "/start")
	s.next(u, "привяжите лицевой счёт")
	s.linkAccount(u, "1000000003", "+79000000001")

	// An operator announces an outage in Moscow from the General topic.
	if _, err := s.emu.PostText(supportGroup, 0, op, "/outage Москва до 23:59 Обрыв кабеля на Тверской"); err != nil {
		t.Fatal(err)
	}
	s.inGeneral("Авария №")

	// The subscriber is told of it before filing, and may file anyway.
	s.emu.SendText(u, "нет связи")
	s.next(u, "Что случилось?")
	s.press(u, "Нет связи")
	s.next(u, "Обрыв кабеля на Тверской")
	s.press(u, "Всё равно создать заявку")
	s.next(u, "Опишите проблему")
	s.emu.SendText(u, "В офисе нет интернета")
	s.next(u, "1 сообщение")
	s.press(u, "Отправить")
	s.next(u, "Операторы сейчас на связи")
	thread := s.topicOf("№")
	card := s.inTopic(thread, "Авария №")
	if !strings.Contains(card.Text, "Обрыв кабеля") {
		t.Errorf("the card does not name the outage:\n%s", card.Text)
	}

	// Nobody answers for 15 minutes of working time: reported once in General.
	s.clock.Advance(16 * time.Minute)
	s.inGeneral("ждёт ответа дольше 15 мин")

	// A saved answer goes in the subscriber's language, signed.
	if _, err := s.emu.PostText(supportGroup, thread, op, "/canned reboot"); err != nil {
		t.Fatal(err)
	}
	got := s.next(u, "выключите роутер из розетки")
	if !strings.HasPrefix(got.Text, "Анна, поддержка") {
		t.Errorf("the saved answer reads %q", got.Text)
	}

	// Solved, and the subscriber never answers: closed after a day.
	if _, err := s.emu.PressButtonIn(supportGroup, op, card.ID, cardButton(t, card, "Решено")); err != nil {
		t.Fatal(err)
	}
	s.next(u, "Вопрос решён?")
	s.clock.Advance(25 * time.Hour)
	s.next(u, "закрыта автоматически")
	s.inTopic(thread, "закрыта автоматически")
}

func TestCallbackAndNewConnectionRequests(t *testing.T) {
	s, _ := supportStack(t, webhook)

	// A callback to the contract phone, tomorrow afternoon.
	u := newUser("ru")
	s.emu.SendCommand(u, "/start")
	s.next(u, "привяжите лицевой счёт")
	s.linkAccount(u, "1000000005", "+79000000005")
	s.emu.SendCommand(u, "/support")
	s.next(u, "Что случилось?")
	s.press(u, "Обратный звонок")
	s.next(u, "На какой номер")
	s.press(u, "На номер из договора")
	s.next(u, "Выберите время")
	s.press(u, "Завтра днём")
	s.next(u, "Перезвоним на номер +7 *** ***-**-05")
	s.press(u, "Подтвердить")
	s.next(u, "на обратный звонок принята")
	thread := s.topicOf("№")
	card := s.inTopic(thread, "Перезвонить на +79000000005: Завтра днём, 12:00–17:00")
	if !strings.Contains(card.Text, "1000000005") {
		t.Errorf("the callback's card lacks the account:\n%s", card.Text)
	}

	// Someone with no account asks for a business connection.
	v := newUser("ru")
	s.emu.SendCommand(v, "/start")
	s.next(v, "привяжите лицевой счёт")
	s.press(v, "Поддержка")
	s.next(v, "Что случилось?")
	s.press(v, "Подключить новый адрес")
	s.next(v, "В каком городе")
	s.emu.SendText(v, "Липецк")
	s.next(v, "Напишите адрес")
	s.emu.SendText(v, "ул. Ленина, 5, офис 12")
	s.next(v, "Как к вам обращаться")
	s.emu.SendText(v, "Мария")
	s.next(v, "Оставьте телефон")
	s.emu.SendText(v, "+7 920 555-44-33")
	s.next(v, "для дома или для бизнеса")
	s.press(v, "Для бизнеса")
	s.next(v, "на подключение принята")
	var connect int
	s.waitFor("the connection's topic", func() bool {
		for _, tp := range s.emu.Topics(supportGroup) {
			if strings.HasSuffix(tp.Name, "· Липецк · 🏠 Подключение") {
				connect = tp.MessageThreadID
				return true
			}
		}
		return false
	})
	s.inTopic(connect, "Для бизнеса · Липецк, ул. Ленина, 5, офис 12 · Мария · +79205554433")
	s.inTopic(connect, "тел. для связи +79205554433")
}

func TestARequestIsHandedOverAndOutsidersCannotAct(t *testing.T) {
	s, anna := supportStack(t, polling)
	oleg := emulator.User{ID: randomID(), FirstName: "Олег", LanguageCode: "ru"}
	if err := s.emu.AddMember(supportGroup, oleg); err != nil {
		t.Fatal(err)
	}
	u := newUser("ru")
	s.fileRequest(u, "Оборудование", "+7 916 000-11-22", "Роутер не включается")
	thread := s.topicOf("№")
	// Asking for support again with a request open offers that request first.
	s.emu.SendCommand(u, "/support")
	s.next(u, "У вас открыта заявка")
	s.press(u, "Новая заявка")
	s.next(u, "Что случилось?")
	card := s.inTopic(thread, "Заявка №")
	for _, op := range []struct {
		u    emulator.User
		name string
	}{{anna, "Анна"}, {oleg, "Олег"}} {
		if _, err := s.emu.PostText(supportGroup, thread, op.u, "/name "+op.name); err != nil {
			t.Fatal(err)
		}
		s.inTopic(thread, "подписаны: "+op.name)
	}

	// A subscriber forging an operator's button in their own chat does nothing.
	id := strings.TrimPrefix(strings.Fields(card.Text)[2], "№")
	forged := s.emu.PressButton(u, s.lastOwn(u), "spo:close:"+id)
	s.waitFor("the forged press handled", func() bool { q, ok := s.emu.CallbackQueryFor(forged); return ok && q.Answered })
	if tp, _ := s.emu.Topic(supportGroup, thread); strings.HasPrefix(tp.Name, "🔒") {
		t.Fatal("a button pressed outside the operators' group closed the request")
	}

	// In a public group anyone can press the card's buttons: a reader who
	// is not a member gets a word that they are for operators, and nothing
	// changes.
	if err := s.emu.MakePublic(supportGroup, "kabinet_support"); err != nil {
		t.Fatal(err)
	}
	outsider, err := s.emu.PressButtonIn(supportGroup, u, card.ID, cardButton(t, card, "Закрыть"))
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor("the outsider's press answered", func() bool { q, ok := s.emu.CallbackQueryFor(outsider); return ok && q.Answered })
	if q, _ := s.emu.CallbackQueryFor(outsider); !strings.Contains(q.Answer.Text, "только участники") {
		t.Fatalf("the outsider was told %q, want that the buttons are for operators", q.Answer.Text)
	}
	if tp, _ := s.emu.Topic(supportGroup, thread); strings.HasPrefix(tp.Name, "🔒") {
		t.Fatal("a person outside the operators' group closed the request")
	}

	// Анна hands it over to Олег.
	if _, err := s.emu.PressButtonIn(supportGroup, anna, card.ID, cardButton(t, card, "Передать")); err != nil {
		t.Fatal(err)
	}
	whom := s.inTopic(thread, "Кому передать")
	if _, err := s.emu.PressButtonIn(supportGroup, anna, whom.ID, cardButton(t, whom, "Олег")); err != nil {
		t.Fatal(err)
	}
	s.inTopic(thread, "теперь её ведёт Олег")
	s.waitFor("the topic to show it taken", func() bool {
		tp, _ := s.emu.Topic(supportGroup, thread)
		return strings.HasPrefix(tp.Name, "🛠 №")
	})
}
