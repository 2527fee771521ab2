package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/go-telegram/bot/models"
)

// topicColors are the icon colours createForumTopic accepts; a topic made
// without one gets the first, as Telegram's apps show.
var topicColors = []int64{7322096, 16766590, 13338331, 9367192, 16749490, 16478047}

// maxTopicName is the length of a topic's name, in characters.
const maxTopicName = 128

// generalTopicID is the thread of a forum's "General" topic. The Bot API
// sends there when message_thread_id is left out, and refuses it named
// explicitly with "message thread not found".
const generalTopicID = 1

// topic is a forum topic with what the Bot API's answers depend on.
type topic struct {
	models.ForumTopic
	closed bool
	// byBot: the bot created the topic, so it may edit, close, reopen and
	// delete it, and write into it while closed, without administrator
	// rights (TDLib's "is_outgoing" exemption in ForumTopicManager).
	byBot bool
	// creator is the member who created the topic in the app (0: the bot);
	// they may post into it while it is closed.
	creator int64
}

// TopicState is a forum topic as the group sees it now.
type TopicState struct {
	models.ForumTopic
	Closed       bool
	CreatedByBot bool
}

// topicOf is the topic a request's message_thread_id names in a forum, or
// nil: none given, the chat is no forum (the Bot API then ignores the
// parameter), or the topic is gone (writableChat refused that already).
func (c *chat) topicOf(p params) *topic {
	if !c.info.IsForum {
		return nil
	}
	return c.topics[int(p.int("message_thread_id"))]
}

// checkThread applies the Bot API's rules for message_thread_id: in a forum
// it must name a topic that exists (not General); in a private chat there are
// no topics (bots with topics in private chats are not emulated); in a group
// that is no forum it is ignored.
func (c *chat) checkThread(p params) *apiError {
	thread := int(p.int("message_thread_id"))
	if thread == 0 {
		return nil
	}
	switch {
	case c.private():
		return badRequest("message thread not found")
	case !c.info.IsForum:
		return nil
	case thread == generalTopicID || c.topics[thread] == nil:
		return badRequest("message thread not found")
	}
	return nil
}

// mayWriteClosed tells whether the bot may write into a closed topic: it
// created the topic, or it may manage topics. That is the rule TDLib applies
// for a user account (ForumTopicManager::can_send_message_to_forum_topic);
// the server is assumed to apply the same to bots, answering TOPIC_CLOSED
// otherwise.
func (c *chat) mayWriteClosed(t *topic) bool {
	return t.byBot || c.botManagesTopics()
}

// forumChat resolves chat_id to a forum supergroup the bot can manage
// topics in.
func (s *Server) forumChat(p params) (*chat, *apiError) {
	c, err := s.writableChat(p)
	if err != nil {
		return nil, err
	}
	if !c.info.IsForum {
		return nil, badRequest("the chat is not a forum")
	}
	return c, nil
}

// forumTopic resolves chat_id and message_thread_id to a topic.
func (s *Server) forumTopic(p params) (*chat, *topic, *apiError) {
	c, err := s.forumChat(p)
	if err != nil {
		return nil, nil, err
	}
	t := c.topics[int(p.int("message_thread_id"))]
	if t == nil {
		// For a topic that never existed Telegram may answer otherwise
		// (TOPIC_ID_INVALID); not checked.
		return nil, nil, badRequest("message thread not found")
	}
	return c, t, nil
}

// serviceMessageLocked posts a service message about a topic into it, from
// the bot or a person, and returns it.
func (s *Server) serviceMessageLocked(c *chat, t *topic, from models.User, fromBot bool, build func(*models.Message)) models.Message {
	msg := models.Message{ID: c.nextMessageID(), From: &from, Date: int(s.now().Unix()), Chat: c.info,
		MessageThreadID: t.MessageThreadID, IsTopicMessage: true}
	msg.ReplyToMessage = c.topicStart(t.MessageThreadID)
	build(&msg)
	c.messages = append(c.messages, &storedMessage{msg: msg, fromBot: fromBot})
	s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
	return msg
}

