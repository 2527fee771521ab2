package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// A subscriber's album reaches the bot as one update per file sharing a
// media_group_id; the bot sends it on into a topic with sendMediaGroup by
// the files' ids, and uploads its own.
func TestAlbums(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")

	ids, err := srv.SendAlbum(alice, []AlbumItem{{Kind: "photo", Caption: "Роутер мигает"}, {Kind: "photo"}, {Kind: "video", FileName: "blink.mp4"}})
	if err != nil {
		t.Fatal(err)
	}
	updates := getUpdates(t, srv, nil)
	if len(updates) != 3 || updates[0].ID != ids[0] || updates[2].ID != ids[2] || ids[1] != ids[0]+1 {
		t.Fatalf("updates %v for album %v", updateIDs(updates), ids)
	}
	group := updates[0].Message.MediaGroupID
	var media []models.InputMedia
	for i, u := range updates {
		m := u.Message
		if group == "" || m.MediaGroupID != group || m.Chat.ID != alice.ID || m.From.ID != alice.ID {
			t.Errorf("album message %d = %+v", i, m)
		}
		if kind, id := fileOf(m); kind == "photo" {
			media = append(media, &models.InputMediaPhoto{Media: id, Caption: m.Caption})
		} else {
			media = append(media, &models.InputMediaVideo{Media: id})
		}
	}
	if updates[0].Message.Caption != "Роутер мигает" || updates[1].Message.Caption != "" || updates[2].Message.Video == nil {
		t.Errorf("album contents: %+v / %+v", updates[0].Message, updates[2].Message)
	}
	getUpdates(t, srv, map[string]any{"offset": updates[2].ID + 1})

	sent, err := b.SendMediaGroup(ctx, &bot.SendMediaGroupParams{ChatID: supportGroup, MessageThreadID: thread, Media: media})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 3 || sent[0].MediaGroupID == "" || sent[0].MediaGroupID == group {
		t.Fatalf("sent album = %+v", sent)
	}
	for i, m := range sent {
		if m.MediaGroupID != sent[0].MediaGroupID || m.MessageThreadID != thread || !m.IsTopicMessage || (i > 0 && m.ID != sent[i-1].ID+1) {
			t.Errorf("sent message %d: group %q thread %d id %d", i, m.MediaGroupID, m.MessageThreadID, m.ID)
		}
		_, id := fileOf(m)
		_, orig := fileOf(updates[i].Message)
		if id != orig {
			t.Errorf("item %d carries %q, want the subscriber's %q", i, id, orig)
		}
	}
	if sent[0].Caption != "Роутер мигает" {
		t.Errorf("caption = %q", sent[0].Caption)
	}
	if n := len(srv.TopicMessages(supportGroup, thread)); n != 4 {
		t.Errorf("topic has %d messages, want the start and the album's 3", n)
	}

	// Uploaded documents, the way the library attaches them.
	docs, err := b.SendMediaGroup(ctx, &bot.SendMediaGroupParams{ChatID: alice.ID, Media: []models.InputMedia{
		&models.InputMediaDocument{Media: "attach://act.pdf", MediaAttachment: strings.NewReader("%PDF"), Caption: "Акт"},
		&models.InputMediaDocument{Media: "attach://bill.pdf", MediaAttachment: strings.NewReader("%PDF")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Document == nil || docs[0].Document.FileName != "act.pdf" || docs[1].Document.FileName != "bill.pdf" {
		t.Errorf("uploaded documents = %+v", docs)
	}
}

func TestSendMediaGroupErrors(t *testing.T) {
	srv := newServer(t, Options{})
	newSupportGroup(t, srv)
	srv.SendCommand(alice, "/start")
	closed, _ := srv.CreateTopic(supportGroup, operator, "Закрыта")
	srv.CloseTopic(supportGroup, closed.MessageID, operator)
	if _, err := srv.SetBotRights(supportGroup, &models.ChatAdministratorRights{CanDeleteMessages: true}); err != nil {
		t.Fatal(err)
	}
	photo := `{"type":"photo","media":"https://x.example/a.jpg"}`
	album := func(items ...string) string { return "[" + strings.Join(items, ",") + "]" }

	tests := []struct {
		name   string
		chat   int64
		thread int
		media  string
		want   string
	}{
		{"no items", alice.ID, 0, `[]`, "Bad Request: there are no messages to send"},
		{"one item", alice.ID, 0, album(photo), "Bad Request: media must include 2-10 items (the Bot API documents it so)"},
		{"eleven items", alice.ID, 0, album(strings.Split(strings.Repeat(photo+";", 11), ";")[:11]...), "Bad Request: too many messages to send as an album"},
		{"a document among photos", alice.ID, 0, album(photo, `{"type":"document","media":"https://x.example/a.pdf"}`),
			"Bad Request: document can't be mixed with other media types"},
		{"audio among documents", alice.ID, 0, album(`{"type":"audio","media":"https://x.example/a.mp3"}`, `{"type":"document","media":"https://x.example/a.pdf"}`),
			"Bad Request: audio can't be mixed with other media types"},
		{"an animation", alice.ID, 0, album(photo, `{"type":"animation","media":"https://x.example/a.gif"}`),
			`Bad Request: can't parse media[1]: unsupported type "animation"`},
		{"an attachment that is not there", alice.ID, 0, album(photo, `{"type":"photo","media":"attach://missing"}`),
			"Bad Request: can't parse InputMedia: media not found"},
		{"an unknown file_id", alice.ID, 0, album(photo, `{"type":"photo","media":"AgACAgIAAxkBAAEmadeup"}`),
			"Bad Request: wrong file identifier/HTTP URL specified"},
		{"a caption too long", alice.ID, 0, album(photo, `{"type":"photo","media":"https://x.example/b.jpg","caption":"`+strings.Repeat("я", 1025)+`"}`),
			"Bad Request: message caption is too long"},
		{"broken HTML in a caption", alice.ID, 0, album(photo, `{"type":"photo","media":"https://x.example/b.jpg","caption":"<b>x","parse_mode":"HTML"}`),
			`Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`},
		{"captions above and below", alice.ID, 0, album(photo, `{"type":"photo","media":"https://x.example/b.jpg","show_caption_above_media":true}`),
			"Bad Request: parameter show_caption_above_media must be the same for all messages"},
		{"into a closed topic", supportGroup, closed.MessageID, album(photo, photo), "Bad Request: TOPIC_CLOSED"},
		{"into a topic that is not there", supportGroup, 999, album(photo, photo), "Bad Request: message thread not found"},
		{"into an unknown chat", -100777, 0, album(photo, photo), "Bad Request: chat not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]any{"chat_id": tt.chat, "media": tt.media}
			if tt.thread != 0 {
				params["message_thread_id"] = tt.thread
			}
			wantError(t, callJSON(t, srv, "sendMediaGroup", params), http.StatusBadRequest, tt.want)
		})
	}
	if n := len(srv.BotMessages(alice.ID)); n != 0 {
		t.Errorf("%d messages sent by refused albums", n)
	}
}

func TestPeopleSendAlbums(t *testing.T) {
	srv := newServer(t, Options{})
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")

	posted, err := srv.PostAlbum(supportGroup, thread, operator, []AlbumItem{{Kind: "document", FileName: "акт.pdf", Caption: "Акты"}, {Kind: "document", FileName: "счёт.pdf"}})
	if err != nil {
		t.Fatal(err)
	}
	updates := getUpdates(t, srv, nil)
	if len(updates) != 2 || updates[0].ID != posted[0].UpdateID || updates[1].Message.ID != posted[1].MessageID {
		t.Fatalf("updates = %v, posted %+v", updateIDs(updates), posted)
	}
	for _, u := range updates {
		m := u.Message
		if m.MediaGroupID == "" || m.MediaGroupID != updates[0].Message.MediaGroupID || m.MessageThreadID != thread || !m.IsTopicMessage || m.Document == nil {
			t.Errorf("posted album message = %+v", m)
		}
	}

	for _, items := range [][]AlbumItem{
		{{Kind: "photo"}},
		{{Kind: "photo"}, {Kind: "sticker"}},
		{{Kind: "photo"}, {Kind: "document"}},
		make([]AlbumItem, 11),
	} {
		if _, err := srv.SendAlbum(alice, items); err == nil {
			t.Errorf("album %+v was sent", items)
		}
		if _, err := srv.PostAlbum(supportGroup, thread, operator, items); err == nil {
			t.Errorf("album %+v was posted", items)
		}
	}
}
