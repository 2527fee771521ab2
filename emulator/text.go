package emulator

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"
)

// Telegram's length limits, counted in UTF-16 code units after entities are
// parsed (HTML tags and Markdown marks don't count, an emoji may count 2).
const (
	maxTextLen    = 4096
	maxCaptionLen = 1024
)

// utf16Len counts a string the way Telegram counts message length and entity
// offsets.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// formatted is a text as the person sees it, with its entities.
type formatted struct {
	text     string
	entities []models.MessageEntity
}

// formatText turns what a bot sent (text, parse_mode, entities) into what the
// person sees, with Telegram's errors for broken markup. Leading and trailing
// white space is removed, as Telegram does.
func formatText(raw, parseMode string, explicit []models.MessageEntity) (formatted, *apiError) {
	if !utf8.ValidString(raw) {
		return formatted{}, badRequest("strings must be encoded in UTF-8")
	}
	var f formatted
	var err error
	switch {
	case len(explicit) > 0:
		// Telegram uses given entities and ignores parse_mode then.
		f = formatted{text: raw, entities: explicit}
	case parseMode == "":
		f = formatted{text: raw}
	case strings.EqualFold(parseMode, "HTML"):
		f.text, f.entities, err = parseHTML(raw)
	case strings.EqualFold(parseMode, "MarkdownV2"):
		f.text, f.entities, err = parseMarkdownV2(raw)
	case strings.EqualFold(parseMode, "Markdown"):
		f.text, f.entities, err = parseMarkdown(raw)
	default:
		return formatted{}, badRequest("unsupported parse_mode")
	}
	if err != nil {
		return formatted{}, badRequest("can't parse entities: %v", err)
	}
	return trimFormatted(f), nil
}

// trimFormatted strips leading and trailing white space and moves or clips
// the entities accordingly.
func trimFormatted(f formatted) formatted {
	start := strings.TrimLeftFunc(f.text, unicode.IsSpace)
	cut := utf16Len(f.text[:len(f.text)-len(start)])
	text := strings.TrimRightFunc(start, unicode.IsSpace)
	length := utf16Len(text)

	var entities []models.MessageEntity
	for _, e := range f.entities {
		from, to := e.Offset-cut, e.Offset+e.Length-cut
		from = max(from, 0)
		to = min(to, length)
		if to <= from {
			continue
		}
		e.Offset, e.Length = from, to-from
		entities = append(entities, e)
	}
	sort.SliceStable(entities, func(i, j int) bool {
		if entities[i].Offset != entities[j].Offset {
			return entities[i].Offset < entities[j].Offset
		}
		return entities[i].Length > entities[j].Length
	})
	return formatted{text: text, entities: entities}
}
