package emulator

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
)

// users starts n private chats with the bot, ids from 5001.
func users(srv *Server, n int) []User {
	out := make([]User, n)
	for i := range out {
		out[i] = User{ID: int64(5001 + i), FirstName: fmt.Sprint("U", i)}
		srv.SendCommand(out[i], "/start")
	}
	return out
}

// Off by default: a burst far over every limit goes through, and nothing is
// recorded as rate limited.
func TestNoLimitsByDefault(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	for i := 0; i < 50; i++ {
		wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "x"}))
	}
	if got := srv.TooManyRequests(); len(got) != 0 {
		t.Errorf("%d calls rate limited with no limits on", len(got))
	}
}

// The global limit is the bot's: the 429 beyond it has Telegram's exact
// shape, and every refused call is recorded with the limit that refused it.
func TestGlobalLimitAnswersLikeTelegram(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now, RateLimits: &RateLimits{Global: PerSecond(10, 5)}})
	us := users(srv, 7)
	for _, u := range us[:5] {
		wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": u.ID, "text": "x"}))
	}
	r := callJSON(t, srv, "sendMessage", map[string]any{"chat_id": us[5].ID, "text": "x"})
	wantError(t, r, http.StatusTooManyRequests, "Too Many Requests: retry after 1")
	if r.Parameters.RetryAfter != 1 {
		t.Errorf("parameters.retry_after = %d, want 1", r.Parameters.RetryAfter)
	}
	// A tenth of a second later the bucket holds one message again.
	clock.Advance(100 * time.Millisecond)
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": us[5].ID, "text": "x"}))
	wantErrorPrefix(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": us[6].ID, "text": "x"}), 429, "Too Many Requests")

	got := srv.TooManyRequests()
	if len(got) != 2 {
		t.Fatalf("%d calls recorded as 429, want 2", len(got))
	}
	for _, c := range got {
		if c.Method != "sendMessage" || c.Limit != LimitGlobal || c.RetryAfter != 1 {
			t.Errorf("recorded %s limit=%q retry_after=%d, want sendMessage refused by %q", c.Method, c.Limit, c.RetryAfter, LimitGlobal)
		}
	}
	// A refused message reached nobody.
	if n := len(srv.BotMessages(us[6].ID)); n != 0 {
		t.Errorf("a refused message was delivered (%d)", n)
	}

	// A 429 planned with FailNext is recorded too, naming no limit.
	srv.FailNext("sendMessage", 1, http.StatusTooManyRequests, "", 7)
	clock.Advance(time.Second)
	wantErrorPrefix(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": us[0].ID, "text": "x"}), 429, "Too Many Requests: retry after 7")
	if got := srv.TooManyRequests(); len(got) != 3 || got[2].Limit != "" || got[2].RetryAfter != 7 {
		t.Errorf("FailNext's 429 recorded as %+v", got[len(got)-1])
	}
}

// allow_paid_broadcast lifts the 30-a-second limit to the bot's 1000 a
// second; messages without it stay under 30 a second.
func TestPaidBroadcastRaisesTheGlobalLimit(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now})
	srv.EnableRateLimits(RateLimits{})
	us := users(srv, 200)
	send := func(u User, paid bool) reply {
		p := map[string]any{"chat_id": u.ID, "text": "x"}
		if paid {
			p["allow_paid_broadcast"] = true
		}
		return callJSON(t, srv, "sendMessage", p)
	}
	for _, u := range us[:30] {
		wantOK(t, send(u, false))
	}
	wantErrorPrefix(t, send(us[30], false), 429, "Too Many Requests: retry after")
	// The same second, 150 paid messages go out.
	for _, u := range us[30:180] {
		wantOK(t, send(u, true))
	}
	if got := srv.TooManyRequests(); len(got) != 1 || got[0].Limit != LimitGlobal {
		t.Fatalf("429s: %+v", got)
	}

	// The paid ceiling counts every message, paid or not.
	srv.EnableRateLimits(RateLimits{PaidBroadcast: PerSecond(1000, 3)})
	wantOK(t, send(us[180], false))
	wantOK(t, send(us[181], true))
	wantOK(t, send(us[182], true))
	r := send(us[183], true)
	wantErrorPrefix(t, r, 429, "Too Many Requests: retry after 1")
	if got := srv.TooManyRequests(); got[len(got)-1].Limit != LimitPaidBroadcast {
		t.Errorf("refused by %q, want %q", got[len(got)-1].Limit, LimitPaidBroadcast)
	}
	// Paid or not, one chat still takes about one message a second (a
	// burst of 3).
	for i := 0; i < 3; i++ {
		clock.Advance(time.Millisecond)
		wantOK(t, send(us[183], true))
	}
	clock.Advance(time.Millisecond)
	r = send(us[183], true)
	wantErrorPrefix(t, r, 429, "Too Many Requests: retry after 1")
	if got := srv.TooManyRequests(); got[len(got)-1].Limit != LimitChat {
		t.Errorf("refused by %q, want %q", got[len(got)-1].Limit, LimitChat)
	}
}

