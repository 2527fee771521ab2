package emulator

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"
)

// parseHTML follows Telegram's HTML parser (tdlib's parse_html): the same
// tags, the same attribute rules and the same error texts, so that markup
// Telegram rejects is rejected here too.
//
// One rule is stricter on purpose: Telegram keeps a "&" that starts no known
// entity as a literal "&"; the emulator rejects it. A bare "&" in text means a
// value was put into HTML without escaping, and the same value with "<" in it
// would break the message in production.
func parseHTML(s string) (string, []models.MessageEntity, error) {
	type openTag struct {
		name     string
		arg      string
		offset   int // UTF-16 offset in the output
		outStart int // byte offset in the output
	}
	var (
		out      strings.Builder
		entities []models.MessageEntity
		stack    []openTag
		offset   int
	)

	i := 0
	for i < len(s) {
		c := s[i]
		if c == '&' {
			r, n := decodeHTMLEntity(s[i:])
			if n == 0 {
				return "", nil, fmt.Errorf("unescaped \"&\" at byte offset %d: write it as &amp;", i)
			}
			out.WriteRune(r)
			offset += utf16Len(string(r))
			i += n
			continue
		}
		if c != '<' {
			_, size := utf8.DecodeRuneInString(s[i:])
			out.WriteString(s[i : i+size])
			offset += utf16Len(s[i : i+size])
			i += size
			continue
		}

		begin := i
		i++
		if i >= len(s) || s[i] != '/' {
			// An opening tag.
			end := i
			for end < len(s) && !isHTMLSpace(s[end]) && s[end] != '>' {
				end++
			}
			name := strings.ToLower(s[i:end])
			if !supportedHTMLTag(name) {
				return "", nil, fmt.Errorf("Unsupported start tag \"%s\" at byte offset %d", name, begin)
			}
			i = end

			var arg string
			for {
				for i < len(s) && isHTMLSpace(s[i]) {
					i++
				}
				if i >= len(s) {
					return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
				}
				if s[i] == '>' {
					break
				}
				attrStart := i
				for i < len(s) && !isHTMLSpace(s[i]) && s[i] != '=' && s[i] != '>' {
					i++
				}
				attr := strings.ToLower(s[attrStart:i])
				if attr == "" {
					return "", nil, fmt.Errorf("Empty attribute name in the tag \"%s\" at byte offset %d", name, begin)
				}
				for i < len(s) && isHTMLSpace(s[i]) {
					i++
				}
				if i >= len(s) {
					return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
				}
				if s[i] != '=' {
					if name == "blockquote" && attr == "expandable" {
						arg = "expandable"
						continue
					}
					return "", nil, fmt.Errorf("Expected equal sign in declaration of an attribute of the tag \"%s\" at byte offset %d", name, begin)
				}
				i++
				for i < len(s) && isHTMLSpace(s[i]) {
					i++
				}
				if i >= len(s) {
					return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
				}

				var value string
				if s[i] != '"' && s[i] != '\'' {
					// A name token: letters, digits, periods and hyphens.
					tokenStart := i
					for i < len(s) && (isASCIIAlnum(s[i]) || s[i] == '.' || s[i] == '-') {
						i++
					}
					value = strings.ToLower(s[tokenStart:i])
					if i >= len(s) || (!isHTMLSpace(s[i]) && s[i] != '>') {
						return "", nil, fmt.Errorf("Unexpected end of name token at byte offset %d", tokenStart)
					}
				} else {
					// A string literal. A bare "&" is kept here as Telegram does:
					// links with query strings are written that way everywhere.
					quote := s[i]
					i++
					var b strings.Builder
					for i < len(s) && s[i] != quote {
						if s[i] == '&' {
							if r, n := decodeHTMLEntity(s[i:]); n > 0 {
								b.WriteRune(r)
								i += n
								continue
							}
						}
						b.WriteByte(s[i])
						i++
					}
					if i >= len(s) {
						return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
					}
					i++
					value = b.String()
				}

				switch {
				case name == "a" && attr == "href":
					arg = value
				case name == "code" && attr == "class" && strings.HasPrefix(value, "language-"):
					arg = value[len("language-"):]
				case name == "span" && attr == "class" && strings.HasPrefix(value, "tg-"):
					arg = value[len("tg-"):]
				case name == "tg-emoji" && attr == "emoji-id":
					arg = value
				case name == "blockquote" && attr == "expandable":
					arg = "expandable"
				}
			}
			i++ // the '>'

			if name == "span" && arg != "spoiler" {
				return "", nil, fmt.Errorf("Tag \"span\" must have class \"tg-spoiler\" at byte offset %d", begin)
			}
			stack = append(stack, openTag{name: name, arg: arg, offset: offset, outStart: out.Len()})
			continue
		}

		// A closing tag.
		if len(stack) == 0 {
			return "", nil, fmt.Errorf("Unexpected end tag at byte offset %d", begin)
		}
		end := i + 1
		for end < len(s) && s[end] != '>' {
			end++
		}
		if end >= len(s) {
			return "", nil, fmt.Errorf("Unclosed end tag at byte offset %d", begin)
		}
		endName := strings.ToLower(s[i+1 : end])
		top := stack[len(stack)-1]
		if endName != "" && endName != top.name {
			return "", nil, fmt.Errorf("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", begin, top.name, endName)
		}
		i = end + 1
		stack = stack[:len(stack)-1]

		length := offset - top.offset
		if length == 0 {
			continue
		}
		e := models.MessageEntity{Offset: top.offset, Length: length}
		switch top.name {
		case "b", "strong":
			e.Type = models.MessageEntityTypeBold
		case "i", "em":
			e.Type = models.MessageEntityTypeItalic
		case "u", "ins":
			e.Type = models.MessageEntityTypeUnderline
		case "s", "strike", "del":
			e.Type = models.MessageEntityTypeStrikethrough
		case "tg-spoiler", "span":
			e.Type = models.MessageEntityTypeSpoiler
		case "a":
			link := top.arg
			if link == "" {
				link = out.String()[top.outStart:]
			}
			checked, ok := checkLink(link)
			if !ok {
				continue // Telegram drops a link it can't open, without an error
			}
			e.Type, e.URL = models.MessageEntityTypeTextLink, checked
		case "code":
			e.Type, e.Language = models.MessageEntityTypeCode, top.arg
		case "pre":
			// <pre><code class="language-go">…</code></pre> is one pre entity
			// with a language.
			if n := len(entities); n > 0 && entities[n-1].Type == models.MessageEntityTypeCode &&
				entities[n-1].Offset == e.Offset && entities[n-1].Length == e.Length {
				entities[n-1].Type = models.MessageEntityTypePre
				continue
			}
			e.Type = models.MessageEntityTypePre
		case "blockquote":
			e.Type = models.MessageEntityTypeBlockquote
			if top.arg == "expandable" {
				e.Type = models.MessageEntityTypeExpandableBlockquote
			}
		case "tg-emoji":
			if id, err := strconv.ParseInt(top.arg, 10, 64); err != nil || id == 0 {
				return "", nil, fmt.Errorf("Invalid custom emoji identifier specified")
			}
			e.Type, e.CustomEmojiID = models.MessageEntityTypeCustomEmoji, top.arg
		}
		entities = append(entities, e)
	}
	if len(stack) > 0 {
		return "", nil, fmt.Errorf("Can't find end tag corresponding to start tag \"%s\"", stack[len(stack)-1].name)
	}

	// A code entity carries no language in the Bot API; only pre does.
	for k := range entities {
		if entities[k].Type == models.MessageEntityTypeCode {
			entities[k].Language = ""
		}
	}
	return out.String(), entities, nil
}

