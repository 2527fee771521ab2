package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-telegram/bot/models"
)

func TestAuthAndMethodErrors(t *testing.T) {
	srv := newServer(t, Options{})

	r := do(t, srv.URL()+"/bot123:wrong/getMe", "", nil)
	wantError(t, r, http.StatusUnauthorized, "Unauthorized")

	r = do(t, srv.URL()+"/bot"+srv.Token()+"/sendMesage", "", nil)
	wantError(t, r, http.StatusNotFound, "Not Found")

	r = do(t, srv.URL()+"/nothing", "", nil)
	wantError(t, r, http.StatusNotFound, "Not Found")

	// A method of the Bot API the emulator does not play yet says so.
	r = callJSON(t, srv, "sendDice", map[string]any{"chat_id": 1})
	wantError(t, r, http.StatusBadRequest, "Bad Request: method not implemented by the emulator")

	// Method names are case-insensitive, as in Telegram.
	me := decodeResult[models.User](t, do(t, srv.URL()+"/bot"+srv.Token()+"/getme", "", nil))
	if !me.IsBot || me.ID != defaultBotID || me.Username != defaultBotUsername {
		t.Errorf("getMe = %+v", me)
	}

	errs := srv.Errors()
	if len(errs) != 4 || errs[0].ErrorCode != 401 || errs[1].Method != "sendMesage" || errs[3].Method != "sendDice" {
		t.Errorf("Errors() = %+v", errs)
	}
}

func TestTokenDerivesBotID(t *testing.T) {
	srv := newServer(t, Options{Token: "555:secret"})
	me := decodeResult[models.User](t, callJSON(t, srv, "getMe", nil))
	if me.ID != 555 {
		t.Errorf("bot id = %d, want 555 from the token", me.ID)
	}
}

