package bot

import (
	"strconv"
	"strings"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// toEvent turns an update from a private chat into a dialogs.Event. ok is
// false for updates the dialogs do not handle (groups, member changes...).
// The event's Key is the update's id, which Telegram keeps when it delivers
// the update again: the dialogs key their side effects by it.
func toEvent(upd *models.Update) (ev dialogs.Event, ok bool) {
	ev, ok = eventOf(upd)
	ev.Key = updateKey(upd.ID)
	return ev, ok
}

// updateKey is the dialogs.Event Key of the update with this id.
func updateKey(updateID int64) string { return "u" + strconv.FormatInt(updateID, 10) }

// eventOf is toEvent without the key. Messages and buttons of groups come
// as events with Group set (the operators' forum topics); the dialogs
// decide which groups they listen to.
func eventOf(upd *models.Update) (ev dialogs.Event, ok bool) {
	switch {
	case upd.Message != nil:
		m := upd.Message
		if m.From == nil || m.From.IsBot || !chatKnown(m.Chat) {
			return ev, false
		}
		ev = messageEvent(m)
		switch {
		case m.Contact != nil:
			ev.Kind = dialogs.KindContact
			ev.Contact = &dialogs.Contact{Phone: m.Contact.PhoneNumber, UserID: m.Contact.UserID}
		case m.Location != nil:
			ev.Kind = dialogs.KindLocation
			ev.Location = &dialogs.Location{Lat: m.Location.Latitude, Lon: m.Location.Longitude}
		case isCommand(m) && commandName(m.Text) != "":
			ev.Kind = dialogs.KindCommand
			_, args, _ := strings.Cut(m.Text[1:], " ")
			ev.Command, ev.Args = commandName(m.Text), strings.TrimSpace(args)
			// The name a deep link's feature may keep (a trusted person
			// accepting an invitation is listed by it to the holder).
			ev.FromName = m.From.FirstName
		case m.Text != "":
			ev.Kind, ev.Text = dialogs.KindText, m.Text
			ev.HTML = formatHTML(m.Text, m.Entities)
		default:
			ev.Kind = dialogs.KindOther
			ev.Media, ev.Text, ev.Album = copyable(m), m.Caption, m.MediaGroupID
			ev.HTML = formatHTML(m.Caption, m.CaptionEntities)
		}
		return ev, true
	case upd.EditedMessage != nil:
		m := upd.EditedMessage
		if m.From == nil || m.From.IsBot || !chatKnown(m.Chat) {
			return ev, false
		}
		ev = messageEvent(m)
		ev.Kind, ev.Text = dialogs.KindEdited, m.Text
		ev.HTML = formatHTML(m.Text, m.Entities)
		if m.Text == "" {
			ev.Text, ev.HTML = m.Caption, formatHTML(m.Caption, m.CaptionEntities)
		}
		return ev, true
	case upd.CallbackQuery != nil:
		q := upd.CallbackQuery
		ev = dialogs.Event{UserID: q.From.ID, ChatID: q.From.ID, LanguageCode: q.From.LanguageCode, Kind: dialogs.KindCallback, Data: q.Data, FromName: q.From.FirstName}
		if msg := q.Message.Message; msg != nil {
			if !chatKnown(msg.Chat) {
				return ev, false
			}
			ev.ChatID, ev.MessageID = msg.Chat.ID, msg.ID
			ev.Group = msg.Chat.Type != models.ChatTypePrivate
			ev.Thread = ConvKey(upd).Thread
		} else if im := q.Message.InaccessibleMessage; im != nil {
			ev.ChatID = im.Chat.ID
			ev.Group = im.Chat.Type != "" && im.Chat.Type != models.ChatTypePrivate
		}
		return ev, true
	}
	return ev, false
}

// chatKnown: a private chat, a group or a supergroup (not a channel).
func chatKnown(c models.Chat) bool {
	switch c.Type {
	case models.ChatTypePrivate, models.ChatTypeGroup, models.ChatTypeSupergroup:
		return true
	}
	return false
}

// messageEvent is what every message event carries: who, where, which message.
func messageEvent(m *models.Message) dialogs.Event {
	ev := dialogs.Event{UserID: m.From.ID, ChatID: m.Chat.ID, LanguageCode: m.From.LanguageCode, MessageID: m.ID}
	if m.Chat.Type != models.ChatTypePrivate {
		ev.Group, ev.FromName = true, m.From.FirstName
		ev.Thread = messageConv(m).Thread
	}
	return ev
}

// copyable: a message copyMessage reproduces as it is (media and files).
func copyable(m *models.Message) bool {
	return len(m.Photo) > 0 || m.Document != nil || m.Voice != nil || m.Video != nil || m.Audio != nil ||
		m.Animation != nil || m.VideoNote != nil
}

// isCommand: a message whose first entity is a bot_command at offset 0.
func isCommand(m *models.Message) bool {
	if !strings.HasPrefix(m.Text, "/") {
		return false
	}
	for _, e := range m.Entities {
		if e.Type == models.MessageEntityTypeBotCommand && e.Offset == 0 {
			return true
		}
	}
	// Some clients (and people typing fast) send commands without entities.
	head, _, _ := strings.Cut(m.Text, " ")
	return len(head) > 1 && len(head) <= 64 && !strings.ContainsAny(head[1:], "/")
}

// commandName is "start" for "/start@kabinet_bot args"; "" for a bare "/".
func commandName(text string) string {
	head, _, _ := strings.Cut(strings.TrimPrefix(text, "/"), " ")
	name, _, _ := strings.Cut(head, "@")
	return strings.ToLower(name)
}

// userID is the person behind an update (0 if none).
func userID(upd *models.Update) int64 {
	switch {
	case upd.Message != nil && upd.Message.From != nil:
		return upd.Message.From.ID
	case upd.EditedMessage != nil && upd.EditedMessage.From != nil:
		return upd.EditedMessage.From.ID
	case upd.CallbackQuery != nil:
		return upd.CallbackQuery.From.ID
	case upd.MyChatMember != nil:
		return upd.MyChatMember.From.ID
	}
	return 0
}
