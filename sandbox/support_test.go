package sandbox_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/sandbox"
	"github.com/kabinet-bot/kabinet/sms"
)

const deskChat = int64(-1001700000001)

// desk is a sandbox with an operators' group of two, and a bot client
// standing in for Kabinet's support.
type desk struct {
	*page
	olga, petr emulator.User
}

func newDesk(t *testing.T) *desk {
	t.Helper()
	emu := emulator.New(emulator.Options{})
	t.Cleanup(emu.Close)
	b, err := tgbot.New(emu.Token(), tgbot.WithServerURL(emu.URL()), tgbot.WithSkipGetMe())
	if err != nil {
		t.Fatal(err)
	}
	d := &desk{
		page: &page{
			t: t, emu: emu, phones: sms.NewMemory(), bot: b,
			anna: emulator.User{ID: 501, FirstName: "Анна", LanguageCode: "ru"},
			alex: emulator.User{ID: 502, FirstName: "Alex", LanguageCode: "en"},
		},
		olga: emulator.User{ID: 701, FirstName: "Ольга", LastName: "Иванова", Username: "olga_op"},
		petr: emulator.User{ID: 702, FirstName: "Пётр", Username: "petr_op"},
	}
	emu.AddGroup(deskChat, "Поддержка", true)
	for _, op := range []emulator.User{d.olga, d.petr} {
		if err := emu.AddMember(deskChat, op); err != nil {
			t.Fatal(err)
		}
	}
	h := sandbox.New(sandbox.Options{
		Emulator: emu,
		Phones:   d.phones,
		Personas: []sandbox.Persona{{User: d.anna}, {User: d.alex}},
		Support:  &sandbox.SupportDesk{ChatID: deskChat, Title: "Поддержка", Operators: []emulator.User{d.olga, d.petr}},
	})
	d.srv = httptest.NewServer(h)
	t.Cleanup(d.srv.Close)
	return d
}

// deskView is GET /api/support as the page reads it.
type deskView struct {
	Enabled   bool
	ChatID    string `json:"chat_id"`
	Title     string
	Operators []struct{ ID, Name, Username string }
	Topics    []struct {
		Thread   int
		Name     string
		Closed   bool
		Unread   int
		LastID   int    `json:"last_id"`
		LastFrom string `json:"last_from"`
		Last     string
	}
	Errors []struct{ Method, Description string }
}

// topicItems is GET /api/support/topics/{thread}.
type topicItems struct {
	Thread int
	Name   string
	Unread int
	LastID int `json:"last_id"`
	Items  []struct {
		Message *struct {
			ID       int
			FromBot  bool `json:"from_bot"`
			Edited   bool
			Text     string
			Entities []struct {
				Type           string
				Offset, Length int
			}
			Buttons   [][]struct{ Text, Data string }
			Photo     *struct{ URL string }
			Document  *struct{ Name string }
			Reactions []string
			From      *struct{ ID, Name string }
			Service   string
		}
		System *struct{ Method, Description string }
	}
}

func (d *desk) view() deskView {
	d.t.Helper()
	var v deskView
	d.get("/api/support", &v)
	return v
}

func (d *desk) topic(thread int) topicItems {
	d.t.Helper()
	var v topicItems
	d.get("/api/support/topics/"+strconv.Itoa(thread), &v)
	return v
}

func topicPath(thread int, action string) string {
	return "/api/support/topics/" + strconv.Itoa(thread) + "/" + action
}

func opID(u emulator.User) string { return strconv.FormatInt(u.ID, 10) }

// openTopic is the bot opening a request's topic with its card.
func (d *desk) openTopic(ctx context.Context, name string) (thread int, card *models.Message) {
	d.t.Helper()
	topic, err := d.bot.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: deskChat, Name: name})
	if err != nil {
		d.t.Fatal(err)
	}
	card = d.send(ctx, &tgbot.SendMessageParams{
		ChatID: deskChat, MessageThreadID: topic.MessageThreadID, ParseMode: models.ParseModeHTML,
		Text: "🆕 <b>Заявка №1000</b> · Нет связи &lt;b&gt;",
		ReplyMarkup: &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{
			{{Text: "🙋 Взять", CallbackData: "spo:take:1000"}},
			{{Text: "✅ Решено", CallbackData: "spo:solve:1000"}, {Text: "🔒 Закрыть", CallbackData: "spo:close:1000"}},
		}},
	})
	return topic.MessageThreadID, card
}

