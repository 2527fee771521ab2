package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	tgbot "github.com/go-telegram/bot"

	"github.com/kabinet-bot/kabinet/locales"
)

// botTexts are the description and short description in the locales.
func botTexts(t *testing.T) (desc, short map[string]string) {
	t.Helper()
	text, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	desc, short = map[string]string{}, map[string]string{}
	for _, lang := range []string{"ru", "en"} {
		desc[lang], short[lang] = text.T(lang, "bot_description", nil), text.T(lang, "bot_short_description", nil)
	}
	if !strings.Contains(desc["ru"], "Личный кабинет") || !strings.Contains(desc["en"], "account") || desc["ru"] == short["ru"] {
		t.Fatalf("the locales' texts are not what this test expects: %q, %q", desc, short)
	}
	return desc, short
}

// TestDescriptionsSetAtStart: after serve starts, an empty chat shows the
// Russian description by default and to Russian speakers and the English
// one to English speakers, and the same for the short description. A
// restart sets nothing that is already right, and sets again a text
// changed behind its back.
func TestDescriptionsSetAtStart(t *testing.T) {
	t.Parallel()
	desc, short := botTexts(t)
	s := newStack(t, polling, nil)

	check := func(when string) {
		t.Helper()
		for lang, want := range map[string]string{"": desc["ru"], "ru": desc["ru"], "en": desc["en"]} {
			if got := s.emu.Description(lang); got != want {
				t.Errorf("%s: description for %q = %q, want %q", when, lang, got, want)
			}
		}
		for lang, want := range map[string]string{"": short["ru"], "ru": short["ru"], "en": short["en"]} {
			if got := s.emu.ShortDescription(lang); got != want {
				t.Errorf("%s: short description for %q = %q, want %q", when, lang, got, want)
			}
		}
		if got := s.emu.DescriptionFor(newUser("de")); got != desc["ru"] {
			t.Errorf("%s: a German speaker sees %q, want the Russian default", when, got)
		}
	}
	check("first start")
	sets := func() int {
		return len(s.emu.CallsTo("setMyDescription")) + len(s.emu.CallsTo("setMyShortDescription"))
	}
	if n := sets(); n != 6 {
		t.Errorf("first start: %d set calls, want 6 (two texts, three languages)", n)
	}

	s.stop()
	s.start()
	check("restart")
	if n := sets(); n != 6 {
		t.Errorf("a restart with nothing changed made %d more set calls", n-6)
	}
	if n := len(s.emu.CallsTo("getMyDescription")); n != 6 {
		t.Errorf("getMyDescription was called %d times over two starts, want 6", n)
	}

	// Someone changes the English description (in @BotFather, say): the
	// next start puts the locale's text back, and only that one.
	api, err := tgbot.New(s.emu.Token(), tgbot.WithServerURL(s.emu.URL()), tgbot.WithSkipGetMe(), tgbot.WithHTTPClient(0, http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.SetMyDescription(context.Background(), &tgbot.SetMyDescriptionParams{Description: "Old text", LanguageCode: "en"}); err != nil {
		t.Fatal(err)
	}
	s.stop()
	s.start()
	check("restart after a change")
	if n := sets(); n != 6+1+1 {
		t.Errorf("after the en description changed: %d set calls, want 8 (the change and its repair)", n)
	}
}

// TestDescriptionFailureDoesNotStopServe: Telegram refusing the
// descriptions (it rate-limits these methods) leaves a warning without the
// token, and the bot starts and answers all the same; the texts that could
// be set are.
func TestDescriptionFailureDoesNotStopServe(t *testing.T) {
	t.Parallel()
	_, short := botTexts(t)
	s := prepareStack(t, polling, nil)
	s.emu.FailNext("setMyDescription", 3, http.StatusTooManyRequests, "", 30)
	s.tolerate = append(s.tolerate, "Too Many Requests")
	s.start() // fails the test if serve does not start

	u := newUser("ru")
	s.emu.SendCommand(u, "/start")
	s.next(u, "Здравствуйте")

	logs := s.logs.String()
	if !strings.Contains(logs, "could not set the bot's description") || !strings.Contains(logs, "setMyDescription en") {
		t.Errorf("no warning naming the failed call in the logs:\n%s", logs)
	}
	if strings.Contains(logs, "setMyShortDescription") {
		t.Error("the short descriptions, which were set, are reported as failed")
	}
	if got := s.emu.Description(""); got != "" {
		t.Errorf("default description = %q, want none: every set was refused", got)
	}
	if s.emu.ShortDescription("") != short["ru"] || s.emu.ShortDescription("en") != short["en"] {
		t.Errorf("short descriptions not set: default %q, en %q", s.emu.ShortDescription(""), s.emu.ShortDescription("en"))
	}
}