func supportedHTMLTag(name string) bool {
	switch name {
	case "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
		"tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote":
		return true
	}
	return false
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == 0
}

func isASCIIAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// decodeHTMLEntity reads one of the entities Telegram knows (&lt; &gt; &amp;
// &quot; and numeric ones) at the start of s. It returns the character and the
// bytes used, or 0 bytes when s does not start with one. Like Telegram, the
// closing ';' may be left out.
func decodeHTMLEntity(s string) (rune, int) {
	if len(s) < 2 || s[0] != '&' {
		return 0, 0
	}
	end := 1
	var r rune
	if s[1] == '#' {
		end = 2
		hex := end < len(s) && (s[end] == 'x' || s[end] == 'X')
		if hex {
			end++
		}
		digitsStart := end
		for end < len(s) && ((hex && isHexDigit(s[end])) || (!hex && s[end] >= '0' && s[end] <= '9')) {
			end++
		}
		if end == digitsStart || end-digitsStart > 7 {
			return 0, 0
		}
		base := 10
		if hex {
			base = 16
		}
		n, err := strconv.ParseInt(s[digitsStart:end], base, 32)
		if err != nil || n == 0 || n >= 0x10ffff || (n >= 0xd800 && n <= 0xdfff) {
			return 0, 0
		}
		r = rune(n)
	} else {
		for end < len(s) && ((s[end] >= 'a' && s[end] <= 'z') || (s[end] >= 'A' && s[end] <= 'Z')) {
			end++
		}
		switch s[1:end] {
		case "lt":
			r = '<'
		case "gt":
			r = '>'
		case "amp":
			r = '&'
		case "quot":
			r = '"'
		default:
			return 0, 0
		}
	}
	if end < len(s) && s[end] == ';' {
		end++
	}
	return r, end
}

func isHexDigit(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// checkLink returns the URL Telegram would put in a text_link entity, or false
// when Telegram would drop the link. Like Telegram, a link without a scheme
// gets "http://".
func checkLink(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	if !strings.Contains(s, "://") && !strings.HasPrefix(strings.ToLower(s), "tg:") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp", "ton":
		if u.Host == "" || strings.ContainsAny(u.Host, " <>") {
			return "", false
		}
	case "tg":
	default:
		return "", false
	}
	return s, true
}
