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

// eventOf is toEvent without the key.
func eventOf(upd *models.Update) (ev dialogs.Event, ok bool) {
	switch {
	case upd.Message != nil:
		m := upd.Message
		if m.Chat.Type != models.ChatTypePrivate || m.From == nil {
			return ev, false
		}
		ev = dialogs.Event{UserID: m.From.ID, ChatID: m.Chat.ID, LanguageCode: m.From.LanguageCode}
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
		case m.Text != "":
			ev.Kind, ev.Text = dialogs.KindText, m.Text
		default:
			ev.Kind = dialogs.KindOther
		}
		return ev, true
	case upd.EditedMessage != nil:
		m := upd.EditedMessage
		if m.Chat.Type != models.ChatTypePrivate || m.From == nil {
			return ev, false
		}
		return dialogs.Event{UserID: m.From.ID, ChatID: m.Chat.ID, LanguageCode: m.From.LanguageCode, Kind: dialogs.KindEdited}, true
	case upd.CallbackQuery != nil:
		q := upd.CallbackQuery
		ev = dialogs.Event{UserID: q.From.ID, ChatID: q.From.ID, LanguageCode: q.From.LanguageCode, Kind: dialogs.KindCallback, Data: q.Data}
		if msg := q.Message.Message; msg != nil {
			if msg.Chat.Type != models.ChatTypePrivate {
				return ev, false
			}
			ev.ChatID, ev.MessageID = msg.Chat.ID, msg.ID
		} else if im := q.Message.InaccessibleMessage; im != nil {
			ev.ChatID = im.Chat.ID
		}
		return ev, true
	}
	return ev, false
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
