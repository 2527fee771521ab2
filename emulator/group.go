package emulator

import (
	"encoding/json"
	"fmt"

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

// The people's side of a group: operators of the support desk posting in
// its topics from the Telegram app. Each method adds the message to the
// group and queues the update the bot gets (if it sees the message), with
// the chat as Telegram writes it (a supergroup, is_forum) and, in a topic,
// message_thread_id and is_topic_message. They fail, as the app would not
// let the person do it, when the person is not a member (AddMember), the
// topic does not exist, or it is closed and the person neither created it
// nor may manage topics.

// postTarget checks that a member may post into a thread of a group (0: the
// General topic, or a group that is no forum).
func (s *Server) postTarget(chatID int64, threadID int, from User) (*chat, *topic, error) {
	c, err := s.group(chatID)
	if err != nil {
		return nil, nil, err
	}
	m := c.members[from.ID]
	if m == nil {
		return nil, nil, fmt.Errorf("emulator: user %d is not a member of group %d (AddMember first)", from.ID, chatID)
	}
	if threadID == 0 {
		return c, nil, nil
	}
	t := c.topics[threadID]
	if !c.info.IsForum || t == nil {
		return nil, nil, fmt.Errorf("emulator: group %d has no topic %d", chatID, threadID)
	}
	if t.closed && t.creator != from.ID && (m.rights == nil || !m.rights.CanManageTopics) {
		return nil, nil, fmt.Errorf("emulator: topic %d is closed; user %d may not post there", threadID, from.ID)
	}
	return c, t, nil
}

// postLocked adds a member's message to a group and queues its update.
// replyTo, when not 0, is the message replied to.
func (s *Server) postLocked(c *chat, t *topic, from User, replyTo int, build func(*models.Message)) (Sent, error) {
	sender := from.model()
	msg := models.Message{ID: c.nextMessageID(), From: &sender, Date: int(s.now().Unix()), Chat: c.info}
	if replyTo != 0 {
		_, r := c.find(replyTo)
		if r == nil {
			return Sent{}, fmt.Errorf("emulator: group %d has no message %d to reply to", c.info.ID, replyTo)
		}
		msg.ReplyToMessage = replyCopy(r.msg)
	}
	inTopic(c, &msg, t)
	build(&msg)
	c.messages = append(c.messages, &storedMessage{msg: msg, rawText: msg.Text})
	s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
	return s.groupUpdateLocked(c, msg), nil
}

func (s *Server) postSimple(chatID int64, threadID int, from User, build func(*models.Message)) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.postTarget(chatID, threadID, from)
	if err != nil {
		return Sent{}, err
	}
	return s.postLocked(c, t, from, 0, build)
}

// PostText is an operator writing text into a topic (threadID; 0 for the
// General topic). Commands in it get bot_command entities.
func (s *Server) PostText(chatID int64, threadID int, from User, text string) (Sent, error) {
	return s.postSimple(chatID, threadID, from, func(m *models.Message) {
		m.Text, m.Entities = text, commandEntities(text)
	})
}

// PostHTML is an operator writing formatted text into a topic: their app
// sends the formatting (bold, links, code...) as entities, written here as
// HTML for the test's convenience.
func (s *Server) PostHTML(chatID int64, threadID int, from User, formatted string) (Sent, error) {
	text, entities, err := parseHTML(formatted)
	if err != nil {
		return Sent{}, fmt.Errorf("emulator: PostHTML: %w", err)
	}
	return s.postSimple(chatID, threadID, from, func(m *models.Message) {
		m.Text, m.Entities = text, append(entities, commandEntities(text)...)
	})
}

// PostReply is an operator replying to a message of the group (the bot's,
// say): the reply goes into that message's topic.
func (s *Server) PostReply(chatID int64, from User, replyTo int, text string) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.group(chatID)
	if err != nil {
		return Sent{}, err
	}
	_, r := c.find(replyTo)
	if r == nil {
		return Sent{}, fmt.Errorf("emulator: group %d has no message %d to reply to", chatID, replyTo)
	}
	c, t, err := s.postTarget(chatID, r.msg.MessageThreadID, from)
	if err != nil {
		return Sent{}, err
	}
	return s.postLocked(c, t, from, replyTo, func(m *models.Message) {
		m.Text, m.Entities = text, commandEntities(text)
	})
}

