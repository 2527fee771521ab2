package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

const supportGroup int64 = -1001000000001

var (
	operator = User{ID: 2001, FirstName: "Ольга", Username: "olga_support", LanguageCode: "ru"}
	senior   = User{ID: 2002, FirstName: "Пётр", Username: "petr_lead", LanguageCode: "ru"}
)

// newSupportGroup is a forum with the bot as an administrator (the default
// rights) and one operator in it.
func newSupportGroup(t *testing.T, srv *Server) {
	t.Helper()
	srv.AddGroup(supportGroup, "Поддержка", true)
	if err := srv.AddMember(supportGroup, operator); err != nil {
		t.Fatal(err)
	}
}

// wantAPIError checks the library's error for a Bot API answer.
func wantAPIError(t *testing.T, err error, description string) {
	t.Helper()
	if err == nil || !strings.HasSuffix(err.Error(), description) {
		t.Fatalf("error = %v, want %q", err, description)
	}
}

// A topic's life as the bot drives it: messages in it carry the thread and
// reply to the "topic created" message, closing and reopening post service
// messages, deleting takes its messages along.
func TestForumTopicLifecycle(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)

	topic, err := b.CreateForumTopic(ctx, &bot.CreateForumTopicParams{ChatID: supportGroup, Name: "Заявка 1"})
	if err != nil {
		t.Fatal(err)
	}
	if topic.MessageThreadID != 2 {
		t.Errorf("first topic is thread %d, want 2 (1 is General)", topic.MessageThreadID)
	}
	msg, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID, Text: "Абонент: нет интернета"})
	if err != nil {
		t.Fatal(err)
	}
	if msg.MessageThreadID != topic.MessageThreadID || !msg.IsTopicMessage || msg.Chat.Type != models.ChatTypeSupergroup || !msg.Chat.IsForum {
		t.Errorf("message in the topic = %+v", msg)
	}
	if r := msg.ReplyToMessage; r == nil || r.ID != topic.MessageThreadID || r.ForumTopicCreated == nil || r.ForumTopicCreated.Name != "Заявка 1" {
		t.Errorf("reply_to_message = %+v, want the topic's creation", msg.ReplyToMessage)
	}
	// A reply without message_thread_id lands in the original's topic.
	reply, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: supportGroup, Text: "Уточнение",
		ReplyParameters: &models.ReplyParameters{MessageID: msg.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if reply.MessageThreadID != topic.MessageThreadID || reply.ReplyToMessage == nil || reply.ReplyToMessage.ID != msg.ID {
		t.Errorf("reply = thread %d, reply_to %+v", reply.MessageThreadID, reply.ReplyToMessage)
	}

	if ok, err := b.CloseForumTopic(ctx, &bot.CloseForumTopicParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID}); err != nil || !ok {
		t.Fatalf("closeForumTopic: %v", err)
	}
	if st, _ := srv.Topic(supportGroup, topic.MessageThreadID); !st.Closed || !st.CreatedByBot {
		t.Errorf("topic after closing = %+v", st)
	}
	if last, _ := srv.LastMessage(supportGroup); last.Message.ForumTopicClosed == nil || !last.FromBot || last.Message.MessageThreadID != topic.MessageThreadID {
		t.Errorf("service message = %+v", last.Message)
	}
	_, err = b.CloseForumTopic(ctx, &bot.CloseForumTopicParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID})
	wantAPIError(t, err, "Bad Request: TOPIC_NOT_MODIFIED")
	// The bot created the topic, so it may still write there.
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID, Text: "Заявка закрыта"}); err != nil {
		t.Errorf("bot writing into its own closed topic: %v", err)
	}
	if _, err := b.ReopenForumTopic(ctx, &bot.ReopenForumTopicParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID}); err != nil {
		t.Fatal(err)
	}
	if last, _ := srv.LastMessage(supportGroup); last.Message.ForumTopicReopened == nil {
		t.Errorf("no reopened service message: %+v", last.Message)
	}
	_, err = b.ReopenForumTopic(ctx, &bot.ReopenForumTopicParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID})
	wantAPIError(t, err, "Bad Request: TOPIC_NOT_MODIFIED")

	other, _ := b.CreateForumTopic(ctx, &bot.CreateForumTopicParams{ChatID: supportGroup, Name: "Заявка 2"})
	if ok, err := b.DeleteForumTopic(ctx, &bot.DeleteForumTopicParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID}); err != nil || !ok {
		t.Fatalf("deleteForumTopic: %v", err)
	}
	if n := len(srv.TopicMessages(supportGroup, topic.MessageThreadID)); n != 0 {
		t.Errorf("%d messages of the deleted topic remain", n)
	}
	if ts := srv.Topics(supportGroup); len(ts) != 1 || ts[0].MessageThreadID != other.MessageThreadID {
		t.Errorf("topics after deleting = %+v", ts)
	}
	_, err = b.SendMessage(ctx, &bot.SendMessageParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID, Text: "x"})
	wantAPIError(t, err, "Bad Request: message thread not found")
	_, err = b.DeleteForumTopic(ctx, &bot.DeleteForumTopicParams{ChatID: supportGroup, MessageThreadID: topic.MessageThreadID})
	wantAPIError(t, err, "Bad Request: message thread not found")
}

