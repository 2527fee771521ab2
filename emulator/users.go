package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot/models"
)

// The person's side of a chat. Each method does what the Telegram app does
// when the person acts: it adds their message to the chat and queues the
// update the bot receives, and returns the update's id (0 when the bot's
// allowed_updates excludes that type, as Telegram then creates no update).

// botCommand finds commands the way Telegram marks them: "/word" at the start
// or after white space, optionally "@botname".
var botCommand = regexp.MustCompile(`(^|\s)(/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?)`)

// commandEntities marks the bot commands in a text, as Telegram's servers do
// for every message.
func commandEntities(text string) []models.MessageEntity {
	var out []models.MessageEntity
	for _, m := range botCommand.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[4], m[5]
		if end < len(text) && !isSpaceByte(text[end]) {
			continue // "/start-x" is not a command
		}
		out = append(out, models.MessageEntity{
			Type:   models.MessageEntityTypeBotCommand,
			Offset: utf16Len(text[:start]),
			Length: utf16Len(text[start:end]),
		})
	}
	return out
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// userMessageLocked adds a message from the person to their chat and queues
// the "message" update. The person un-blocks the bot first if they had
// blocked it, as pressing "Restart" in the app does.
func (s *Server) userMessageLocked(u User, build func(m *models.Message)) int64 {
	c := s.ensurePrivateChat(u)
	if c.blocked {
		s.setBlockedLocked(u, false)
	}
	from := u.model()
	msg := models.Message{
		ID:   c.nextMessageID(),
		From: &from,
		Date: int(s.now().Unix()),
		Chat: c.info,
	}
	build(&msg)
	c.messages = append(c.messages, &storedMessage{msg: msg, rawText: msg.Text})
	s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
	id, _ := s.enqueueLocked("message", c.info.ID, func(id int64) ([]byte, error) {
		return json.Marshal(&models.Update{ID: id, Message: &msg})
	})
	return id
}

// SendText is the person typing text and pressing send. Commands in it
// ("/start") get bot_command entities, as Telegram adds them.
func (s *Server) SendText(u User, text string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userMessageLocked(u, func(m *models.Message) {
		m.Text = text
		m.Entities = commandEntities(text)
	})
}

// SendCommand is SendText of a command; the leading "/" may be left out
// ("start" and "/start payload" both work).
func (s *Server) SendCommand(u User, command string) int64 {
	if !strings.HasPrefix(command, "/") {
		command = "/" + command
	}
	return s.SendText(u, command)
}

// SendContact is the person sharing a contact. contact.UserID may differ
// from the sender (a forwarded contact) or be 0 (a number typed into the
// address book).
func (s *Server) SendContact(u User, contact models.Contact) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userMessageLocked(u, func(m *models.Message) { m.Contact = &contact })
}

// SendLocation is the person sharing their location.
func (s *Server) SendLocation(u User, latitude, longitude float64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	loc := models.Location{Latitude: latitude, Longitude: longitude}
	return s.userMessageLocked(u, func(m *models.Message) { m.Location = &loc })
}

// SendSticker is the person sending a sticker (a thumbs-up).
func (s *Server) SendSticker(u User) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.newFile("sticker", "sticker.webp", 24000)
	sticker := models.Sticker{
		FileID: f.id, FileUniqueID: f.uniqueID, Type: "regular",
		Width: 512, Height: 512, Emoji: "👍", SetName: "EmulatorStickers", FileSize: int(f.size),
	}
	return s.userMessageLocked(u, func(m *models.Message) { m.Sticker = &sticker })
}

// SendPhoto is the person sending a photo, with an optional caption. The bot
// may send the photo on by its file_id.
func (s *Server) SendPhoto(u User, caption string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	sizes := s.photoSizes(s.newFile("photo", "photo.jpg", 180000))
	return s.userMessageLocked(u, func(m *models.Message) {
		m.Photo = sizes
		m.Caption = caption
		m.CaptionEntities = commandEntities(caption)
	})
}

// SendDocument is the person attaching a file (fileName, e.g. "договор.pdf")
// with an optional caption. The bot may send the file on by its file_id.
func (s *Server) SendDocument(u User, fileName, caption string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.newFile("document", fileName, 48000)
	return s.userMessageLocked(u, func(m *models.Message) {
		s.setMedia(m, "document", f, mediaAttrs{})
		m.Caption = caption
		m.CaptionEntities = commandEntities(caption)
	})
}

// SendVoice is the person recording a voice message of that many seconds.
func (s *Server) SendVoice(u User, seconds int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.newFile("voice", "voice.ogg", int64(seconds)*2000+1)
	f.duration = seconds
	s.files[f.id] = f
	return s.userMessageLocked(u, func(m *models.Message) { s.setMedia(m, "voice", f, mediaAttrs{}) })
}

