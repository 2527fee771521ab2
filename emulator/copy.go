package emulator

import (
	"encoding/json"

	"github.com/go-telegram/bot/models"
)

// copyContent takes what a copy or a forward of a message carries: its text
// or media with caption and entities, nothing about where it came from.
func copyContent(dst *models.Message, src models.Message) {
	dst.Text, dst.Entities, dst.LinkPreviewOptions = src.Text, src.Entities, src.LinkPreviewOptions
	dst.Caption, dst.CaptionEntities = src.Caption, src.CaptionEntities
	dst.Photo, dst.Document, dst.Voice, dst.Video, dst.Audio, dst.Animation = src.Photo, src.Document, src.Voice, src.Video, src.Audio, src.Animation
	dst.Sticker, dst.VideoNote, dst.Location, dst.Venue, dst.Contact = src.Sticker, src.VideoNote, src.Location, src.Venue, src.Contact
	dst.HasMediaSpoiler, dst.ShowCaptionAboveMedia = src.HasMediaSpoiler, src.ShowCaptionAboveMedia
}

// hasMedia tells whether a message has media that takes a caption.
func hasMedia(m models.Message) bool {
	return len(m.Photo) > 0 || m.Document != nil || m.Voice != nil || m.Video != nil || m.Audio != nil || m.Animation != nil
}

// sourceMessage finds the message a copy or forward names by from_chat_id
// and message_id; what is "message to copy" or "message to forward".
func (s *Server) sourceMessage(p params, what string) (*chat, *storedMessage, *apiError) {
	from, err := s.chatByID(p.typed["from_chat_id"], "from_chat_id")
	if err != nil {
		return nil, nil, err
	}
	_, m := from.find(int(p.int("message_id")))
	if m == nil {
		return nil, nil, badRequest("%s not found", what)
	}
	return from, m, nil
}

// copyMessage sends a copy of a message (a subscriber's, an operator's, the
// bot's own) to a chat or a forum topic: the same text or media, with a new
// caption when one is given, and no link to the original. The result is the
// new message's id only, which a relay keeps to map the two. The Bot API
// finds the original before it looks at the target.
func (s *Server) copyMessage(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, src, err := s.sourceMessage(p, "message to copy")
	if err != nil {
		return result{}, err
	}
	if isServiceMessage(src.msg) {
		return result{}, badRequest("the message can't be copied")
	}
	c, err := s.writableChat(p)
	if err != nil {
		return result{}, err
	}
	var caption *formatted
	if p.has("caption") && hasMedia(src.msg) {
		f, err := formatParam(p, "caption", "caption_entities", maxCaptionLen, "message caption is too long", false)
		if err != nil {
			return result{}, err
		}
		caption = &f
	}
	o, err := s.parseSendOptions(c, p)
	if err != nil {
		return result{}, err
	}
	if err := s.limitLocked(c, "copyMessage", p.bool("allow_paid_broadcast")); err != nil {
		return result{}, err
	}
	msg := s.newBotMessage(c, p, o)
	copyContent(&msg, src.msg)
	raw, mode := src.rawText, src.parseMode
	if caption != nil {
		msg.Caption, msg.CaptionEntities = caption.text, caption.entities
		msg.ShowCaptionAboveMedia = p.bool("show_caption_above_media")
		raw, mode = p.str("caption"), p.str("parse_mode")
	}
	s.storeBotMessage(c, msg, o, raw, mode)
	return result{value: models.MessageID{ID: msg.ID}}, nil
}

