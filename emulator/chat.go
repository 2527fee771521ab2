package emulator

import (
	"strconv"
	"time"

	"github.com/go-telegram/bot/models"
)

// User is a person on the other side of a chat. LanguageCode is what their
// Telegram app reports ("ru", "en"); PhoneNumber is only used when they share
// their own contact with a request_contact button.
type User struct {
	ID           int64
	FirstName    string
	LastName     string
	Username     string
	LanguageCode string
	PhoneNumber  string
}

func (u User) model() models.User {
	return models.User{
		ID:           u.ID,
		FirstName:    u.FirstName,
		LastName:     u.LastName,
		Username:     u.Username,
		LanguageCode: u.LanguageCode,
	}
}

// chat is one conversation the bot can write to.
type chat struct {
	info     models.Chat
	user     *User // the person in a private chat
	blocked  bool  // the person blocked the bot
	lastID   int   // message ids are per chat and shared by both sides
	messages []*storedMessage
	keyboard *models.ReplyKeyboardMarkup // the reply keyboard the person sees, nil when none
	instance string                      // callback_query.chat_instance
	topics   map[int]*topic              // a forum's topics by message_thread_id; a deleted one is gone

	// In a group: the bot's administrator rights (nil when it is an
	// ordinary member), and the people in it (operators), by user id, in the
	// order they joined.
	botRights   *models.ChatAdministratorRights
	members     map[int64]*member
	memberOrder []int64
}

func (c *chat) private() bool { return c.info.Type == models.ChatTypePrivate }

func (c *chat) nextMessageID() int {
	c.lastID++
	return c.lastID
}

func (c *chat) find(id int) (int, *storedMessage) {
	for i, m := range c.messages {
		if m.msg.ID == id {
			return i, m
		}
	}
	return -1, nil
}

// storedMessage is a message in a chat. It is never changed in place: an edit
// stores a new value, so copies handed out stay valid without a lock.
type storedMessage struct {
	msg       models.Message
	fromBot   bool
	rawText   string // the text or caption as sent, before parse_mode
	parseMode string
	keyboard  *models.ReplyKeyboardMarkup
	remove    bool // the message removed the reply keyboard
	edited    bool
	reactions []string // the bot's reactions (emoji)
}

// ensurePrivateChat returns the private chat with a person, creating it on
// their first action, as Telegram does when someone starts a bot.
func (s *Server) ensurePrivateChat(u User) *chat {
	c, ok := s.chats[u.ID]
	if !ok {
		c = &chat{instance: "-" + strconv.FormatUint(uint64(u.ID)*2654435761%1000000000000000000, 10)}
		s.chats[u.ID] = c
	}
	user := u
	c.user = &user
	c.info = models.Chat{
		ID:        u.ID,
		Type:      models.ChatTypePrivate,
		FirstName: u.FirstName,
		LastName:  u.LastName,
		Username:  u.Username,
	}
	return c
}

// AddGroup creates a supergroup the bot is a member of, so the bot can write
// to it (chat ids of groups are negative: -100...). The bot is an
// administrator with the rights a support desk gives it (DefaultBotRights);
// SetBotRights changes them. Nobody else is in the group until AddMember.
//
// In a forum, message id 1 is taken, as in Telegram, where it starts the
// "General" topic: the first topic the bot creates is thread 2, and
// message_thread_id 1 is refused like a missing topic.
func (s *Server) AddGroup(chatID int64, title string, forum bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &chat{
		info:      models.Chat{ID: chatID, Type: models.ChatTypeSupergroup, Title: title, IsForum: forum},
		instance:  strconv.FormatInt(chatID*31, 10),
		botRights: DefaultBotRights(),
		members:   map[int64]*member{},
	}
	if forum {
		c.lastID = generalTopicID
	}
	s.chats[chatID] = c
}

