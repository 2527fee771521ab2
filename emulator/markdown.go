package emulator

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/go-telegram/bot/models"
)

// at returns the byte at i, or 0 past the end, the way tdlib reads its
// zero-terminated strings; it keeps the parsers below close to Telegram's.
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// utf16Units is how many UTF-16 code units the UTF-8 sequence starting with
// byte c adds: none for continuation bytes, two for 4-byte sequences.
func utf16Units(c byte) int {
	switch {
	case c&0xC0 == 0x80:
		return 0
	case c >= 0xF0:
		return 2
	}
	return 1
}

// parseMarkdownV2 follows Telegram's MarkdownV2 parser (tdlib's
// parse_markdown_v2), including its most common error: a reserved character
// such as '.', '-' or '!' that was not escaped with '\'.
func parseMarkdownV2(s string) (string, []models.MessageEntity, error) {
	type open struct {
		kind       models.MessageEntityType
		arg        string
		offset     int // UTF-16 offset in the output
		outStart   int // byte offset in the output
		beginInput int // byte offset in the input, for errors
	}
	var (
		out      strings.Builder
		entities []models.MessageEntity
		stack    []open
		offset   int
		quote    = -1 // UTF-16 offset where the current '>' block quote began
	)
	closeQuote := func() {
		if quote >= 0 {
			text := out.String()
			end := offset
			if strings.HasSuffix(text, "\n") {
				end-- // the quote ends with its last line, not the line break
			}
			if end > quote {
				entities = append(entities, models.MessageEntity{Type: models.MessageEntityTypeBlockquote, Offset: quote, Length: end - quote})
			}
			quote = -1
		}
	}

	for i := 0; i < len(s); i++ {
		c := s[i]
		inCode := len(stack) > 0 && (stack[len(stack)-1].kind == models.MessageEntityTypeCode || stack[len(stack)-1].kind == models.MessageEntityTypePre)
		lineStart := i == 0 || s[i-1] == '\n'
		if lineStart && !inCode {
			if c == '>' {
				if quote < 0 {
					quote = offset
				}
				continue
			}
			closeQuote()
		}

		if c == '\\' && at(s, i+1) > 0 && at(s, i+1) <= 126 {
			i++
			out.WriteByte(s[i])
			offset++
			continue
		}

		reserved := "_*[]()~`>#+-=|{}.!"
		if inCode {
			reserved = "`"
		}
		if !strings.ContainsRune(reserved, rune(c)) {
			out.WriteByte(c)
			offset += utf16Units(c)
			continue
		}

		isEnd := false
		if len(stack) > 0 {
			switch stack[len(stack)-1].kind {
			case models.MessageEntityTypeBold:
				isEnd = c == '*'
			case models.MessageEntityTypeItalic:
				isEnd = c == '_' && at(s, i+1) != '_'
			case models.MessageEntityTypeCode:
				isEnd = c == '`'
			case models.MessageEntityTypePre:
				isEnd = c == '`' && at(s, i+1) == '`' && at(s, i+2) == '`'
			case models.MessageEntityTypeTextLink, models.MessageEntityTypeCustomEmoji:
				isEnd = c == ']'
			case models.MessageEntityTypeUnderline:
				isEnd = c == '_' && at(s, i+1) == '_'
			case models.MessageEntityTypeStrikethrough:
				isEnd = c == '~'
			case models.MessageEntityTypeSpoiler:
				isEnd = c == '|' && at(s, i+1) == '|'
			}
		}

		if !isEnd {
			begin := i
			var kind models.MessageEntityType
			var arg string
			switch c {
			case '_':
				if at(s, i+1) == '_' {
					kind = models.MessageEntityTypeUnderline
					i++
				} else {
					kind = models.MessageEntityTypeItalic
				}
			case '*':
				kind = models.MessageEntityTypeBold
			case '~':
				kind = models.MessageEntityTypeStrikethrough
			case '|':
				if at(s, i+1) != '|' {
					return "", nil, reservedCharError(c)
				}
				i++
				kind = models.MessageEntityTypeSpoiler
			case '[':
				kind = models.MessageEntityTypeTextLink
			case '`':
				if at(s, i+1) == '`' && at(s, i+2) == '`' {
					i += 3
					kind = models.MessageEntityTypePre
					langEnd := i
					for langEnd < len(s) && !isHTMLSpace(s[langEnd]) && s[langEnd] != '`' {
						langEnd++
					}
					if i != langEnd && langEnd < len(s) && s[langEnd] != '`' {
						arg = s[i:langEnd]
						i = langEnd
					}
					i = skipOneNewline(s, i)
					i--
				} else {
					kind = models.MessageEntityTypeCode
				}
			case '!':
				if at(s, i+1) != '[' {
					return "", nil, reservedCharError(c)
				}
				i++
				kind = models.MessageEntityTypeCustomEmoji
			default:
				return "", nil, reservedCharError(c)
			}
			stack = append(stack, open{kind: kind, arg: arg, offset: offset, outStart: out.Len(), beginInput: begin})
			continue
		}

		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		skip := offset == top.offset
		e := models.MessageEntity{Type: top.kind, Offset: top.offset, Length: offset - top.offset}
		switch top.kind {
		case models.MessageEntityTypeUnderline, models.MessageEntityTypeSpoiler:
			i++
		case models.MessageEntityTypePre:
			i += 2
			e.Language = top.arg
		case models.MessageEntityTypeTextLink, models.MessageEntityTypeCustomEmoji:
			var link string
			if at(s, i+1) != '(' {
				if top.kind == models.MessageEntityTypeCustomEmoji {
					return "", nil, fmt.Errorf("Custom emoji entity must contain a tg://emoji URL")
				}
				link = out.String()[top.outStart:]
			} else {
				i += 2
				urlBegin := i
				var b strings.Builder
				for i < len(s) && s[i] != ')' {
					if s[i] == '\\' && at(s, i+1) > 0 && at(s, i+1) <= 126 {
						b.WriteByte(s[i+1])
						i += 2
						continue
					}
					b.WriteByte(s[i])
					i++
				}
				if i >= len(s) {
					if top.kind == models.MessageEntityTypeCustomEmoji {
						return "", nil, fmt.Errorf("Can't find end of a custom emoji URL at byte offset %d", urlBegin)
					}
					return "", nil, fmt.Errorf("Can't find end of a URL at byte offset %d", urlBegin)
				}
				link = b.String()
			}
			if top.kind == models.MessageEntityTypeCustomEmoji {
				id, ok := customEmojiID(link)
				if !ok {
					return "", nil, fmt.Errorf("Invalid custom emoji URL specified")
				}
				e.CustomEmojiID = id
			} else if checked, ok := checkLink(link); ok {
				e.URL = checked
			} else {
				skip = true
			}
		}
		if !skip {
			entities = append(entities, e)
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return "", nil, fmt.Errorf("Can't find end of %s entity at byte offset %d", markdownEntityName(top.kind), top.beginInput)
	}
	closeQuote()
	return out.String(), entities, nil
}

func reservedCharError(c byte) error {
	return fmt.Errorf("Character '%c' is reserved and must be escaped with the preceding '\\'", c)
}

func markdownEntityName(kind models.MessageEntityType) string {
	switch kind {
	case models.MessageEntityTypeBold:
		return "Bold"
	case models.MessageEntityTypeItalic:
		return "Italic"
	case models.MessageEntityTypeUnderline:
		return "Underline"
	case models.MessageEntityTypeStrikethrough:
		return "Strikethrough"
	case models.MessageEntityTypeSpoiler:
		return "Spoiler"
	case models.MessageEntityTypeCustomEmoji:
		return "CustomEmoji"
	case models.MessageEntityTypeTextLink:
		return "TextUrl"
	case models.MessageEntityTypeCode:
		return "Code"
	}
	return "Pre"
}

// skipOneNewline skips one line break (\n, \r, \r\n or \n\r) after the
// opening ``` of a pre block, as Telegram does.
func skipOneNewline(s string, i int) int {
	if c := at(s, i); c == '\n' || c == '\r' {
		if n := at(s, i+1); (n == '\n' || n == '\r') && n != c {
			return i + 2
		}
		return i + 1
	}
	return i
}

func customEmojiID(link string) (string, bool) {
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "tg" || u.Host != "emoji" {
		return "", false
	}
	id := u.Query().Get("id")
	if id == "" || strings.Trim(id, "0123456789") != "" {
		return "", false
	}
	return id, true
}

// parseMarkdown follows Telegram's legacy Markdown parser (tdlib's
// parse_markdown): *bold*, _italic_, `code`, ```pre``` and [text](url).
func parseMarkdown(s string) (string, []models.MessageEntity, error) {
	var (
		out      strings.Builder
		entities []models.MessageEntity
		offset   int
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if n := at(s, i+1); c == '\\' && (n == '_' || n == '*' || n == '`' || n == '[') {
			i++
			out.WriteByte(s[i])
			offset++
			continue
		}
		if c != '_' && c != '*' && c != '`' && c != '[' {
			out.WriteByte(c)
			offset += utf16Units(c)
			continue
		}

		begin := i
		endChar := c
		if c == '[' {
			endChar = ']'
		}
		i++
		isPre := false
		var language string
		if c == '`' && at(s, i) == '`' && at(s, i+1) == '`' {
			i += 2
			isPre = true
			langEnd := i
			for langEnd < len(s) && !isHTMLSpace(s[langEnd]) && s[langEnd] != '`' {
				langEnd++
			}
			if i != langEnd && langEnd < len(s) && s[langEnd] != '`' {
				language = s[i:langEnd]
				i = langEnd
			}
			i = skipOneNewline(s, i)
		}

		start, outStart := offset, out.Len()
		for i < len(s) && (s[i] != endChar || (isPre && !(at(s, i+1) == '`' && at(s, i+2) == '`'))) {
			out.WriteByte(s[i])
			offset += utf16Units(s[i])
			i++
		}
		if i >= len(s) {
			return "", nil, fmt.Errorf("Can't find end of the entity starting at byte offset %d", begin)
		}

		if offset != start {
			e := models.MessageEntity{Offset: start, Length: offset - start}
			keep := true
			switch c {
			case '_':
				e.Type = models.MessageEntityTypeItalic
			case '*':
				e.Type = models.MessageEntityTypeBold
			case '[':
				link := out.String()[outStart:]
				if at(s, i+1) == '(' {
					i += 2
					var b strings.Builder
					for i < len(s) && s[i] != ')' {
						b.WriteByte(s[i])
						i++
					}
					link = b.String()
				}
				checked, ok := checkLink(link)
				e.Type, e.URL, keep = models.MessageEntityTypeTextLink, checked, ok
			case '`':
				e.Type = models.MessageEntityTypeCode
				if isPre {
					e.Type, e.Language = models.MessageEntityTypePre, language
				}
			}
			if keep {
				entities = append(entities, e)
			}
		}
		if isPre {
			i += 2
		}
	}
	return out.String(), entities, nil
}