// The operators' view: the group's topics, newest first, with what is
// unread; a topic's messages as text and entities, with who wrote them, the
// card's buttons and the bot's reactions.
func TestSupportDeskShowsTopics(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()
	v := d.view()
	if !v.Enabled || v.Title != "Поддержка" || v.ChatID != strconv.FormatInt(deskChat, 10) || len(v.Topics) != 0 {
		t.Fatalf("an empty desk: %+v", v)
	}
	if len(v.Operators) != 2 || v.Operators[0].Name != "Ольга Иванова" || v.Operators[0].ID != "701" || v.Operators[1].Name != "Пётр" {
		t.Errorf("operators = %+v", v.Operators)
	}

	first, card := d.openTopic(ctx, "№1000 · Москва · 📡 Нет связи")
	second, _ := d.openTopic(ctx, "№1001 · Томск · 📺 Телевидение")
	v = d.view()
	if len(v.Topics) != 2 || v.Topics[0].Thread != second || v.Topics[1].Thread != first {
		t.Fatalf("topics = %+v, want the newest first", v.Topics)
	}
	if tp := v.Topics[1]; tp.Name != "№1000 · Москва · 📡 Нет связи" || tp.Unread != 1 || tp.LastFrom != "Kabinet" || !strings.HasPrefix(tp.Last, "🆕 Заявка №1000") {
		t.Errorf("the first topic's line: %+v", tp)
	}

	// An operator's answer: theirs, so not unread, and it brings the topic up.
	d.post(topicPath(first, "text"), map[string]string{"operator": opID(d.olga), "text": "Перезагрузите роутер"})
	v = d.view()
	if v.Topics[0].Thread != first || v.Topics[0].Unread != 1 || v.Topics[0].LastFrom != "Ольга Иванова" {
		t.Errorf("after the answer: %+v", v.Topics[0])
	}
	var answer int
	for _, m := range d.emu.TopicMessages(deskChat, first) {
		if m.Text == "Перезагрузите роутер" && m.Message.From != nil && m.Message.From.ID == d.olga.ID {
			answer = m.ID
		}
	}
	if answer == 0 {
		t.Fatal("the answer is not in the topic as Ольга's")
	}
	if _, err := d.bot.SetMessageReaction(ctx, &tgbot.SetMessageReactionParams{ChatID: deskChat, MessageID: answer,
		Reaction: []models.ReactionType{{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Emoji: "👌"}}}}); err != nil {
		t.Fatal(err)
	}

	tp := d.topic(first)
	if tp.Name != "№1000 · Москва · 📡 Нет связи" || tp.Unread != 1 || len(tp.Items) != 3 {
		t.Fatalf("the topic: %+v", tp)
	}
	created, cardView, mine := tp.Items[0].Message, tp.Items[1].Message, tp.Items[2].Message
	if created.Service != "created the topic «№1000 · Москва · 📡 Нет связи»" || created.From == nil || created.From.Name != "Kabinet" || created.From.ID != "" {
		t.Errorf("the service message: %+v", created)
	}
	if cardView.ID != card.ID || cardView.Text != "🆕 Заявка №1000 · Нет связи <b>" || len(cardView.Entities) != 1 || cardView.Entities[0].Type != "bold" {
		t.Errorf("the card is not text and entities: %+v", cardView)
	}
	if len(cardView.Buttons) != 2 || cardView.Buttons[0][0].Data != "spo:take:1000" || cardView.Buttons[1][1].Text != "🔒 Закрыть" {
		t.Errorf("the card's buttons: %+v", cardView.Buttons)
	}
	if mine.From == nil || mine.From.ID != "701" || mine.From.Name != "Ольга Иванова" || len(mine.Reactions) != 1 || mine.Reactions[0] != "👌" {
		t.Errorf("the answer: %+v", mine)
	}

	// Read: the marker goes, and stays gone until the bot writes again.
	d.post(topicPath(first, "read"), map[string]int{"message_id": tp.LastID})
	if got := d.view().Topics[0]; got.Thread != first || got.Unread != 0 {
		t.Errorf("after reading: %+v", got)
	}
	d.send(ctx, &tgbot.SendMessageParams{ChatID: deskChat, MessageThreadID: first, Text: "Не помогло"})
	if got := d.view().Topics[0]; got.Unread != 1 || got.Last != "Не помогло" {
		t.Errorf("after the subscriber's next message: %+v", got)
	}

	// A topic deleted by hand is gone from the list.
	if err := d.emu.DeleteTopic(deskChat, second, d.petr); err != nil {
		t.Fatal(err)
	}
	if v := d.view(); len(v.Topics) != 1 {
		t.Errorf("a deleted topic is still listed: %+v", v.Topics)
	}
	if status, _ := d.getStatus("/api/support/topics/" + strconv.Itoa(second)); status != http.StatusNotFound {
		t.Errorf("GET a deleted topic: %d", status)
	}
}

