package emulator

import (
	"slices"
	"sort"

	"github.com/go-telegram/bot/models"
)

// topicColors are the icon colours createForumTopic accepts; a topic made
// without one gets the first, as Telegram's apps show.
var topicColors = []int64{7322096, 16766590, 13338331, 9367192, 16749490, 16478047}

// maxTopicName is the length of a topic's name, in characters.
const maxTopicName = 128

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
	t := models.ForumTopic{MessageThreadID: msg.ID, Name: name, IconColor: int(color), IconCustomEmojiID: p.str("icon_custom_emoji_id")}
	msg.ForumTopicCreated = &models.ForumTopicCreated{Name: t.Name, IconColor: t.IconColor, IconCustomEmojiID: t.IconCustomEmojiID}
	if c.topics == nil {
		c.topics = map[int]*models.ForumTopic{}
	}
	c.topics[t.MessageThreadID] = &t
	c.messages = append(c.messages, &storedMessage{msg: msg, fromBot: true})
	s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
	return result{value: t}, nil
}

// editForumTopic renames a topic or changes its icon, posting a "topic
// edited" service message; it counts against the group's flood limit.
func (s *Server) editForumTopic(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.forumChat(p)
	if err != nil {
		return result{}, err
	}
	t := c.topics[int(p.int("message_thread_id"))]
	if t == nil {
		return result{}, badRequest("message thread not found")
	}
	edited := *t
	if name := p.str("name"); name != "" {
		if utf16Len(name) > maxTopicName {
			return result{}, badRequest("topic name is too long: at most %d characters", maxTopicName)
		}
		edited.Name = name
	}
	if p.has("icon_custom_emoji_id") {
		edited.IconCustomEmojiID = p.str("icon_custom_emoji_id")
	}
	if edited == *t {
		return result{}, badRequest("TOPIC_NOT_MODIFIED")
	}
	if err := s.limitLocked(c, "editForumTopic", false); err != nil {
		return result{}, err
	}
	*t = edited
	bot := s.bot
	msg := models.Message{ID: c.nextMessageID(), From: &bot, Date: int(s.now().Unix()), Chat: c.info,
		MessageThreadID: t.MessageThreadID, IsTopicMessage: true,
		ForumTopicEdited: &models.ForumTopicEdited{Name: edited.Name, IconCustomEmojiID: edited.IconCustomEmojiID}}
	c.messages = append(c.messages, &storedMessage{msg: msg, fromBot: true})
	s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
	return result{value: true}, nil
}

// Topics lists a forum's topics as the bot made them, oldest first.
func (s *Server) Topics(chatID int64) []models.ForumTopic {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatID]
	if c == nil {
		return nil
	}
	out := make([]models.ForumTopic, 0, len(c.topics))
	for _, t := range c.topics {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MessageThreadID < out[j].MessageThreadID })
	return out
}
