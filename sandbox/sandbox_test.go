package sandbox_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/sandbox"
	"github.com/kabinet-bot/kabinet/sms"
)

// page is a sandbox over a fresh emulator, with a bot client standing in for
// Kabinet so that each test decides what "the bot" sends.
type page struct {
	t      *testing.T
	emu    *emulator.Server
	phones *sms.Memory
	bot    *tgbot.Bot
	srv    *httptest.Server
	anna   emulator.User
	alex   emulator.User
}

func newPage(t *testing.T) *page {
	t.Helper()
	emu := emulator.New(emulator.Options{})
	t.Cleanup(emu.Close)
	b, err := tgbot.New(emu.Token(), tgbot.WithServerURL(emu.URL()), tgbot.WithSkipGetMe())
	if err != nil {
		t.Fatal(err)
	}
	p := &page{
		t:      t,
		emu:    emu,
		phones: sms.NewMemory(),
		bot:    b,
		anna:   emulator.User{ID: 501, FirstName: "Анна", LanguageCode: "ru", PhoneNumber: "79000000001"},
		alex:   emulator.User{ID: 502, FirstName: "Alex", LanguageCode: "en", PhoneNumber: "79000000005"},
	}
	next := int64(9000)
	h := sandbox.New(sandbox.Options{
		Emulator:    emu,
		Phones:      p.phones,
		Personas:    []sandbox.Persona{{User: p.anna, Note: "new user"}, {User: p.alex, Note: "new user"}},
		FreshPhones: []string{"79000000004", "79000000007"},
		NewUserID:   func() int64 { next++; return next },
	})
	p.srv = httptest.NewServer(h)
	t.Cleanup(p.srv.Close)
	return p
}

// post sends a JSON action and wants it accepted.
func (p *page) post(path string, body any) {
	p.t.Helper()
	status, answer := p.postStatus(path, body)
	if status != http.StatusAccepted && status != http.StatusCreated {
		p.t.Fatalf("POST %s: %d %s", path, status, answer)
	}
}

