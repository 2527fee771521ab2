package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// A relay copies a subscriber's messages into the request's topic and an
// operator's answers back: the copies keep the media, the caption and its
// entities, and the result is the new message's id.
func TestCopyMessageBothWays(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")

	srv.SendText(alice, "/start нет связи")
	srv.SendPhoto(alice, "индикатор")
	srv.SendDocument(alice, "договор.pdf", "")
	srv.SendVoice(alice, 5)
	answer, _ := srv.PostPhoto(supportGroup, thread, operator, "Нажмите кнопку /reset")
	own := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "Баланс: <b>100 ₽</b>", "parse_mode": "HTML"}))

	tests := []struct {
		name     string
		params   bot.CopyMessageParams
		toChat   int64
		toThread int
		check    func(orig, copied models.Message) bool
	}{
		{"a subscriber's text into the topic", bot.CopyMessageParams{ChatID: supportGroup, MessageThreadID: thread, FromChatID: alice.ID, MessageID: 1},
			supportGroup, thread, func(o, c models.Message) bool { return c.Text == o.Text && len(c.Entities) == 1 }},
		{"a photo with its caption", bot.CopyMessageParams{ChatID: supportGroup, MessageThreadID: thread, FromChatID: alice.ID, MessageID: 2},
			supportGroup, thread, func(o, c models.Message) bool {
				return c.Photo[len(c.Photo)-1].FileID == o.Photo[len(o.Photo)-1].FileID && c.Caption == "индикатор"
			}},
		{"a document", bot.CopyMessageParams{ChatID: supportGroup, MessageThreadID: thread, FromChatID: alice.ID, MessageID: 3},
			supportGroup, thread, func(o, c models.Message) bool { return c.Document.FileID == o.Document.FileID }},
		{"a voice note", bot.CopyMessageParams{ChatID: supportGroup, MessageThreadID: thread, FromChatID: alice.ID, MessageID: 4},
			supportGroup, thread, func(o, c models.Message) bool { return c.Voice.FileID == o.Voice.FileID && c.Voice.Duration == 5 }},
		{"an operator's answer back to the subscriber", bot.CopyMessageParams{ChatID: alice.ID, FromChatID: supportGroup, MessageID: answer.MessageID},
			alice.ID, 0, func(o, c models.Message) bool {
				return c.Caption == o.Caption && len(c.CaptionEntities) == 1 && c.Photo[1].FileID == o.Photo[1].FileID
			}},
		{"with a new caption", bot.CopyMessageParams{ChatID: alice.ID, FromChatID: supportGroup, MessageID: answer.MessageID,
			Caption: "Ответ <i>оператора</i>", ParseMode: models.ParseModeHTML},
			alice.ID, 0, func(o, c models.Message) bool {
				return c.Caption == "Ответ оператора" && len(c.CaptionEntities) == 1 && c.CaptionEntities[0].Type == models.MessageEntityTypeItalic
			}},
		{"the bot's own formatted message, with a keyboard", bot.CopyMessageParams{ChatID: supportGroup, MessageThreadID: thread, FromChatID: alice.ID,
			MessageID: own.ID, ReplyMarkup: &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "Взять", CallbackData: "take"}}}}},
			supportGroup, thread, func(o, c models.Message) bool {
				return c.Text == "Баланс: 100 ₽" && c.Entities[0].Type == models.MessageEntityTypeBold && c.ReplyMarkup != nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := b.CopyMessage(ctx, &tt.params)
			if err != nil {
				t.Fatal(err)
			}
			copied, ok := srv.Message(tt.toChat, id.ID)
			if !ok || !copied.FromBot {
				t.Fatalf("no bot message %d in chat %d", id.ID, tt.toChat)
			}
			orig, _ := srv.Message(tt.params.FromChatID.(int64), tt.params.MessageID)
			c := copied.Message
			if !tt.check(orig.Message, c) {
				t.Errorf("copy = %+v\norig = %+v", c, orig.Message)
			}
			if c.MessageThreadID != tt.toThread || c.IsTopicMessage != (tt.toThread != 0) || c.ForwardOrigin != nil {
				t.Errorf("copy thread %d topic %v origin %+v", c.MessageThreadID, c.IsTopicMessage, c.ForwardOrigin)
			}
		})
	}
}

