package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// The bot edits its messages in a topic: text, caption, keyboard.
func TestEditsInTopics(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")
	card, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: supportGroup, MessageThreadID: thread, Text: "Новая заявка",
		ReplyMarkup: &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "Взять", CallbackData: "take"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	photo, err := b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: supportGroup, MessageThreadID: thread,
		Photo: &models.InputFileString{Data: "https://x.example/a.jpg"}, Caption: "Фото абонента"})
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := srv.PostText(supportGroup, thread, operator, "Беру")

	edited, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: supportGroup, MessageID: card.ID, Text: "Заявка у <b>Ольги</b>", ParseMode: models.ParseModeHTML})
	if err != nil {
		t.Fatal(err)
	}
	if edited.Text != "Заявка у Ольги" || edited.MessageThreadID != thread || !edited.IsTopicMessage || edited.ReplyMarkup != nil || edited.EditDate == 0 {
		t.Errorf("edited text = %+v", edited)
	}
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "Закрыть", CallbackData: "close"}}}}
	if _, err := b.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: supportGroup, MessageID: card.ID, ReplyMarkup: kb}); err != nil {
		t.Fatal(err)
	}

	captioned, err := b.EditMessageCaption(ctx, &bot.EditMessageCaptionParams{ChatID: supportGroup, MessageID: photo.ID, Caption: "Фото: <i>роутер</i>", ParseMode: models.ParseModeHTML})
	if err != nil {
		t.Fatal(err)
	}
	if captioned.Caption != "Фото: роутер" || len(captioned.CaptionEntities) != 1 || len(captioned.Photo) == 0 || captioned.MessageThreadID != thread {
		t.Errorf("edited caption = %+v", captioned)
	}
	if v, _ := srv.Message(supportGroup, photo.ID); !v.Edited || v.Text != "Фото: роутер" || v.RawText != "Фото: <i>роутер</i>" {
		t.Errorf("chat view = %+v", v)
	}

	tests := []struct {
		name   string
		method string
		params map[string]any
		want   string
	}{
		{"a caption on a text message", "editMessageCaption", map[string]any{"message_id": card.ID, "caption": "x"},
			"Bad Request: there is no caption in the message to edit"},
		{"the same caption", "editMessageCaption", map[string]any{"message_id": photo.ID, "caption": "Фото: <i>роутер</i>", "parse_mode": "HTML"},
			"Bad Request: " + notModified},
		{"a caption too long", "editMessageCaption", map[string]any{"message_id": photo.ID, "caption": strings.Repeat("я", 1025)},
			"Bad Request: message caption is too long"},
		{"an operator's caption", "editMessageCaption", map[string]any{"message_id": answer.MessageID, "caption": "x"},
			"Bad Request: message can't be edited"},
		{"an operator's text", "editMessageText", map[string]any{"message_id": answer.MessageID, "text": "x"},
			"Bad Request: message can't be edited"},
		{"text on a photo", "editMessageText", map[string]any{"message_id": photo.ID, "text": "x"},
			"Bad Request: there is no text in the message to edit"},
		{"a message that is not there", "editMessageCaption", map[string]any{"message_id": 999, "caption": "x"},
			"Bad Request: message to edit not found"},
		{"a reply keyboard", "editMessageCaption", map[string]any{"message_id": photo.ID, "caption": "y", "reply_markup": `{"keyboard":[[{"text":"x"}]]}`},
			`Bad Request: can't parse reply_markup: InlineKeyboardMarkup has no field "keyboard"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]any{"chat_id": supportGroup}
			for k, v := range tt.params {
				params[k] = v
			}
			wantError(t, callJSON(t, srv, tt.method, params), http.StatusBadRequest, tt.want)
		})
	}

	// An empty caption removes it.
	if m, err := b.EditMessageCaption(ctx, &bot.EditMessageCaptionParams{ChatID: supportGroup, MessageID: photo.ID}); err != nil || m.Caption != "" {
		t.Errorf("removing the caption: %+v, %v", m, err)
	}
}

// deleteMessage under the Bot API's rules.
func TestDeleteMessageRules(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name   string
		rights *models.ChatAdministratorRights // the bot's in the group
		target func(t *testing.T, srv *Server, thread int) (chat int64, id int)
		age    time.Duration
		want   string // "" for success
	}{
		{"its own message in a topic", DefaultBotRights(), func(t *testing.T, srv *Server, thread int) (int64, int) {
			return supportGroup, decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": supportGroup, "message_thread_id": thread, "text": "x"})).ID
		}, 0, ""},
		{"an operator's message with can_delete_messages", DefaultBotRights(), func(t *testing.T, srv *Server, thread int) (int64, int) {
			s, _ := srv.PostText(supportGroup, thread, operator, "x")
			return supportGroup, s.MessageID
		}, 0, ""},
		{"an operator's message without it", &models.ChatAdministratorRights{CanManageTopics: true}, func(t *testing.T, srv *Server, thread int) (int64, int) {
			s, _ := srv.PostText(supportGroup, thread, operator, "x")
			return supportGroup, s.MessageID
		}, 0, "Bad Request: message can't be deleted"},
		{"a subscriber's message in the private chat", nil, func(t *testing.T, srv *Server, thread int) (int64, int) {
			srv.SendText(alice, "x")
			last, _ := srv.LastMessage(alice.ID)
			return alice.ID, last.ID
		}, 0, ""},
		{"the topic's creation", DefaultBotRights(), func(t *testing.T, srv *Server, thread int) (int64, int) { return supportGroup, thread },
			0, "Bad Request: message can't be deleted"},
		{"older than 48 hours", DefaultBotRights(), func(t *testing.T, srv *Server, thread int) (int64, int) {
			return supportGroup, decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": supportGroup, "text": "x"})).ID
		}, 49 * time.Hour, "Bad Request: message can't be deleted"},
		{"not there", DefaultBotRights(), func(t *testing.T, srv *Server, thread int) (int64, int) { return supportGroup, 999 },
			0, "Bad Request: message to delete not found"},
		{"message_id 0", DefaultBotRights(), func(t *testing.T, srv *Server, thread int) (int64, int) { return supportGroup, 0 },
			0, "Bad Request: message identifier is not specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, Options{Clock: clock.Now})
			newSupportGroup(t, srv)
			thread := newTopic(t, srv, "Заявка")
			chat, id := tt.target(t, srv, thread)
			if _, err := srv.SetBotRights(supportGroup, tt.rights); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tt.age)
			r := callJSON(t, srv, "deleteMessage", map[string]any{"chat_id": chat, "message_id": id})
			if tt.want != "" {
				wantError(t, r, http.StatusBadRequest, tt.want)
				return
			}
			wantOK(t, r)
			if _, ok := srv.Message(chat, id); ok {
				t.Errorf("message %d still there", id)
			}
		})
	}
}
