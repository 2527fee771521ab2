package emulator

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
)

// onlyUpdate reads the single pending update and confirms it.
func onlyUpdate(t *testing.T, srv *Server) models.Update {
	t.Helper()
	got := getUpdates(t, srv, nil)
	if len(got) != 1 {
		t.Fatalf("got %d updates, want 1", len(got))
	}
	getUpdates(t, srv, map[string]any{"offset": got[0].ID + 1})
	return got[0]
}

func TestUserMessagesAreRealistic(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now})

	id := srv.SendCommand(alice, "start ref_42")
	u := onlyUpdate(t, srv)
	m := u.Message
	if u.ID != id || m == nil || m.ID != 1 || m.Text != "/start ref_42" || m.Date != int(clock.Now().Unix()) {
		t.Fatalf("update = %+v", u)
	}
	if m.From == nil || m.From.ID != alice.ID || m.From.IsBot || m.From.LanguageCode != "ru" || m.From.Username != "alice" {
		t.Errorf("from = %+v", m.From)
	}
	if m.Chat.ID != alice.ID || m.Chat.Type != models.ChatTypePrivate || m.Chat.FirstName != "Alice" {
		t.Errorf("chat = %+v", m.Chat)
	}
	if len(m.Entities) != 1 || m.Entities[0] != (models.MessageEntity{Type: "bot_command", Offset: 0, Length: 6}) {
		t.Errorf("entities = %+v, want bot_command over /start", m.Entities)
	}

	srv.SendText(alice, "привет /menu")
	if e := onlyUpdate(t, srv).Message.Entities; len(e) != 1 || e[0].Offset != 7 || e[0].Length != 5 {
		t.Errorf("command inside text: %+v", e)
	}

	// A contact of someone else keeps that person's user_id.
	srv.SendContact(alice, models.Contact{PhoneNumber: "+79005554433", FirstName: "Мама", UserID: 5555})
	if c := onlyUpdate(t, srv).Message.Contact; c == nil || c.UserID != 5555 || c.PhoneNumber != "+79005554433" {
		t.Errorf("contact = %+v", c)
	}

	srv.SendLocation(alice, 55.16, 61.40)
	if l := onlyUpdate(t, srv).Message.Location; l == nil || l.Latitude != 55.16 || l.Longitude != 61.40 {
		t.Errorf("location = %+v", l)
	}

	srv.SendSticker(alice)
	if s := onlyUpdate(t, srv).Message.Sticker; s == nil || s.FileID == "" || s.Emoji == "" {
		t.Errorf("sticker = %+v", s)
	}

	srv.SendPhoto(alice, "чек об оплате")
	if p := onlyUpdate(t, srv).Message; len(p.Photo) < 2 || p.Caption != "чек об оплате" || p.Photo[1].Width <= p.Photo[0].Width {
		t.Errorf("photo = %+v", p)
	}

	// The person edits their text: the bot gets edited_message with the same id.
	if _, err := srv.EditText(alice, 2, "привет"); err != nil {
		t.Fatal(err)
	}
	u = onlyUpdate(t, srv)
	if e := u.EditedMessage; e == nil || e.ID != 2 || e.Text != "привет" || e.EditDate == 0 || u.Message != nil {
		t.Errorf("edited update = %+v", u)
	}
	if v, _ := srv.Message(alice.ID, 2); !v.Edited || v.Text != "привет" {
		t.Errorf("chat view = %+v", v)
	}
	if _, err := srv.EditText(alice, 99, "x"); err == nil {
		t.Errorf("editing a missing message worked")
	}

	if n := len(srv.Messages(alice.ID)); n != 6 {
		t.Errorf("chat has %d messages, want 6", n)
	}
}