func (p *page) postStatus(path string, body any) (int, string) {
	p.t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(p.srv.URL+path, "application/json", bytes.NewReader(data))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

func (p *page) get(path string, dst any) {
	p.t.Helper()
	resp, err := http.Get(p.srv.URL + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
}

// chat is the JSON of GET /api/chats/{id}, as the page reads it.
type chat struct {
	Items []struct {
		Message *struct {
			ID       int
			FromBot  bool `json:"from_bot"`
			Edited   bool
			Text     string
			Entities []struct {
				Type   string
				Offset int
				Length int
				URL    string
			}
			Buttons  [][]struct{ Text, Data, URL string }
			Photo    *struct{ URL string }
			Document *struct {
				Name string
				Size int64
			}
			Location *struct{ Latitude, Longitude float64 }
			Contact  *struct {
				Phone string
				Own   bool
			}
		}
		System *struct {
			Method      string
			Code        int
			Description string
			Level       string
		}
	}
	Keyboard *struct {
		Rows [][]struct {
			Text     string
			Contact  bool
			Location bool
		}
	}
	Commands []struct{ Command, Description string }
}

func (p *page) chat(u emulator.User) chat {
	p.t.Helper()
	var c chat
	p.get("/api/chats/"+strconv.FormatInt(u.ID, 10), &c)
	return c
}

func path(u emulator.User, action string) string {
	return "/api/chats/" + strconv.FormatInt(u.ID, 10) + "/" + action
}

func (p *page) send(ctx context.Context, params *tgbot.SendMessageParams) *models.Message {
	p.t.Helper()
	m, err := p.bot.SendMessage(ctx, params)
	if err != nil {
		p.t.Fatalf("the bot's sendMessage: %v", err)
	}
	return m
}

// The bot's HTML reaches the page as text and entities: no tag, no way for
// the page to inject markup, and links that could run code are dropped.
func TestChatShowsParsedTextNotHTML(t *testing.T) {
	p := newPage(t)
	ctx := context.Background()
	p.post(path(p.anna, "text"), map[string]string{"text": "/start"})
	p.send(ctx, &tgbot.SendMessageParams{
		ChatID:    p.anna.ID,
		Text:      "<b>Баланс</b>: 20 ₽ &lt;script&gt;alert(1)&lt;/script&gt; <a href=\"https://example.org/pay\">оплатить</a>",
		ParseMode: models.ParseModeHTML,
		ReplyMarkup: &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{
			{{Text: "🔄 Обновить", CallbackData: "bal"}, {Text: "Сайт", URL: "https://example.org"}},
		}},
	})
	// Explicit entities bypass Telegram's HTML parser, so a text_link can
	// carry any URL; the page must never get a javascript: one.
	p.send(ctx, &tgbot.SendMessageParams{
		ChatID:   p.anna.ID,
		Text:     "press here",
		Entities: []models.MessageEntity{{Type: models.MessageEntityTypeTextLink, Offset: 0, Length: 5, URL: "javascript:alert(1)"}},
	})

	c := p.chat(p.anna)
	if len(c.Items) != 3 {
		t.Fatalf("want /start and two bot messages, got %d items", len(c.Items))
	}
	first := c.Items[0].Message
	if first == nil || first.FromBot || first.Text != "/start" || len(first.Entities) != 1 || first.Entities[0].Type != "bot_command" {
		t.Errorf("the person's /start: %+v", first)
	}
	bal := c.Items[1].Message
	if want := "Баланс: 20 ₽ <script>alert(1)</script> оплатить"; bal.Text != want {
		t.Errorf("text = %q, want %q", bal.Text, want)
	}
	if len(bal.Entities) != 2 || bal.Entities[0].Type != "bold" || bal.Entities[0].Length != 6 ||
		bal.Entities[1].Type != "text_link" || bal.Entities[1].URL != "https://example.org/pay" {
		t.Errorf("entities = %+v", bal.Entities)
	}
	if len(bal.Buttons) != 1 || bal.Buttons[0][0].Data != "bal" || bal.Buttons[0][1].URL != "https://example.org" {
		t.Errorf("inline keyboard = %+v", bal.Buttons)
	}
	evil := c.Items[2].Message
	if evil.Text != "press here" || len(evil.Entities) != 0 {
		t.Errorf("a javascript: link reached the page: %+v", evil.Entities)
	}
}

// Every action of the page becomes the person's action in the emulator.
func TestActionsReachTheBot(t *testing.T) {
	p := newPage(t)
	ctx := context.Background()
	p.post(path(p.anna, "text"), map[string]string{"text": "/start"})
	prompt := p.send(ctx, &tgbot.SendMessageParams{
		ChatID: p.anna.ID,
		Text:   "Send the account number or share your phone",
		ReplyMarkup: &models.ReplyKeyboardMarkup{ResizeKeyboard: true, Keyboard: [][]models.KeyboardButton{
			{{Text: "📱 Поделиться номером телефона", RequestContact: true}},
			{{Text: "📍 Ближайший офис", RequestLocation: true}},
		}},
	})
	menu := p.send(ctx, &tgbot.SendMessageParams{
		ChatID: p.anna.ID, Text: "Menu",
		ReplyMarkup: &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "Баланс", CallbackData: "bal"}}}},
	})
	_ = prompt

	c := p.chat(p.anna)
	if c.Keyboard == nil || !c.Keyboard.Rows[0][0].Contact || !c.Keyboard.Rows[1][0].Location {
		t.Fatalf("the reply keyboard is not on the page: %+v", c.Keyboard)
	}

	p.post(path(p.anna, "key"), map[string]string{"text": "📱 Поделиться номером телефона"})
	p.post(path(p.anna, "contact"), map[string]string{"phone": "+7 900 000-00-04", "first_name": "Иван"})
	p.post(path(p.anna, "location"), map[string]float64{"latitude": 55.7652, "longitude": 37.6047})
	p.post(path(p.anna, "button"), map[string]any{"message_id": menu.ID, "data": "bal"})
	p.post(path(p.anna, "text"), map[string]string{"text": "1000000004"})
	p.post(path(p.anna, "sticker"), nil)

	msgs := p.emu.Messages(p.anna.ID)
	var own, other *models.Contact
	var loc *models.Location
	var text, sticker bool
	for _, m := range msgs {
		switch {
		case m.Message.Contact != nil && m.Message.Contact.UserID == p.anna.ID:
			own = m.Message.Contact
		case m.Message.Contact != nil:
			other = m.Message.Contact
		case m.Message.Location != nil:
			loc = m.Message.Location
		case m.Message.Sticker != nil:
			sticker = true
		case !m.FromBot && m.Text == "1000000004":
			text = true
		}
	}
	if own == nil || own.PhoneNumber != "79000000001" {
		t.Errorf("'share my phone number' did not share the persona's own contact: %+v", own)
	}
	if other == nil || other.PhoneNumber != "79000000004" || other.UserID == 0 || other.UserID == p.anna.ID {
		t.Errorf("someone else's contact: %+v", other)
	}
	if loc == nil || loc.Latitude != 55.7652 {
		t.Errorf("location: %+v", loc)
	}
	if !text || !sticker {
		t.Errorf("text sent: %v, sticker sent: %v", text, sticker)
	}
	qs := p.emu.CallbackQueries()
	if len(qs) != 1 || qs[0].Data != "bal" || qs[0].MessageID != menu.ID || qs[0].UserID != p.anna.ID {
		t.Errorf("button press: %+v", qs)
	}
	// The page shows who shared what.
	var sawOwn, sawOther bool
	for _, it := range p.chat(p.anna).Items {
		if m := it.Message; m != nil && m.Contact != nil {
			sawOwn = sawOwn || m.Contact.Own
			sawOther = sawOther || !m.Contact.Own
		}
	}
	if !sawOwn || !sawOther {
		t.Errorf("own contact shown: %v, someone else's shown: %v", sawOwn, sawOther)
	}

	// Wrong input is refused by the page, before the emulator.
	for _, bad := range []struct {
		path string
		body any
	}{
		{path(p.anna, "text"), map[string]string{"text": "   "}},
		{path(p.anna, "location"), map[string]float64{"latitude": 91, "longitude": 0}},
		{path(p.anna, "key"), map[string]string{"text": "no such button"}},
		{path(p.anna, "contact"), map[string]string{"phone": "12"}},
		{"/api/chats/404/text", map[string]string{"text": "hi"}},
	} {
		if status, _ := p.postStatus(bad.path, bad.body); status < 400 {
			t.Errorf("POST %s %v: %d, want an error", bad.path, bad.body, status)
		}
	}
}