func (p *page) getStatus(path string) (int, string) {
	p.t.Helper()
	resp, err := http.Get(p.srv.URL + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// What the person does as an operator reaches the bot as that operator's:
// posts, edits, photos and files, the card's buttons.
func TestSupportDeskActionsAreTheOperators(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()
	thread, card := d.openTopic(ctx, "№1000 · Москва · 📡 Нет связи")

	d.post(topicPath(thread, "text"), map[string]string{"operator": opID(d.petr), "text": "Добрый день"})
	last, _ := d.emu.LastMessage(deskChat)
	if last.Text != "Добрый день" || last.Message.From.ID != d.petr.ID || last.Message.MessageThreadID != thread {
		t.Fatalf("the post: %+v", last.Message)
	}
	d.post("/api/support/edit", map[string]any{"operator": opID(d.petr), "message_id": last.ID, "text": "Добрый вечер"})
	if m, _ := d.emu.Message(deskChat, last.ID); m.Text != "Добрый вечер" || !m.Edited {
		t.Errorf("the edit: %+v", m)
	}
	// Only one's own message can be edited.
	if status, _ := d.postStatus("/api/support/edit", map[string]any{"operator": opID(d.olga), "message_id": last.ID, "text": "чужое"}); status != http.StatusConflict {
		t.Errorf("editing Пётр's message as Ольга: %d", status)
	}

	d.post("/api/support/button", map[string]any{"operator": opID(d.olga), "message_id": card.ID, "data": "spo:take:1000"})
	qs := d.emu.CallbackQueries()
	if len(qs) != 1 || qs[0].UserID != d.olga.ID || qs[0].ChatID != deskChat || qs[0].MessageID != card.ID || qs[0].Data != "spo:take:1000" {
		t.Errorf("the press: %+v", qs)
	}

	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 3, 3))); err != nil {
		t.Fatal(err)
	}
	d.postUpload(thread, d.olga, "photo", "schema.png", img.Bytes(), "схема подключения")
	d.postUpload(thread, d.olga, "document", "акт.pdf", []byte("%PDF-1.4"), "")
	tp := d.topic(thread)
	n := len(tp.Items)
	photo, doc := tp.Items[n-2].Message, tp.Items[n-1].Message
	if photo.Photo == nil || photo.Photo.URL == "" || photo.Text != "схема подключения" || photo.From.ID != "701" {
		t.Fatalf("the photo: %+v", photo)
	}
	if doc.Document == nil || doc.Document.Name != "акт.pdf" {
		t.Errorf("the file: %+v", doc)
	}
	resp, err := http.Get(d.srv.URL + photo.Photo.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, img.Bytes()) {
		t.Errorf("the operator's picture is not served back: %d bytes", len(body))
	}

	for _, bad := range []struct {
		path string
		body any
		want int
	}{
		{topicPath(thread, "text"), map[string]string{"operator": "999", "text": "hi"}, http.StatusBadRequest},
		{topicPath(thread, "text"), map[string]string{"operator": opID(d.anna), "text": "hi"}, http.StatusBadRequest}, // a subscriber is no operator
		{topicPath(thread, "text"), map[string]string{"operator": opID(d.olga), "text": "  "}, http.StatusBadRequest},
		{topicPath(9999, "text"), map[string]string{"operator": opID(d.olga), "text": "hi"}, http.StatusNotFound},
		{"/api/support/button", map[string]any{"operator": opID(d.olga), "message_id": card.ID}, http.StatusBadRequest},
	} {
		if status, answer := d.postStatus(bad.path, bad.body); status != bad.want {
			t.Errorf("POST %s %v: %d %s, want %d", bad.path, bad.body, status, answer, bad.want)
		}
	}
}