// A group's 20 a minute counts messages, edits and forum topics created and
// renamed, all together.
func TestGroupBudgetCountsTopicsAndEdits(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now, RateLimits: &RateLimits{}})
	const group = -1001234
	srv.AddGroup(group, "Поддержка", true)

	topic := decodeResult[models.ForumTopic](t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": group, "name": "Заявка 1"}))
	wantOK(t, callJSON(t, srv, "editForumTopic", map[string]any{"chat_id": group, "message_thread_id": topic.MessageThreadID, "name": "Заявка 1: нет связи"}))
	msg := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": group, "message_thread_id": topic.MessageThreadID, "text": "Здравствуйте"}))
	wantOK(t, callJSON(t, srv, "editMessageText", map[string]any{"chat_id": group, "message_id": msg.ID, "text": "Здравствуйте!"}))
	for i := 0; i < 15; i++ {
		clock.Advance(100 * time.Millisecond) // under the bot's 30 a second
		wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": group, "text": "x"}))
	}
	clock.Advance(100 * time.Millisecond)
	wantOK(t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": group, "name": "Заявка 2"}))
	// 20 actions in two seconds: the 21st waits, whatever it is.
	for _, call := range []struct {
		method string
		params map[string]any
	}{
		{"createForumTopic", map[string]any{"chat_id": group, "name": "Заявка 3"}},
		{"editForumTopic", map[string]any{"chat_id": group, "message_thread_id": topic.MessageThreadID, "name": "Заявка 1, снова"}},
		{"sendMessage", map[string]any{"chat_id": group, "text": "x"}},
		{"editMessageText", map[string]any{"chat_id": group, "message_id": msg.ID, "text": "Добрый день"}},
	} {
		r := callJSON(t, srv, call.method, call.params)
		wantErrorPrefix(t, r, 429, "Too Many Requests: retry after")
		if r.Parameters.RetryAfter < 1 {
			t.Errorf("%s: retry_after = %d", call.method, r.Parameters.RetryAfter)
		}
	}
	for _, c := range srv.TooManyRequests() {
		if c.Limit != LimitGroup {
			t.Errorf("%s refused by %q, want %q", c.Method, c.Limit, LimitGroup)
		}
	}
	if n := len(srv.Topics(group)); n != 2 {
		t.Errorf("%d topics, want 2 (the refused one was not made)", n)
	}
	// Edits in a private chat are not limited (Telegram counts messages there).
	srv.SendCommand(alice, "/start")
	m := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "0"}))
	for i := 1; i <= 5; i++ {
		wantOK(t, callJSON(t, srv, "editMessageText", map[string]any{"chat_id": alice.ID, "message_id": m.ID, "text": fmt.Sprint(i)}))
	}
}

