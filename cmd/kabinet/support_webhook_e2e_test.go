package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kabinet-bot/kabinet/support"
)

// helpdesk is an external helpdesk receiving the support webhook: it
// keeps what it got, once per event id, and counts the bad signatures.
type helpdesk struct {
	mu     sync.Mutex
	events []support.Payload
	seen   map[string]bool
	bad    int
}

func newHelpdesk(t *testing.T, secret string) (*helpdesk, string) {
	h := &helpdesk{seen: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if !support.VerifySignature([]byte(secret), body, r.Header.Get("X-Kabinet-Signature")) {
			h.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("X-Kabinet-Event-Id")
		if h.seen[id] { // a repeat: already have it
			return
		}
		var p support.Payload
		if err := json.Unmarshal(body, &p); err != nil || strconv.FormatInt(p.ID, 10) != id {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		h.seen[id] = true
		h.events = append(h.events, p)
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL + "/hooks/kabinet"
}

func (h *helpdesk) got() []support.Payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]support.Payload(nil), h.events...)
}

// kindsOf lists the kinds of request id's events, in the order they came.
func kindsOf(evs []support.Payload, id int64) []string {
	var out []string
	for _, e := range evs {
		if e.Request == id {
			out = append(out, e.Kind)
		}
	}
	return out
}

// kindsInOrder tells whether want appears in got in this order (other kinds
// may come between).
func kindsInOrder(got, want []string) bool {
	i := 0
	for _, k := range got {
		if i < len(want) && k == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestSupportWebhookTellsTheHelpdesk(t *testing.T) {
	secret := randomHex(32)
	desk, url := newHelpdesk(t, secret)
	s, op := supportStack(t, polling, "SUPPORT_WEBHOOK_URL", url, "SUPPORT_WEBHOOK_SECRET", secret)

	u := newUser("ru")
	s.emu.SendCommand(u, "/start")
	s.next(u, "привяжите лицевой счёт")
	s.linkAccount(u, "1000000001", "+79000000001")
	filed := s.fileRequest(u, "Нет связи", "", "Пропал интернет с утра")
	var id int64
	if _, err := fmt.Sscanf(filed.Text[strings.Index(filed.Text, "№"):], "№ %d", &id); err != nil || id == 0 {
		t.Fatalf("no request number in %q", filed.Text)
	}
	thread := s.topicOf(fmt.Sprintf("№%d", id))
	card := s.inTopic(thread, fmt.Sprintf("Заявка №%d", id))
	s.inTopic(thread, "Пропал интернет")

	// The operator answers and notes; the subscriber writes back.
	if _, err := s.emu.PostText(supportGroup, thread, op, "Перезагрузите роутер"); err != nil {
		t.Fatal(err)
	}
	s.next(u, "Перезагрузите роутер")
	note, err := s.emu.PostText(supportGroup, thread, op, "/note проверить линию")
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor("the note taken", func() bool { return slices.Contains(s.emu.Reactions(supportGroup, note.MessageID), "✍") })
	s.emu.SendText(u, "Помогло")
	s.inTopic(thread, "Помогло")

	// Solved, confirmed, rated, commented.
	if _, err := s.emu.PressButtonIn(supportGroup, op, card.ID, cardButton(t, card, "Решено")); err != nil {
		t.Fatal(err)
	}
	s.next(u, "Вопрос решён?")
	s.press(u, "Да")
	s.next(u, "Оцените")
	s.press(u, "4⭐")
	s.next(u, "комментарий")
	s.emu.SendText(u, "Быстро ответили")
	s.next(u, "Спасибо за оценку")

	want := []string{"created", "message", "message", "message", "solved", "closed", "rated", "rated"}
	var evs []support.Payload
	s.waitFor("the helpdesk to hear of everything", func() bool {
		evs = desk.got()
		return kindsInOrder(kindsOf(evs, id), want)
	})
	got := kindsOf(evs, id)
	if !kindsInOrder(got, []string{"created", "message", "message", "message", "solved", "closed", "rated", "rated"}) {
		t.Errorf("the helpdesk got %v", got)
	}
	desk.mu.Lock()
	if desk.bad != 0 {
		t.Errorf("%d POSTs with a bad signature", desk.bad)
	}
	desk.mu.Unlock()

	byKind := map[string][]map[string]any{}
	for _, e := range evs {
		var d map[string]any
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		byKind[e.Kind] = append(byKind[e.Kind], d)
		// Nothing a helpdesk does not need: no phone, no account number.
		if strings.Contains(string(e.Data), "79000000001") || strings.Contains(string(e.Data), "1000000001") {
			t.Errorf("a %s event carries the phone or the account number: %s", e.Kind, e.Data)
		}
	}
	created := byKind["created"][0]
	if created["category"] != "net" || created["city"] != "Москва" || created["lang"] != "ru" || created["account_id"] == 0.0 {
		t.Errorf("created: %v", created)
	}
	msgs := byKind["message"]
	texts := []string{}
	for _, m := range msgs {
		texts = append(texts, fmt.Sprintf("%s/%v:%s", m["side"], m["internal"], m["text"]))
	}
	if strings.Join(texts, " | ") != "operator/false:Перезагрузите роутер | operator/true:проверить линию | subscriber/false:Помогло" {
		t.Errorf("messages: %v", texts)
	}
	if r := byKind["rated"]; len(r) != 2 || r[0]["rating"] != 4.0 || r[1]["comment"] != "Быстро ответили" {
		t.Errorf("rated: %v", r)
	}
	if c := byKind["closed"][0]; c["from"] != "solved" {
		t.Errorf("closed: %v", c)
	}
	if strings.Contains(s.logs.String(), secret) {
		t.Error("SUPPORT_WEBHOOK_SECRET is in the logs")
	}
}