func TestParameterChecks(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")

	tests := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"unknown parameter", map[string]any{"chat_id": alice.ID, "text": "x", "parse_mod": "HTML"},
			`Bad Request: unknown parameter "parse_mod" for method sendMessage (Telegram would silently ignore it)`},
		{"missing chat_id", map[string]any{"text": "x"}, "Bad Request: chat_id is empty"},
		{"missing text", map[string]any{"chat_id": alice.ID}, "Bad Request: message text is empty"},
		{"empty text", map[string]any{"chat_id": alice.ID, "text": ""}, "Bad Request: message text is empty"},
		{"only spaces", map[string]any{"chat_id": alice.ID, "text": "  \n "}, "Bad Request: message text is empty"},
		{"empty after HTML", map[string]any{"chat_id": alice.ID, "text": "<b></b>", "parse_mode": "HTML"}, "Bad Request: message text is empty"},
		{"unknown chat", map[string]any{"chat_id": 999, "text": "x"}, "Bad Request: chat not found"},
		{"username of a person", map[string]any{"chat_id": "@alice", "text": "x"}, "Bad Request: chat not found"},
		{"wrong type", map[string]any{"chat_id": alice.ID, "text": "x", "disable_notification": "maybe"},
			`Bad Request: parameter "disable_notification" must be of type Boolean`},
		{"broken HTML", map[string]any{"chat_id": alice.ID, "text": "<b>x", "parse_mode": "HTML"},
			`Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`},
		{"unescaped <", map[string]any{"chat_id": alice.ID, "text": "a < b", "parse_mode": "HTML"},
			`Bad Request: can't parse entities: Unsupported start tag "" at byte offset 2`},
		{"unknown parse mode", map[string]any{"chat_id": alice.ID, "text": "x", "parse_mode": "html5"}, "Bad Request: unsupported parse_mode"},
		{"reply_markup not JSON", map[string]any{"chat_id": alice.ID, "text": "x", "reply_markup": "{"}, "Bad Request: can't parse reply_markup JSON object"},
		{"unknown nested field", map[string]any{"chat_id": alice.ID, "text": "x",
			"reply_markup": `{"inline_keyboard":[[{"text":"a","callback_data":"b","colour":"red"}]]}`},
			`Bad Request: can't parse reply_markup.inline_keyboard[0][0]: InlineKeyboardButton has no field "colour"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, callJSON(t, srv, "sendMessage", tt.params), http.StatusBadRequest, tt.want)
		})
	}
	if got := len(srv.Messages(alice.ID)); got != 1 {
		t.Errorf("chat has %d messages, want only the user's /start", got)
	}
}

func TestTextLength(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")

	// 4096 characters after parsing pass; tags don't count.
	text := "<b>" + strings.Repeat("я", 4096) + "</b>"
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": text, "parse_mode": "HTML"}))

	r := callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": strings.Repeat("a", 4097)})
	wantError(t, r, http.StatusBadRequest, "Bad Request: message is too long")

	// An emoji is two UTF-16 units: 2049 of them are 4098 units.
	r = callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": strings.Repeat("😀", 2049)})
	wantError(t, r, http.StatusBadRequest, "Bad Request: message is too long")

	// &amp; counts as one character.
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": strings.Repeat("&amp;", 4096), "parse_mode": "HTML"}))

	r = callJSON(t, srv, "sendPhoto", map[string]any{"chat_id": alice.ID, "photo": "https://example.com/a.jpg", "caption": strings.Repeat("a", 1025)})
	wantError(t, r, http.StatusBadRequest, "Bad Request: message caption is too long")
}

func TestInlineKeyboardRules(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	send := func(buttons string) reply {
		return callJSON(t, srv, "sendMessage", map[string]any{
			"chat_id": alice.ID, "text": "menu", "reply_markup": `{"inline_keyboard":[[` + buttons + `]]}`,
		})
	}
	wantOK(t, send(`{"text":"Баланс","callback_data":"bal"}`))
	wantOK(t, send(`{"text":"Site","url":"https://provider.example/pay"},{"text":"Bot","url":"tg://resolve?domain=x"}`))
	// go-telegram/bot always sends an empty copy_text; that is no action.
	wantOK(t, send(`{"text":"a","callback_data":"x","copy_text":{"text":""}}`))

	wantError(t, send(`{"text":"a","callback_data":"`+strings.Repeat("x", 65)+`"}`), 400, "Bad Request: BUTTON_DATA_INVALID")
	wantOK(t, send(`{"text":"a","callback_data":"`+strings.Repeat("я", 32)+`"}`)) // 64 bytes
	wantError(t, send(`{"text":"a","callback_data":"`+strings.Repeat("я", 33)+`"}`), 400, "Bad Request: BUTTON_DATA_INVALID")
	wantError(t, send(`{"text":"a"}`), 400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
	wantError(t, send(`{"text":"a","callback_data":"x","url":"https://x.example"}`), 400,
		"Bad Request: can't parse inline keyboard button: exactly one of the optional fields must be used, got url and callback_data")
	wantError(t, send(`{"text":"a","url":"javascript:alert(1)"}`), 400, "Bad Request: BUTTON_URL_INVALID")
	wantError(t, send(`{"text":"a","url":"provider.example"}`), 400, "Bad Request: BUTTON_URL_INVALID")
	wantError(t, send(`{"text":"","callback_data":"x"}`), 400, "Bad Request: can't parse inline keyboard button: Text must be non-empty")
	wantError(t, send(`{"text":"a","callback_data":1}`), 400, "Bad Request: can't parse reply_markup.inline_keyboard[0][0].callback_data: a String is expected")
}

func TestReplyKeyboard(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	kb := `{"keyboard":[[{"text":"Поделиться номером","request_contact":true}],[{"text":"Где офис?","request_location":true},{"text":"Меню"}]],"resize_keyboard":true,"one_time_keyboard":true}`
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "Нужен ваш номер", "reply_markup": kb}))

	got := srv.ReplyKeyboard(alice.ID)
	if got == nil || !got.Keyboard[0][0].RequestContact || !got.Keyboard[1][0].RequestLocation || got.Keyboard[1][1].Text != "Меню" {
		t.Fatalf("ReplyKeyboard = %+v", got)
	}
	if last, _ := srv.LastMessage(alice.ID); last.ReplyKeyboard == nil {
		t.Errorf("the message does not record the keyboard it showed")
	}

	r := callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "x",
		"reply_markup": `{"keyboard":[[{"text":"both","request_contact":true,"request_location":true}]]}`})
	wantErrorPrefix(t, r, 400, "Bad Request: can't parse keyboard button: at most one of the optional fields")
	r = callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "x", "reply_markup": `{"keyboard":[]}`})
	wantError(t, r, 400, "Bad Request: keyboard must be non-empty")

	// A group can't ask for a contact.
	srv.AddGroup(-1001, "Support", true)
	r = callJSON(t, srv, "sendMessage", map[string]any{"chat_id": -1001, "text": "x",
		"reply_markup": `{"keyboard":[[{"text":"номер","request_contact":true}]]}`})
	wantErrorPrefix(t, r, 400, "Bad Request: BUTTON_TYPE_INVALID")

	// The person shares their number with the button; one_time_keyboard hides it.
	id, err := srv.PressKeyboardButton(alice, "Поделиться номером")
	if err != nil || id == 0 {
		t.Fatalf("PressKeyboardButton: %d, %v", id, err)
	}
	last, _ := srv.LastMessage(alice.ID)
	if c := last.Message.Contact; c == nil || c.PhoneNumber != alice.PhoneNumber || c.UserID != alice.ID {
		t.Errorf("shared contact = %+v", last.Message.Contact)
	}
	if srv.ReplyKeyboard(alice.ID) != nil {
		t.Errorf("one-time keyboard still shown after use")
	}
	if _, err := srv.PressKeyboardButton(alice, "Меню"); err == nil {
		t.Errorf("pressing a hidden keyboard worked")
	}

	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "k", "reply_markup": `{"keyboard":[[{"text":"Меню"}]]}`}))
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "gone", "reply_markup": `{"remove_keyboard":true}`}))
	if srv.ReplyKeyboard(alice.ID) != nil {
		t.Errorf("ReplyKeyboardRemove did not remove the keyboard")
	}
}

func TestBodyEncodings(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	markup := `{"inline_keyboard":[[{"text":"ok","callback_data":"ok"}]]}`

	// application/x-www-form-urlencoded with a JSON-encoded nested field.
	form := url.Values{"chat_id": {fmt.Sprint(alice.ID)}, "text": {"form"}, "reply_markup": {markup}}
	msg := decodeResult[models.Message](t, callForm(t, srv, "sendMessage", form))
	if msg.Text != "form" || msg.ReplyMarkup == nil || msg.ReplyMarkup.InlineKeyboard[0][0].CallbackData != "ok" {
		t.Errorf("form: %+v", msg)
	}

	// Query string only.
	q := url.Values{"chat_id": {fmt.Sprint(alice.ID)}, "text": {"query"}}
	msg = decodeResult[models.Message](t, do(t, srv.URL()+"/bot"+srv.Token()+"/sendMessage?"+q.Encode(), "", nil))
	if msg.Text != "query" {
		t.Errorf("query: %+v", msg)
	}

	// JSON with a nested object (not a string).
	var nested map[string]any
	_ = json.Unmarshal([]byte(markup), &nested)
	msg = decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "json", "reply_markup": nested}))
	if msg.ReplyMarkup == nil {
		t.Errorf("json: no markup")
	}

	// multipart/form-data with an uploaded file.
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("chat_id", fmt.Sprint(alice.ID))
	_ = w.WriteField("caption", "<b>счёт</b>")
	_ = w.WriteField("parse_mode", "HTML")
	part, _ := w.CreateFormFile("document", "invoice.pdf")
	_, _ = part.Write([]byte("%PDF-1.4 ..."))
	_ = w.Close()
	msg = decodeResult[models.Message](t, do(t, srv.URL()+"/bot"+srv.Token()+"/sendDocument", w.FormDataContentType(), &body))
	if msg.Document == nil || msg.Document.FileName != "invoice.pdf" || msg.Document.MimeType != "application/pdf" || msg.Caption != "счёт" {
		t.Errorf("multipart: %+v", msg)
	}

	calls := srv.CallsTo("sendDocument")
	if up, ok := calls[0].Params["document"].(*Upload); !ok || up.Filename != "invoice.pdf" || up.Size != 12 {
		t.Errorf("recorded upload = %#v", calls[0].Params["document"])
	}
	if id, ok := srv.CallsTo("sendMessage")[0].Params["chat_id"].(int64); !ok || id != alice.ID {
		t.Errorf("chat_id recorded as %#v, want int64", srv.CallsTo("sendMessage")[0].Params["chat_id"])
	}
}

func TestFilesByIDAndURL(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendPhoto(alice, "чек")
	userPhoto := srv.Messages(alice.ID)[0].Message.Photo
	largest := userPhoto[len(userPhoto)-1].FileID

	msg := decodeResult[models.Message](t, callJSON(t, srv, "sendPhoto", map[string]any{"chat_id": alice.ID, "photo": largest}))
	if got := msg.Photo[len(msg.Photo)-1].FileID; got != largest {
		t.Errorf("resent photo file_id = %q, want %q", got, largest)
	}
	wantOK(t, callJSON(t, srv, "sendPhoto", map[string]any{"chat_id": alice.ID, "photo": "https://provider.example/map.png"}))
	wantError(t, callJSON(t, srv, "sendPhoto", map[string]any{"chat_id": alice.ID, "photo": "made-up-id"}), 400,
		"Bad Request: wrong file identifier/HTTP URL specified")
	wantError(t, callJSON(t, srv, "sendDocument", map[string]any{"chat_id": alice.ID, "document": largest}), 400,
		"Bad Request: can't use file of type Photo as Document")
	wantError(t, callJSON(t, srv, "sendPhoto", map[string]any{"chat_id": alice.ID}), 400, "Bad Request: there is no photo in the request")
}

func TestEditAndDelete(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	kb := `{"inline_keyboard":[[{"text":"Обновить","callback_data":"bal"}]]}`
	sent := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{
		"chat_id": alice.ID, "text": "Баланс: <b>100 ₽</b>", "parse_mode": "HTML", "reply_markup": kb,
	}))
	if sent.ID != 2 || sent.From == nil || !sent.From.IsBot || sent.Chat.ID != alice.ID {
		t.Fatalf("sent = %+v", sent)
	}

	edit := map[string]any{"chat_id": alice.ID, "message_id": sent.ID, "text": "Баланс: <b>100 ₽</b>", "parse_mode": "HTML", "reply_markup": kb}
	wantErrorPrefix(t, callJSON(t, srv, "editMessageText", edit), 400, "Bad Request: message is not modified: ")

	edit["text"] = "Баланс: <b>250 ₽</b>"
	edited := decodeResult[models.Message](t, callJSON(t, srv, "editMessageText", edit))
	if edited.Text != "Баланс: 250 ₽" || edited.EditDate == 0 || edited.ReplyMarkup == nil {
		t.Errorf("edited = %+v", edited)
	}
	view, _ := srv.Message(alice.ID, sent.ID)
	if !view.Edited || view.Text != "Баланс: 250 ₽" || view.RawText != "Баланс: <b>250 ₽</b>" || view.ParseMode != "HTML" ||
		len(view.Entities) != 1 || view.Entities[0].Type != "bold" || len(view.InlineKeyboard) != 1 {
		t.Errorf("chat view after edit = %+v", view)
	}

	// editMessageText without reply_markup removes the keyboard, as Telegram does.
	delete(edit, "reply_markup")
	edit["text"] = "Баланс: 300 ₽"
	wantOK(t, callJSON(t, srv, "editMessageText", edit))
	if view, _ := srv.Message(alice.ID, sent.ID); view.InlineKeyboard != nil {
		t.Errorf("keyboard kept after an edit without reply_markup")
	}

	wantOK(t, callJSON(t, srv, "editMessageReplyMarkup", map[string]any{"chat_id": alice.ID, "message_id": sent.ID, "reply_markup": kb}))
	wantErrorPrefix(t, callJSON(t, srv, "editMessageReplyMarkup", map[string]any{"chat_id": alice.ID, "message_id": sent.ID, "reply_markup": kb}),
		400, "Bad Request: message is not modified")
	wantError(t, callJSON(t, srv, "editMessageReplyMarkup", map[string]any{"chat_id": alice.ID, "message_id": sent.ID,
		"reply_markup": `{"keyboard":[[{"text":"x"}]]}`}), 400, `Bad Request: can't parse reply_markup: InlineKeyboardMarkup has no field "keyboard"`)

	wantError(t, callJSON(t, srv, "editMessageText", map[string]any{"chat_id": alice.ID, "message_id": 99, "text": "x"}), 400,
		"Bad Request: message to edit not found")
	wantError(t, callJSON(t, srv, "editMessageText", map[string]any{"chat_id": alice.ID, "message_id": 1, "text": "x"}), 400,
		"Bad Request: message can't be edited")

	wantOK(t, callJSON(t, srv, "deleteMessage", map[string]any{"chat_id": alice.ID, "message_id": sent.ID}))
	if _, ok := srv.Message(alice.ID, sent.ID); ok {
		t.Errorf("deleted message still in the chat")
	}
	wantError(t, callJSON(t, srv, "deleteMessage", map[string]any{"chat_id": alice.ID, "message_id": sent.ID}), 400,
		"Bad Request: message to delete not found")
}

