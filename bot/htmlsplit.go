package bot

import (
	"strings"
	"unicode/utf8"
)

// Telegram measures a text after it parsed the HTML: tags count nothing,
// "&amp;" counts one, and a character outside the Basic Multilingual Plane
// (most emoji) counts two, in UTF-16 code units. Cutting a long text must
// also never leave a tag open or cut one in half, or Telegram refuses the
// part ("can't parse entities"). splitHTML and cutHTML do both.

// atom is a piece of HTML: a tag, or one character as written (a letter
// or an entity such as "&lt;") with its width.
type atom struct {
	raw   string
	width int  // 0 for a tag
	open  bool // an opening tag
	close bool // a closing tag
}

func htmlAtoms(s string) []atom {
	var out []atom
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				end = len(s) - i - 1
			}
			tag := s[i : i+end+1]
			closing := strings.HasPrefix(tag, "</")
			out = append(out, atom{raw: tag, open: !closing, close: closing})
			i += end + 1
		case '&':
			end := strings.IndexByte(s[i:], ';')
			if end < 0 || end > 10 {
				end = 0
			}
			out = append(out, atom{raw: s[i : i+end+1], width: 1})
			i += end + 1
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			w := 1
			if r >= 0x10000 {
				w = 2
			}
			out = append(out, atom{raw: s[i : i+size], width: w})
			i += size
		}
	}
	return out
}

// closingTag is "</b>" for "<b>" and "</a>" for `<a href="...">`.
func closingTag(open string) string {
	name := strings.TrimPrefix(open, "<")
	if i := strings.IndexAny(name, " >"); i >= 0 {
		name = name[:i]
	}
	return "</" + name + ">"
}

// htmlLen is the length Telegram counts for a text in HTML.
func htmlLen(s string) int {
	n := 0
	for _, a := range htmlAtoms(s) {
		n += a.width
	}
	return n
}

// splitHTML cuts a text longer than max (as Telegram counts) into parts
// that each fit, at line breaks where it can and hard where a line is
// too long. A tag open at a cut is closed at the end of one part and opened
// again at the start of the next, so every part is whole HTML.
func splitHTML(s string, max int) []string {
	atoms := htmlAtoms(s)
	if len(atoms) == 0 {
		return []string{s}
	}
	var parts []string
	var carried []string // tags open at the last cut
	start := 0
	for {
		width, i, lastBreak := 0, start, -1
		for ; i < len(atoms); i++ {
			if width+atoms[i].width > max {
				break
			}
			width += atoms[i].width
			if atoms[i].raw == "\n" {
				lastBreak = i
			}
		}
		cut := i
		if i < len(atoms) && lastBreak > start {
			cut = lastBreak + 1
		}
		if cut == start { // max below one character: take it anyway
			cut = start + 1
		}
		part, open := writeHTML(carried, atoms[start:cut])
		if strings.TrimSpace(stripTags(part)) != "" || cut >= len(atoms) && len(parts) == 0 {
			parts = append(parts, part)
		}
		if cut >= len(atoms) {
			return parts
		}
		carried, start = open, cut
	}
}

// cutHTML keeps the start of s that fits in max, with "…" at the end
// when something was cut (a caption, a toast).
func cutHTML(s string, max int) string {
	if htmlLen(s) <= max {
		return s
	}
	atoms := htmlAtoms(s)
	width, i := 0, 0
	for ; i < len(atoms) && width+atoms[i].width <= max-1; i++ {
		width += atoms[i].width
	}
	part, open := writeHTML(nil, atoms[:i])
	// The ellipsis goes inside the tags the cut text is in.
	closes := ""
	for j := len(open) - 1; j >= 0; j-- {
		closes += closingTag(open[j])
	}
	return strings.TrimSuffix(part, closes) + "…" + closes
}

// writeHTML writes the tags carried open from an earlier part, then atoms,
// trailing line breaks trimmed, then closes what is still open; open is
// what it closed, to be opened again in the next part.
func writeHTML(carried []string, atoms []atom) (string, []string) {
	stack := append([]string(nil), carried...)
	var b strings.Builder
	for _, t := range carried {
		b.WriteString(t)
	}
	end := len(atoms)
	for end > 0 && atoms[end-1].raw == "\n" {
		end--
	}
	for k, a := range atoms {
		switch {
		case a.open:
			stack = append(stack, a.raw)
		case a.close && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
		if k < end || a.width == 0 {
			b.WriteString(a.raw)
		}
	}
	for j := len(stack) - 1; j >= 0; j-- {
		b.WriteString(closingTag(stack[j]))
	}
	return b.String(), stack
}

// stripTags is the text of s without its tags.
func stripTags(s string) string {
	var b strings.Builder
	for _, a := range htmlAtoms(s) {
		if a.width > 0 {
			b.WriteString(a.raw)
		}
	}
	return b.String()
}
