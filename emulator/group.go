package emulator

import (
	"github.com/go-telegram/bot/models"
)

// Sent is what a person's action in a group produced: the message in the
// chat, and the update the bot got for it (0 when the bot does not see the
// message, or its allowed_updates excludes it).
type Sent struct {
	MessageID int
	UpdateID  int64
}

// botSees tells whether the bot receives a message posted in a group. An
// administrator sees every message. An ordinary member in privacy mode (a
// bot's default: getMe's can_read_all_group_messages is false) sees only
// commands, replies to its own messages and service messages. A message in a
// topic the bot created "replies" to the bot's "topic created" message
// without the person replying to anything; that is assumed not to count
// (not checked against Telegram), and commands are assumed to count
// whichever bot they name.
func (s *Server) botSees(c *chat, msg models.Message) bool {
	if c.botRights != nil || s.bot.CanReadAllGroupMessages || isServiceMessage(msg) {
		return true
	}
	if r := msg.ReplyToMessage; r != nil && r.ID != msg.MessageThreadID && r.From != nil && r.From.ID == s.bot.ID {
		return true
	}
	for _, e := range append(msg.Entities, msg.CaptionEntities...) {
		if e.Type == models.MessageEntityTypeBotCommand {
			return true
		}
	}
	return false
}

func isServiceMessage(m models.Message) bool {
	return m.ForumTopicCreated != nil || m.ForumTopicEdited != nil || m.ForumTopicClosed != nil ||
		m.ForumTopicReopened != nil || len(m.NewChatMembers) > 0 || m.LeftChatMember != nil || m.PinnedMessage != nil
}