// copyMessages copies up to 100 messages in one request. Messages that are
// missing or can't be copied are skipped, as the Bot API does; an album
// copied stays an album, under a new media_group_id. The result lists the
// new messages' ids.
func (s *Server) copyMessages(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The Bot API reads message_ids first, then the target, then the source.
	var ids []int
	if err := p.decode("message_ids", &ids); err != nil {
		return result{}, badRequest("can't parse message_ids JSON object")
	}
	switch {
	case len(ids) == 0:
		return result{}, badRequest("message identifiers are not specified")
	case len(ids) > 100:
		return result{}, badRequest("too many message identifiers specified")
	}
	for _, id := range ids {
		if id <= 0 {
			return result{}, badRequest("invalid message identifier specified")
		}
	}
	c, err := s.writableChat(p)
	if err != nil {
		return result{}, err
	}
	from, err := s.chatByID(p.typed["from_chat_id"], "from_chat_id")
	if err != nil {
		return result{}, err
	}
	var found []*storedMessage
	for _, id := range ids {
		if _, m := from.find(id); m != nil {
			found = append(found, m)
		}
	}
	if len(found) == 0 {
		return result{}, badRequest("there are no messages to forward")
	}
	// TDLib checks the order of what it found, after the Bot API dropped
	// the missing ones.
	for i := 1; i < len(found); i++ {
		if found[i].msg.ID <= found[i-1].msg.ID {
			return result{}, badRequest("message identifiers must be in a strictly increasing order")
		}
	}
	var copies []*storedMessage
	for _, m := range found {
		if !isServiceMessage(m.msg) {
			copies = append(copies, m)
		}
	}
	if len(copies) == 0 {
		return result{}, badRequest("messages can't be forwarded")
	}
	o, err := s.parseSendOptions(c, p)
	if err != nil {
		return result{}, err
	}
	if err := s.limitNLocked(c, "copyMessages", false, len(copies)); err != nil {
		return result{}, err
	}
	groups := map[string]string{} // an original album's media_group_id: its copy's
	out := make([]models.MessageID, 0, len(copies))
	for _, src := range copies {
		msg := s.newBotMessage(c, p, o)
		copyContent(&msg, src.msg)
		if g := src.msg.MediaGroupID; g != "" {
			if groups[g] == "" {
				groups[g] = s.nextMediaGroupID()
			}
			msg.MediaGroupID = groups[g]
		}
		raw := src.rawText
		if p.bool("remove_caption") {
			msg.Caption, msg.CaptionEntities, raw = "", nil, ""
		}
		s.storeBotMessage(c, msg, o, raw, src.parseMode)
		out = append(out, models.MessageID{ID: msg.ID})
	}
	return result{value: out}, nil
}

// forwardMessage forwards a message: the same content with forward_origin
// naming its sender. Service messages and messages with protected content
// can't be forwarded.
func (s *Server) forwardMessage(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, src, err := s.sourceMessage(p, "message to forward")
	if err != nil {
		return result{}, err
	}
	if isServiceMessage(src.msg) || src.msg.HasProtectedContent {
		return result{}, badRequest("the message can't be forwarded")
	}
	c, err := s.writableChat(p)
	if err != nil {
		return result{}, err
	}
	o, err := s.parseSendOptions(c, p)
	if err != nil {
		return result{}, err
	}
	if err := s.limitLocked(c, "forwardMessage", false); err != nil {
		return result{}, err
	}
	msg := s.newBotMessage(c, p, o)
	copyContent(&msg, src.msg)
	origin := src.msg.ForwardOrigin // a forward of a forward names the first sender
	if origin == nil && src.msg.From != nil {
		origin = &models.MessageOrigin{Type: models.MessageOriginTypeUser, MessageOriginUser: &models.MessageOriginUser{
			Type: models.MessageOriginTypeUser, Date: src.msg.Date, SenderUser: *src.msg.From,
		}}
	}
	msg.ForwardOrigin = replyCopy(models.Message{ForwardOrigin: origin}).ForwardOrigin
	s.storeBotMessage(c, msg, o, src.rawText, src.parseMode)
	// Encoded here, under the lock: the library's MarshalJSON of the origin
	// writes into it, and the stored message shares it.
	data, jsonErr := json.Marshal(&msg)
	if jsonErr != nil {
		return result{}, &apiError{code: 500, description: "Internal Server Error: " + jsonErr.Error()}
	}
	return result{value: rawJSON(data)}, nil
}