// topicStart is the "topic created" service message of a thread, as Telegram
// puts it into reply_to_message of every message in the topic that replies to
// nothing else.
func (c *chat) topicStart(thread int) *models.Message {
	if _, m := c.find(thread); m != nil {
		return replyCopy(m.msg)
	}
	return nil
}

// createForumTopic makes a topic: Telegram posts a "topic created" service
// message, whose id is the topic's message_thread_id. It counts against the
// group's flood limit like a message.
func (s *Server) createForumTopic(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.forumChat(p)
	if err != nil {
		return result{}, err
	}
	// A group may also let ordinary members create topics; the emulator's
	// groups don't, so the bot needs the right.
	if !c.botManagesTopics() {
		return result{}, badRequest("not enough rights to create a topic")
	}
	name := p.str("name")
	if utf16Len(name) > maxTopicName {
		return result{}, badRequest("topic name is too long: at most %d characters", maxTopicName)
	}
	color := topicColors[0]
	if p.has("icon_color") {
		color = p.int("icon_color")
		if !slices.Contains(topicColors, color) {
			return result{}, badRequest("wrong icon_color: must be one of 7322096, 16766590, 13338331, 9367192, 16749490, 16478047")
		}
	}
	if err := s.limitLocked(c, "createForumTopic", false); err != nil {
		return result{}, err
	}
	bot := s.bot
	msg := models.Message{ID: c.nextMessageID(), From: &bot, Date: int(s.now().Unix()), Chat: c.info}
	msg.MessageThreadID, msg.IsTopicMessage = msg.ID, true
	t := &topic{
		ForumTopic: models.ForumTopic{MessageThreadID: msg.ID, Name: name, IconColor: int(color), IconCustomEmojiID: p.str("icon_custom_emoji_id")},
		byBot:      true,
	}
	msg.ForumTopicCreated = &models.ForumTopicCreated{Name: t.Name, IconColor: t.IconColor, IconCustomEmojiID: t.IconCustomEmojiID}
	if c.topics == nil {
		c.topics = map[int]*topic{}
	}
	c.topics[t.MessageThreadID] = t
	c.messages = append(c.messages, &storedMessage{msg: msg, fromBot: true})
	s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
	return result{value: t.ForumTopic}, nil
}

// editForumTopic renames a topic or changes its icon, posting a "topic
// edited" service message; it counts against the group's flood limit.
func (s *Server) editForumTopic(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.forumTopic(p)
	if err != nil {
		return result{}, err
	}
	if !t.byBot && !c.botManagesTopics() {
		return result{}, badRequest("not enough rights to edit the topic")
	}
	edited := t.ForumTopic
	if name := p.str("name"); name != "" {
		if utf16Len(name) > maxTopicName {
			return result{}, badRequest("topic name is too long: at most %d characters", maxTopicName)
		}
		edited.Name = name
	}
	if p.has("icon_custom_emoji_id") {
		edited.IconCustomEmojiID = p.str("icon_custom_emoji_id")
	}
	if edited == t.ForumTopic {
		return result{}, badRequest("TOPIC_NOT_MODIFIED")
	}
	if err := s.limitLocked(c, "editForumTopic", false); err != nil {
		return result{}, err
	}
	t.ForumTopic = edited
	s.serviceMessageLocked(c, t, s.bot, true, func(m *models.Message) {
		m.ForumTopicEdited = &models.ForumTopicEdited{Name: edited.Name, IconCustomEmojiID: edited.IconCustomEmojiID}
	})
	return result{value: true}, nil
}

