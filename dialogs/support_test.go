package dialogs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/support"
)

func newSupportHarness(t *testing.T, lang string) *harness {
	t.Helper()
	pool, _ := pgtest.New(t)
	h := newHarness(t, lang)
	h.eng.WithSupport(support.New(pool), dialogs.SupportConfig{Groups: []int64{-100500}, AutoClose: time.Hour})
	return h
}

func TestProblemsInFreeWordsLeadToSupport(t *testing.T) {
	h := newSupportHarness(t, "ru")
	for _, tc := range []struct {
		text    string
		support bool
	}{
		{"не работает интернет", true},
		{"Нет связи с утра!", true},
		{"позовите человека", true},
		{"оператр", true}, // a letter dropped
		{"медленно грузит", true},
		{"не показывает ТВ", true},
		{"help", true},
		{"suport", true},
		{"спасибо, всё отлично", false},
		{"привет", false},
	} {
		res := h.text(tc.text)
		got := all(res)
		if has := strings.Contains(got, "Что случилось?"); has != tc.support {
			t.Errorf("%q led to support: %v, want %v:\n%s", tc.text, has, tc.support, got)
		}
	}
}

func TestNoConnectionOnABlockedAccountSaysWhatLiftsTheBlock(t *testing.T) {
	h := newSupportHarness(t, "ru")
	h.accounts.current[user] = 2 // blocked for debt, 100 ₽ short
	h.accounts.links[user] = []int64{2}
	res := h.press("sup:cat:net")
	mustContain(t, res, "приостановлен за неуплату", "[📝 Всё равно создать заявку|sup:go:net]")
	if h.st.Step != dialogs.StepIdle {
		t.Fatalf("step %q: nothing is filed before the person chooses", h.st.Step)
	}
	mustContain(t, h.press("sup:go:net"), "Опишите проблему")
	if h.st.Step != dialogs.StepSupportDescribe {
		t.Fatalf("step %q, want the description", h.st.Step)
	}
}

func TestARequestWithoutAnAccountAsksForAPhone(t *testing.T) {
	h := newSupportHarness(t, "en")
	mustContain(t, h.press("sup:cat:other"), "Leave a phone number")
	mustContain(t, h.text("call me"), "I do not see a phone number")
	mustContain(t, h.text("+7 916 123-45-67"), "Describe the problem")
	if h.st.Phone != "+79161234567" {
		t.Fatalf("phone %q kept for the request", h.st.Phone)
	}
	mustContain(t, h.do(dialogs.Event{Kind: dialogs.KindText, Text: "Connect my new flat", MessageID: 5}), "1 message", "[📨 Send|sup:send]")
}

func TestAVerbRegisteredTwiceIsRefusedAtStart(t *testing.T) {
	h := newSupportHarness(t, "ru")
	defer func() {
		if recover() == nil {
			t.Fatal("a second WithSupport registered its verbs again without complaint")
		}
	}()
	h.eng.WithSupport(nil, dialogs.SupportConfig{})
}

// Update ids repeat (Telegram starts them anew after a quiet week, and bots
// may share a database): the same id from two people files two requests.
func TestTheSameUpdateIDFromTwoPeopleFilesTwoRequests(t *testing.T) {
	h := newSupportHarness(t, "ru")
	st := dialogs.State{LangLoaded: true, Step: dialogs.StepSupportDescribe, Category: "other", Phone: "+79161234567", Messages: []int{5}, Texts: []string{"x"}, MediaAt: []bool{false}, AlbumAt: []string{""}}
	var replies []string
	for _, who := range []int64{1001, 1002} {
		res, err := h.eng.Handle(context.Background(), st, dialogs.Event{Key: "u100", UserID: who, ChatID: who, Kind: dialogs.KindCallback, Data: "sup:send"})
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, res.Replies[0].Text)
	}
	if replies[0] == replies[1] {
		t.Fatalf("two people were told the same request: %q", replies[0])
	}
}