func TestCopyMessageErrors(t *testing.T) {
	srv := newServer(t, Options{})
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")
	srv.SendText(alice, "вопрос")
	srv.SendText(bob, "hi")
	srv.BlockBot(bob)
	closed, _ := srv.CreateTopic(supportGroup, operator, "Закрыта")
	srv.CloseTopic(supportGroup, closed.MessageID, operator)
	gone := newTopic(t, srv, "Удалена")
	if err := srv.DeleteTopic(supportGroup, gone, operator); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SetBotRights(supportGroup, &models.ChatAdministratorRights{CanDeleteMessages: true}); err != nil {
		t.Fatal(err)
	}
	photo, _ := srv.PostPhoto(supportGroup, thread, operator, "")

	tests := []struct {
		name   string
		params map[string]any
		code   int
		want   string
	}{
		{"a message that does not exist", map[string]any{"chat_id": supportGroup, "from_chat_id": alice.ID, "message_id": 99},
			400, "Bad Request: message to copy not found"},
		{"the original is looked for first", map[string]any{"chat_id": -100555, "from_chat_id": alice.ID, "message_id": 99},
			400, "Bad Request: message to copy not found"},
		{"from a chat the bot does not know", map[string]any{"chat_id": supportGroup, "from_chat_id": 4242, "message_id": 1},
			400, "Bad Request: chat not found"},
		{"into a chat the bot does not know", map[string]any{"chat_id": -100555, "from_chat_id": alice.ID, "message_id": 1},
			400, "Bad Request: chat not found"},
		{"a service message", map[string]any{"chat_id": alice.ID, "from_chat_id": supportGroup, "message_id": thread},
			400, "Bad Request: the message can't be copied"},
		{"into a deleted topic", map[string]any{"chat_id": supportGroup, "message_thread_id": gone, "from_chat_id": alice.ID, "message_id": 1},
			400, "Bad Request: message thread not found"},
		{"into a closed topic", map[string]any{"chat_id": supportGroup, "message_thread_id": closed.MessageID, "from_chat_id": alice.ID, "message_id": 1},
			400, "Bad Request: TOPIC_CLOSED"},
		{"to a subscriber who blocked the bot", map[string]any{"chat_id": bob.ID, "from_chat_id": alice.ID, "message_id": 1},
			403, "Forbidden: bot was blocked by the user"},
		{"a caption too long", map[string]any{"chat_id": alice.ID, "from_chat_id": supportGroup, "message_id": photo.MessageID, "caption": strings.Repeat("я", 1025)},
			400, "Bad Request: message caption is too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, callJSON(t, srv, "copyMessage", tt.params), tt.code, tt.want)
		})
	}
}