// ChatMessage is a message as the person sees it in the chat, with edits
// applied; deleted messages are gone.
type ChatMessage struct {
	ID      int
	FromBot bool
	Date    time.Time
	// Text is the text, or the caption of a photo or document, as the person
	// reads it: markup parsed away, leading and trailing space trimmed.
	Text     string
	Entities []models.MessageEntity
	// RawText is the text as the bot sent it (with its HTML tags) and
	// ParseMode the mode it named.
	RawText   string
	ParseMode string
	// InlineKeyboard is the message's inline keyboard, nil when none.
	InlineKeyboard [][]models.InlineKeyboardButton
	// ReplyKeyboard is the reply keyboard this message showed, and
	// RemoveKeyboard whether it removed the reply keyboard.
	ReplyKeyboard  *models.ReplyKeyboardMarkup
	RemoveKeyboard bool
	Edited         bool
	// Reactions are the bot's reactions on the message (emoji).
	Reactions []string
	// Message is the whole Bot API message (location, venue, contact, photo,
	// document, sticker, reply_to_message ...). Treat it as read-only.
	Message models.Message
}

func (m *storedMessage) view() ChatMessage {
	text, entities := m.msg.Text, m.msg.Entities
	if text == "" && m.msg.Caption != "" {
		text, entities = m.msg.Caption, m.msg.CaptionEntities
	}
	v := ChatMessage{
		ID:             m.msg.ID,
		FromBot:        m.fromBot,
		Date:           time.Unix(int64(m.msg.Date), 0),
		Text:           text,
		Entities:       entities,
		RawText:        m.rawText,
		ParseMode:      m.parseMode,
		ReplyKeyboard:  m.keyboard,
		RemoveKeyboard: m.remove,
		Edited:         m.edited,
		Reactions:      append([]string(nil), m.reactions...),
		Message:        m.msg,
	}
	if m.msg.ReplyMarkup != nil {
		v.InlineKeyboard = m.msg.ReplyMarkup.InlineKeyboard
	}
	return v
}

// Messages lists a chat's messages in order, both sides, as the person sees
// them now.
func (s *Server) Messages(chatID int64) []ChatMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatID]
	if c == nil {
		return nil
	}
	out := make([]ChatMessage, 0, len(c.messages))
	for _, m := range c.messages {
		out = append(out, m.view())
	}
	return out
}

// Message returns one message of a chat as the person sees it now.
func (s *Server) Message(chatID int64, messageID int) (ChatMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chats[chatID]; c != nil {
		if _, m := c.find(messageID); m != nil {
			return m.view(), true
		}
	}
	return ChatMessage{}, false
}

// LastMessage returns the newest message of a chat.
func (s *Server) LastMessage(chatID int64) (ChatMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatID]
	if c == nil || len(c.messages) == 0 {
		return ChatMessage{}, false
	}
	return c.messages[len(c.messages)-1].view(), true
}

// BotMessages lists only the bot's messages in a chat.
func (s *Server) BotMessages(chatID int64) []ChatMessage {
	var out []ChatMessage
	for _, m := range s.Messages(chatID) {
		if m.FromBot {
			out = append(out, m)
		}
	}
	return out
}

// ReplyKeyboard is the reply keyboard the person sees under the input field,
// or nil: set by the last bot message that sent one, removed by
// ReplyKeyboardRemove, hidden after use when one_time_keyboard.
func (s *Server) ReplyKeyboard(chatID int64) *models.ReplyKeyboardMarkup {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chats[chatID]; c != nil {
		return c.keyboard
	}
	return nil
}

// Chats lists the ids of all chats, private ones and groups.
func (s *Server) Chats() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedChatIDs()
}

// Blocked tells whether the person blocked the bot.
func (s *Server) Blocked(userID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[userID]
	return c != nil && c.blocked
}

// fileInfo is a file Telegram stores, reachable by file_id.
type fileInfo struct {
	kind     string // "photo", "document", "voice", "video", "audio", "animation", "sticker"
	id       string
	uniqueID string
	name     string
	size     int64
	// duration (seconds), width and height, as the sender gave them (a
	// photo's as read from the picture); 0 when not told.
	duration, width, height int
	// data is what a bot uploaded (nil for files people sent).
	data []byte
}

// newFile registers a file and returns it with fresh ids; the bot may send it
// again by file_id.
func (s *Server) newFile(kind, name string, size int64) fileInfo {
	s.nextFileN++
	n := s.nextFileN
	f := fileInfo{
		kind:     kind,
		id:       "BQACAgIAAxkBAAE" + strconv.Itoa(100000+n) + "emu" + kind,
		uniqueID: "AgAD" + strconv.Itoa(100000+n),
		name:     name,
		size:     size,
	}
	s.files[f.id] = f
	return f
}
