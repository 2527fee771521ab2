package emulator

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"
)

func TestParseHTMLEntities(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		text     string
		entities []models.MessageEntity
	}{
		{
			name: "bold and italic aliases",
			in:   "<b>a</b><strong>b</strong><i>c</i><em>d</em>",
			text: "abcd",
			entities: []models.MessageEntity{
				{Type: "bold", Offset: 0, Length: 1}, {Type: "bold", Offset: 1, Length: 1},
				{Type: "italic", Offset: 2, Length: 1}, {Type: "italic", Offset: 3, Length: 1},
			},
		},
		{
			name: "underline, strike, spoiler",
			in:   `<u>u</u><ins>i</ins><s>s</s><strike>k</strike><del>d</del><tg-spoiler>x</tg-spoiler><span class="tg-spoiler">y</span>`,
			text: "uiskdxy",
			entities: []models.MessageEntity{
				{Type: "underline", Offset: 0, Length: 1}, {Type: "underline", Offset: 1, Length: 1},
				{Type: "strikethrough", Offset: 2, Length: 1}, {Type: "strikethrough", Offset: 3, Length: 1},
				{Type: "strikethrough", Offset: 4, Length: 1}, {Type: "spoiler", Offset: 5, Length: 1},
				{Type: "spoiler", Offset: 6, Length: 1},
			},
		},
		{
			name:     "link with an unescaped & in the attribute, as Telegram allows",
			in:       `<a href="https://pay.example/?acc=1&sum=500">Pay</a>`,
			text:     "Pay",
			entities: []models.MessageEntity{{Type: "text_link", Offset: 0, Length: 3, URL: "https://pay.example/?acc=1&sum=500"}},
		},
		{
			name:     "pre with a language",
			in:       `<pre><code class="language-go">x := 1</code></pre>`,
			text:     "x := 1",
			entities: []models.MessageEntity{{Type: "pre", Offset: 0, Length: 6, Language: "go"}},
		},
		{
			name:     "code has no language",
			in:       `<code class="language-go">x</code>`,
			text:     "x",
			entities: []models.MessageEntity{{Type: "code", Offset: 0, Length: 1}},
		},
		{
			name: "blockquotes and custom emoji",
			in:   `<blockquote>q</blockquote><blockquote expandable>e</blockquote><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>`,
			text: "qe👍",
			entities: []models.MessageEntity{
				{Type: "blockquote", Offset: 0, Length: 1}, {Type: "expandable_blockquote", Offset: 1, Length: 1},
				{Type: "custom_emoji", Offset: 2, Length: 2, CustomEmojiID: "5368324170671202286"},
			},
		},
		{
			name:     "offsets count UTF-16 units: an emoji is two",
			in:       "😀 <b>Баланс</b>",
			text:     "😀 Баланс",
			entities: []models.MessageEntity{{Type: "bold", Offset: 3, Length: 6}},
		},
		{
			name: "escapes and numeric entities",
			in:   "&lt;1&gt; &amp; &quot;q&quot; &#65;&#x42;",
			text: `<1> & "q" AB`,
		},
		{
			name: "tags are case-insensitive and > is text",
			in:   "<B>x</B> > y",
			text: "x > y",
			entities: []models.MessageEntity{
				{Type: "bold", Offset: 0, Length: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, entities, err := parseHTML(tt.in)
			if err != nil {
				t.Fatalf("parseHTML(%q): %v", tt.in, err)
			}
			if text != tt.text {
				t.Errorf("text = %q, want %q", text, tt.text)
			}
			if !reflect.DeepEqual(entities, tt.entities) {
				t.Errorf("entities = %+v, want %+v", entities, tt.entities)
			}
		})
	}
}

func TestParseHTMLErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<b>bold", `Can't find end tag corresponding to start tag "b"`},
		{"<foo>x</foo>", `Unsupported start tag "foo" at byte offset 0`},
		{"1 < 2", `Unsupported start tag "" at byte offset 2`},
		{"a <", `Unsupported start tag "" at byte offset 2`},
		{"Tom & Jerry", `unescaped "&" at byte offset 4: write it as &amp;`},
		{"&nbsp;", `unescaped "&" at byte offset 0: write it as &amp;`},
		{"<b>x</i>", `Unmatched end tag at byte offset 4, expected "</b>", found "</i>"`},
		{"x</b>", `Unexpected end tag at byte offset 1`},
		{`<span>x</span>`, `Tag "span" must have class "tg-spoiler" at byte offset 0`},
		{`<a href="x`, `Unclosed start tag at byte offset 0`},
		{`<b>x</b`, `Unclosed end tag at byte offset 4`},
		{`<tg-emoji emoji-id="abc">x</tg-emoji>`, `Invalid custom emoji identifier specified`},
	}
	for _, tt := range tests {
		_, _, err := parseHTML(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("parseHTML(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestParseMarkdownV2(t *testing.T) {
	text, entities, err := parseMarkdownV2(`*Баланс:* 100\.50 ₽ [оплатить](https://pay.example/a\)b) __u__ ||s|| ~x~ _i_ ` + "`c`")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if want := "Баланс: 100.50 ₽ оплатить u s x i c"; text != want {
		t.Errorf("text = %q, want %q", text, want)
	}
	wantTypes := []models.MessageEntityType{"bold", "text_link", "underline", "spoiler", "strikethrough", "italic", "code"}
	var got []models.MessageEntityType
	for _, e := range entities {
		got = append(got, e.Type)
	}
	if !reflect.DeepEqual(got, wantTypes) {
		t.Errorf("entity types = %v, want %v", got, wantTypes)
	}
	if entities[1].URL != "https://pay.example/a)b" {
		t.Errorf("link URL = %q", entities[1].URL)
	}

	for in, want := range map[string]string{
		"Balance: 100.50":     `Character '.' is reserved and must be escaped with the preceding '\'`,
		"*bold":               `Can't find end of Bold entity at byte offset 0`,
		"a [link](http://x":   `Can't find end of a URL at byte offset 9`,
		"call 8-800-555-3535": `Character '-' is reserved and must be escaped with the preceding '\'`,
	} {
		if _, _, err := parseMarkdownV2(in); err == nil || err.Error() != want {
			t.Errorf("parseMarkdownV2(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestParseMarkdownLegacy(t *testing.T) {
	text, entities, err := parseMarkdown("*b* _i_ `c` [l](https://x.example) 1.5-2")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if text != "b i c l 1.5-2" || len(entities) != 4 {
		t.Errorf("got %q %+v", text, entities)
	}
	if _, _, err := parseMarkdown("*open"); err == nil || err.Error() != "Can't find end of the entity starting at byte offset 0" {
		t.Errorf("unclosed: %v", err)
	}
}

func TestFormatTextTrimsAndCounts(t *testing.T) {
	f, err := formatText("  <b> hi</b>  \n", "HTML", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.text != "hi" || len(f.entities) != 1 || f.entities[0].Offset != 0 || f.entities[0].Length != 2 {
		t.Errorf("got %q %+v, want \"hi\" with bold 0..2", f.text, f.entities)
	}
	if _, err := formatText("x", "html5", nil); err == nil || err.description != "Bad Request: unsupported parse_mode" {
		t.Errorf("unknown parse mode: %v", err)
	}
	if n := utf16Len("a😀я"); n != 4 {
		t.Errorf("utf16Len = %d, want 4", n)
	}
}

// FuzzParseHTML checks that any input either fails cleanly or gives entities
// that lie inside the text.
func FuzzParseHTML(f *testing.F) {
	for _, seed := range []string{"<b>x</b>", "<a href='u'>l</a>", "&amp;&#128512;", "<pre><code class=\"language-go\">x</code></pre>", "<", "&"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return // formatText rejects it before parsing
		}
		text, entities, err := parseHTML(in)
		if err != nil {
			return
		}
		n := utf16Len(text)
		for _, e := range entities {
			if e.Offset < 0 || e.Length <= 0 || e.Offset+e.Length > n {
				t.Fatalf("entity %+v outside text %q (len %d)", e, text, n)
			}
		}
		if strings.Contains(in, "<") && !strings.Contains(in, ">") {
			t.Fatalf("%q has a '<' that opens no tag, yet parsed", in)
		}
	})
}

// FuzzParseMarkdownV2 checks the same for MarkdownV2.
func FuzzParseMarkdownV2(f *testing.F) {
	for _, seed := range []string{"*b* _i_ __u__ ~s~ ||sp||", "[l](https://x\\)y)", "```go\ncode```", ">quote\n>more\nafter", "\\.", "!"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return // formatText rejects it before parsing
		}
		text, entities, err := parseMarkdownV2(in)
		if err != nil {
			return
		}
		n := utf16Len(text)
		for _, e := range entities {
			if e.Offset < 0 || e.Length <= 0 || e.Offset+e.Length > n {
				t.Fatalf("entity %+v outside text %q (len %d)", e, text, n)
			}
		}
	})
}
