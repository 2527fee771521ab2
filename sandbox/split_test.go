package sandbox

import (
	"strings"
	"testing"
)

func TestSplitText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits", "  short text \n", 20, []string{"short text"}},
		{"exactly the limit", "0123456789", 10, []string{"0123456789"}},
		{"at a line break", "first line\nsecond line here", 20, []string{"first line", "second line here"}},
		{"a line break before a space", "aaaa bbbbbb\ncc dd ee ff", 20, []string{"aaaa bbbbbb", "cc dd ee ff"}},
		{"a line break in the first half is not used", "aaaa\nbbbbbb cc dd eee", 20, []string{"aaaa\nbbbbbb cc dd", "eee"}},
		{"at a space", "one two three four five", 10, []string{"one two", "three four", "five"}},
		{"a break too early is not used", "a bcdefghijklmnop", 10, []string{"a bcdefghi", "jklmnop"}},
		{"no break: at the limit", "abcdefghijklmnopqrstuvwxy", 10, []string{"abcdefghij", "klmnopqrst", "uvwxy"}},
		{"characters, not bytes", "ааааа ббббб ввввв", 11, []string{"ааааа ббббб", "ввввв"}},
		{"an emoji counts 2 and is never cut", "abcdefghi😀z", 10, []string{"abcdefghi", "😀z"}},
		{"white space at a cut goes", "aaaa   \n\n   bbbb", 8, []string{"aaaa", "bbbb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := splitText(tc.text, tc.limit)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("splitText(%q, %d) = %q, want %q", tc.text, tc.limit, got, tc.want)
			}
			for _, p := range got {
				if utf16Len(p) > tc.limit {
					t.Errorf("a part of %d units: %q", utf16Len(p), p)
				}
			}
		})
	}
}

// A long text of words and lines is cut near the limit and loses nothing
// but the white space at the cuts.
func TestSplitTextKeepsEverything(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 30000; i++ {
		b.WriteString("Съешь же ещё этих мягких французских булок, да выпей чаю. ")
		if i%7 == 6 {
			b.WriteString("\n")
		}
	}
	text := strings.TrimSpace(b.String())
	parts := splitText(text, maxTextLen)
	if len(parts) < 2 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, p := range parts {
		if n := utf16Len(p); n > maxTextLen || (i < len(parts)-1 && n < maxTextLen-200) {
			t.Errorf("part %d has %d characters", i, n)
		}
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if squash(strings.Join(parts, " ")) != squash(text) {
		t.Error("the parts do not add up to the text")
	}
}
