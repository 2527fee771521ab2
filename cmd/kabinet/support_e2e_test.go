package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/emulator"
)

const supportGroup = int64(-1001500000001)

// supportStack is a stack with an operators' forum group and one operator;
// extra settings are added to SUPPORT_CHAT_IDS.
func supportStack(t *testing.T, m mode, extra ...string) (*stack, emulator.User) {
	t.Helper()
	env := map[string]string{"SUPPORT_CHAT_IDS": fmt.Sprint(supportGroup)}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	s := prepareStack(t, m, env)
	s.emu.AddGroup(supportGroup, "Поддержка", true)
	op := emulator.User{ID: randomID(), FirstName: "Анна", LanguageCode: "ru"}
	if err := s.emu.AddMember(supportGroup, op); err != nil {
		t.Fatal(err)
	}
	s.start()
	return s, op
}

// fileRequest files a request the way a person does: /support, the
// category, a phone when no account is linked ("" when one is), one
// message of text, Send. It returns the bot's "filed" message.
func (s *stack) fileRequest(u emulator.User, category, phone, text string) emulator.ChatMessage {
	s.t.Helper()
	s.emu.SendCommand(u, "/support")
	s.next(u, "Что случилось?")
	s.press(u, category)
	if phone != "" {
		s.next(u, "Оставьте телефон")
		s.emu.SendText(u, phone)
	}
	s.next(u, "Опишите проблему")
	s.emu.SendText(u, text)
	s.next(u, "1 сообщение")
	s.press(u, "Отправить")
	return s.next(u, "принята")
}

// topicOf waits for the request's topic and returns its id.
func (s *stack) topicOf(name string) int {
	s.t.Helper()
	var thread int
	s.waitFor("the topic "+name, func() bool {
		for _, tp := range s.emu.Topics(supportGroup) {
			if strings.HasPrefix(tp.Name, name) {
				thread = tp.MessageThreadID
				return true
			}
		}
		return false
	})
	return thread
}

