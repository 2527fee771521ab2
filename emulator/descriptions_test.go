package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// TestBotTextsFallBackToTheDefault: each language has its own description
// and short description or sees the default one; an empty text removes the
// language's own.
func TestBotTextsFallBackToTheDefault(t *testing.T) {
	srv := newServer(t, Options{})
	getDesc := func(lang string) string {
		t.Helper()
		params := map[string]any{}
		if lang != "" {
			params["language_code"] = lang
		}
		return decodeResult[models.BotDescription](t, callJSON(t, srv, "getMyDescription", params)).Description
	}
	getShort := func(lang string) string {
		t.Helper()
		params := map[string]any{}
		if lang != "" {
			params["language_code"] = lang
		}
		return decodeResult[models.BotShortDescription](t, callJSON(t, srv, "getMyShortDescription", params)).ShortDescription
	}

	// A bot with none answers with the object and an empty text, as Telegram does.
	if r := callJSON(t, srv, "getMyDescription", nil); string(r.Result) != `{"description":""}` {
		t.Errorf("getMyDescription of a new bot = %s", r.Result)
	}
	if r := callJSON(t, srv, "getMyShortDescription", map[string]any{"language_code": "en"}); string(r.Result) != `{"short_description":""}` {
		t.Errorf("getMyShortDescription of a new bot = %s", r.Result)
	}

	wantOK(t, callJSON(t, srv, "setMyDescription", map[string]any{"description": "Личный кабинет"}))
	wantOK(t, callJSON(t, srv, "setMyDescription", map[string]any{"description": "Your account", "language_code": "en"}))
	wantOK(t, callJSON(t, srv, "setMyShortDescription", map[string]any{"short_description": "Баланс и оплата"}))
	wantOK(t, callJSON(t, srv, "setMyShortDescription", map[string]any{"short_description": "Balance and payments", "language_code": "en"}))

	for lang, want := range map[string]string{"": "Личный кабинет", "en": "Your account", "ru": "Личный кабинет", "de": "Личный кабинет"} {
		if got := getDesc(lang); got != want {
			t.Errorf("getMyDescription(%q) = %q, want %q", lang, got, want)
		}
	}
	for lang, want := range map[string]string{"": "Баланс и оплата", "en": "Balance and payments", "de": "Баланс и оплата"} {
		if got := getShort(lang); got != want {
			t.Errorf("getMyShortDescription(%q) = %q, want %q", lang, got, want)
		}
	}
	// The accessors: exactly what was set, and what a person sees.
	if srv.Description("de") != "" || srv.Description("en") != "Your account" || srv.ShortDescription("") != "Баланс и оплата" {
		t.Errorf("exact texts: de %q, en %q, short default %q", srv.Description("de"), srv.Description("en"), srv.ShortDescription(""))
	}
	if got := srv.DescriptionFor(User{ID: 5, LanguageCode: "en-GB"}); got != "Your account" {
		t.Errorf("an en-GB user sees %q", got)
	}
	if got := srv.ShortDescriptionFor(alice); got != "Баланс и оплата" {
		t.Errorf("a Russian user sees the short description %q, want the default", got)
	}
	if got := srv.DescriptionFor(User{ID: 6}); got != "Личный кабинет" {
		t.Errorf("a user without a language sees %q, want the default", got)
	}

	// An empty text, or none at all, removes the language's own text.
	wantOK(t, callJSON(t, srv, "setMyDescription", map[string]any{"description": "", "language_code": "en"}))
	wantOK(t, callJSON(t, srv, "setMyShortDescription", map[string]any{"language_code": "en"}))
	if got := getDesc("en"); got != "Личный кабинет" {
		t.Errorf("after removing en, en gets %q, want the default", got)
	}
	if got := getShort("en"); got != "Баланс и оплата" {
		t.Errorf("after removing en, en gets the short %q, want the default", got)
	}
	if srv.Description("en") != "" || srv.ShortDescription("en") != "" {
		t.Error("the en texts are still kept")
	}
	wantOK(t, callJSON(t, srv, "setMyDescription", map[string]any{"description": ""}))
	if got := getDesc("de"); got != "" {
		t.Errorf("after removing the default, de gets %q", got)
	}
}

