package emulator

import (
	"context"
	"testing"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// newTopic is a topic the bot created in the support group.
func newTopic(t *testing.T, srv *Server, name string) int {
	t.Helper()
	return decodeResult[models.ForumTopic](t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": supportGroup, "name": name})).MessageThreadID
}

// Operators answer in a topic: every kind of post reaches the bot as
// Telegram writes a message from a forum topic.
func TestOperatorPosts(t *testing.T) {
	srv := newServer(t, Options{})
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка 7")
	question := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{
		"chat_id": supportGroup, "message_thread_id": thread, "text": "Абонент: не работает ТВ"}))

	tests := []struct {
		name  string
		post  func() (Sent, error)
		check func(m *models.Message) bool
		reply int // the message it replies to: the topic's start unless an explicit reply
	}{
		{"text", func() (Sent, error) {
			return srv.PostText(supportGroup, thread, operator, "Перезагрузите приставку")
		},
			func(m *models.Message) bool { return m.Text == "Перезагрузите приставку" }, thread},
		{"a command", func() (Sent, error) { return srv.PostText(supportGroup, thread, operator, "/close решено") },
			func(m *models.Message) bool {
				return len(m.Entities) == 1 && m.Entities[0].Type == models.MessageEntityTypeBotCommand
			}, thread},
		{"photo", func() (Sent, error) {
			return srv.PostPhoto(supportGroup, thread, operator, "схема подключения")
		},
			func(m *models.Message) bool {
				return len(m.Photo) == 2 && m.Caption == "схема подключения"
			}, thread},
		{"document", func() (Sent, error) {
			return srv.PostDocument(supportGroup, thread, operator, "инструкция.pdf", "")
		}, func(m *models.Message) bool {
			return m.Document != nil && m.Document.FileName == "инструкция.pdf"
		}, thread},
		{"voice", func() (Sent, error) { return srv.PostVoice(supportGroup, thread, operator, 14) },
			func(m *models.Message) bool { return m.Voice != nil && m.Voice.Duration == 14 }, thread},
		{"a reply to the bot's message", func() (Sent, error) {
			return srv.PostReply(supportGroup, operator, question.ID, "Какая модель приставки?")
		}, func(m *models.Message) bool {
			return m.ReplyToMessage.From != nil && m.ReplyToMessage.From.IsBot && m.ReplyToMessage.Text == "Абонент: не работает ТВ"
		}, question.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent, err := tt.post()
			if err != nil {
				t.Fatal(err)
			}
			u := onlyUpdate(t, srv)
			m := u.Message
			if u.ID != sent.UpdateID || m == nil || m.ID != sent.MessageID || !tt.check(m) {
				t.Fatalf("update = %+v", u)
			}
			if m.From == nil || m.From.ID != operator.ID || m.From.IsBot || m.Chat.ID != supportGroup ||
				m.Chat.Type != models.ChatTypeSupergroup || !m.Chat.IsForum {
				t.Errorf("from %+v chat %+v", m.From, m.Chat)
			}
			if m.MessageThreadID != thread || !m.IsTopicMessage {
				t.Errorf("thread %d topic message %v", m.MessageThreadID, m.IsTopicMessage)
			}
			if m.ReplyToMessage == nil || m.ReplyToMessage.ID != tt.reply || m.ReplyToMessage.ReplyToMessage != nil {
				t.Errorf("reply_to_message = %+v, want message %d one level deep", m.ReplyToMessage, tt.reply)
			}
			if v, ok := srv.Message(supportGroup, sent.MessageID); !ok || v.FromBot {
				t.Errorf("the group does not show the post: %+v", v)
			}
		})
	}

	// In the General topic a post has no thread.
	sent, _ := srv.PostText(supportGroup, 0, operator, "Всем привет")
	if m := onlyUpdate(t, srv).Message; m.ID != sent.MessageID || m.MessageThreadID != 0 || m.IsTopicMessage || m.ReplyToMessage != nil {
		t.Errorf("post in General = %+v", m)
	}
}

