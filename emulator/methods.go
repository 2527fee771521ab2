package emulator

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/go-telegram/bot/models"
)

// targetChat resolves chat_id to a chat the emulator knows. A private chat
// exists once the person has written to the bot; before that Telegram
// answers "chat not found" too.
func (s *Server) targetChat(p params) (*chat, *apiError) {
	return s.chatByID(p.typed["chat_id"], "chat_id")
}

// chatByID resolves a chat identifier, the value of the parameter field.
func (s *Server) chatByID(id any, field string) (*chat, *apiError) {
	switch v := id.(type) {
	case int64:
		if c := s.chats[v]; c != nil {
			return c, nil
		}
	case string:
		// @username names groups and channels only; a bot can't find a
		// person by username.
		for _, id := range s.sortedChatIDs() {
			c := s.chats[id]
			if !c.private() && c.info.Username != "" && strings.EqualFold("@"+c.info.Username, v) {
				return c, nil
			}
		}
	default:
		return nil, badRequest("%s is empty", field)
	}
	return nil, badRequest("chat not found")
}

// writableChat is targetChat for methods that write: a person who blocked the
// bot can't be written to.
func (s *Server) writableChat(p params) (*chat, *apiError) {
	c, err := s.targetChat(p)
	if err != nil {
		return nil, err
	}
	if c.blocked {
		return nil, forbidden("bot was blocked by the user")
	}
	if err := c.checkThread(p); err != nil {
		return nil, err
	}
	return c, nil
}

// formatParam reads a text or caption with its parse mode or entities.
func formatParam(p params, field, entitiesField string, limit int, tooLong string, required bool) (formatted, *apiError) {
	var explicit []models.MessageEntity
	if p.has(entitiesField) {
		if err := p.decode(entitiesField, &explicit); err != nil {
			return formatted{}, badRequest("can't parse %s JSON object", entitiesField)
		}
	}
	f, err := formatText(p.str(field), p.str("parse_mode"), explicit)
	if err != nil {
		return formatted{}, err
	}
	if required && f.text == "" {
		return formatted{}, badRequest("message text is empty")
	}
	if utf16Len(f.text) > limit {
		return formatted{}, badRequest("%s", tooLong)
	}
	return f, nil
}

// markup is a reply_markup after its checks.
type markup struct {
	inline   *models.InlineKeyboardMarkup
	keyboard *models.ReplyKeyboardMarkup
	remove   bool
}

func parseMarkup(p params, c *chat) (markup, *apiError) {
	obj, ok := p.typed["reply_markup"].(map[string]any)
	if !ok {
		return markup{}, nil
	}
	var m markup
	switch {
	case obj["inline_keyboard"] != nil:
		if err := checkInlineKeyboard(obj); err != nil {
			return m, err
		}
		var k models.InlineKeyboardMarkup
		if err := p.decode("reply_markup", &k); err != nil {
			return m, badRequest("can't parse inline keyboard markup JSON object")
		}
		if countButtons(k.InlineKeyboard) > 0 {
			m.inline = &k
		}
	case obj["keyboard"] != nil:
		if err := checkReplyKeyboard(obj, c.private()); err != nil {
			return m, err
		}
		var k models.ReplyKeyboardMarkup
		if err := p.decode("reply_markup", &k); err != nil {
			return m, badRequest("can't parse reply keyboard markup JSON object")
		}
		m.keyboard = &k
	case obj["remove_keyboard"] == true:
		m.remove = true
	}
	return m, nil
}

func countButtons(rows [][]models.InlineKeyboardButton) int {
	n := 0
	for _, r := range rows {
		n += len(r)
	}
	return n
}

// sendOptions are what every send method shares.
type sendOptions struct {
	markup  markup
	replyTo *models.Message
	// thread is the forum topic the message goes to: the one
	// message_thread_id names, or else the topic of the message it replies
	// to, as Telegram puts a reply next to its original. Nil: none (a
	// private chat, or a forum's General topic).
	thread *topic
}

func (s *Server) parseSendOptions(c *chat, p params) (sendOptions, *apiError) {
	var o sendOptions
	var err *apiError
	if o.markup, err = parseMarkup(p, c); err != nil {
		return o, err
	}
	if o.replyTo, err = replyTarget(c, p); err != nil {
		return o, err
	}
	o.thread = c.topicOf(p)
	if o.thread == nil && o.replyTo != nil && c.info.IsForum {
		o.thread = c.topics[o.replyTo.MessageThreadID]
	}
	if o.thread != nil && o.thread.closed && !c.mayWriteClosed(o.thread) {
		return o, badRequest("TOPIC_CLOSED")
	}
	return o, nil
}