func (d *desk) postUpload(thread int, op emulator.User, as, name string, data []byte, caption string) {
	d.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("operator", opID(op))
	f, _ := w.CreateFormFile("file", name)
	f.Write(data)
	w.WriteField("as", as)
	if caption != "" {
		w.WriteField("caption", caption)
	}
	w.Close()
	resp, err := http.Post(d.srv.URL+topicPath(thread, "file"), w.FormDataContentType(), &body)
	if err != nil {
		d.t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		d.t.Fatalf("upload %s: %d %s", name, resp.StatusCode, answer)
	}
}

// A request the emulator rejects shows in the topic it was about, and one
// about the group but no topic with the topic list; neither in a
// subscriber's chat.
func TestSupportDeskShowsRejectedRequests(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()
	d.post(path(d.anna, "text"), map[string]string{"text": "/start"})
	thread, card := d.openTopic(ctx, "№1000 · Москва · 📡 Нет связи")
	if _, err := d.bot.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: deskChat, MessageThreadID: thread, Text: "<b>broken", ParseMode: models.ParseModeHTML}); err == nil {
		t.Fatal("the emulator took broken HTML")
	}
	if _, err := d.bot.SetMessageReaction(ctx, &tgbot.SetMessageReactionParams{ChatID: deskChat, MessageID: card.ID,
		Reaction: []models.ReactionType{{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Emoji: "✅"}}}}); err == nil {
		t.Fatal("the emulator took ✅")
	}
	if _, err := d.bot.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: deskChat, Name: "№1001", IconColor: 1}); err == nil {
		t.Fatal("the emulator took a wrong icon colour")
	}

	var lines []string
	for _, it := range d.topic(thread).Items {
		if it.System != nil {
			lines = append(lines, it.System.Method+": "+it.System.Description)
		}
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "sendMessage: ") || !strings.Contains(lines[1], "REACTION_INVALID") {
		t.Errorf("the topic's red lines: %q", lines)
	}
	if errs := d.view().Errors; len(errs) != 1 || errs[0].Method != "createForumTopic" {
		t.Errorf("the group's red lines: %+v", errs)
	}
	for _, it := range d.chat(d.anna).Items {
		if it.System != nil {
			t.Errorf("the subscriber's chat shows the group's %s", it.System.Method)
		}
	}
}

// The group's event stream: a message in the group, a reaction, and the
// bot's answer to an operator's press.
func TestSupportDeskEvents(t *testing.T) {
	d := newDesk(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	thread, card := d.openTopic(ctx, "№1000 · Москва · 📡 Нет связи")
	d.post(path(d.alex, "text"), map[string]string{"text": "/start"})

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.srv.URL+"/api/events?chat="+d.view().ChatID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev map[string]any
				json.Unmarshal([]byte(data), &ev)
				events <- ev
			}
		}
		close(events)
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return nil
	}

	d.send(ctx, &tgbot.SendMessageParams{ChatID: d.alex.ID, Text: "for Alex"}) // not for the group
	d.send(ctx, &tgbot.SendMessageParams{ChatID: deskChat, MessageThreadID: thread, Text: "Не помогло"})
	if ev := next(); ev["kind"] != "chat" {
		t.Errorf("after a message in the group: %v", ev)
	}
	if _, err := d.bot.SetMessageReaction(ctx, &tgbot.SetMessageReactionParams{ChatID: deskChat, MessageID: card.ID,
		Reaction: []models.ReactionType{{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Emoji: "👌"}}}}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev["kind"] != "chat" {
		t.Errorf("after a reaction: %v", ev)
	}
	d.post("/api/support/button", map[string]any{"operator": opID(d.olga), "message_id": card.ID, "data": "spo:take:1000"})
	q := d.emu.CallbackQueries()[0]
	if _, err := d.bot.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: "Заявка ваша"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev["kind"] != "toast" || ev["text"] != "Заявка ваша" {
		t.Errorf("after the bot answered the press: %v", ev)
	}
}

// Without a desk the page says so, and the operators' actions are refused.
func TestSupportDeskOff(t *testing.T) {
	p := newPage(t)
	var v deskView
	p.get("/api/support", &v)
	if v.Enabled || v.Operators == nil || v.Topics == nil {
		t.Errorf("GET /api/support without a desk: %+v", v)
	}
	for _, path := range []string{topicPath(2, "text"), "/api/support/button", "/api/support/edit"} {
		if status, _ := p.postStatus(path, map[string]string{"operator": "1", "text": "hi"}); status != http.StatusNotFound {
			t.Errorf("POST %s without a desk: %d", path, status)
		}
	}
}