// An operator edits a post and presses a button under the bot's message.
func TestOperatorEditsAndPresses(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")

	sent, _ := srv.PostText(supportGroup, thread, operator, "Перезагрузите роутер")
	onlyUpdate(t, srv)
	if r := callJSON(t, srv, "setMessageReaction", map[string]any{"chat_id": supportGroup, "message_id": sent.MessageID,
		"reaction": []map[string]any{{"type": "emoji", "emoji": "👌"}}}); !r.OK {
		t.Fatalf("setMessageReaction: %+v", r)
	}
	id, err := srv.EditPost(supportGroup, operator, sent.MessageID, "Перезагрузите роутер и приставку")
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Reactions(supportGroup, sent.MessageID); len(got) != 1 || got[0] != "👌" {
		t.Errorf("after the edit the message's reactions are %q, want the 👌 it had", got)
	}
	u := onlyUpdate(t, srv)
	if e := u.EditedMessage; u.ID != id || e == nil || e.ID != sent.MessageID || e.Text != "Перезагрузите роутер и приставку" ||
		e.EditDate == 0 || e.MessageThreadID != thread {
		t.Errorf("edited update = %+v", u)
	}
	photo, _ := srv.PostPhoto(supportGroup, thread, operator, "")
	onlyUpdate(t, srv)
	if _, err := srv.EditPost(supportGroup, operator, photo.MessageID, "подпись"); err != nil {
		t.Fatal(err)
	}
	if e := onlyUpdate(t, srv).EditedMessage; e.Caption != "подпись" || e.Text != "" {
		t.Errorf("caption edit = %+v", e)
	}
	if _, err := srv.EditPost(supportGroup, senior, sent.MessageID, "x"); err == nil {
		t.Errorf("someone else edited the operator's post")
	}
	if _, err := srv.EditPost(supportGroup, operator, thread, "x"); err == nil {
		t.Errorf("the topic's service message was edited")
	}

	card, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: supportGroup, MessageThreadID: thread, Text: "Новая заявка",
		ReplyMarkup: &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "Взять", CallbackData: "take:7"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	press, err := srv.PressButtonIn(supportGroup, operator, card.ID, "take:7")
	if err != nil {
		t.Fatal(err)
	}
	q := onlyUpdate(t, srv).CallbackQuery
	if q == nil || q.From.ID != operator.ID || q.Data != "take:7" || q.Message.Message == nil ||
		q.Message.Message.Chat.ID != supportGroup || q.Message.Message.MessageThreadID != thread {
		t.Fatalf("callback query = %+v", q)
	}
	if _, err := b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: "Заявка ваша"}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := srv.CallbackQueryFor(press); !rec.Answered || rec.ChatID != supportGroup {
		t.Errorf("press record = %+v", rec)
	}
	if _, err := srv.PressButtonIn(supportGroup, senior, card.ID, "take:7"); err == nil {
		t.Errorf("someone outside the group pressed a button in it")
	}
}

// Who may post where, as the app allows it.
func TestOperatorPostRules(t *testing.T) {
	srv := newServer(t, Options{})
	newSupportGroup(t, srv)
	if err := srv.AddMember(supportGroup, senior); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetMemberRights(supportGroup, senior.ID, &models.ChatAdministratorRights{CanManageTopics: true}); err != nil {
		t.Fatal(err)
	}
	const lead = 2003
	leadUser := User{ID: lead, FirstName: "Анна"}
	if err := srv.AddMember(supportGroup, leadUser); err != nil {
		t.Fatal(err)
	}
	closedByBot := newTopic(t, srv, "Закрыта")
	callJSON(t, srv, "closeForumTopic", map[string]any{"chat_id": supportGroup, "message_thread_id": closedByBot})
	own, _ := srv.CreateTopic(supportGroup, leadUser, "Моя")
	if _, err := srv.CloseTopic(supportGroup, own.MessageID, leadUser); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		from   User
		thread int
		ok     bool
	}{
		{"an operator into an open topic", operator, newTopic(t, srv, "Открыта"), true},
		{"an operator into a closed topic", operator, closedByBot, false},
		{"an administrator who manages topics into a closed topic", senior, closedByBot, true},
		{"the creator into their closed topic", leadUser, own.MessageID, true},
		{"a topic that does not exist", operator, 999, false},
		{"someone not in the group", alice, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := srv.PostText(supportGroup, tt.thread, tt.from, "текст")
			if (err == nil) != tt.ok {
				t.Errorf("post: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// An ordinary member in privacy mode sees only commands, replies to its own
// messages and service messages; an administrator sees everything.
func TestBotPrivacyModeInGroups(t *testing.T) {
	srv := newServer(t, Options{})
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")
	botMsg := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": supportGroup, "message_thread_id": thread, "text": "Вопрос"}))
	opMsg, _ := srv.PostText(supportGroup, thread, operator, "первое")
	onlyUpdate(t, srv)
	if _, err := srv.SetBotRights(supportGroup, nil); err != nil {
		t.Fatal(err)
	}
	onlyUpdate(t, srv) // my_chat_member

	tests := []struct {
		name string
		post func() (Sent, error)
		sees bool
	}{
		{"plain text", func() (Sent, error) { return srv.PostText(supportGroup, thread, operator, "ответ") }, false},
		{"a photo", func() (Sent, error) { return srv.PostPhoto(supportGroup, thread, operator, "") }, false},
		{"a reply to another operator", func() (Sent, error) { return srv.PostReply(supportGroup, operator, opMsg.MessageID, "да") }, false},
		{"a command", func() (Sent, error) { return srv.PostText(supportGroup, thread, operator, "/close") }, true},
		{"a reply to the bot", func() (Sent, error) { return srv.PostReply(supportGroup, operator, botMsg.ID, "ответ") }, true},
		{"a service message", func() (Sent, error) { return srv.CloseTopic(supportGroup, thread, operator) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent, err := tt.post()
			if err != nil {
				t.Fatal(err)
			}
			if (sent.UpdateID != 0) != tt.sees || srv.PendingUpdates() != map[bool]int{true: 1, false: 0}[tt.sees] {
				t.Errorf("update %d (%d pending), want seen=%v", sent.UpdateID, srv.PendingUpdates(), tt.sees)
			}
			if tt.sees {
				onlyUpdate(t, srv)
			}
			if _, ok := srv.Message(supportGroup, sent.MessageID); !ok {
				t.Errorf("the post is not in the group")
			}
		})
	}
}