// message_thread_id as the Bot API reads it in each kind of chat.
func TestMessageThreadRules(t *testing.T) {
	srv := newServer(t, Options{})
	newSupportGroup(t, srv)
	const plain = -1001000000002
	srv.AddGroup(plain, "Чат", false)
	srv.SendCommand(alice, "/start")
	topic := decodeResult[models.ForumTopic](t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": supportGroup, "name": "Заявка"}))

	tests := []struct {
		name     string
		chat     int64
		thread   int
		want     string // error, or "" for success
		inThread int    // the thread the message lands in
	}{
		{"a topic of the forum", supportGroup, topic.MessageThreadID, "", topic.MessageThreadID},
		{"none: the General topic", supportGroup, 0, "", 0},
		{"General named explicitly", supportGroup, generalTopicID, "Bad Request: message thread not found", 0},
		{"a topic that never was", supportGroup, 999, "Bad Request: message thread not found", 0},
		{"a group that is no forum ignores it", plain, 5, "", 0},
		{"a private chat has no topics", alice.ID, 5, "Bad Request: message thread not found", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]any{"chat_id": tt.chat, "text": "x"}
			if tt.thread != 0 {
				params["message_thread_id"] = tt.thread
			}
			r := callJSON(t, srv, "sendMessage", params)
			if tt.want != "" {
				wantError(t, r, http.StatusBadRequest, tt.want)
				return
			}
			msg := decodeResult[models.Message](t, r)
			if msg.MessageThreadID != tt.inThread || msg.IsTopicMessage != (tt.inThread != 0) {
				t.Errorf("message thread %d (topic message %v), want %d", msg.MessageThreadID, msg.IsTopicMessage, tt.inThread)
			}
		})
	}
}

