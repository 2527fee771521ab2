package bot

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/state"
)

// FuzzUpdate feeds arbitrary JSON through the update parsing: decoding,
// the chat key, the event conversion and rendering a reply must never panic,
// and an event always names the person it came from.
func FuzzUpdate(f *testing.F) {
	for _, seed := range []string{
		`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A"},"text":"/start@kabinet_bot x","entities":[{"type":"bot_command","offset":0,"length":17}]}}`,
		`{"update_id":2,"callback_query":{"id":"q","from":{"id":5,"is_bot":false,"first_name":"A"},"message":{"message_id":3,"date":0,"chat":{"id":5,"type":"private"}},"data":"balr:12"}}`,
		`{"update_id":3,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A"},"contact":{"phone_number":"+79000000001","first_name":"A","user_id":5}}}`,
		`{"update_id":4,"edited_message":{"message_id":1,"date":1,"chat":{"id":-100,"type":"supergroup"},"text":"x"}}`,
		`{"update_id":5,"my_chat_member":{"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A"},"date":1,"old_chat_member":{"status":"member","user":{"id":1,"is_bot":true,"first_name":"B"}},"new_chat_member":{"status":"kicked","user":{"id":1,"is_bot":true,"first_name":"B"},"until_date":0}}}`,
		`{"update_id":6,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A"},"text":"/"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var upd models.Update
		if json.Unmarshal(raw, &upd) != nil {
			return
		}
		_ = ConvKey(&upd)
		_ = userID(&upd)
		ev, ok := toEvent(&upd)
		if !ok {
			return
		}
		if ev.Kind == dialogs.KindCommand && ev.Command == "" && len(ev.Args) > 0 {
			t.Errorf("a command without a name but with args: %+v", ev)
		}
		_ = render(state.ChatConv(ev.ChatID), ev.Key, "cb", dialogs.Result{Replies: []dialogs.Reply{{Text: ev.Text, Buttons: [][]dialogs.Button{{{Text: "x", Data: ev.Data}}}}}})
	})
}

// FuzzSplitHTML: splitting never loses or invents text, no part is longer
// than the limit as Telegram counts it, and every part's tags are whole.
func FuzzSplitHTML(f *testing.F) {
	f.Add("короткий текст", 10)
	f.Add("a\nbb\nccc\ndddd", 3)
	f.Add("<b>жирный\n<i>и курсив</i></b> &amp; 😀😀", 4)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 2 || max > 5000 || !utf8.ValidString(s) {
			return
		}
		s = formatHTML(s, nil) // text as the dialogs write it: escaped
		text := ""
		for _, p := range splitHTML(s, max) {
			if n := htmlLen(p); n > max {
				t.Fatalf("part of %d characters, limit %d", n, max)
			}
			text += stripTags(p)
		}
		// Line breaks at a cut and parts of only spaces are dropped.
		if strings.Join(strings.Fields(text), "") != strings.Join(strings.Fields(stripTags(s)), "") {
			t.Fatalf("the parts say %q, the text %q", text, stripTags(s))
		}
	})
}
