package bot

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/state"
)

// outItem is one entry of a conversation's outbox: a Bot API call waiting
// to be made, or work of the sender's own (an effect to run, a message to
// move into another conversation, a receipt to hand over). It is stored as
// JSON in Redis, so that it survives a restart between saving and sending.
type outItem struct {
	Op         string             `json:"op"`
	ChatID     int64              `json:"chat,omitempty"`
	Thread     int                `json:"thread,omitempty"` // a forum topic's message_thread_id
	MessageID  int                `json:"msg,omitempty"`
	Text       string             `json:"text,omitempty"`
	Buttons    [][]dialogs.Button `json:"buttons,omitempty"`
	Keyboard   *dialogs.Keyboard  `json:"keyboard,omitempty"`
	CallbackID string             `json:"cb,omitempty"`
	Venue      *dialogs.Venue     `json:"venue,omitempty"`    // opVenue
	Commands   []dialogs.Command  `json:"commands,omitempty"` // opCommands
	// Receipt: once sent, the message's id goes to the feature under this tag.
	Receipt string `json:"receipt,omitempty"`
	// ID names an effect or a transfer uniquely: the turn's event key and
	// the reply's place in the turn, so the same turn run again makes the
	// same ids.
	ID     string          `json:"id,omitempty"`
	To     *dialogs.Target `json:"to,omitempty"`     // opTransfer: the other conversation
	Item   json.RawMessage `json:"item,omitempty"`   // opTransfer: the item for its outbox
	Effect *dialogs.Effect `json:"effect,omitempty"` // opEffect
	Sent   *dialogs.Sent   `json:"sent,omitempty"`   // opReceipt
	Copy   *dialogs.Copy   `json:"copy,omitempty"`   // opCopy
	Emoji  string          `json:"emoji,omitempty"`  // opReact, on MessageID
	// File names a picture or a file made when it is sent (opFile); its
	// bytes are never stored, only upload holds them while it is sent.
	File   *dialogs.File `json:"file,omitempty"`
	upload *dialogs.Upload
}

const (
	opSend   = "send"
	opEdit   = "edit"
	opAnswer = "answer"
	opVenue  = "venue" // sendVenue: a map pin with a name and an address
	// opCommands sets the chat's command menu (setMyCommands, chat scope).
	opCommands = "commands"
	// opEffect runs a dialogs.Effect; its replies take its place.
	opEffect = "effect"
	// opTransfer moves Item into the outbox of conversation To.
	opTransfer = "transfer"
	// opReceipt hands a sent message's id to the feature that asked.
	opReceipt = "receipt"
	opCopy    = "copy"   // copyMessage: a message as it is, Text its caption
	opTopic   = "topic"  // createForumTopic named Text; the receipt gets its id
	opRename  = "rename" // editForumTopic: topic Thread gets the name Text
	opReact   = "react"  // setMessageReaction on MessageID
	opFile    = "file"   // sendPhoto or sendDocument of File, made at send time; Text its caption
)

// maxCaption is Telegram's limit for a photo's or a file's caption.
const maxCaption = 1024

// maxText is Telegram's limit for one message, in characters.
const maxText = 4096

// render turns a dialog result into the items of conversation conv's
// outbox: the callback answer first (Telegram shows a spinner on the
// button until it comes), then the replies, in order. A reply to another
// conversation becomes a transfer, moved there by the sender. key is the
// event's key, which makes the ids of effects and transfers.
func render(conv state.Conv, key, callbackID string, res dialogs.Result) [][]byte {
	if key == "" {
		key = "r" + randomID() // a turn that names no event: its ids only need be unique
	}
	var items []outItem
	if callbackID != "" {
		items = append(items, outItem{Op: opAnswer, CallbackID: callbackID, Text: truncate(res.Toast, 200)})
	}
	for i, r := range res.Replies {
		id := key + "#" + strconv.Itoa(i)
		switch {
		case r.Effect != nil:
			items = append(items, outItem{Op: opEffect, ID: id, Effect: r.Effect})
		case r.To != nil && (state.Conv{Chat: r.To.Chat, Thread: r.To.Thread}) != conv:
			for j, it := range messageItems(r.To.Chat, r.To.Thread, r) {
				raw, _ := json.Marshal(it) // outItem always marshals
				items = append(items, outItem{Op: opTransfer, ID: id + "." + strconv.Itoa(j), To: r.To, Item: raw})
			}
		default:
			items = append(items, messageItems(conv.Chat, conv.Thread, r)...)
		}
	}
	if len(res.ChatCommands) > 0 {
		// After the replies: the person reads the answer first, the menu
		// changes a moment later.
		items = append(items, outItem{Op: opCommands, ChatID: conv.Chat, Commands: res.ChatCommands})
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i], _ = json.Marshal(it) // outItem always marshals
	}
	return out
}

// messageItems are the Bot API calls that show reply r in (chat, thread):
// a pin, or a text cut into messages Telegram takes (the buttons and the
// receipt go with the last part).
func messageItems(chat int64, thread int, r dialogs.Reply) []outItem {
	switch {
	case r.Topic != "" && thread != 0:
		return []outItem{{Op: opRename, ChatID: chat, Thread: thread, Text: r.Topic}}
	case r.Topic != "":
		return []outItem{{Op: opTopic, ChatID: chat, Text: r.Topic, Receipt: r.Receipt}}
	case r.React != "":
		return []outItem{{Op: opReact, ChatID: chat, Thread: thread, MessageID: r.Edit, Emoji: r.React}}
	case r.File != nil:
		return []outItem{{Op: opFile, ChatID: chat, Thread: thread, File: r.File, Text: truncate(r.Text, maxCaption), Buttons: r.Buttons, Receipt: r.Receipt}}
	case r.Copy != nil:
		return []outItem{{Op: opCopy, ChatID: chat, Thread: thread, Copy: r.Copy, Text: cutHTML(r.Text, 1024), Buttons: r.Buttons, Receipt: r.Receipt}}
	}
	if r.Venue != nil {
		return []outItem{{Op: opVenue, ChatID: chat, Thread: thread, Venue: r.Venue, Buttons: r.Buttons, Keyboard: r.Keyboard, Receipt: r.Receipt}}
	}
	var items []outItem
	parts := splitHTML(r.Text, maxText)
	for i, part := range parts {
		it := outItem{Op: opSend, ChatID: chat, Thread: thread, Text: part}
		if i == len(parts)-1 {
			it.Buttons, it.Keyboard, it.Receipt = r.Buttons, r.Keyboard, r.Receipt
		}
		if r.Edit > 0 && len(parts) == 1 && r.Keyboard == nil {
			it.Op, it.MessageID = opEdit, r.Edit
		}
		items = append(items, it)
	}
	return items
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}