// EditText is the person editing a text message they sent; the bot gets an
// edited_message update.
func (s *Server) EditText(u User, messageID int, text string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[u.ID]
	if c == nil {
		return 0, fmt.Errorf("emulator: user %d has no chat with the bot", u.ID)
	}
	i, old := c.find(messageID)
	if old == nil || old.fromBot || old.msg.Text == "" {
		return 0, fmt.Errorf("emulator: message %d is not a text message of user %d", messageID, u.ID)
	}
	msg := old.msg
	msg.Text = text
	msg.Entities = commandEntities(text)
	msg.EditDate = int(s.now().Unix())
	c.messages[i] = &storedMessage{msg: msg, rawText: text, edited: true}
	s.notifyLocked(Event{Kind: EventEdit, ChatID: c.info.ID, MessageID: messageID})
	return s.enqueueLocked("edited_message", c.info.ID, func(id int64) ([]byte, error) {
		return json.Marshal(&models.Update{ID: id, EditedMessage: &msg})
	})
}

// PressButton is the person pressing an inline button with callbackData
// under a bot message. The data is not checked against the message's
// keyboard: a real client may send stale data from an old keyboard, and the
// bot must cope. A message that no longer exists arrives as inaccessible.
func (s *Server) PressButton(u User, messageID int, callbackData string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pressLocked(s.ensurePrivateChat(u), u, messageID, callbackData)
}

// pressLocked queues the callback_query of a press in a chat and records it.
func (s *Server) pressLocked(c *chat, u User, messageID int, callbackData string) int64 {
	s.nextCallbackN++
	queryID := strconv.FormatUint(4000000000000000000+uint64(u.ID%1000000)*1000000+uint64(s.nextCallbackN), 10)
	query := models.CallbackQuery{
		ID:           queryID,
		From:         u.model(),
		ChatInstance: c.instance,
		Data:         callbackData,
	}
	if _, m := c.find(messageID); m != nil {
		msg := m.msg
		query.Message = models.MaybeInaccessibleMessage{Type: models.MaybeInaccessibleMessageTypeMessage, Message: &msg}
	} else {
		query.Message = models.MaybeInaccessibleMessage{
			Type:                models.MaybeInaccessibleMessageTypeInaccessibleMessage,
			InaccessibleMessage: &models.InaccessibleMessage{Chat: c.info, MessageID: messageID, Date: 0},
		}
	}
	id, _ := s.enqueueLocked("callback_query", c.info.ID, func(id int64) ([]byte, error) {
		return json.Marshal(&models.Update{ID: id, CallbackQuery: &query})
	})
	rec := &callbackRecord{CallbackQuery: CallbackQuery{
		ID: queryID, UpdateID: id, UserID: u.ID, ChatID: c.info.ID, MessageID: messageID, Data: callbackData, Time: s.now(),
	}}
	s.callbacks = append(s.callbacks, rec)
	s.callbackID[queryID] = rec
	s.notifyLocked(Event{Kind: EventCallbackQuery, ChatID: c.info.ID, MessageID: messageID, UpdateID: id})
	return id
}

// PressKeyboardButton is the person pressing a button of the reply keyboard
// they see: a plain button sends its text, a request_contact button shares
// the person's own contact (User.PhoneNumber). It fails when no such button is
// shown, or for a request_location button (use SendLocation: the emulator
// can't know where the person is).
func (s *Server) PressKeyboardButton(u User, text string) (int64, error) {
	s.mu.Lock()
	c := s.chats[u.ID]
	var button *models.KeyboardButton
	var oneTime bool
	if c != nil && c.keyboard != nil {
		oneTime = c.keyboard.OneTimeKeyboard
		for _, row := range c.keyboard.Keyboard {
			for i := range row {
				if row[i].Text == text && button == nil {
					b := row[i]
					button = &b
				}
			}
		}
	}
	if button == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("emulator: user %d sees no reply keyboard button %q", u.ID, text)
	}
	if oneTime {
		c.keyboard = nil
	}
	s.mu.Unlock()

	switch {
	case button.RequestContact:
		if u.PhoneNumber == "" {
			return 0, errors.New("emulator: a request_contact button needs User.PhoneNumber")
		}
		return s.SendContact(u, models.Contact{
			PhoneNumber: u.PhoneNumber, FirstName: u.FirstName, LastName: u.LastName, UserID: u.ID,
		}), nil
	case button.RequestLocation:
		return 0, errors.New("emulator: press a request_location button with SendLocation")
	}
	return s.SendText(u, text), nil
}

// BlockBot is the person blocking the bot: the bot gets a my_chat_member
// update (member -> kicked), and sending to the chat fails with 403 until
// UnblockBot or the person writes again.
func (s *Server) BlockBot(u User) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensurePrivateChat(u)
	return s.setBlockedLocked(u, true)
}

// UnblockBot is the person unblocking the bot (kicked -> member).
func (s *Server) UnblockBot(u User) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensurePrivateChat(u)
	return s.setBlockedLocked(u, false)
}