// inTopic waits for a bot message in the topic that contains want.
func (s *stack) inTopic(thread int, want string) emulator.ChatMessage {
	s.t.Helper()
	var found emulator.ChatMessage
	s.waitFor(fmt.Sprintf("%q in topic %d", want, thread), func() bool {
		for _, m := range s.emu.TopicMessages(supportGroup, thread) {
			if m.FromBot && strings.Contains(m.Text, want) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// lastOwn is the id of the newest message the person sent in their chat.
func (s *stack) lastOwn(u emulator.User) int {
	msgs := s.emu.Messages(u.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		if !msgs[i].FromBot {
			return msgs[i].ID
		}
	}
	s.t.Fatal("the person sent nothing")
	return 0
}

func cardButton(t *testing.T, m emulator.ChatMessage, label string) string {
	t.Helper()
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			if strings.Contains(b.Text, label) {
				return b.CallbackData
			}
		}
	}
	t.Fatalf("no button %q on %q", label, m.Text)
	return ""
}

func TestSupportRequestAnsweredByAnOperator(t *testing.T) {
	s, op := supportStack(t, polling)
	u := newUser("ru")
	s.emu.SendCommand(u, "/start")
	s.next(u, "привяжите лицевой счёт")
	s.linkAccount(u, "1000000001", "+79000000001")

	// A problem in free words leads to support; the request is described
	// in text and a photo, then sent.
	s.emu.SendText(u, "не работает интернет")
	s.next(u, "Что случилось?")
	s.press(u, "Нет связи")
	s.next(u, "Опишите проблему")
	s.emu.SendText(u, "Пропал интернет с утра")
	text := s.lastOwn(u)
	s.next(u, "1 сообщение")
	s.emu.SendPhoto(u, "роутер мигает красным")
	s.next(u, "1 вложение")
	s.press(u, "Отправить")
	filed := s.next(u, "принята")
	var id int
	if _, err := fmt.Sscanf(filed.Text[strings.Index(filed.Text, "№"):], "№ %d", &id); err != nil || id == 0 {
		t.Fatalf("no request number in %q", filed.Text)
	}

	// The topic: named after the request, opened by the card, then the
	// subscriber's messages copied as they were.
	thread := s.topicOf(fmt.Sprintf("№%d · Москва · ", id))
	card := s.inTopic(thread, fmt.Sprintf("Заявка №%d", id))
	for _, want := range []string{"1000000001", "+7 *** ***-**-01", "Домашний 500", "340,00"} {
		if !strings.Contains(card.Text, want) {
			t.Errorf("the card lacks %q:\n%s", want, card.Text)
		}
	}
	s.inTopic(thread, "Пропал интернет с утра")
	photo := s.inTopic(thread, "роутер мигает красным")
	if len(photo.Message.Photo) == 0 {
		t.Errorf("the photo arrived as %+v, want a photo", photo.Message)
	}

	// The operator signs as Анна, answers, and the answer is marked delivered.
	if _, err := s.emu.PostText(supportGroup, thread, op, "/name Анна"); err != nil {
		t.Fatal(err)
	}
	s.inTopic(thread, "подписаны: Анна, поддержка")
	answer, err := s.emu.PostHTML(supportGroup, thread, op, "<b>Перезагрузите</b> роутер, <a href=\"https://example.org/r\">как это сделать</a>")
	if err != nil {
		t.Fatal(err)
	}
	got := s.next(u, "Перезагрузите роутер")
	if !strings.HasPrefix(got.Text, "Анна, поддержка") || strings.Contains(got.Text, fmt.Sprint(op.ID)) {
		t.Errorf("the answer reads %q, want it signed by the operator's display name only", got.Text)
	}
	// The operator's formatting reaches the subscriber as it was written.
	var bold, link bool
	for _, e := range got.Entities {
		part := string(utf16.Decode(utf16.Encode([]rune(got.Text))[e.Offset : e.Offset+e.Length]))
		bold = bold || e.Type == models.MessageEntityTypeBold && part == "Перезагрузите"
		link = link || e.Type == models.MessageEntityTypeTextLink && part == "как это сделать" && e.URL == "https://example.org/r"
	}
	if !bold || !link {
		t.Errorf("the answer's formatting: %+v; want the bold word and the link the operator wrote", got.Entities)
	}
	s.waitFor("the delivered mark", func() bool { return slices.Contains(s.emu.Reactions(supportGroup, answer.MessageID), "👌") })

	// A note stays among operators.
	if _, err := s.emu.PostText(supportGroup, thread, op, "/note абонент звонил вчера"); err != nil {
		t.Fatal(err)
	}
	// The subscriber answers; an edit of a relayed message is relayed as an edit.
	s.emu.SendText(u, "Не помогло")
	s.inTopic(thread, "Не помогло")
	// An album reaches the topic as one album.
	if _, err := s.emu.SendAlbum(u, []emulator.AlbumItem{{Kind: "photo", Caption: "индикаторы спереди"}, {Kind: "photo"}}); err != nil {
		t.Fatal(err)
	}
	first := s.inTopic(thread, "индикаторы спереди")
	var album []emulator.ChatMessage
	for _, m := range s.emu.TopicMessages(supportGroup, thread) {
		if m.FromBot && first.Message.MediaGroupID != "" && m.Message.MediaGroupID == first.Message.MediaGroupID {
			album = append(album, m)
		}
	}
	if len(album) != 2 {
		t.Errorf("the album arrived as %d messages of one media group, want 2", len(album))
	}
	if _, err := s.emu.EditText(u, text, "Пропал интернет с утра, роутер перезагружал"); err != nil {
		t.Fatal(err)
	}
	edited := s.inTopic(thread, "роутер перезагружал")
	if !edited.Edited {
		t.Errorf("the edit came as a new message, want the copy edited")
	}
	for _, m := range s.emu.BotMessages(u.ID) {
		if strings.Contains(m.Text, "звонил вчера") {
			t.Fatalf("the subscriber got the operators' note: %q", m.Text)
		}
	}

	// Solved, confirmed, rated.
	msg, err := s.emu.PressButtonIn(supportGroup, op, card.ID, cardButton(t, card, "Решено"))
	if err != nil || msg == 0 {
		t.Fatalf("pressing Solved: %v", err)
	}
	s.next(u, "Вопрос решён?")
	s.waitFor("the topic's name to show it solved", func() bool {
		tp, ok := s.emu.Topic(supportGroup, thread)
		return ok && strings.HasPrefix(tp.Name, "✅ №")
	})
	s.press(u, "Да")
	s.next(u, "Оцените")
	s.press(u, "5⭐")
	s.inTopic(thread, "Оценка абонента: ⭐⭐⭐⭐⭐")
	s.next(u, "комментарий")
	s.emu.SendText(u, "Спасибо, всё работает")
	s.next(u, "Спасибо за оценку")
	s.inTopic(thread, "Комментарий абонента: Спасибо, всё работает")

	// The request is closed: "My requests" says so, and a new message is
	// not relayed into the closed request.
	s.emu.SendCommand(u, "/support")
	s.next(u, "Что случилось?")
	s.press(u, "Мои заявки")
	s.next(u, fmt.Sprintf("№ %d", id))
	before := len(s.emu.TopicMessages(supportGroup, thread))
	s.emu.SendText(u, "алло")
	s.next(u, "не понял")
	if n := len(s.emu.TopicMessages(supportGroup, thread)); n != before {
		t.Errorf("a message after closing reached the closed request's topic")
	}
	// A new problem after closing opens a new request, with that message in it.
	s.emu.SendText(u, "Снова пропал интернет вечером")
	s.next(u, "закрыта, поэтому откроем новую")
	s.press(u, "Нет связи")
	s.next(u, "1 сообщение")
	s.press(u, "Отправить")
	again := s.next(u, "принята")
	if strings.Contains(again.Text, fmt.Sprintf("№ %d ", id)) {
		t.Fatalf("the closed request was opened again: %q", again.Text)
	}
	second := s.topicOf(fmt.Sprintf("№%d · ", id+1))
	s.inTopic(second, "Снова пропал интернет вечером")
	if n := len(s.emu.TopicMessages(supportGroup, thread)); n != before {
		t.Errorf("the new request's message reached the closed request's topic")
	}
}

func TestSupportTellsOperatorsTheSubscriberBlockedTheBot(t *testing.T) {
	s, op := supportStack(t, webhook)
	u := newUser("ru")
	s.emu.SendCommand(u, "/start")
	s.next(u, "привяжите лицевой счёт")
	s.linkAccount(u, "1000000004", "+79000000004")
	s.fileRequest(u, "Телевидение", "", "Не показывает первый канал")
	thread := s.topicOf("№")
	s.inTopic(thread, "Не показывает первый канал")

	s.emu.BlockBot(u)
	if _, err := s.emu.PostText(supportGroup, thread, op, "Какой у вас тариф ТВ?"); err != nil {
		t.Fatal(err)
	}
	s.inTopic(thread, "абонент заблокировал бота")
	s.tolerate = append(s.tolerate, "bot was blocked by the user")
}

func TestADeletedTopicIsMadeAgainAndTheMessageNotLost(t *testing.T) {
	s, op := supportStack(t, polling)
	u := newUser("en")
	s.emu.SendCommand(u, "/start")
	s.next(u, "link your account")
	s.emu.SendText(u, "1000000007")
	s.next(u, "+7 *** ***-**-07")
	s.waitFor("the code", func() bool { return s.lastCode("+79000000007") != "" })
	s.emu.SendText(u, s.lastCode("+79000000007"))
	s.next(u, "is now linked")
	s.emu.SendText(u, "help")
	s.next(u, "What happened?")
	s.press(u, "Slow speed")
	s.next(u, "Describe the problem")
	s.emu.SendText(u, "Speed is 2 Mbit/s in the evening")
	s.next(u, "1 message")
	s.press(u, "Send")
	s.next(u, "is filed")
	thread := s.topicOf("№")
	s.inTopic(thread, "2 Mbit/s")

	if err := s.emu.DeleteTopic(supportGroup, thread, op); err != nil {
		t.Fatal(err)
	}
	s.emu.SendText(u, "Still slow today")
	var again int
	s.waitFor("a new topic", func() bool {
		for _, tp := range s.emu.Topics(supportGroup) {
			if tp.MessageThreadID != thread {
				again = tp.MessageThreadID
				return true
			}
		}
		return false
	})
	s.inTopic(again, "Заявка №")
	s.inTopic(again, "Still slow today")
	s.tolerate = append(s.tolerate, "message thread not found")
}

func TestServeSaysWhichSupportGroupLacksWhat(t *testing.T) {
	s := prepareStack(t, polling, map[string]string{"SUPPORT_CHAT_IDS": fmt.Sprintf("%d,%d", supportGroup, supportGroup-1)})
	s.emu.AddGroup(supportGroup, "Поддержка", true)
	if _, err := s.emu.SetBotRights(supportGroup, nil); err != nil {
		t.Fatal(err)
	}
	s.emu.AddGroup(supportGroup-1, "Поддержка 2", false)
	s.start()
	logs := s.logs.String()
	for _, want := range []string{
		fmt.Sprintf(`"chat_id":%d,"problem":"the bot is not an administrator`, supportGroup),
		fmt.Sprintf(`"chat_id":%d,"problem":"topics are off`, supportGroup-1),
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the start log does not say %s", want)
		}
	}
}
