// Package locales holds every text a person reads, in Russian (the default)
// and English, as go-i18n message files embedded in the binary.
package locales

import (
	"embed"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed *.toml
var files embed.FS

// Languages lists the supported languages, the default first.
var Languages = []string{"ru", "en"}

// Catalog renders messages by id in a language.
type Catalog struct {
	bundle     *i18n.Bundle
	localizers map[string]*i18n.Localizer
}

// Load reads the embedded message files.
func Load() (*Catalog, error) {
	bundle := i18n.NewBundle(language.Russian)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	for _, lang := range Languages {
		if _, err := bundle.LoadMessageFileFS(files, lang+".toml"); err != nil {
			return nil, fmt.Errorf("locales: %w", err)
		}
	}
	c := &Catalog{bundle: bundle, localizers: map[string]*i18n.Localizer{}}
	for _, lang := range Languages {
		c.localizers[lang] = i18n.NewLocalizer(bundle, lang)
	}
	return c, nil
}

// MustLoad is Load for tests and main, where a broken embedded file is a bug.
func MustLoad() *Catalog {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// Resolve maps Telegram's language_code to a supported language: English for
// "en" and its variants, Russian for everything else (the provider's default).
func Resolve(code string) string {
	if strings.HasPrefix(strings.ToLower(code), "en") {
		return "en"
	}
	return "ru"
}

// T renders message id in lang with template data.
func (c *Catalog) T(lang, id string, data map[string]any) string {
	return c.render(lang, &i18n.LocalizeConfig{MessageID: id, TemplateData: data})
}

// N renders a message with plural forms for count; data gets Count too.
func (c *Catalog) N(lang, id string, count int, data map[string]any) string {
	if data == nil {
		data = map[string]any{}
	}
	data["Count"] = count
	return c.render(lang, &i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
}

func (c *Catalog) render(lang string, cfg *i18n.LocalizeConfig) string {
	l, ok := c.localizers[lang]
	if !ok {
		l = c.localizers[Languages[0]]
	}
	s, err := l.Localize(cfg)
	if err != nil {
		// A missing message is a bug the locale tests catch; show the id
		// rather than nothing so that the person still gets an answer.
		return cfg.MessageID
	}
	return s
}