// replyCopy is a message as another one carries it in reply_to_message:
// one level deep, as Telegram nests it. Its forward origin is copied, since
// the library's MarshalJSON writes into it and results are encoded outside
// the lock.
func replyCopy(m models.Message) *models.Message {
	m.ReplyToMessage = nil
	if m.ForwardOrigin != nil {
		origin := *m.ForwardOrigin
		if origin.MessageOriginUser != nil {
			u := *origin.MessageOriginUser
			origin.MessageOriginUser = &u
		}
		m.ForwardOrigin = &origin
	}
	return &m
}

// replyTarget reads reply_parameters: the message replied to, copied one
// level deep as Telegram nests it, or nil.
func replyTarget(c *chat, p params) (*models.Message, *apiError) {
	if !p.has("reply_parameters") {
		return nil, nil
	}
	var rp struct {
		MessageID                int  `json:"message_id"`
		AllowSendingWithoutReply bool `json:"allow_sending_without_reply"`
	}
	if err := p.decode("reply_parameters", &rp); err != nil {
		return nil, badRequest("can't parse reply parameters JSON object")
	}
	if _, m := c.find(rp.MessageID); m != nil {
		return replyCopy(m.msg), nil
	}
	if !rp.AllowSendingWithoutReply {
		return nil, badRequest("message to be replied not found")
	}
	return nil, nil
}

// newBotMessage starts a message from the bot in a chat; call it only once
// every check passed, since it takes the next message id.
func (s *Server) newBotMessage(c *chat, p params, o sendOptions) models.Message {
	bot := s.bot
	msg := models.Message{
		ID:                  c.nextMessageID(),
		From:                &bot,
		Date:                int(s.now().Unix()),
		Chat:                c.info,
		ReplyToMessage:      o.replyTo,
		HasProtectedContent: p.bool("protect_content"),
		ReplyMarkup:         o.markup.inline,
	}
	inTopic(c, &msg, o.thread)
	return msg
}

// inTopic puts a new message into a forum topic: it carries the thread, and
// replies to the topic's "topic created" message unless it replies to
// something else, as the Bot API writes every message in a topic.
func inTopic(c *chat, msg *models.Message, t *topic) {
	if t == nil {
		return
	}
	msg.MessageThreadID, msg.IsTopicMessage = t.MessageThreadID, true
	if msg.ReplyToMessage == nil {
		msg.ReplyToMessage = c.topicStart(t.MessageThreadID)
	}
}

// storeBotMessage adds a bot message to its chat and returns the result the
// bot receives.
func (s *Server) storeBotMessage(c *chat, msg models.Message, o sendOptions, rawText, parseMode string) result {
	stored := &storedMessage{
		msg:       msg,
		fromBot:   true,
		rawText:   rawText,
		parseMode: parseMode,
		keyboard:  o.markup.keyboard,
		remove:    o.markup.remove,
	}
	c.messages = append(c.messages, stored)
	switch {
	case o.markup.keyboard != nil:
		c.keyboard = o.markup.keyboard
	case o.markup.remove:
		c.keyboard = nil
	}
	s.notifyLocked(Event{Kind: EventMessage, ChatID: c.info.ID, MessageID: msg.ID})
	return result{value: &msg}
}

func (s *Server) sendMessage(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.writableChat(p)
	if err != nil {
		return result{}, err
	}
	f, err := formatParam(p, "text", "entities", maxTextLen, "message is too long", true)
	if err != nil {
		return result{}, err
	}
	o, err := s.parseSendOptions(c, p)
	if err != nil {
		return result{}, err
	}
	if err := s.limitLocked(c, "sendMessage", p.bool("allow_paid_broadcast")); err != nil {
		return result{}, err
	}
	msg := s.newBotMessage(c, p, o)
	msg.Text, msg.Entities = f.text, f.entities
	if p.has("link_preview_options") {
		var lpo models.LinkPreviewOptions
		if p.decode("link_preview_options", &lpo) == nil {
			msg.LinkPreviewOptions = &lpo
		}
	}
	return s.storeBotMessage(c, msg, o, p.str("text"), p.str("parse_mode")), nil
}

// messageToEdit finds a bot message named by chat_id and message_id.
func (s *Server) messageToEdit(p params) (*chat, int, *storedMessage, *apiError) {
	if p.has("inline_message_id") {
		return nil, 0, nil, badRequest("method not implemented by the emulator for inline messages")
	}
	if !p.has("chat_id") || !p.has("message_id") {
		return nil, 0, nil, badRequest("message identifier is not specified")
	}
	c, err := s.writableChat(p)
	if err != nil {
		return nil, 0, nil, err
	}
	i, m := c.find(int(p.int("message_id")))
	if m == nil {
		return nil, 0, nil, badRequest("message to edit not found")
	}
	if !m.fromBot {
		return nil, 0, nil, badRequest("message can't be edited")
	}
	return c, i, m, nil
}