// closeForumTopic and reopenForumTopic close and reopen a topic, posting the
// "topic closed" or "reopened" service message. Doing it twice is refused
// with TOPIC_NOT_MODIFIED, as TDLib passes that error on to bots. They count
// against the group's flood limit, since they post a message.
func (s *Server) setTopicClosed(method string, closed bool, p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.forumTopic(p)
	if err != nil {
		return result{}, err
	}
	if !t.byBot && !c.botManagesTopics() {
		return result{}, badRequest("not enough rights to close or open the topic")
	}
	if t.closed == closed {
		return result{}, badRequest("TOPIC_NOT_MODIFIED")
	}
	if err := s.limitLocked(c, method, false); err != nil {
		return result{}, err
	}
	t.closed = closed
	s.serviceMessageLocked(c, t, s.bot, true, func(m *models.Message) { setClosedService(m, closed) })
	return result{value: true}, nil
}

func setClosedService(m *models.Message, closed bool) {
	if closed {
		m.ForumTopicClosed = &models.ForumTopicClosed{}
	} else {
		m.ForumTopicReopened = &models.ForumTopicReopened{}
	}
}

// deleteForumTopic deletes a topic with all its messages. The bot needs
// can_delete_messages unless it created the topic. Telegram sends the bot no
// update about a deleted topic; sending into it afterwards answers "message
// thread not found".
func (s *Server) deleteForumTopic(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.forumTopic(p)
	if err != nil {
		return result{}, err
	}
	if !t.byBot && !c.botDeletes() {
		return result{}, badRequest("not enough rights to delete the topic")
	}
	s.deleteTopicLocked(c, t)
	return result{value: true}, nil
}

func (s *Server) deleteTopicLocked(c *chat, t *topic) {
	delete(c.topics, t.MessageThreadID)
	kept := c.messages[:0:0]
	var gone []int
	for _, m := range c.messages {
		if m.msg.MessageThreadID == t.MessageThreadID {
			gone = append(gone, m.msg.ID)
			continue
		}
		kept = append(kept, m)
	}
	c.messages = kept
	for _, id := range gone {
		s.notifyLocked(Event{Kind: EventDelete, ChatID: c.info.ID, MessageID: id})
	}
}

// Topics lists a forum's topics, oldest first; deleted ones are gone.
func (s *Server) Topics(chatID int64) []models.ForumTopic {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatID]
	if c == nil {
		return nil
	}
	out := make([]models.ForumTopic, 0, len(c.topics))
	for _, t := range c.topics {
		out = append(out, t.ForumTopic)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MessageThreadID < out[j].MessageThreadID })
	return out
}

// Topic tells whether a topic exists and whether it is closed.
func (s *Server) Topic(chatID int64, threadID int) (TopicState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatID]
	if c == nil || c.topics[threadID] == nil {
		return TopicState{}, false
	}
	t := c.topics[threadID]
	return TopicState{ForumTopic: t.ForumTopic, Closed: t.closed, CreatedByBot: t.byBot}, true
}

// TopicMessages lists the messages of one topic in order, the "topic
// created" service message first, as the group sees them now.
func (s *Server) TopicMessages(chatID int64, threadID int) []ChatMessage {
	var out []ChatMessage
	for _, m := range s.Messages(chatID) {
		if m.Message.MessageThreadID == threadID {
			out = append(out, m)
		}
	}
	return out
}

// The people's side of topics: an operator closing, reopening, renaming or
// deleting a topic by hand in the Telegram app. The emulator does not check
// the operator's rights (the app would not offer the action without them).

// personTopicLocked finds a topic for a person's action.
func (s *Server) personTopicLocked(chatID int64, threadID int, by User) (*chat, *topic, error) {
	c, err := s.group(chatID)
	if err != nil {
		return nil, nil, err
	}
	if c.members[by.ID] == nil {
		return nil, nil, fmt.Errorf("emulator: user %d is not a member of group %d (AddMember first)", by.ID, chatID)
	}
	t := c.topics[threadID]
	if t == nil {
		return nil, nil, fmt.Errorf("emulator: group %d has no topic %d", chatID, threadID)
	}
	return c, t, nil
}

