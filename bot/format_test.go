package bot

import (
	"strings"
	"testing"

	"github.com/go-telegram/bot/models"
)

func TestFormatHTMLKeepsWhatAPersonFormatted(t *testing.T) {
	e := func(typ models.MessageEntityType, off, n int) models.MessageEntity {
		return models.MessageEntity{Type: typ, Offset: off, Length: n}
	}
	for _, c := range []struct {
		name, text string
		ents       []models.MessageEntity
		want       string
	}{
		{"plain text is escaped", "a < b & c", nil, "a &lt; b &amp; c"},
		{"bold", "Перезагрузите роутер", []models.MessageEntity{e(models.MessageEntityTypeBold, 0, 13)}, "<b>Перезагрузите</b> роутер"},
		{"nested", "ab cd", []models.MessageEntity{e(models.MessageEntityTypeBold, 0, 5), e(models.MessageEntityTypeItalic, 3, 2)}, "<b>ab <i>cd</i></b>"},
		{"offsets in UTF-16 past an emoji", "😀 да", []models.MessageEntity{e(models.MessageEntityTypeBold, 3, 2)}, "😀 <b>да</b>"},
		{"a link", "сайт", []models.MessageEntity{{Type: models.MessageEntityTypeTextLink, Offset: 0, Length: 4, URL: "https://example.org/?a=1&b=2"}}, `<a href="https://example.org/?a=1&amp;b=2">сайт</a>`},
		{"code with a language", "x := 1", []models.MessageEntity{{Type: models.MessageEntityTypePre, Offset: 0, Length: 6, Language: "go"}}, `<pre><code class="language-go">x := 1</code></pre>`},
		{"what Telegram finds itself needs no tag", "/start @bot", []models.MessageEntity{e(models.MessageEntityTypeBotCommand, 0, 6), e(models.MessageEntityTypeMention, 7, 4)}, "/start @bot"},
		{"a partial overlap is dropped, the text kept", "abcd", []models.MessageEntity{e(models.MessageEntityTypeBold, 0, 3), e(models.MessageEntityTypeItalic, 2, 2)}, "<b>abc</b>d"},
		{"an entity past the end ends with the text", "ab", []models.MessageEntity{e(models.MessageEntityTypeBold, 1, 9)}, "a<b>b</b>"},
	} {
		if got := formatHTML(c.text, c.ents); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSplitHTMLKeepsEveryPartWholeAndWithinTheLimit(t *testing.T) {
	long := "<b>" + strings.Repeat("слово ", 6) + "\n" + strings.Repeat("ещё ", 10) + "</b>"
	parts := splitHTML(long, 45)
	if len(parts) != 2 {
		t.Fatalf("%d parts: %q", len(parts), parts)
	}
	if !strings.HasPrefix(parts[0], "<b>слово") || !strings.HasSuffix(parts[0], "</b>") || strings.HasSuffix(parts[0], "\n</b>") {
		t.Errorf("first part %q: want the bold line closed at the cut, without the line break", parts[0])
	}
	if !strings.HasPrefix(parts[1], "<b>ещё") || !strings.HasSuffix(parts[1], "</b>") {
		t.Errorf("second part %q: want the bold opened again", parts[1])
	}
	// Tags and entities count nothing and one; an emoji counts two.
	if n := htmlLen(`<a href="x">&amp;</a>😀`); n != 3 {
		t.Errorf("htmlLen = %d, want 3", n)
	}
	if got := splitHTML(strings.Repeat("😀", 5), 4); len(got) != 3 || got[0] != "😀😀" {
		t.Errorf("emoji split as %q, want two to a part of 4", got)
	}
	if got := cutHTML("<i>"+strings.Repeat("a", 20)+"</i>", 10); got != "<i>aaaaaaaaa…</i>" {
		t.Errorf("cutHTML = %q", got)
	}
}