const notModified = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"

// inlineMarkup reads the reply_markup of an edit: an inline keyboard or none.
// Leaving it out removes the keyboard, as in Telegram.
func inlineMarkup(p params, c *chat) (*models.InlineKeyboardMarkup, *apiError) {
	m, err := parseMarkup(p, c)
	if err != nil {
		return nil, err
	}
	if m.keyboard != nil || m.remove {
		return nil, badRequest("inline keyboard expected")
	}
	return m.inline, nil
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func (s *Server) replaceEdited(c *chat, i int, old *storedMessage, msg models.Message, rawText, parseMode string) result {
	msg.EditDate = int(s.now().Unix())
	c.messages[i] = &storedMessage{
		msg:       msg,
		fromBot:   old.fromBot,
		rawText:   rawText,
		parseMode: parseMode,
		keyboard:  old.keyboard,
		remove:    old.remove,
		edited:    true,
		reactions: old.reactions,
	}
	s.notifyLocked(Event{Kind: EventEdit, ChatID: c.info.ID, MessageID: msg.ID})
	return result{value: &msg}
}

func (s *Server) editMessageText(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.has("rich_message") {
		return result{}, badRequest("rich_message is not implemented by the emulator")
	}
	c, i, old, err := s.messageToEdit(p)
	if err != nil {
		return result{}, err
	}
	if old.msg.Text == "" {
		return result{}, badRequest("there is no text in the message to edit")
	}
	f, err := formatParam(p, "text", "entities", maxTextLen, "message is too long", true)
	if err != nil {
		return result{}, err
	}
	kb, err := inlineMarkup(p, c)
	if err != nil {
		return result{}, err
	}
	if f.text == old.msg.Text && sameJSON(f.entities, old.msg.Entities) && sameJSON(kb, old.msg.ReplyMarkup) {
		return result{}, badRequest(notModified)
	}
	if err := s.limitLocked(c, "editMessageText", false); err != nil {
		return result{}, err
	}
	msg := old.msg
	msg.Text, msg.Entities, msg.ReplyMarkup = f.text, f.entities, kb
	return s.replaceEdited(c, i, old, msg, p.str("text"), p.str("parse_mode")), nil
}

func (s *Server) editMessageReplyMarkup(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, i, old, err := s.messageToEdit(p)
	if err != nil {
		return result{}, err
	}
	kb, err := inlineMarkup(p, c)
	if err != nil {
		return result{}, err
	}
	if sameJSON(kb, old.msg.ReplyMarkup) {
		return result{}, badRequest(notModified)
	}
	if err := s.limitLocked(c, "editMessageReplyMarkup", false); err != nil {
		return result{}, err
	}
	msg := old.msg
	msg.ReplyMarkup = kb
	return s.replaceEdited(c, i, old, msg, old.rawText, old.parseMode), nil
}

// editMessageCaption changes the caption of a message with media (a
// photo, a document, a voice note...), or removes it when empty.
func (s *Server) editMessageCaption(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, i, old, err := s.messageToEdit(p)
	if err != nil {
		return result{}, err
	}
	if !hasMedia(old.msg) {
		return result{}, badRequest("there is no caption in the message to edit")
	}
	f, err := formatParam(p, "caption", "caption_entities", maxCaptionLen, "message caption is too long", false)
	if err != nil {
		return result{}, err
	}
	kb, err := inlineMarkup(p, c)
	if err != nil {
		return result{}, err
	}
	above := p.bool("show_caption_above_media") && (len(old.msg.Photo) > 0 || old.msg.Video != nil || old.msg.Animation != nil)
	if f.text == old.msg.Caption && sameJSON(f.entities, old.msg.CaptionEntities) && sameJSON(kb, old.msg.ReplyMarkup) &&
		above == old.msg.ShowCaptionAboveMedia {
		return result{}, badRequest(notModified)
	}
	if err := s.limitLocked(c, "editMessageCaption", false); err != nil {
		return result{}, err
	}
	msg := old.msg
	msg.Caption, msg.CaptionEntities, msg.ReplyMarkup, msg.ShowCaptionAboveMedia = f.text, f.entities, kb, above
	return s.replaceEdited(c, i, old, msg, p.str("caption"), p.str("parse_mode")), nil
}

// maxDeleteAge is how old a message may be and still be deleted.
const maxDeleteAge = 48 * time.Hour

// deleteMessage deletes a message under the Bot API's rules: not older than
// 48 hours, never a topic's "topic created" message, and in a group someone
// else's only with can_delete_messages. The bot may delete what a person
// sent in a private chat.
func (s *Server) deleteMessage(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.targetChat(p)
	if err != nil {
		return result{}, err
	}
	if p.int("message_id") == 0 {
		return result{}, badRequest("message identifier is not specified")
	}
	i, m := c.find(int(p.int("message_id")))
	if m == nil {
		return result{}, badRequest("message to delete not found")
	}
	tooOld := s.now().Sub(time.Unix(int64(m.msg.Date), 0)) > maxDeleteAge
	othersInGroup := !c.private() && !m.fromBot && !c.botDeletes()
	if tooOld || m.msg.ForumTopicCreated != nil || othersInGroup {
		return result{}, badRequest("message can't be deleted")
	}
	c.messages = append(c.messages[:i:i], c.messages[i+1:]...)
	s.notifyLocked(Event{Kind: EventDelete, ChatID: c.info.ID, MessageID: m.msg.ID})
	return result{value: true}, nil
}

// chatActions are the actions sendChatAction accepts.
var chatActions = map[string]bool{
	"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true,
	"find_location": true, "record_video_note": true, "upload_video_note": true,
}

func (s *Server) sendChatAction(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.writableChat(p)
	if err != nil {
		return result{}, err
	}
	action := p.str("action")
	if !chatActions[action] {
		return result{}, badRequest("wrong parameter action in request")
	}
	s.notifyLocked(Event{Kind: EventChatAction, ChatID: c.info.ID, Detail: action})
	return result{value: true}, nil
}

// maxCallbackAnswer is the limit of answerCallbackQuery's text, in characters.
const maxCallbackAnswer = 200

func (s *Server) answerCallbackQuery(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.callbackID[p.str("callback_query_id")]
	if rec == nil || rec.answered {
		return result{}, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	text := p.str("text")
	if utf16Len(text) > maxCallbackAnswer {
		return result{}, badRequest("MESSAGE_TOO_LONG")
	}
	link := p.str("url")
	if link != "" && !callbackURL.MatchString(link) {
		return result{}, badRequest("URL_INVALID")
	}
	rec.answered = true
	rec.answer = CallbackAnswer{Text: text, ShowAlert: p.bool("show_alert"), URL: link, CacheTime: int(p.int("cache_time")), Time: s.now()}
	s.notifyLocked(Event{Kind: EventCallbackAnswer, ChatID: rec.ChatID, MessageID: rec.MessageID, UpdateID: rec.UpdateID, Detail: text})
	return result{value: true}, nil
}

// callbackURL is what answerCallbackQuery may open: a game, or a link to a
// bot such as t.me/your_bot?start=XXXX.
var callbackURL = regexp.MustCompile(`^(https?://)?(t\.me|telegram\.me)/|^tg://`)

func validLocation(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// sendPlace sends a location, a venue or a contact.
func (s *Server) sendPlace(method string, p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.writableChat(p)
	if err != nil {
		return result{}, err
	}
	o, err := s.parseSendOptions(c, p)
	if err != nil {
		return result{}, err
	}

	var build func(*models.Message)
	switch method {
	case "sendLocation", "sendVenue":
		loc := models.Location{Latitude: p.float("latitude"), Longitude: p.float("longitude")}
		if !validLocation(loc.Latitude, loc.Longitude) {
			return result{}, badRequest("wrong location: latitude must be -90..90 and longitude -180..180")
		}
		if method == "sendLocation" {
			loc.HorizontalAccuracy = p.float("horizontal_accuracy")
			loc.LivePeriod = int(p.int("live_period"))
			loc.Heading = int(p.int("heading"))
			loc.ProximityAlertRadius = int(p.int("proximity_alert_radius"))
			build = func(m *models.Message) { m.Location = &loc }
			break
		}
		venue := models.Venue{
			Location:        loc,
			Title:           p.str("title"),
			Address:         p.str("address"),
			FoursquareID:    p.str("foursquare_id"),
			FoursquareType:  p.str("foursquare_type"),
			GooglePlaceID:   p.str("google_place_id"),
			GooglePlaceType: p.str("google_place_type"),
		}
		// A venue message carries its location too.
		build = func(m *models.Message) { m.Venue, m.Location = &venue, &venue.Location }
	case "sendContact":
		if len(p.str("vcard")) > 2048 {
			return result{}, badRequest("vcard must be at most 2048 bytes")
		}
		contact := models.Contact{
			PhoneNumber: p.str("phone_number"),
			FirstName:   p.str("first_name"),
			LastName:    p.str("last_name"),
			VCard:       p.str("vcard"),
		}
		build = func(m *models.Message) { m.Contact = &contact }
	}

	if err := s.limitLocked(c, method, p.bool("allow_paid_broadcast")); err != nil {
		return result{}, err
	}
	msg := s.newBotMessage(c, p, o)
	build(&msg)
	return s.storeBotMessage(c, msg, o, "", ""), nil
}