// CreateTopic is an operator creating a topic in the app. The topic's
// thread is Sent.MessageID, the id of its "topic created" message, which the
// bot gets as an update. Unlike a topic the bot created, the bot may edit,
// close or delete it only with the rights for that.
func (s *Server) CreateTopic(chatID int64, by User, name string) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.group(chatID)
	if err != nil {
		return Sent{}, err
	}
	if !c.info.IsForum {
		return Sent{}, fmt.Errorf("emulator: group %d is not a forum", chatID)
	}
	if c.members[by.ID] == nil {
		return Sent{}, fmt.Errorf("emulator: user %d is not a member of group %d (AddMember first)", by.ID, chatID)
	}
	from := by.model()
	msg := models.Message{ID: c.nextMessageID(), From: &from, Date: int(s.now().Unix()), Chat: c.info}
	msg.MessageThreadID, msg.IsTopicMessage = msg.ID, true
	t := &topic{ForumTopic: models.ForumTopic{MessageThreadID: msg.ID, Name: name, IconColor: int(topicColors[0])}, creator: by.ID}
	msg.ForumTopicCreated = &models.ForumTopicCreated{Name: name, IconColor: t.IconColor}
	if c.topics == nil {
		c.topics = map[int]*topic{}
	}
	c.topics[t.MessageThreadID] = t
	c.messages = append(c.messages, &storedMessage{msg: msg})
	s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
	return s.groupUpdateLocked(c, msg), nil
}

// CloseTopic is an operator closing a topic in the app: the "topic closed"
// service message appears in it, and the bot gets it as a message update
// (if it sees the group's messages). Afterwards the bot's messages into the
// topic are refused with TOPIC_CLOSED unless it created the topic or has
// can_manage_topics.
func (s *Server) CloseTopic(chatID int64, threadID int, by User) (Sent, error) {
	return s.personSetClosed(chatID, threadID, by, true)
}

// ReopenTopic is an operator reopening a closed topic in the app.
func (s *Server) ReopenTopic(chatID int64, threadID int, by User) (Sent, error) {
	return s.personSetClosed(chatID, threadID, by, false)
}

func (s *Server) personSetClosed(chatID int64, threadID int, by User, closed bool) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.personTopicLocked(chatID, threadID, by)
	if err != nil {
		return Sent{}, err
	}
	if t.closed == closed {
		return Sent{}, fmt.Errorf("emulator: topic %d is already in that state", threadID)
	}
	t.closed = closed
	msg := s.serviceMessageLocked(c, t, by.model(), false, func(m *models.Message) { setClosedService(m, closed) })
	return s.groupUpdateLocked(c, msg), nil
}

// RenameTopic is an operator renaming a topic in the app ("topic edited").
func (s *Server) RenameTopic(chatID int64, threadID int, by User, name string) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.personTopicLocked(chatID, threadID, by)
	if err != nil {
		return Sent{}, err
	}
	t.Name = name
	msg := s.serviceMessageLocked(c, t, by.model(), false, func(m *models.Message) {
		m.ForumTopicEdited = &models.ForumTopicEdited{Name: name}
	})
	return s.groupUpdateLocked(c, msg), nil
}

// DeleteTopic is an operator deleting a topic in the app: it and its
// messages are gone, the bot gets no update, and sending into it answers
// "message thread not found". (Right after a deletion Telegram has also been
// seen to answer TOPIC_DELETED while its cache still knows the topic; a test
// of that answer plans it with FailNext.)
func (s *Server) DeleteTopic(chatID int64, threadID int, by User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.personTopicLocked(chatID, threadID, by)
	if err != nil {
		return err
	}
	s.deleteTopicLocked(c, t)
	return nil
}

// groupUpdateLocked queues the "message" update of a message in a group, if
// the bot sees it (see botSees).
func (s *Server) groupUpdateLocked(c *chat, msg models.Message) Sent {
	sent := Sent{MessageID: msg.ID}
	if !s.botSees(c, msg) {
		return sent
	}
	sent.UpdateID, _ = s.enqueueLocked("message", c.info.ID, func(id int64) ([]byte, error) {
		return json.Marshal(&models.Update{ID: id, Message: &msg})
	})
	return sent
}