// Photos and files reach the bot; the person's picture is shown back, and
// nothing but a picture is ever served from the sandbox's origin.
func TestFiles(t *testing.T) {
	p := newPage(t)
	p.post(path(p.anna, "text"), map[string]string{"text": "/start"})

	var img bytes.Buffer
	pic := image.NewRGBA(image.Rect(0, 0, 4, 4))
	pic.Set(1, 1, color.RGBA{R: 255, A: 255})
	if err := png.Encode(&img, pic); err != nil {
		t.Fatal(err)
	}
	p.upload(p.anna, "photo", "router.png", img.Bytes(), "мигает лампочка")
	p.upload(p.anna, "document", "contract.pdf", []byte("%PDF-1.4 fake"), "")
	p.upload(p.anna, "photo", "page.html", []byte("<html><script>alert(1)</script></html>"), "")

	c := p.chat(p.anna)
	var photos []string
	var doc bool
	for _, it := range c.Items {
		m := it.Message
		if m == nil {
			continue
		}
		if m.Photo != nil {
			photos = append(photos, m.Photo.URL)
			if m.Photo.URL != "" && m.Text != "мигает лампочка" {
				t.Errorf("photo caption = %q", m.Text)
			}
		}
		if m.Document != nil {
			doc = m.Document.Name == "contract.pdf" && m.Document.Size == 13
		}
	}
	if len(photos) != 2 || photos[0] == "" || photos[1] != "" {
		t.Fatalf("photo URLs = %q: want the picture served and the HTML not", photos)
	}
	if !doc {
		t.Errorf("the document is not in the chat: %+v", c.Items)
	}
	resp, err := http.Get(p.srv.URL + photos[0])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body, img.Bytes()) {
		t.Errorf("served picture: %s, %d bytes", resp.Header.Get("Content-Type"), len(body))
	}
	// The bot received both as updates it can handle.
	var photoMsgs, docMsgs int
	for _, m := range p.emu.Messages(p.anna.ID) {
		if len(m.Message.Photo) > 0 {
			photoMsgs++
		}
		if m.Message.Document != nil {
			docMsgs++
		}
	}
	if photoMsgs != 2 || docMsgs != 1 {
		t.Errorf("the emulator holds %d photos and %d documents", photoMsgs, docMsgs)
	}
}