func TestPlacesAndChatAction(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")

	venue := decodeResult[models.Message](t, callJSON(t, srv, "sendVenue", map[string]any{
		"chat_id": alice.ID, "latitude": 55.75, "longitude": 37.61, "title": "Офис на Ленина", "address": "ул. Ленина, 1",
	}))
	if venue.Venue == nil || venue.Venue.Title != "Офис на Ленина" || venue.Location == nil || venue.Location.Latitude != 55.75 {
		t.Errorf("venue = %+v", venue)
	}
	wantError(t, callJSON(t, srv, "sendVenue", map[string]any{"chat_id": alice.ID, "latitude": 1, "longitude": 1, "title": "x"}), 400,
		"Bad Request: address is empty")
	wantErrorPrefix(t, callJSON(t, srv, "sendLocation", map[string]any{"chat_id": alice.ID, "latitude": 91, "longitude": 0}), 400,
		"Bad Request: wrong location")
	loc := decodeResult[models.Message](t, callForm(t, srv, "sendLocation", url.Values{"chat_id": {"1001"}, "latitude": {"55.1"}, "longitude": {"61.4"}}))
	if loc.Location == nil || loc.Location.Longitude != 61.4 {
		t.Errorf("location = %+v", loc)
	}
	contact := decodeResult[models.Message](t, callJSON(t, srv, "sendContact", map[string]any{"chat_id": alice.ID, "phone_number": "+78005553535", "first_name": "Поддержка"}))
	if contact.Contact == nil || contact.Contact.PhoneNumber != "+78005553535" {
		t.Errorf("contact = %+v", contact)
	}

	events, cancel := srv.Subscribe()
	defer cancel()
	wantOK(t, callJSON(t, srv, "sendChatAction", map[string]any{"chat_id": alice.ID, "action": "typing"}))
	if ev := <-events; ev.Kind != EventChatAction || ev.Detail != "typing" || ev.ChatID != alice.ID {
		t.Errorf("event = %+v", ev)
	}
	wantError(t, callJSON(t, srv, "sendChatAction", map[string]any{"chat_id": alice.ID, "action": "dancing"}), 400,
		"Bad Request: wrong parameter action in request")

	ids := []int{}
	for _, m := range srv.Messages(alice.ID) {
		ids = append(ids, m.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3 4]" {
		t.Errorf("message ids = %v, want increasing per chat [1 2 3 4]", ids)
	}
}

