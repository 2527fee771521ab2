package locales

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// load decodes a message file into id -> fields (plain "other" for one-line messages).
func load(t *testing.T, lang string) map[string]map[string]string {
	t.Helper()
	raw := map[string]any{}
	if _, err := toml.DecodeFS(files, lang+".toml", &raw); err != nil {
		t.Fatalf("%s: %v", lang, err)
	}
	out := map[string]map[string]string{}
	for id, v := range raw {
		switch v := v.(type) {
		case string:
			out[id] = map[string]string{"other": v}
		case map[string]any:
			m := map[string]string{}
			for k, s := range v {
				m[k], _ = s.(string)
			}
			out[id] = m
		}
	}
	return out
}

// Every message exists in every language, and plural messages have every
// form the language needs: Russian one/few/many (1 день, 3 дня, 5 дней).
func TestEveryMessageInEveryLanguage(t *testing.T) {
	ru, en := load(t, "ru"), load(t, "en")
	if len(ru) < 10 {
		t.Fatalf("only %d Russian messages", len(ru))
	}
	for id, forms := range ru {
		enForms, ok := en[id]
		if !ok {
			t.Errorf("%s: missing in en", id)
			continue
		}
		if _, plural := forms["one"]; plural {
			for _, f := range []string{"one", "few", "many", "other"} {
				if forms[f] == "" {
					t.Errorf("%s: ru lacks plural form %q", id, f)
				}
			}
			for _, f := range []string{"one", "other"} {
				if enForms[f] == "" {
					t.Errorf("%s: en lacks plural form %q", id, f)
				}
			}
		}
	}
	for id := range en {
		if _, ok := ru[id]; !ok {
			t.Errorf("%s: missing in ru", id)
		}
	}
}

func TestRussianPlurals(t *testing.T) {
	c := MustLoad()
	for n, want := range map[int]string{1: "1 день", 3: "3 дня", 5: "5 дней", 11: "11 дней", 21: "21 день", 22: "22 дня", 25: "25 дней"} {
		if got := c.N("ru", "balance_days_left", n, nil); !strings.Contains(got, want) {
			t.Errorf("%d days: %q does not contain %q", n, got, want)
		}
	}
	if got := c.N("en", "balance_days_left", 1, nil); !strings.Contains(got, "1 day") {
		t.Errorf("en 1 day: %q", got)
	}
}

func TestResolve(t *testing.T) {
	for code, want := range map[string]string{"en": "en", "en-GB": "en", "ru": "ru", "": "ru", "uk": "ru", "EN": "en"} {
		if got := Resolve(code); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", code, got, want)
		}
	}
}
