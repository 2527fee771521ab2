package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/state"
)

// accountID looks up an account's internal id, as a forged button would carry it.
func (s *stack) accountID(number string) int64 {
	s.t.Helper()
	var id int64
	if err := s.db().QueryRow(context.Background(), `SELECT id FROM accounts WHERE number = $1`, number).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// linkedCount counts the accounts linked to a Telegram user.
func (s *stack) linkedCount(userID int64) int {
	s.t.Helper()
	var n int
	if err := s.db().QueryRow(context.Background(), `SELECT count(*) FROM telegram_links WHERE telegram_user_id = $1`, userID).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// link walks a new user through /start and linking an account by number.
func (s *stack) link(u emulator.User, number, phone string) {
	s.t.Helper()
	s.emu.SendCommand(u, "/start")
	s.next(u, "Здравствуйте")
	s.linkAccount(u, number, phone) // a bare number starts linking
}

func TestBadInputGetsAHintAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, nil)
	u := newUser("ru")
	s.emu.SendCommand(u, "/start")
	s.next(u, "Здравствуйте")
	s.next(u, "привяжите лицевой счёт")
	s.press(u, "Привязать лицевой счёт")
	s.next(u, "номер лицевого счёта")
	for _, input := range []string{"1' OR '1'='1", "١٢٣٤٥٦٧٨٩٠", strings.Repeat("9", 4096), "1000000001; DROP TABLE accounts"} {
		s.emu.SendText(u, input)
		s.next(u, "от 5 до 20 цифр")
	}
	// A sticker, a photo and an edited message get a polite answer and the step again.
	s.emu.SendSticker(u)
	s.next(u, "Мне нужен номер лицевого счёта")
	s.emu.SendPhoto(u, "мой договор")
	s.next(u, "Мне нужен номер лицевого счёта")
	msgs := s.emu.Messages(u.ID)
	var mine int
	for _, m := range msgs {
		if !m.FromBot {
			mine = m.ID
		}
	}
	if _, err := s.emu.EditText(u, mine, "исправил"); err == nil {
		s.next(u, "исправленные сообщения")
	}
	if n := len(s.sms.All()); n != 0 {
		t.Errorf("%d SMS sent for bad input", n)
	}
	if s.accountID("1000000001") == 0 || s.linkedCount(u.ID) != 0 {
		t.Error("bad input changed the data")
	}
}

func TestSomeoneElsesContactIsRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, nil)
	u := newUser("en")
	s.emu.SendCommand(u, "/start")
	s.next(u, "account number")
	c := ownContact(u, "79000000001")
	c.UserID = u.ID + 1
	s.emu.SendContact(u, c)
	s.next(u, "Only your own number")
	c.UserID = 0 // a number typed into the address book
	s.emu.SendContact(u, c)
	s.next(u, "Only your own number")
	if n := len(s.sms.All()); n != 0 {
		t.Errorf("%d SMS sent for someone else's contact", n)
	}
}

// A button naming an account that is not linked to the sender does nothing
// but say so; the same for an old button after unlinking.
func TestForgedAccountButtonsDoNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, nil)
	u := newUser("ru")
	s.link(u, "1000000004", "+79000000004")
	bal := s.emu.BotMessages(u.ID)
	last := bal[len(bal)-1]
	other := s.accountID("1000000001")
	for _, data := range []string{fmt.Sprintf("balr:%d", other), fmt.Sprintf("sw:%d", other), fmt.Sprintf("un:%d", other), fmt.Sprintf("unok:%d", other), fmt.Sprintf("bal:%d", other)} {
		s.emu.PressButton(u, last.ID, data)
	}
	s.waitFor("five answers", func() bool { return len(s.emu.CallsTo("answerCallbackQuery")) >= 5 })
	time.Sleep(200 * time.Millisecond)
	for _, m := range s.emu.BotMessages(u.ID) {
		if strings.Contains(m.Text, "1000000001") {
			t.Fatalf("a forged button showed another account: %s", m.Text)
		}
	}
	if !hasPrefix(s.toasts(), "Этот счёт не привязан") {
		t.Errorf("toasts: %v", s.toasts())
	}
	if s.linkedCount(u.ID) != 1 {
		t.Error("links changed")
	}
}

// The webhook refuses requests without the secret or over 1 MiB, and an
// update delivered twice is handled once.
func TestWebhookRefusesStrangersAndDuplicates(t *testing.T) {
	t.Parallel()
	s := newStack(t, webhook, nil)
	u := newUser("ru")
	s.emu.SendCommand(u, "/help")
	s.next(u, "Что я умею")

	update := fmt.Sprintf(`{"update_id":999999001,"message":{"message_id":900,"date":%d,"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"T","language_code":"ru"},"text":"/help","entities":[{"type":"bot_command","offset":0,"length":5}]}}`,
		time.Now().Unix(), u.ID, u.ID)
	post := func(secret string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, s.env["WEBHOOK_URL"], bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("", []byte(update)); code != http.StatusUnauthorized {
		t.Errorf("no secret: %d", code)
	}
	if code := post("wrong", []byte(update)); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	big := append([]byte(`{"update_id":1,"message":{"text":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	if code := post(s.env["WEBHOOK_SECRET"], big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", code)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(s.emu.BotMessages(u.ID)); n != 1 {
		t.Fatalf("refused requests were handled: %d bot messages", n)
	}
	for i := 0; i < 3; i++ {
		if code := post(s.env["WEBHOOK_SECRET"], []byte(update)); code != http.StatusOK {
			t.Errorf("delivery %d: %d", i, code)
		}
	}
	s.next(u, "Что я умею")
	time.Sleep(300 * time.Millisecond)
	if n := len(s.emu.BotMessages(u.ID)); n != 2 {
		t.Errorf("an update delivered three times gave %d replies, want 1", n-1)
	}
}

// A person who blocks the bot is remembered as unreachable (pushes skip
// them) until they unblock it.
func TestBlockingTheBotIsRemembered(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, nil)
	u := newUser("ru")
	s.emu.SendCommand(u, "/help")
	s.next(u, "Что я умею")
	rdb, _ := redistest.New(t)
	store := state.New(rdb, fmt.Sprintf("kabinet:%d:", s.emu.Bot().ID))
	member := func() bool { ok, err := store.Reachable(context.Background(), u.ID); return err == nil && !ok }
	s.emu.BlockBot(u)
	s.waitFor("the chat marked unreachable", member)
	s.emu.UnblockBot(u)
	s.waitFor("the chat reachable again", func() bool { return !member() })
}