// Forum topics as Telegram makes them: a service message whose id is the
// thread, messages into existing threads only, Telegram's checks.
func TestForumTopics(t *testing.T) {
	srv := newServer(t, Options{})
	const forum, plain = -1001, -1002
	srv.AddGroup(forum, "Поддержка", true)
	srv.AddGroup(plain, "Чат", false)

	topic := decodeResult[models.ForumTopic](t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": forum, "name": "Заявка №7", "icon_color": 16766590}))
	if topic.Name != "Заявка №7" || topic.IconColor != 16766590 || topic.MessageThreadID == 0 {
		t.Errorf("topic = %+v", topic)
	}
	last, _ := srv.LastMessage(forum)
	if last.ID != topic.MessageThreadID || last.Message.ForumTopicCreated == nil || last.Message.ForumTopicCreated.Name != "Заявка №7" {
		t.Errorf("service message = %+v", last.Message)
	}
	msg := decodeResult[models.Message](t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": forum, "message_thread_id": topic.MessageThreadID, "text": "Абонент пишет"}))
	if msg.MessageThreadID != topic.MessageThreadID || !msg.IsTopicMessage {
		t.Errorf("message in topic: thread %d, topic message %v", msg.MessageThreadID, msg.IsTopicMessage)
	}
	wantError(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": forum, "message_thread_id": topic.MessageThreadID + 100, "text": "x"}),
		400, "Bad Request: message thread not found")
	wantError(t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": plain, "name": "x"}), 400, "Bad Request: the chat is not a forum")
	wantError(t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": forum, "name": ""}), 400, "Bad Request: name is empty")
	wantErrorPrefix(t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": forum, "name": strings.Repeat("я", 129)}), 400, "Bad Request: topic name is too long")
	wantErrorPrefix(t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": forum, "name": "x", "icon_color": 0xFF0000}), 400, "Bad Request: wrong icon_color")

	wantOK(t, callJSON(t, srv, "editForumTopic", map[string]any{"chat_id": forum, "message_thread_id": topic.MessageThreadID, "name": "Заявка №7 (закрыта)"}))
	wantError(t, callJSON(t, srv, "editForumTopic", map[string]any{"chat_id": forum, "message_thread_id": topic.MessageThreadID, "name": "Заявка №7 (закрыта)"}),
		400, "Bad Request: TOPIC_NOT_MODIFIED")
	wantError(t, callJSON(t, srv, "editForumTopic", map[string]any{"chat_id": forum, "message_thread_id": 999, "name": "y"}), 400, "Bad Request: message thread not found")
	if ts := srv.Topics(forum); len(ts) != 1 || ts[0].Name != "Заявка №7 (закрыта)" {
		t.Errorf("topics = %+v", ts)
	}
}

// What a support desk does in one group all draws on the group's 20 a
// minute: messages in every topic, copies, albums (each message), caption
// edits, topics closed and reopened. Deleting a topic, reactions and
// reading members do not.
func TestGroupBudgetCountsSupportTraffic(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now})
	newSupportGroup(t, srv)
	srv.SendPhoto(alice, "фото")
	first := newTopic(t, srv, "Заявка 1")
	second := newTopic(t, srv, "Заявка 2")
	photo := decodeResult[models.Message](t, callJSON(t, srv, "sendPhoto", map[string]any{"chat_id": supportGroup, "message_thread_id": first, "photo": "https://x.example/a.jpg"}))
	srv.EnableRateLimits(RateLimits{})

	album := `[{"type":"photo","media":"https://x.example/a.jpg"},{"type":"photo","media":"https://x.example/b.jpg"},{"type":"photo","media":"https://x.example/c.jpg"}]`
	steps := []struct {
		method string
		params map[string]any
		cost   int
	}{
		{"sendMessage", map[string]any{"message_thread_id": first, "text": "a"}, 1},
		{"sendMessage", map[string]any{"message_thread_id": second, "text": "b"}, 1},
		{"copyMessage", map[string]any{"message_thread_id": first, "from_chat_id": alice.ID, "message_id": 1}, 1},
		{"copyMessages", map[string]any{"message_thread_id": second, "from_chat_id": alice.ID, "message_ids": []int{1}}, 1},
		{"forwardMessage", map[string]any{"message_thread_id": second, "from_chat_id": alice.ID, "message_id": 1}, 1},
		{"sendMediaGroup", map[string]any{"message_thread_id": first, "media": album}, 3},
		{"editMessageCaption", map[string]any{"message_id": photo.ID, "caption": "новая"}, 1},
		{"closeForumTopic", map[string]any{"message_thread_id": second}, 1},
		{"reopenForumTopic", map[string]any{"message_thread_id": second}, 1},
		{"sendVoice", map[string]any{"message_thread_id": first, "voice": "https://x.example/a.ogg"}, 1},
	}
	spent := 0
	for _, st := range steps {
		clock.Advance(50 * time.Millisecond) // far under the bot's 30 a second
		params := map[string]any{"chat_id": supportGroup}
		for k, v := range st.params {
			params[k] = v
		}
		wantOK(t, callJSON(t, srv, st.method, params))
		spent += st.cost
	}
	if spent != 12 {
		t.Fatalf("spent %d", spent)
	}
	// 8 left of 20: two albums of 3 and two messages take them.
	for i := 0; i < 2; i++ {
		wantOK(t, callJSON(t, srv, "sendMediaGroup", map[string]any{"chat_id": supportGroup, "message_thread_id": first, "media": album}))
	}
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": supportGroup, "message_thread_id": first, "text": "d"}))
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": supportGroup, "message_thread_id": second, "text": "e"}))
	for _, call := range []struct {
		method string
		params map[string]any
	}{
		{"sendMessage", map[string]any{"chat_id": supportGroup, "message_thread_id": second, "text": "c"}},
		{"copyMessage", map[string]any{"chat_id": supportGroup, "from_chat_id": alice.ID, "message_id": 1}},
		{"closeForumTopic", map[string]any{"chat_id": supportGroup, "message_thread_id": first}},
		{"sendMediaGroup", map[string]any{"chat_id": supportGroup, "media": album}},
	} {
		r := callJSON(t, srv, call.method, call.params)
		wantErrorPrefix(t, r, 429, "Too Many Requests: retry after")
	}
	for _, c := range srv.TooManyRequests() {
		if c.Limit != LimitGroup {
			t.Errorf("%s refused by %q", c.Method, c.Limit)
		}
	}
	// Not posting anything, these go through on an empty budget.
	wantOK(t, callJSON(t, srv, "setMessageReaction", map[string]any{"chat_id": supportGroup, "message_id": photo.ID, "reaction": `[{"type":"emoji","emoji":"👍"}]`}))
	wantOK(t, callJSON(t, srv, "getChatMember", map[string]any{"chat_id": supportGroup, "user_id": operator.ID}))
	wantOK(t, callJSON(t, srv, "deleteForumTopic", map[string]any{"chat_id": supportGroup, "message_thread_id": second}))
	// A refused album sent nothing.
	if n := len(srv.TopicMessages(supportGroup, 0)); n != 0 {
		t.Errorf("%d messages in General", n)
	}
}

// In a private chat an album counts each of its messages too, but is never
// refused for its size alone: a full bucket lets it out and the chat waits
// afterwards.
func TestAlbumInPrivateChatLeavesTheChatWaiting(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now, RateLimits: &RateLimits{}})
	srv.SendCommand(alice, "/start")
	album := `[` + strings.TrimSuffix(strings.Repeat(`{"type":"photo","media":"https://x.example/a.jpg"},`, 5), ",") + `]`
	wantOK(t, callJSON(t, srv, "sendMediaGroup", map[string]any{"chat_id": alice.ID, "media": album}))
	r := callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "x"})
	wantError(t, r, 429, "Too Many Requests: retry after 3")
	clock.Advance(3 * time.Second)
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "x"}))
}