// What the bot may do with a topic depends on its rights and on who created
// the topic, as TDLib decides it.
func TestTopicRights(t *testing.T) {
	noTopics := &models.ChatAdministratorRights{CanManageChat: true, CanDeleteMessages: true}
	onlyTopics := &models.ChatAdministratorRights{CanManageChat: true, CanManageTopics: true}
	tests := []struct {
		name       string
		byOperator bool                            // the topic was created by an operator, not the bot
		closed     bool                            // an operator closed it by hand
		deleted    bool                            // an operator deleted it by hand
		rights     *models.ChatAdministratorRights // the bot's rights then; nil: an ordinary member
		method     string
		params     map[string]any
		want       string // "" for success
	}{
		{"create without can_manage_topics", false, false, false, noTopics, "createForumTopic", map[string]any{"name": "x"},
			"Bad Request: not enough rights to create a topic"},
		{"create as an ordinary member", false, false, false, nil, "createForumTopic", map[string]any{"name": "x"},
			"Bad Request: not enough rights to create a topic"},
		{"edit its own topic without rights", false, false, false, nil, "editForumTopic", map[string]any{"name": "y"}, ""},
		{"edit an operator's topic without rights", true, false, false, noTopics, "editForumTopic", map[string]any{"name": "y"},
			"Bad Request: not enough rights to edit the topic"},
		{"edit an operator's topic with can_manage_topics", true, false, false, onlyTopics, "editForumTopic", map[string]any{"name": "y"}, ""},
		{"close its own topic without rights", false, false, false, nil, "closeForumTopic", nil, ""},
		{"close an operator's topic without rights", true, false, false, noTopics, "closeForumTopic", nil,
			"Bad Request: not enough rights to close or open the topic"},
		{"close an operator's topic with can_manage_topics", true, false, false, onlyTopics, "closeForumTopic", nil, ""},
		{"reopen an operator's topic without rights", true, true, false, noTopics, "reopenForumTopic", nil,
			"Bad Request: not enough rights to close or open the topic"},
		{"reopen an operator's topic with can_manage_topics", true, true, false, onlyTopics, "reopenForumTopic", nil, ""},
		{"delete its own topic without rights", false, false, false, nil, "deleteForumTopic", nil, ""},
		{"delete an operator's topic without can_delete_messages", true, false, false, onlyTopics, "deleteForumTopic", nil,
			"Bad Request: not enough rights to delete the topic"},
		{"delete an operator's topic with can_delete_messages", true, false, false, noTopics, "deleteForumTopic", nil, ""},
		{"write into an operator's closed topic without can_manage_topics", true, true, false, noTopics, "sendMessage",
			map[string]any{"text": "x"}, "Bad Request: TOPIC_CLOSED"},
		{"write into an operator's closed topic as an ordinary member", true, true, false, nil, "sendMessage",
			map[string]any{"text": "x"}, "Bad Request: TOPIC_CLOSED"},
		{"write into an operator's closed topic with can_manage_topics", true, true, false, onlyTopics, "sendMessage",
			map[string]any{"text": "x"}, ""},
		{"write into its own topic an operator closed", false, true, false, nil, "sendMessage", map[string]any{"text": "x"}, ""},
		{"a photo into an operator's closed topic", true, true, false, noTopics, "sendPhoto",
			map[string]any{"photo": "https://x.example/a.jpg"}, "Bad Request: TOPIC_CLOSED"},
		{"write into a topic an operator deleted", false, false, true, nil, "sendMessage", map[string]any{"text": "x"},
			"Bad Request: message thread not found"},
		{"close a topic an operator deleted", false, false, true, onlyTopics, "closeForumTopic", nil,
			"Bad Request: message thread not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, Options{})
			newSupportGroup(t, srv)
			var thread int
			if tt.byOperator {
				sent, err := srv.CreateTopic(supportGroup, operator, "Звонок")
				if err != nil {
					t.Fatal(err)
				}
				thread = sent.MessageID
			} else {
				thread = decodeResult[models.ForumTopic](t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": supportGroup, "name": "Звонок"})).MessageThreadID
			}
			if tt.closed {
				if _, err := srv.CloseTopic(supportGroup, thread, operator); err != nil {
					t.Fatal(err)
				}
			}
			if tt.deleted {
				if err := srv.DeleteTopic(supportGroup, thread, operator); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := srv.SetBotRights(supportGroup, tt.rights); err != nil {
				t.Fatal(err)
			}
			params := map[string]any{"chat_id": supportGroup}
			if tt.method != "createForumTopic" {
				params["message_thread_id"] = thread
			}
			for k, v := range tt.params {
				params[k] = v
			}
			r := callJSON(t, srv, tt.method, params)
			if tt.want == "" {
				wantOK(t, r)
			} else {
				wantError(t, r, http.StatusBadRequest, tt.want)
			}
		})
	}
}

// An operator closes, reopens, renames and deletes a topic by hand: the bot
// gets the service messages as updates from the forum, as Telegram sends
// them, and nothing for the deletion.
func TestOperatorManagesTopicsByHand(t *testing.T) {
	srv := newServer(t, Options{})
	newSupportGroup(t, srv)
	topic := decodeResult[models.ForumTopic](t, callJSON(t, srv, "createForumTopic", map[string]any{"chat_id": supportGroup, "name": "Заявка"}))

	check := func(t *testing.T, sent Sent, want func(m *models.Message) bool) {
		t.Helper()
		u := onlyUpdate(t, srv)
		m := u.Message
		if u.ID != sent.UpdateID || m == nil || m.ID != sent.MessageID || !want(m) {
			t.Fatalf("update = %+v", u)
		}
		if m.Chat.ID != supportGroup || m.Chat.Type != models.ChatTypeSupergroup || !m.Chat.IsForum || m.Chat.Title != "Поддержка" {
			t.Errorf("chat = %+v", m.Chat)
		}
		if m.From == nil || m.From.ID != operator.ID || m.MessageThreadID != topic.MessageThreadID || !m.IsTopicMessage {
			t.Errorf("from %+v, thread %d, topic message %v", m.From, m.MessageThreadID, m.IsTopicMessage)
		}
		if m.ReplyToMessage == nil || m.ReplyToMessage.ID != topic.MessageThreadID {
			t.Errorf("reply_to_message = %+v, want the topic's creation", m.ReplyToMessage)
		}
	}

	sent, err := srv.CloseTopic(supportGroup, topic.MessageThreadID, operator)
	if err != nil {
		t.Fatal(err)
	}
	check(t, sent, func(m *models.Message) bool { return m.ForumTopicClosed != nil })
	if st, _ := srv.Topic(supportGroup, topic.MessageThreadID); !st.Closed {
		t.Errorf("topic not closed: %+v", st)
	}
	if _, err := srv.CloseTopic(supportGroup, topic.MessageThreadID, operator); err == nil {
		t.Errorf("closing a closed topic worked")
	}
	sent, _ = srv.ReopenTopic(supportGroup, topic.MessageThreadID, operator)
	check(t, sent, func(m *models.Message) bool { return m.ForumTopicReopened != nil })
	sent, _ = srv.RenameTopic(supportGroup, topic.MessageThreadID, operator, "Заявка: решено")
	check(t, sent, func(m *models.Message) bool {
		return m.ForumTopicEdited != nil && m.ForumTopicEdited.Name == "Заявка: решено"
	})
	if ts := srv.Topics(supportGroup); ts[0].Name != "Заявка: решено" {
		t.Errorf("topic name = %q", ts[0].Name)
	}

	if err := srv.DeleteTopic(supportGroup, topic.MessageThreadID, operator); err != nil {
		t.Fatal(err)
	}
	if n := srv.PendingUpdates(); n != 0 {
		t.Errorf("%d updates after a deletion, want none", n)
	}
	if _, ok := srv.Topic(supportGroup, topic.MessageThreadID); ok {
		t.Errorf("the deleted topic is still there")
	}
	if _, err := srv.CloseTopic(supportGroup, topic.MessageThreadID, operator); err == nil {
		t.Errorf("closing a deleted topic worked")
	}
	if _, err := srv.CloseTopic(supportGroup, topic.MessageThreadID, senior); err == nil {
		t.Errorf("someone who is not in the group closed a topic")
	}
}

// The bot's own membership and the operators', as getChatMember and
// getChatAdministrators tell them.
func TestChatMembers(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	if err := srv.AddMember(supportGroup, senior); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetMemberRights(supportGroup, senior.ID, &models.ChatAdministratorRights{CanManageChat: true, CanManageTopics: true}); err != nil {
		t.Fatal(err)
	}
	srv.SendCommand(alice, "/start") // known to the bot, not in the group
	onlyUpdate(t, srv)
	me := srv.Bot()

	tests := []struct {
		name   string
		user   int64
		status models.ChatMemberType
		want   string // error
		check  func(m models.ChatMember) bool
	}{
		{"the bot, an administrator", me.ID, models.ChatMemberTypeAdministrator, "", func(m models.ChatMember) bool {
			return m.Administrator.User.ID == me.ID && m.Administrator.CanManageTopics && m.Administrator.CanDeleteMessages
		}},
		{"an operator", operator.ID, models.ChatMemberTypeMember, "", func(m models.ChatMember) bool { return m.Member.User.ID == operator.ID }},
		{"a senior operator, an administrator", senior.ID, models.ChatMemberTypeAdministrator, "", func(m models.ChatMember) bool {
			return m.Administrator.CanManageTopics && !m.Administrator.CanDeleteMessages
		}},
		{"a subscriber outside the group", alice.ID, models.ChatMemberTypeLeft, "", func(m models.ChatMember) bool { return m.Left.User.ID == alice.ID }},
		{"someone the bot never met", 999999, "", "Bad Request: user not found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := b.GetChatMember(ctx, &bot.GetChatMemberParams{ChatID: supportGroup, UserID: tt.user})
			if tt.want != "" {
				wantAPIError(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Type != tt.status || !tt.check(*m) {
				t.Errorf("member = %+v", m)
			}
		})
	}
	wantError(t, callJSON(t, srv, "getChatMember", map[string]any{"chat_id": supportGroup, "user_id": 0}), 400, "Bad Request: invalid user_id specified")
	wantError(t, callJSON(t, srv, "getChatMember", map[string]any{"chat_id": -100999, "user_id": me.ID}), 400, "Bad Request: chat not found")
	// Rights the bot lacks are written out as false, as the real server does.
	raw := decodeResult[map[string]any](t, callJSON(t, srv, "getChatMember", map[string]any{"chat_id": supportGroup, "user_id": me.ID}))
	if v, ok := raw["can_restrict_members"]; !ok || v != false {
		t.Errorf("can_restrict_members = %v (present %v), want false written out", v, ok)
	}

	admins, err := b.GetChatAdministrators(ctx, &bot.GetChatAdministratorsParams{ChatID: supportGroup})
	if err != nil {
		t.Fatal(err)
	}
	if len(admins) != 2 || admins[0].Administrator.User.ID != me.ID || admins[1].Administrator.User.ID != senior.ID {
		t.Errorf("administrators = %+v", admins)
	}
	_, err = b.GetChatAdministrators(ctx, &bot.GetChatAdministratorsParams{ChatID: alice.ID})
	wantAPIError(t, err, "Bad Request: there are no administrators in the private chat")

	// Demoted, the bot is an ordinary member, and Telegram tells it so.
	id, err := srv.SetBotRights(supportGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := onlyUpdate(t, srv)
	if u.ID != id || u.MyChatMember == nil || u.MyChatMember.Chat.ID != supportGroup ||
		u.MyChatMember.OldChatMember.Type != models.ChatMemberTypeAdministrator || u.MyChatMember.NewChatMember.Type != models.ChatMemberTypeMember {
		t.Errorf("my_chat_member = %+v", u.MyChatMember)
	}
	if m, err := b.GetChatMember(ctx, &bot.GetChatMemberParams{ChatID: supportGroup, UserID: me.ID}); err != nil || m.Type != models.ChatMemberTypeMember {
		t.Errorf("bot after demotion = %+v, %v", m, err)
	}
	if admins, _ := b.GetChatAdministrators(ctx, &bot.GetChatAdministratorsParams{ChatID: supportGroup}); len(admins) != 1 {
		t.Errorf("administrators after the bot's demotion = %+v", admins)
	}
	if err := srv.SetMemberRights(supportGroup, 999999, nil); err == nil {
		t.Errorf("rights given to someone outside the group")
	}
	if _, err := srv.SetBotRights(alice.ID, nil); err == nil {
		t.Errorf("bot rights set in a private chat")
	}
}