func (p *page) upload(u emulator.User, as, name string, data []byte, caption string) {
	p.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	f, _ := w.CreateFormFile("file", name)
	f.Write(data)
	w.WriteField("as", as)
	if caption != "" {
		w.WriteField("caption", caption)
	}
	w.Close()
	resp, err := http.Post(p.srv.URL+path(u, "file"), w.FormDataContentType(), &body)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		p.t.Fatalf("upload %s: %d", name, resp.StatusCode)
	}
}

// A request the emulator rejects appears in the chat it was about, in red;
// "message is not modified", which the bot expects on a refresh, quietly.
func TestRejectedRequestsShowInTheirChat(t *testing.T) {
	p := newPage(t)
	ctx := context.Background()
	p.post(path(p.anna, "text"), map[string]string{"text": "/start"})
	p.post(path(p.alex, "text"), map[string]string{"text": "/start"})

	_, err := p.bot.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: p.anna.ID, Text: "<b>unclosed", ParseMode: models.ParseModeHTML})
	if err == nil {
		t.Fatal("the emulator took broken HTML")
	}
	m := p.send(ctx, &tgbot.SendMessageParams{ChatID: p.anna.ID, Text: "Баланс"})
	if _, err := p.bot.EditMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: p.anna.ID, MessageID: m.ID, Text: "Баланс"}); err == nil {
		t.Fatal("the emulator took an edit that changes nothing")
	}

	// In order: /start, the red line, then the message sent after it.
	items := p.chat(p.anna).Items
	if len(items) != 4 || items[0].Message == nil || items[1].System == nil || items[2].Message == nil || items[2].Message.Text != "Баланс" {
		t.Errorf("the lines are out of order: %+v", items)
	}
	var red, quiet int
	for _, it := range items {
		if s := it.System; s != nil {
			switch {
			case s.Level == "error" && s.Method == "sendMessage" && s.Code == 400 && strings.Contains(s.Description, "can't parse entities"):
				red++
			case s.Level == "notice" && strings.Contains(s.Description, "message is not modified"):
				quiet++
			default:
				t.Errorf("unexpected system line %+v", s)
			}
		}
	}
	if red != 1 || quiet != 1 {
		t.Errorf("Anna's chat has %d red and %d quiet lines, want 1 and 1", red, quiet)
	}
	for _, it := range p.chat(p.alex).Items {
		if it.System != nil {
			t.Errorf("Anna's error shows in Alex's chat: %+v", it.System)
		}
	}
}