// TestBotTextLimits: 0-512 characters for a description, 0-120 for a short
// one, counted in characters (a Cyrillic letter is two bytes but one
// character); language_code is empty or two lowercase letters.
func TestBotTextLimits(t *testing.T) {
	srv := newServer(t, Options{})

	wantOK(t, callJSON(t, srv, "setMyDescription", map[string]any{"description": strings.Repeat("я", 512)}))
	wantError(t, callJSON(t, srv, "setMyDescription", map[string]any{"description": strings.Repeat("я", 513), "language_code": "en"}),
		http.StatusBadRequest, "Bad Request: description is too long")
	wantOK(t, callJSON(t, srv, "setMyShortDescription", map[string]any{"short_description": strings.Repeat("я", 120), "language_code": "ru"}))
	wantError(t, callJSON(t, srv, "setMyShortDescription", map[string]any{"short_description": strings.Repeat("я", 121)}),
		http.StatusBadRequest, "Bad Request: short description is too long")
	// A refused text changes nothing.
	if got := srv.Description("en"); got != "" {
		t.Errorf("a refused en description was kept: %d characters", len([]rune(got)))
	}
	if got := srv.ShortDescription(""); got != "" {
		t.Errorf("a refused default short description was kept: %d characters", len([]rune(got)))
	}
	if got := srv.Description(""); got != strings.Repeat("я", 512) {
		t.Errorf("the 512-character default description is %d characters", len([]rune(got)))
	}

	for _, lang := range []string{"eng", "EN", "e", "r1", "ru-RU"} {
		for _, method := range []string{"setMyDescription", "getMyDescription", "setMyShortDescription", "getMyShortDescription"} {
			wantError(t, callJSON(t, srv, method, map[string]any{"language_code": lang}),
				http.StatusBadRequest, "Bad Request: language_code must be a two-letter ISO 639-1 code")
		}
	}
	wantError(t, callJSON(t, srv, "setMyDescription", map[string]any{"text": "x"}),
		http.StatusBadRequest, `Bad Request: unknown parameter "text" for method setMyDescription (Telegram would silently ignore it)`)
	wantError(t, callJSON(t, srv, "setMyShortDescription", map[string]any{"description": "x"}),
		http.StatusBadRequest, `Bad Request: unknown parameter "description" for method setMyShortDescription (Telegram would silently ignore it)`)
}

// TestClientBotTexts: the library's methods work, and its empty text (which
// it leaves out of the request) removes the language's own text.
func TestClientBotTexts(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()

	for _, p := range []*bot.SetMyDescriptionParams{{Description: "Кабинет"}, {Description: "Account", LanguageCode: "en"}} {
		if ok, err := b.SetMyDescription(ctx, p); !ok || err != nil {
			t.Fatalf("SetMyDescription(%+v) = %v, %v", p, ok, err)
		}
	}
	if ok, err := b.SetMyShortDescription(ctx, &bot.SetMyShortDescriptionParams{ShortDescription: "Баланс", LanguageCode: "ru"}); !ok || err != nil {
		t.Fatalf("SetMyShortDescription = %v, %v", ok, err)
	}
	if d, err := b.GetMyDescription(ctx, &bot.GetMyDescriptionParams{LanguageCode: "en"}); err != nil || d.Description != "Account" {
		t.Errorf("GetMyDescription(en) = %+v, %v", d, err)
	}
	if d, err := b.GetMyShortDescription(ctx, &bot.GetMyShortDescriptionParams{LanguageCode: "ru"}); err != nil || d.ShortDescription != "Баланс" {
		t.Errorf("GetMyShortDescription(ru) = %+v, %v", d, err)
	}
	if _, err := b.SetMyDescription(ctx, &bot.SetMyDescriptionParams{LanguageCode: "en"}); err != nil {
		t.Fatalf("SetMyDescription(en, empty): %v", err)
	}
	if d, err := b.GetMyDescription(ctx, &bot.GetMyDescriptionParams{LanguageCode: "en"}); err != nil || d.Description != "Кабинет" {
		t.Errorf("GetMyDescription(en) after removing it = %+v, %v; want the default", d, err)
	}
	if errs := srv.Errors(); len(errs) != 0 {
		t.Errorf("refused calls: %+v", errs)
	}
}