func TestPressButton(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	sent := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{
		"chat_id": alice.ID, "text": "Меню", "reply_markup": `{"inline_keyboard":[[{"text":"Баланс","callback_data":"bal"}]]}`,
	}))
	getUpdates(t, srv, map[string]any{"offset": srv.nextUpdateIDForTest()})

	id := srv.PressButton(alice, sent.ID, "bal")
	u := onlyUpdate(t, srv)
	q := u.CallbackQuery
	if u.ID != id || q == nil || q.Data != "bal" || q.From.ID != alice.ID || q.ChatInstance == "" || q.ID == "" {
		t.Fatalf("callback update = %+v", u)
	}
	if q.Message.Message == nil || q.Message.Message.ID != sent.ID || q.Message.Message.Text != "Меню" ||
		q.Message.Message.ReplyMarkup == nil || !q.Message.Message.From.IsBot {
		t.Errorf("callback message = %+v", q.Message.Message)
	}

	// Stale data is delivered as is; a deleted message arrives inaccessible.
	wantOK(t, callJSON(t, srv, "deleteMessage", map[string]any{"chat_id": alice.ID, "message_id": sent.ID}))
	srv.PressButton(alice, sent.ID, "old:data")
	q = onlyUpdate(t, srv).CallbackQuery
	if q.Data != "old:data" || q.Message.Type != models.MaybeInaccessibleMessageTypeInaccessibleMessage || q.Message.InaccessibleMessage.MessageID != sent.ID {
		t.Errorf("press on a deleted message = %+v", q.Message)
	}

	presses := srv.CallbackQueries()
	if len(presses) != 2 || presses[0].Answered {
		t.Fatalf("CallbackQueries = %+v", presses)
	}
	wantOK(t, callJSON(t, srv, "answerCallbackQuery", map[string]any{"callback_query_id": presses[0].ID, "text": "Недоступно", "show_alert": true}))
	if q, _ := srv.CallbackQueryFor(id); !q.Answered || !q.Answer.ShowAlert || q.Answer.Text != "Недоступно" {
		t.Errorf("answer = %+v", q)
	}
	long := make([]rune, 201)
	for i := range long {
		long[i] = 'я'
	}
	wantError(t, callJSON(t, srv, "answerCallbackQuery", map[string]any{"callback_query_id": presses[1].ID, "text": string(long)}), 400, "Bad Request: MESSAGE_TOO_LONG")
	wantError(t, callJSON(t, srv, "answerCallbackQuery", map[string]any{"callback_query_id": presses[1].ID, "url": "https://evil.example"}), 400, "Bad Request: URL_INVALID")
	wantError(t, callJSON(t, srv, "answerCallbackQuery", map[string]any{"callback_query_id": "123"}), 400,
		"Bad Request: query is too old and response timeout expired or query ID is invalid")
}

// nextUpdateIDForTest lets a test confirm everything queued so far.
func (s *Server) nextUpdateIDForTest() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextUpdateID
}

func TestBlockAndUnblock(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	getUpdates(t, srv, map[string]any{"offset": srv.nextUpdateIDForTest()})

	srv.BlockBot(alice)
	u := onlyUpdate(t, srv)
	mcm := u.MyChatMember
	if mcm == nil || mcm.From.ID != alice.ID || mcm.Chat.ID != alice.ID ||
		mcm.OldChatMember.Type != models.ChatMemberTypeMember || mcm.NewChatMember.Type != models.ChatMemberTypeBanned ||
		mcm.NewChatMember.Banned.User.ID != srv.Bot().ID {
		t.Fatalf("block update = %+v", u)
	}
	if !srv.Blocked(alice.ID) {
		t.Errorf("Blocked = false")
	}
	wantError(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "x"}), http.StatusForbidden,
		"Forbidden: bot was blocked by the user")
	wantError(t, callJSON(t, srv, "sendChatAction", map[string]any{"chat_id": alice.ID, "action": "typing"}), http.StatusForbidden,
		"Forbidden: bot was blocked by the user")

	srv.UnblockBot(alice)
	if u := onlyUpdate(t, srv); u.MyChatMember == nil || u.MyChatMember.NewChatMember.Type != models.ChatMemberTypeMember {
		t.Fatalf("unblock update = %+v", u)
	}
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "x"}))

	// Writing to a blocked bot restarts it first, as the app does.
	srv.BlockBot(alice)
	srv.SendText(alice, "/start")
	got := getUpdates(t, srv, nil)
	if len(got) != 3 || got[1].MyChatMember == nil || got[2].Message == nil || srv.Blocked(alice.ID) {
		t.Errorf("updates after writing while blocked: %+v", got)
	}
}

