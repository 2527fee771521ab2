package sandbox

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Telegram's limit for one text message, counted as Telegram counts: in
// UTF-16 code units, so that an emoji beyond the first plane counts 2.
const maxTextLen = 4096

// maxTextParts is how many messages one text the person sends may become.
// Telegram's apps have no such cap; the sandbox keeps a paste from
// flooding the chat.
const maxTextParts = 10

// splitText cuts a long text into messages of at most limit UTF-16 code
// units, as Telegram's apps do with a text over the limit: at the last line
// break in the second half of a part, else at the last space there, else at
// the limit itself, but never inside a character. White space at a cut is
// dropped, as Telegram trims each message.
func splitText(text string, limit int) []string {
	var parts []string
	for {
		text = strings.TrimSpace(text)
		if text == "" {
			return parts
		}
		end, fits := prefixWithin(text, limit)
		if fits {
			return append(parts, text)
		}
		// White space just past the limit may be the cut too: it is dropped.
		window := end
		if r, size := utf8.DecodeRuneInString(text[end:]); unicode.IsSpace(r) {
			window += size
		}
		cut := end
		if i := lastBreak(text[:window], limit/2, func(r rune) bool { return r == '\n' }); i > 0 {
			cut = i
		} else if i := lastBreak(text[:window], limit/2, unicode.IsSpace); i > 0 {
			cut = i
		}
		parts = append(parts, strings.TrimRightFunc(text[:cut], unicode.IsSpace))
		text = text[cut:]
	}
}

// prefixWithin is the length in bytes of the longest prefix of s that has
// at most limit UTF-16 code units, and whether that is all of s.
func prefixWithin(s string, limit int) (end int, all bool) {
	units := 0
	for i, r := range s {
		units += utf16Units(r)
		if units > limit {
			return i, false
		}
	}
	return len(s), true
}

// lastBreak is the byte index just after the last rune of s for which
// isBreak holds, provided that at least min UTF-16 code units come before
// it; 0 when there is none.
func lastBreak(s string, min int, isBreak func(rune) bool) int {
	for i := len(s); i > 0; {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
		if isBreak(r) {
			if utf16Len(s[:i]) < min {
				return 0
			}
			return i + size
		}
	}
	return 0
}

func utf16Units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// utf16Len is the length of s as Telegram counts it.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16Units(r)
	}
	return n
}