func (s *Server) setBlockedLocked(u User, blocked bool) int64 {
	c := s.chats[u.ID]
	c.blocked = blocked
	bot := s.bot
	member := models.ChatMember{Type: models.ChatMemberTypeMember, Member: &models.ChatMemberMember{User: &bot}}
	kicked := models.ChatMember{Type: models.ChatMemberTypeBanned, Banned: &models.ChatMemberBanned{User: &bot}}
	update := models.ChatMemberUpdated{Chat: c.info, From: u.model(), Date: int(s.now().Unix())}
	detail := "blocked"
	if blocked {
		update.OldChatMember, update.NewChatMember = member, kicked
	} else {
		update.OldChatMember, update.NewChatMember = kicked, member
		detail = "unblocked"
	}
	s.notifyLocked(Event{Kind: EventBlock, ChatID: c.info.ID, Detail: detail})
	id, _ := s.enqueueLocked("my_chat_member", c.info.ID, func(id int64) ([]byte, error) {
		return json.Marshal(&models.Update{ID: id, MyChatMember: &update})
	})
	return id
}

// PushRaw queues any update given as JSON, for what the methods above don't
// build. Its update_id is replaced by the next one. A "message" in it is added
// to its chat, so the sandbox shows it.
func (s *Server) PushRaw(update []byte) (int64, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(update, &fields); err != nil {
		return 0, fmt.Errorf("emulator: push raw update: %w", err)
	}
	delete(fields, "update_id")
	if len(fields) != 1 {
		return 0, fmt.Errorf("emulator: push raw update: want exactly one field besides update_id, got %d", len(fields))
	}
	var kind string
	for k := range fields {
		kind = k
	}
	chatKey := rawChatKey(fields[kind])

	s.mu.Lock()
	defer s.mu.Unlock()
	if kind == "message" {
		var msg models.Message
		if err := json.Unmarshal(fields[kind], &msg); err == nil && msg.Chat.ID != 0 {
			if c := s.chats[msg.Chat.ID]; c != nil {
				c.messages = append(c.messages, &storedMessage{msg: msg, rawText: msg.Text})
				c.lastID = max(c.lastID, msg.ID)
				s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
			}
		}
	}
	return s.enqueueLocked(kind, chatKey, func(id int64) ([]byte, error) {
		fields["update_id"] = json.RawMessage(strconv.FormatInt(id, 10))
		return json.Marshal(fields)
	})
}

// rawChatKey finds the chat an update belongs to, for ordering: chat.id,
// message.chat.id, or the sender's id.
func rawChatKey(raw json.RawMessage) int64 {
	var probe struct {
		Chat    *struct{ ID int64 } `json:"chat"`
		Message *struct {
			Chat struct{ ID int64 } `json:"chat"`
		} `json:"message"`
		From *struct{ ID int64 } `json:"from"`
		User *struct{ ID int64 } `json:"user"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return 0
	}
	switch {
	case probe.Chat != nil:
		return probe.Chat.ID
	case probe.Message != nil:
		return probe.Message.Chat.ID
	case probe.From != nil:
		return probe.From.ID
	case probe.User != nil:
		return probe.User.ID
	}
	return 0
}

// CallbackQuery is one press of an inline button and the bot's answer.
type CallbackQuery struct {
	ID        string
	UpdateID  int64
	UserID    int64
	ChatID    int64
	MessageID int
	Data      string
	Time      time.Time
	// Answered tells whether the bot called answerCallbackQuery; until then
	// the person's app shows a spinner on the button.
	Answered bool
	Answer   CallbackAnswer
}

// CallbackAnswer is what answerCallbackQuery showed: a notification at the
// top of the chat, or an alert when ShowAlert.
type CallbackAnswer struct {
	Text      string
	ShowAlert bool
	URL       string
	CacheTime int
	Time      time.Time
}

type callbackRecord struct {
	CallbackQuery
	answered bool
	answer   CallbackAnswer
}

func (r *callbackRecord) view() CallbackQuery {
	q := r.CallbackQuery
	q.Answered, q.Answer = r.answered, r.answer
	return q
}

// CallbackQueries lists every button press so far, with the answers.
func (s *Server) CallbackQueries() []CallbackQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CallbackQuery, 0, len(s.callbacks))
	for _, r := range s.callbacks {
		out = append(out, r.view())
	}
	return out
}

// CallbackQueryFor returns the press that PressButton returned updateID for.
func (s *Server) CallbackQueryFor(updateID int64) (CallbackQuery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.callbacks {
		if r.UpdateID == updateID {
			return r.view(), true
		}
	}
	return CallbackQuery{}, false
}

// OpenChat makes a private chat with u as if u had started the bot long
// ago, queuing no update: the audience of a broadcast in a load test,
// which the bot may write to without first answering thousands of /start.
func (s *Server) OpenChat(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensurePrivateChat(u)
}