func TestPushRaw(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	getUpdates(t, srv, map[string]any{"offset": srv.nextUpdateIDForTest()})

	id, err := srv.PushRaw([]byte(`{"update_id":1,"message":{"message_id":50,"date":1,"chat":{"id":1001,"type":"private"},"from":{"id":1001,"is_bot":false,"first_name":"A"},"dice":{"emoji":"🎲","value":6}}}`))
	if err != nil {
		t.Fatal(err)
	}
	u := onlyUpdate(t, srv)
	if u.ID != id || u.Message == nil || u.Message.Dice == nil || u.Message.Dice.Value != 6 {
		t.Errorf("raw update = %+v", u)
	}
	if last, _ := srv.LastMessage(alice.ID); last.ID != 50 {
		t.Errorf("raw message not in the chat: %+v", last)
	}
	if _, err := srv.PushRaw([]byte(`{"message":{},"edited_message":{}}`)); err == nil {
		t.Errorf("two update kinds accepted")
	}
}

func TestFailNext(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	params := map[string]any{"chat_id": alice.ID, "text": "x"}

	srv.FailNext("sendMessage", 2, http.StatusTooManyRequests, "", 3)
	for i := 0; i < 2; i++ {
		r := callJSON(t, srv, "sendMessage", params)
		wantError(t, r, http.StatusTooManyRequests, "Too Many Requests: retry after 3")
		if r.Parameters.RetryAfter != 3 {
			t.Errorf("retry_after = %d", r.Parameters.RetryAfter)
		}
	}
	wantOK(t, callJSON(t, srv, "sendMessage", params))

	srv.FailNext("*", 1, http.StatusInternalServerError, "", 0)
	wantOK(t, callJSON(t, srv, "getUpdates", nil)) // "*" leaves polling alone
	wantError(t, callJSON(t, srv, "getMe", nil), http.StatusInternalServerError, "Internal Server Error")
	wantOK(t, callJSON(t, srv, "getMe", nil))

	srv.FailNext("editMessageText", 1, http.StatusBadRequest, "Bad Request: message can't be edited", 0)
	wantError(t, callJSON(t, srv, "editMessageText", map[string]any{"chat_id": alice.ID, "message_id": 2, "text": "y"}), 400,
		"Bad Request: message can't be edited")
	if n := len(srv.Errors()); n != 4 {
		t.Errorf("%d errors recorded, want 4", n)
	}
}

func TestRateLimits(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now})
	srv.SendCommand(alice, "/start")
	srv.SendCommand(bob, "/start")
	srv.EnableRateLimits(RateLimits{})
	send := func(chatID int64) reply {
		return callJSON(t, srv, "sendMessage", map[string]any{"chat_id": chatID, "text": "x"})
	}

	// A private chat: a burst of 3, then one per second.
	for i := 0; i < 3; i++ {
		wantOK(t, send(alice.ID))
	}
	r := send(alice.ID)
	wantError(t, r, http.StatusTooManyRequests, "Too Many Requests: retry after 1")
	if r.Parameters.RetryAfter != 1 {
		t.Errorf("retry_after = %d", r.Parameters.RetryAfter)
	}
	wantOK(t, send(bob.ID)) // another chat is not limited by alice's
	clock.Advance(time.Second)
	wantOK(t, send(alice.ID))
	// Chat actions are not messages.
	wantOK(t, callJSON(t, srv, "sendChatAction", map[string]any{"chat_id": alice.ID, "action": "typing"}))

	// A group: 20 per minute, edits included.
	srv.AddGroup(-100500, "Операторы", true)
	for i := 0; i < 20; i++ {
		wantOK(t, send(-100500))
		clock.Advance(100 * time.Millisecond) // stay under the bot-wide 30/s
	}
	wantErrorPrefix(t, send(-100500), http.StatusTooManyRequests, "Too Many Requests: retry after")

	// The whole bot: 30 per second.
	srv.EnableRateLimits(RateLimits{Global: Rate{Every: time.Second, Burst: 2}})
	wantOK(t, send(alice.ID))
	wantOK(t, send(bob.ID))
	wantError(t, send(bob.ID), http.StatusTooManyRequests, "Too Many Requests: retry after 1")

	srv.DisableRateLimits()
	for i := 0; i < 10; i++ {
		wantOK(t, send(alice.ID))
	}
}