// The commands menu is the one Telegram would show for the persona's language.
func TestCommandsMenuFollowsLanguage(t *testing.T) {
	p := newPage(t)
	ctx := context.Background()
	for _, l := range []struct {
		lang string
		desc string
	}{{"", "Начать"}, {"en", "Start"}} {
		if _, err := p.bot.SetMyCommands(ctx, &tgbot.SetMyCommandsParams{
			Commands: []models.BotCommand{{Command: "start", Description: l.desc}}, LanguageCode: l.lang,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if c := p.chat(p.anna).Commands; len(c) != 1 || c[0].Description != "Начать" {
		t.Errorf("Anna's menu: %+v", c)
	}
	if c := p.chat(p.alex).Commands; len(c) != 1 || c[0].Description != "Start" {
		t.Errorf("Alex's menu: %+v", c)
	}
}

// A fresh persona gets the next demo phone and shows in the list.
func TestAddPersona(t *testing.T) {
	p := newPage(t)
	p.post("/api/personas", map[string]string{"lang": "en"})
	p.post("/api/personas", map[string]string{"lang": "ru"})
	if status, _ := p.postStatus("/api/personas", map[string]string{"lang": "de"}); status != http.StatusBadRequest {
		t.Errorf("an unsupported language: %d", status)
	}
	var list struct {
		Personas []struct{ ID, Name, Lang, Phone string }
	}
	p.get("/api/personas", &list)
	if len(list.Personas) != 4 {
		t.Fatalf("personas: %+v", list.Personas)
	}
	a, b := list.Personas[2], list.Personas[3]
	if a.Lang != "en" || a.Phone != "+79000000004" || b.Lang != "ru" || b.Phone != "+79000000007" || a.ID == b.ID {
		t.Errorf("fresh personas: %+v %+v", a, b)
	}
	// The new persona can chat at once.
	id, _ := strconv.ParseInt(b.ID, 10, 64)
	p.post("/api/chats/"+b.ID+"/text", map[string]string{"text": "/start"})
	if m, ok := p.emu.LastMessage(id); !ok || m.Text != "/start" || m.Message.From.LanguageCode != "ru" {
		t.Errorf("the fresh persona's message: %+v", m)
	}
}

// The phone panel lists each phone's SMS, the phone with the newest first,
// and each phone's messages newest first, as an inbox does.
func TestPhones(t *testing.T) {
	p := newPage(t)
	ctx := context.Background()
	for _, m := range []struct{ to, text string }{
		{"+79000000004", "Код: 111111"},
		{"+79000000004", "Код: 222222"},
		{"+79000000001", "Код: 654321"},
		{"+79000000004", "Код: 333333"},
	} {
		p.phones.Send(ctx, m.to, m.text)
		time.Sleep(2 * time.Millisecond)
	}
	var got struct {
		Phones []struct {
			Phone    string
			Messages []struct{ Text string }
		}
	}
	p.get("/api/phones", &got)
	var list []string
	for _, ph := range got.Phones {
		var texts []string
		for _, m := range ph.Messages {
			texts = append(texts, m.Text)
		}
		list = append(list, ph.Phone+": "+strings.Join(texts, ", "))
	}
	want := []string{
		"+79000000004: Код: 333333, Код: 222222, Код: 111111",
		"+79000000001: Код: 654321",
	}
	if strings.Join(list, "\n") != strings.Join(want, "\n") {
		t.Errorf("phones:\n%s\nwant:\n%s", strings.Join(list, "\n"), strings.Join(want, "\n"))
	}
}

// The event stream tells the page what changed in its chat, and nothing of
// other chats.
func TestEvents(t *testing.T) {
	p := newPage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.post(path(p.anna, "text"), map[string]string{"text": "/start"})
	p.post(path(p.alex, "text"), map[string]string{"text": "/start"})

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.srv.URL+"/api/events?chat="+strconv.FormatInt(p.anna.ID, 10), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
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

	p.send(ctx, &tgbot.SendMessageParams{ChatID: p.alex.ID, Text: "for Alex"}) // not for this page
	m := p.send(ctx, &tgbot.SendMessageParams{ChatID: p.anna.ID, Text: "for Anna",
		ReplyMarkup: &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "ok", CallbackData: "ok"}}}}})
	if ev := next(); ev["kind"] != "chat" {
		t.Errorf("after a message in the chat: %v", ev)
	}
	p.post(path(p.anna, "button"), map[string]any{"message_id": m.ID, "data": "ok"})
	q := p.emu.CallbackQueries()[0]
	if _, err := p.bot.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: "Обновлено"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev["kind"] != "toast" || ev["text"] != "Обновлено" {
		t.Errorf("after the bot answered the press: %v", ev)
	}
	p.phones.Send(ctx, "+79000000004", "Код: 123456")
	if ev := next(); ev["kind"] != "sms" {
		t.Errorf("after an SMS: %v", ev)
	}
	p.bot.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: p.anna.ID, Text: "<i>broken", ParseMode: models.ParseModeHTML})
	if ev := next(); ev["kind"] != "error" {
		t.Errorf("after a rejected request: %v", ev)
	}
}

