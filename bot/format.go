package bot

import (
	"html"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"
)

// formatHTML writes a message's text with its formatting (bold, links,
// code...) as the HTML the Bot API's parse_mode takes, every character of
// the text escaped: what a person formatted stays formatted when the bot
// writes it on (an operator's answer, signed, to the subscriber).
//
// Entities count UTF-16 code units, as Telegram does. What Telegram finds
// by itself (mentions, links, hashtags, commands) needs no tag. An entity
// that overlaps another without nesting in it is dropped: the text stays,
// only that formatting is lost.
func formatHTML(text string, entities []models.MessageEntity) string {
	type span struct {
		start, end  int // UTF-16 offsets
		open, close string
	}
	var spans []span
	for _, e := range entities {
		open, close, ok := entityTags(e)
		if ok && e.Length > 0 {
			spans = append(spans, span{e.Offset, e.Offset + e.Length, open, close})
		}
	}
	if len(spans) == 0 {
		return html.EscapeString(text)
	}
	// Outer first: by start, the longer one first.
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].end > spans[j].end
	})
	var b strings.Builder
	var stack []span
	next, pos := 0, 0
	closeTo := func(at int) {
		for len(stack) > 0 && stack[len(stack)-1].end <= at {
			b.WriteString(stack[len(stack)-1].close)
			stack = stack[:len(stack)-1]
		}
	}
	openAt := func(at int) {
		for next < len(spans) && spans[next].start <= at {
			s := spans[next]
			next++
			if s.start < at || len(stack) > 0 && s.end > stack[len(stack)-1].end {
				continue // overlaps without nesting
			}
			b.WriteString(s.open)
			stack = append(stack, s)
		}
	}
	for i := 0; i < len(text); {
		closeTo(pos)
		openAt(pos)
		r, size := utf8.DecodeRuneInString(text[i:])
		b.WriteString(html.EscapeString(text[i : i+size]))
		i += size
		if r >= 0x10000 {
			pos += 2
		} else {
			pos++
		}
	}
	closeTo(1 << 62)
	return b.String()
}

// entityTags are the HTML tags of a formatting entity; ok is false for
// what needs none.
func entityTags(e models.MessageEntity) (open, close string, ok bool) {
	switch e.Type {
	case models.MessageEntityTypeBold:
		return "<b>", "</b>", true
	case models.MessageEntityTypeItalic:
		return "<i>", "</i>", true
	case models.MessageEntityTypeUnderline:
		return "<u>", "</u>", true
	case models.MessageEntityTypeStrikethrough:
		return "<s>", "</s>", true
	case models.MessageEntityTypeSpoiler:
		return "<tg-spoiler>", "</tg-spoiler>", true
	case models.MessageEntityTypeCode:
		return "<code>", "</code>", true
	case models.MessageEntityTypePre:
		if e.Language != "" {
			return `<pre><code class="language-` + html.EscapeString(e.Language) + `">`, "</code></pre>", true
		}
		return "<pre>", "</pre>", true
	case models.MessageEntityTypeTextLink:
		return `<a href="` + html.EscapeString(e.URL) + `">`, "</a>", true
	case models.MessageEntityTypeBlockquote:
		return "<blockquote>", "</blockquote>", true
	case models.MessageEntityTypeExpandableBlockquote:
		return "<blockquote expandable>", "</blockquote>", true
	case models.MessageEntityTypeCustomEmoji:
		return `<tg-emoji emoji-id="` + html.EscapeString(e.CustomEmojiID) + `">`, "</tg-emoji>", true
	case models.MessageEntityTypeTextMention:
		if e.User != nil {
			return `<a href="tg://user?id=` + strconv.FormatInt(e.User.ID, 10) + `">`, "</a>", true
		}
	}
	return "", "", false
}
