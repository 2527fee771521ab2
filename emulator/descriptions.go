package emulator

import (
	"strings"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"
)

// botText is one of the bot's texts that Telegram keeps per language: the
// description (shown in an empty chat with the bot, above Start) and the
// short description (the profile page and shared links). The language ""
// is the default, shown to everyone whose language has no text of its own.
type botText struct {
	field   string // the parameter of setMy*: "description", "short_description"
	limit   int    // characters, counted as Telegram counts text (UTF-16)
	tooLong string
}

var (
	descriptionText      = botText{field: "description", limit: 512, tooLong: "description is too long"}
	shortDescriptionText = botText{field: "short_description", limit: 120, tooLong: "short description is too long"}
)

// botTextKey is where one text is kept: which text, for which language.
type botTextKey struct {
	field string
	lang  string
}

// botTextLanguage reads language_code of the *MyDescription and
// *MyShortDescription methods: empty or two lowercase Latin letters.
func botTextLanguage(p params) (string, *apiError) {
	lang := p.str("language_code")
	if lang != "" && !languageCode.MatchString(lang) {
		return "", badRequest("language_code must be a two-letter ISO 639-1 code")
	}
	return lang, nil
}

// setBotText is setMyDescription and setMyShortDescription: the text for
// the language, or, when empty or missing, no text of its own for it (the
// default one applies again; for language "" there is then none at all).
func (s *Server) setBotText(t botText, p params) (result, *apiError) {
	text := p.str(t.field)
	if !utf8.ValidString(text) {
		return result{}, badRequest("strings must be encoded in UTF-8")
	}
	lang, err := botTextLanguage(p)
	if err != nil {
		return result{}, err
	}
	if utf16Len(text) > t.limit {
		return result{}, badRequest("%s", t.tooLong)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if text == "" {
		delete(s.botTexts, botTextKey{t.field, lang})
	} else {
		s.botTexts[botTextKey{t.field, lang}] = text
	}
	return result{value: true}, nil
}

// botTextFor is the text someone with this language sees: the language's
// own, else the default, else "". The caller holds s.mu.
func (s *Server) botTextFor(t botText, lang string) string {
	if text, ok := s.botTexts[botTextKey{t.field, lang}]; ok {
		return text
	}
	return s.botTexts[botTextKey{t.field, ""}]
}

func (s *Server) getMyDescription(p params) (result, *apiError) {
	lang, err := botTextLanguage(p)
	if err != nil {
		return result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return result{value: models.BotDescription{Description: s.botTextFor(descriptionText, lang)}}, nil
}

func (s *Server) getMyShortDescription(p params) (result, *apiError) {
	lang, err := botTextLanguage(p)
	if err != nil {
		return result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return result{value: models.BotShortDescription{ShortDescription: s.botTextFor(shortDescriptionText, lang)}}, nil
}

// Description returns the description set for exactly this language ("":
// the default), with no fallback; "" when none.
func (s *Server) Description(languageCode string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.botTexts[botTextKey{descriptionText.field, languageCode}]
}

// ShortDescription returns the short description set for exactly this
// language ("": the default), with no fallback; "" when none.
func (s *Server) ShortDescription(languageCode string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.botTexts[botTextKey{shortDescriptionText.field, languageCode}]
}

// DescriptionFor returns the description a person sees in an empty chat with
// the bot, found as Telegram does: the one for their language (the primary
// subtag of LanguageCode, "pt" of "pt-br"), else the default.
func (s *Server) DescriptionFor(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.botTextFor(descriptionText, primaryLanguage(u.LanguageCode))
}

// ShortDescriptionFor returns the short description a person sees on the
// bot's profile, found as DescriptionFor finds the description.
func (s *Server) ShortDescriptionFor(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.botTextFor(shortDescriptionText, primaryLanguage(u.LanguageCode))
}

// primaryLanguage is the language of an IETF tag as Telegram clients send
// it ("en", "pt-br"), in lower case.
func primaryLanguage(tag string) string {
	lang, _, _ := strings.Cut(tag, "-")
	return strings.ToLower(lang)
}