func TestReplyTo(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendText(alice, "Сколько на счету?")
	msg := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{
		"chat_id": alice.ID, "text": "100 ₽", "reply_parameters": map[string]any{"message_id": 1},
	}))
	if msg.ReplyToMessage == nil || msg.ReplyToMessage.Text != "Сколько на счету?" {
		t.Errorf("reply_to_message = %+v", msg.ReplyToMessage)
	}
	wantError(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "x", "reply_parameters": map[string]any{"message_id": 77}}),
		400, "Bad Request: message to be replied not found")
}

func TestCommandsByScopeAndLanguage(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	set := func(params map[string]any) { t.Helper(); wantOK(t, callJSON(t, srv, "setMyCommands", params)) }

	set(map[string]any{"commands": `[{"command":"menu","description":"Menu"}]`})
	set(map[string]any{"commands": `[{"command":"menu","description":"Меню"},{"command":"balance","description":"Баланс"}]`, "language_code": "ru"})
	set(map[string]any{"commands": `[{"command":"support","description":"Поддержка"}]`, "scope": `{"type":"chat","chat_id":1001}`})

	get := func(params map[string]any) []models.BotCommand {
		t.Helper()
		return decodeResult[[]models.BotCommand](t, callJSON(t, srv, "getMyCommands", params))
	}
	if got := get(nil); len(got) != 1 || got[0].Description != "Menu" {
		t.Errorf("default = %+v", got)
	}
	if got := get(map[string]any{"language_code": "ru"}); len(got) != 2 {
		t.Errorf("ru = %+v", got)
	}
	if got := get(map[string]any{"language_code": "de"}); len(got) != 0 {
		t.Errorf("de (exact) = %+v, want none", got)
	}
	if got := srv.CommandsFor(alice); len(got) != 1 || got[0].Command != "support" {
		t.Errorf("alice sees %+v, want her chat's list", got)
	}
	if got := srv.CommandsFor(bob); len(got) != 1 || got[0].Command != "menu" {
		t.Errorf("bob (en) sees %+v, want the default list", got)
	}

	wantOK(t, callJSON(t, srv, "deleteMyCommands", map[string]any{"scope": `{"type":"chat","chat_id":1001}`}))
	if got := srv.CommandsFor(alice); len(got) != 2 || got[1].Command != "balance" {
		t.Errorf("after delete alice (ru) sees %+v", got)
	}

	wantError(t, callJSON(t, srv, "setMyCommands", map[string]any{"commands": `[{"command":"Menu!","description":"x"}]`}), 400, "Bad Request: BOT_COMMAND_INVALID")
	wantError(t, callJSON(t, srv, "setMyCommands", map[string]any{"commands": `[{"command":"m","description":""}]`}), 400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
	wantError(t, callJSON(t, srv, "setMyCommands", map[string]any{"commands": `[]`, "scope": `{"type":"chat","chat_id":42}`}), 400, "Bad Request: chat not found")
	wantErrorPrefix(t, callJSON(t, srv, "setMyCommands", map[string]any{"commands": `[]`, "scope": `{"type":"everyone"}`}), 400,
		`Bad Request: can't parse scope: unsupported BotCommandScope type "everyone"`)
}

// An album's media and a reaction are checked against the type each
// element names in "type", field by field.
func TestTaggedUnionsAreChecked(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	tests := []struct {
		name   string
		method string
		params map[string]any
		want   string
	}{
		{"unknown field of a photo", "sendMediaGroup", map[string]any{"chat_id": alice.ID,
			"media": `[{"type":"photo","media":"https://x.example/a.jpg","colour":"red"}]`},
			`Bad Request: can't parse media[0]: InputMediaPhoto has no field "colour"`},
		{"document field checked as a document", "sendMediaGroup", map[string]any{"chat_id": alice.ID,
			"media": `[{"type":"photo","media":"https://x.example/a.jpg"},{"type":"document","media":"https://x.example/b.pdf","has_spoiler":true}]`},
			`Bad Request: can't parse media[1]: InputMediaDocument has no field "has_spoiler"`},
		{"unknown media type", "sendMediaGroup", map[string]any{"chat_id": alice.ID,
			"media": `[{"type":"sticker","media":"x"}]`},
			`Bad Request: can't parse media[0]: unsupported type "sticker"`},
		{"missing media", "sendMediaGroup", map[string]any{"chat_id": alice.ID, "media": `[{"type":"photo"}]`},
			`Bad Request: can't parse media[0]: field "media" of InputMediaPhoto is required`},
		{"reaction without emoji", "setMessageReaction", map[string]any{"chat_id": alice.ID, "message_id": 1,
			"reaction": `[{"type":"emoji"}]`},
			`Bad Request: can't parse reaction[0]: field "emoji" of ReactionTypeEmoji is required`},
		{"unknown reaction type", "setMessageReaction", map[string]any{"chat_id": alice.ID, "message_id": 1,
			"reaction": `[{"type":"sticker"}]`},
			`Bad Request: can't parse reaction[0]: unsupported ReactionType type "sticker"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, callJSON(t, srv, tt.method, tt.params), http.StatusBadRequest, tt.want)
		})
	}
}
