package bot

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// outItem is one Bot API call waiting in a chat's outbox. It is stored as
// JSON in Redis, so that it survives a restart between saving and sending.
type outItem struct {
	Op         string             `json:"op"` // opSend, opEdit, opAnswer
	ChatID     int64              `json:"chat,omitempty"`
	MessageID  int                `json:"msg,omitempty"`
	Text       string             `json:"text,omitempty"`
	Buttons    [][]dialogs.Button `json:"buttons,omitempty"`
	Keyboard   *dialogs.Keyboard  `json:"keyboard,omitempty"`
	CallbackID string             `json:"cb,omitempty"`
	Venue      *dialogs.Venue     `json:"venue,omitempty"`    // opVenue
	Commands   []dialogs.Command  `json:"commands,omitempty"` // opCommands
}

const (
	opSend   = "send"
	opEdit   = "edit"
	opAnswer = "answer"
	opVenue  = "venue" // sendVenue: a map pin with a name and an address
	// opCommands sets the chat's command menu (setMyCommands, chat scope).
	opCommands = "commands"
)

// maxText is Telegram's limit for one message, in characters.
const maxText = 4096

// render turns a dialog result into outbox items: the callback answer first
// (Telegram shows a spinner on the button until it comes), then the replies.
func render(chat int64, callbackID string, res dialogs.Result) [][]byte {
	var items []outItem
	if callbackID != "" {
		items = append(items, outItem{Op: opAnswer, CallbackID: callbackID, Text: truncate(res.Toast, 200)})
	}
	for _, r := range res.Replies {
		if r.Venue != nil {
			items = append(items, outItem{Op: opVenue, ChatID: chat, Venue: r.Venue, Buttons: r.Buttons, Keyboard: r.Keyboard})
			continue
		}
		parts := splitText(r.Text, maxText)
		for i, part := range parts {
			it := outItem{Op: opSend, ChatID: chat, Text: part}
			last := i == len(parts)-1
			if last {
				it.Buttons, it.Keyboard = r.Buttons, r.Keyboard
			}
			if r.Edit > 0 && len(parts) == 1 && r.Keyboard == nil {
				it.Op, it.MessageID = opEdit, r.Edit
			}
			items = append(items, it)
		}
	}
	if len(res.ChatCommands) > 0 {
		// After the replies: the person reads the answer first, the menu
		// changes a moment later.
		items = append(items, outItem{Op: opCommands, ChatID: chat, Commands: res.ChatCommands})
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i], _ = json.Marshal(it) // outItem always marshals
	}
	return out
}

// markup builds the reply_markup of an item: inline buttons win over a reply
// keyboard, as one message can carry only one of them.
func (it outItem) markup() models.ReplyMarkup {
	if len(it.Buttons) > 0 {
		return inlineMarkup(it.Buttons)
	}
	if it.Keyboard == nil {
		return nil
	}
	if it.Keyboard.Remove {
		return &models.ReplyKeyboardRemove{RemoveKeyboard: true}
	}
	kb := &models.ReplyKeyboardMarkup{ResizeKeyboard: true, IsPersistent: false}
	for _, row := range it.Keyboard.Rows {
		var r []models.KeyboardButton
		for _, b := range row {
			r = append(r, models.KeyboardButton{Text: b.Text, RequestContact: b.RequestContact, RequestLocation: b.RequestLocation})
		}
		kb.Keyboard = append(kb.Keyboard, r)
	}
	return kb
}

func inlineMarkup(rows [][]dialogs.Button) *models.InlineKeyboardMarkup {
	m := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{}}
	for _, row := range rows {
		var r []models.InlineKeyboardButton
		for _, b := range row {
			r = append(r, models.InlineKeyboardButton{Text: b.Text, CallbackData: b.Data, URL: b.URL})
		}
		m.InlineKeyboard = append(m.InlineKeyboard, r)
	}
	return m
}

// splitText cuts a text longer than max characters at line breaks (our
// HTML never spans lines), or hard at max when a single line is too long.
func splitText(s string, max int) []string {
	if utf8.RuneCountInString(s) <= max {
		return []string{s}
	}
	var parts []string
	var cur strings.Builder
	n := 0
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, strings.TrimRight(cur.String(), "\n"))
			cur.Reset()
			n = 0
		}
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		ln := utf8.RuneCountInString(line)
		if n+ln > max {
			flush()
		}
		for ln > max {
			r := []rune(line)
			parts = append(parts, string(r[:max]))
			line = string(r[max:])
			ln -= max
		}
		cur.WriteString(line)
		n += ln
	}
	flush()
	return parts
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}