// The page itself: served with a policy that runs only its own script.
func TestPageIsServed(t *testing.T) {
	p := newPage(t)
	for _, f := range []string{"/", "/app.js", "/style.css"} {
		resp, err := http.Get(p.srv.URL + f)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) < 500 {
			t.Errorf("GET %s: %d, %d bytes", f, resp.StatusCode, len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy = %q", f, csp)
		}
	}
}

// A text over Telegram's 4,096 characters goes as several messages of the
// person, as Telegram's apps send it; one too long even for that, and an
// edit over the limit, are refused with a sentence for a person.
func TestLongText(t *testing.T) {
	p := newPage(t)
	p.post(path(p.anna, "text"), map[string]string{"text": "/start"})
	word := "слово "
	text := strings.TrimSpace(strings.Repeat(word, 5000/len([]rune(word))+1))
	p.post(path(p.anna, "text"), map[string]string{"text": text})
	var parts []string
	for _, m := range p.emu.Messages(p.anna.ID) {
		if m.Text != "/start" {
			parts = append(parts, m.Text)
		}
	}
	if len(parts) != 2 || len([]rune(parts[0])) > 4096 || strings.Join(parts, " ") != text {
		t.Errorf("%d messages of %d characters", len(parts), len([]rune(parts[0])))
	}

	status, answer := p.postStatus(path(p.anna, "text"), map[string]string{"text": strings.Repeat(word, 10000)})
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(answer, "too long for the sandbox") {
		t.Errorf("a text of 60,000 characters: %d %s", status, answer)
	}
	if n := len(p.emu.Messages(p.anna.ID)); n != 3 {
		t.Errorf("%d messages after a refused text, want 3", n)
	}

	last, _ := p.emu.LastMessage(p.anna.ID)
	status, answer = p.postStatus(path(p.anna, "edit"), map[string]any{"message_id": last.ID, "text": strings.Repeat("а", 4097)})
	if status != http.StatusBadRequest || !strings.Contains(answer, "at most 4,096 characters") || !strings.Contains(answer, "has 4,097") {
		t.Errorf("an edit of 4,097 characters: %d %s", status, answer)
	}
}

// With Linked, the persona list and the chat say what each persona has
// linked, as the database tells at the time of asking; and the page gets
// the provider's time zone to write times in.
func TestPersonasShowLinkedAndTimeZone(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	t.Cleanup(emu.Close)
	anna := emulator.User{ID: 501, FirstName: "Анна", LanguageCode: "ru"}
	links := map[int64][]string{}
	var mu sync.Mutex
	vvo, err := time.LoadLocation("Asia/Vladivostok")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sandbox.New(sandbox.Options{
		Emulator: emu,
		Phones:   sms.NewMemory(),
		Personas: []sandbox.Persona{{User: anna, Note: "new user"}},
		Linked: func(_ context.Context, userID int64) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			return links[userID], nil
		},
		TimeZone: vvo,
	}))
	t.Cleanup(srv.Close)
	type persona struct {
		Note     string
		Accounts []string
	}
	get := func(path string, dst any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
			t.Fatal(err)
		}
	}
	var list struct {
		Personas []persona
		TimeZone string `json:"time_zone"`
	}
	get("/api/personas", &list)
	if list.TimeZone != "Asia/Vladivostok" {
		t.Errorf("time_zone = %q", list.TimeZone)
	}
	if len(list.Personas) != 1 || list.Personas[0].Note != "no account linked" {
		t.Errorf("before linking: %+v", list.Personas)
	}

	for _, tc := range []struct {
		accounts []string
		note     string
	}{
		{[]string{"1000000004"}, "linked 1000000004"},
		{[]string{"1000000001", "1000000002", "1000000003"}, "3 accounts linked"},
	} {
		mu.Lock()
		links[anna.ID] = tc.accounts
		mu.Unlock()
		var c struct{ Persona persona }
		get("/api/chats/501", &c)
		if c.Persona.Note != tc.note || strings.Join(c.Persona.Accounts, ",") != strings.Join(tc.accounts, ",") {
			t.Errorf("the chat's persona with %v linked: %+v", tc.accounts, c.Persona)
		}
		get("/api/personas", &list)
		if list.Personas[0].Note != tc.note {
			t.Errorf("the list's persona with %v linked: %+v", tc.accounts, list.Personas[0])
		}
	}
}