// PostPhoto is an operator sending a photo into a topic, with an optional
// caption. The bot may send it on by its file_id.
func (s *Server) PostPhoto(chatID int64, threadID int, from User, caption string) (Sent, error) {
	return s.postFile(chatID, threadID, from, "photo", "photo.jpg", 0, caption)
}

// PostDocument is an operator attaching a file (fileName) into a topic.
func (s *Server) PostDocument(chatID int64, threadID int, from User, fileName, caption string) (Sent, error) {
	return s.postFile(chatID, threadID, from, "document", fileName, 0, caption)
}

// PostVoice is an operator recording a voice message of that many seconds
// into a topic.
func (s *Server) PostVoice(chatID int64, threadID int, from User, seconds int) (Sent, error) {
	return s.postFile(chatID, threadID, from, "voice", "voice.ogg", seconds, "")
}

func (s *Server) postFile(chatID int64, threadID int, from User, kind, name string, seconds int, caption string) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.postTarget(chatID, threadID, from)
	if err != nil {
		return Sent{}, err
	}
	f := s.newFile(kind, name, 64000+int64(seconds)*2000)
	f.duration = seconds
	s.files[f.id] = f
	return s.postLocked(c, t, from, 0, func(m *models.Message) {
		s.setMedia(m, kind, f, mediaAttrs{})
		m.Caption, m.CaptionEntities = caption, commandEntities(caption)
	})
}

// EditPost is an operator editing the text, or the caption, of a message
// they posted in a group; the bot gets an edited_message update (if it sees
// the message).
func (s *Server) EditPost(chatID int64, from User, messageID int, text string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.group(chatID)
	if err != nil {
		return 0, err
	}
	i, old := c.find(messageID)
	if old == nil || old.fromBot || old.msg.From == nil || old.msg.From.ID != from.ID || isServiceMessage(old.msg) {
		return 0, fmt.Errorf("emulator: message %d is not a message user %d posted in group %d", messageID, from.ID, chatID)
	}
	msg := old.msg
	if msg.Text != "" {
		msg.Text, msg.Entities = text, commandEntities(text)
	} else {
		msg.Caption, msg.CaptionEntities = text, commandEntities(text)
	}
	msg.EditDate = int(s.now().Unix())
	// An edit keeps the message's reactions, as in Telegram.
	c.messages[i] = &storedMessage{msg: msg, rawText: text, edited: true, reactions: old.reactions}
	s.notifyLocked(Event{Kind: EventEdit, ChatID: c.info.ID, MessageID: messageID})
	if !s.botSees(c, msg) {
		return 0, nil
	}
	return s.enqueueLocked("edited_message", c.info.ID, func(id int64) ([]byte, error) {
		return json.Marshal(&models.Update{ID: id, EditedMessage: &msg})
	})
}

// PressButtonIn is an operator pressing an inline button under a message in
// a group (a bot's "take the request" button, say). As with PressButton, the
// data is not checked against the keyboard. In a private group only members
// can see the message; in a public one (MakePublic) anyone can press.
func (s *Server) PressButtonIn(chatID int64, from User, messageID int, callbackData string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.group(chatID)
	if err != nil {
		return 0, err
	}
	if c.members[from.ID] == nil && c.info.Username == "" {
		return 0, fmt.Errorf("emulator: user %d is not a member of private group %d (AddMember first, or MakePublic)", from.ID, chatID)
	}
	return s.pressLocked(c, from, messageID, callbackData), nil
}

// MakePublic gives a group a public username: anyone may then read it and
// press its inline buttons without joining (PressButtonIn from a person
// who is not a member), as in a public supergroup on Telegram.
func (s *Server) MakePublic(chatID int64, username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.group(chatID)
	if err != nil {
		return err
	}
	if username == "" {
		return fmt.Errorf("emulator: a public group needs a username")
	}
	c.info.Username = username
	return nil
}