// copyMessages skips what is missing, keeps an album an album (under a new
// media_group_id) and answers the new ids in order.
func TestCopyMessages(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")
	srv.SendText(alice, "Вот фото")                                                                                // 1
	if _, err := srv.SendAlbum(alice, []AlbumItem{{Kind: "photo", Caption: "раз"}, {Kind: "photo"}}); err != nil { // 2, 3
		t.Fatal(err)
	}

	ids, err := b.CopyMessages(ctx, &bot.CopyMessagesParams{ChatID: supportGroup, MessageThreadID: thread, FromChatID: alice.ID, MessageIDs: []int{1, 2, 3, 50}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Fatalf("ids = %+v, want 3 (the missing one skipped)", ids)
	}
	text, _ := srv.Message(supportGroup, ids[0].ID)
	first, _ := srv.Message(supportGroup, ids[1].ID)
	second, _ := srv.Message(supportGroup, ids[2].ID)
	orig, _ := srv.Message(alice.ID, 2)
	if text.Text != "Вот фото" || text.Message.MediaGroupID != "" || text.Message.MessageThreadID != thread {
		t.Errorf("copied text = %+v", text.Message)
	}
	g := first.Message.MediaGroupID
	if g == "" || g == orig.Message.MediaGroupID || second.Message.MediaGroupID != g || first.Text != "раз" {
		t.Errorf("copied album: groups %q %q (original %q), caption %q", g, second.Message.MediaGroupID, orig.Message.MediaGroupID, first.Text)
	}

	ids, err = b.CopyMessages(ctx, &bot.CopyMessagesParams{ChatID: supportGroup, MessageThreadID: thread, FromChatID: alice.ID, MessageIDs: []int{2, 3}, RemoveCaption: true})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Message(supportGroup, ids[0].ID); m.Text != "" || len(m.Message.Photo) == 0 {
		t.Errorf("remove_caption kept %q", m.Text)
	}

	tests := []struct {
		name string
		ids  string
		want string
	}{
		{"none", `[]`, "Bad Request: message identifiers are not specified"},
		{"all missing", `[40,41]`, "Bad Request: there are no messages to forward"},
		{"not increasing", `[3,2]`, "Bad Request: message identifiers must be in a strictly increasing order"},
		{"not positive", `[0,1]`, "Bad Request: invalid message identifier specified"},
		{"over 100", "[" + strings.TrimSuffix(strings.Repeat("1,", 101), ",") + "]", "Bad Request: too many message identifiers specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, callJSON(t, srv, "copyMessages", map[string]any{"chat_id": supportGroup, "from_chat_id": alice.ID, "message_ids": tt.ids}),
				http.StatusBadRequest, tt.want)
		})
	}
	wantError(t, callJSON(t, srv, "copyMessages", map[string]any{"chat_id": alice.ID, "from_chat_id": supportGroup, "message_ids": []int{thread}}),
		http.StatusBadRequest, "Bad Request: messages can't be forwarded")
}

func TestForwardMessage(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")
	srv.SendPhoto(alice, "счётчик")

	fwd, err := b.ForwardMessage(ctx, &bot.ForwardMessageParams{ChatID: supportGroup, MessageThreadID: thread, FromChatID: alice.ID, MessageID: 1})
	if err != nil {
		t.Fatal(err)
	}
	o := fwd.ForwardOrigin
	if o == nil || o.Type != models.MessageOriginTypeUser || o.MessageOriginUser.SenderUser.ID != alice.ID || fwd.Caption != "счётчик" ||
		len(fwd.Photo) == 0 || fwd.MessageThreadID != thread {
		t.Fatalf("forward = %+v origin %+v", fwd, o)
	}
	// A forward of the forward still names the subscriber.
	again, err := b.ForwardMessage(ctx, &bot.ForwardMessageParams{ChatID: alice.ID, FromChatID: supportGroup, MessageID: fwd.ID})
	if err != nil || again.ForwardOrigin.MessageOriginUser.SenderUser.ID != alice.ID {
		t.Errorf("forward of a forward = %+v, %v", again, err)
	}
	protected := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "код", "protect_content": true}))

	for _, tt := range []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"missing", map[string]any{"chat_id": supportGroup, "from_chat_id": alice.ID, "message_id": 99}, "Bad Request: message to forward not found"},
		{"a service message", map[string]any{"chat_id": alice.ID, "from_chat_id": supportGroup, "message_id": thread}, "Bad Request: the message can't be forwarded"},
		{"protected content", map[string]any{"chat_id": supportGroup, "from_chat_id": alice.ID, "message_id": protected.ID}, "Bad Request: the message can't be forwarded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, callJSON(t, srv, "forwardMessage", tt.params), http.StatusBadRequest, tt.want)
		})
	}
}
