package sandbox

import (
	"context"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/emulator"
)

// The JSON the page reads. Every text is plain text with Telegram's entities
// (offsets in UTF-16 code units, as JavaScript strings count): the page
// builds elements from them and sets only text content, never HTML.

type personaView struct {
	ID    string `json:"id"` // a string: JavaScript numbers lose digits past 2^53
	Name  string `json:"name"`
	Lang  string `json:"lang"`
	Phone string `json:"phone,omitempty"` // E.164, "+79000000001"
	// Note is what the list says of the persona: what is linked
	// ("linked 1000000004"), or Persona.Note when the sandbox cannot tell.
	Note string `json:"note,omitempty"`
	// Accounts are the numbers of the linked accounts; absent when unknown.
	Accounts []string `json:"accounts,omitempty"`
}

// viewPersona is a persona for the page, with what it has linked read from
// the bot's database when the sandbox can read it.
func (s *Server) viewPersona(ctx context.Context, p *Persona) personaView {
	v := personaView{
		ID:   strconv.FormatInt(p.User.ID, 10),
		Name: strings.TrimSpace(p.User.FirstName + " " + p.User.LastName),
		Lang: p.User.LanguageCode,
		Note: p.Note,
	}
	if p.User.PhoneNumber != "" {
		v.Phone = "+" + strings.TrimPrefix(p.User.PhoneNumber, "+")
	}
	if s.linked == nil {
		return v
	}
	// A database that does not answer leaves the note as it is: the bot,
	// on the same database, is failing visibly in the chat anyway.
	if accounts, err := s.linked(ctx, p.User.ID); err == nil {
		v.Accounts = accounts
		v.Note = linkedNote(accounts)
	}
	return v
}

// linkedNote says what a persona has linked, in the page's English.
func linkedNote(accounts []string) string {
	switch len(accounts) {
	case 0:
		return "no account linked"
	case 1:
		return "linked " + accounts[0]
	}
	return strconv.Itoa(len(accounts)) + " accounts linked"
}

type chatView struct {
	Persona  personaView   `json:"persona"`
	Bot      botView       `json:"bot"`
	Items    []itemView    `json:"items"`
	Keyboard *keyboardView `json:"keyboard,omitempty"`
	Commands []commandView `json:"commands"`
}

type botView struct {
	Name     string `json:"name"`
	Username string `json:"username"`
}

// itemView is one line of the chat: a message, or a system line about a
// request the emulator rejected.
type itemView struct {
	Message *messageView `json:"message,omitempty"`
	System  *systemView  `json:"system,omitempty"`
}

type messageView struct {
	ID       int            `json:"id"`
	FromBot  bool           `json:"from_bot"`
	Date     int64          `json:"date"` // Unix seconds
	Edited   bool           `json:"edited"`
	Text     string         `json:"text"`
	Entities []entityView   `json:"entities,omitempty"`
	Buttons  [][]buttonView `json:"buttons,omitempty"`
	Photo    *photoView     `json:"photo,omitempty"`
	Document *documentView  `json:"document,omitempty"`
	Location *locationView  `json:"location,omitempty"`
	Venue    *venueView     `json:"venue,omitempty"`
	Contact  *contactView   `json:"contact,omitempty"`
	Sticker  string         `json:"sticker,omitempty"` // its emoji
	// Reactions are the bot's reactions on the message (emoji), as Telegram
	// shows them under it.
	Reactions []string `json:"reactions,omitempty"`
	// From is who wrote a message of a group (the bot, or an operator with
	// their user id); absent in a private chat, which has two sides only.
	From *senderView `json:"from,omitempty"`
	// Service is what a service message of a group says ("closed the
	// topic"), after From's name; "" for any other message.
	Service string `json:"service,omitempty"`

	at int64 // when it appeared, Unix nanoseconds, to place system lines
}

type senderView struct {
	ID   string `json:"id,omitempty"` // a person's user id; absent for the bot
	Name string `json:"name"`
}

type entityView struct {
	Type     string `json:"type"`
	Offset   int    `json:"offset"`
	Length   int    `json:"length"`
	URL      string `json:"url,omitempty"`
	Language string `json:"language,omitempty"`
}

type buttonView struct {
	Text string `json:"text"`
	Data string `json:"data,omitempty"`
	URL  string `json:"url,omitempty"`
}

type photoView struct {
	URL string `json:"url,omitempty"` // empty when the picture is not kept (the bot sent it)
}

type documentView struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

type locationView struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	MapURL    string  `json:"map_url"`
}

type venueView struct {
	Title   string `json:"title"`
	Address string `json:"address"`
	locationView
}

type contactView struct {
	Phone string `json:"phone"`
	Name  string `json:"name"`
	Own   bool   `json:"own"` // the sender's own contact (contact.user_id is the sender)
}

type systemView struct {
	Time        int64  `json:"time"` // Unix milliseconds
	Method      string `json:"method"`
	Code        int    `json:"code"`
	Description string `json:"description"`
	// Level is "error" (shown red), or "notice" for an answer the bot
	// expects and handles on purpose ("message is not modified").
	Level string `json:"level"`

	at int64 // when the request came, Unix nanoseconds, to place it among the messages
}

type keyboardView struct {
	Rows        [][]keyButtonView `json:"rows"`
	Placeholder string            `json:"placeholder,omitempty"`
}

type keyButtonView struct {
	Text     string `json:"text"`
	Contact  bool   `json:"contact,omitempty"`
	Location bool   `json:"location,omitempty"`
}

type commandView struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// safeURL lets through only links a page may open: web links and Telegram
// links. Anything else (javascript:, data:) becomes "".
func safeURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "tg", "mailto":
		return u.String()
	}
	return ""
}

func mapURL(lat, lon float64) string {
	la := strconv.FormatFloat(lat, 'f', 5, 64)
	lo := strconv.FormatFloat(lon, 'f', 5, 64)
	return "https://www.openstreetmap.org/?mlat=" + la + "&mlon=" + lo + "#map=16/" + la + "/" + lo
}

// viewMessage turns an emulator message into what the page draws. personaID
// is the persona's user id, which is also their private chat's id.
func (s *Server) viewMessage(m emulator.ChatMessage, personaID int64) *messageView {
	v := &messageView{
		ID:      m.ID,
		FromBot: m.FromBot,
		Date:    m.Date.Unix(),
		Edited:  m.Edited,
		Text:    m.Text,
		at:      s.arrivedAt(personaID, m),
	}
	if len(m.Reactions) > 0 {
		v.Reactions = m.Reactions
	}
	for _, e := range m.Entities {
		ev := entityView{Type: string(e.Type), Offset: e.Offset, Length: e.Length, Language: e.Language}
		if e.Type == models.MessageEntityTypeTextLink {
			ev.URL = safeURL(e.URL)
			if ev.URL == "" {
				continue // shown as plain text rather than as a link that could run code
			}
		}
		v.Entities = append(v.Entities, ev)
	}
	for _, row := range m.InlineKeyboard {
		var r []buttonView
		for _, b := range row {
			bv := buttonView{Text: b.Text, Data: b.CallbackData}
			if b.URL != "" {
				bv.URL = safeURL(b.URL)
			}
			r = append(r, bv)
		}
		v.Buttons = append(v.Buttons, r)
	}
	msg := m.Message
	switch {
	case len(msg.Photo) > 0:
		full := msg.Photo[len(msg.Photo)-1]
		v.Photo = &photoView{}
		if s.hasPhoto(full.FileID) {
			v.Photo.URL = "/api/files/" + url.PathEscape(full.FileID)
		}
	case msg.Document != nil:
		v.Document = &documentView{Name: msg.Document.FileName, Size: msg.Document.FileSize}
	case msg.Venue != nil:
		l := msg.Venue.Location
		v.Venue = &venueView{Title: msg.Venue.Title, Address: msg.Venue.Address,
			locationView: locationView{Latitude: l.Latitude, Longitude: l.Longitude, MapURL: mapURL(l.Latitude, l.Longitude)}}
	case msg.Location != nil:
		l := msg.Location
		v.Location = &locationView{Latitude: l.Latitude, Longitude: l.Longitude, MapURL: mapURL(l.Latitude, l.Longitude)}
	case msg.Contact != nil:
		c := msg.Contact
		v.Contact = &contactView{
			Phone: c.PhoneNumber,
			Name:  strings.TrimSpace(c.FirstName + " " + c.LastName),
			Own:   c.UserID != 0 && c.UserID == personaID,
		}
	case msg.Sticker != nil:
		v.Sticker = msg.Sticker.Emoji
	}
	return v
}

// notModified is Telegram's answer to an edit that changes nothing; the bot
// treats it as fine (a refresh with nothing new), so the page shows it
// quietly instead of in red.
const notModified = "message is not modified"

// systemLines lists the rejected requests that concern a chat: those naming
// it (chat_id, or a button press in it) and those naming no chat at all.
func (s *Server) systemLines(chatID int64) []systemView {
	calls := s.emu.Errors()
	if len(calls) == 0 {
		return nil
	}
	pressChat := map[string]int64{}
	for _, q := range s.emu.CallbackQueries() {
		pressChat[q.ID] = q.ChatID
	}
	var out []systemView
	for _, c := range calls {
		if id := callChat(c, pressChat); id != 0 && id != chatID {
			continue
		}
		out = append(out, viewCall(c))
	}
	return out
}

// viewCall is a rejected request as a system line.
func viewCall(c emulator.Call) systemView {
	level := "error"
	if strings.Contains(c.Description, notModified) {
		level = "notice"
	}
	return systemView{
		Time:        c.Time.UnixMilli(),
		Method:      c.Method,
		Code:        c.ErrorCode,
		Description: c.Description,
		Level:       level,
		at:          c.Time.UnixNano(),
	}
}

// callChat is the chat a request was about, 0 when it named none. Params
// are typed when the request got as far as decoding, raw strings otherwise.
func callChat(c emulator.Call, pressChat map[string]int64) int64 {
	switch v := c.Params["chat_id"].(type) {
	case int64:
		return v
	case string:
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			return id
		}
	}
	if q, ok := c.Params["callback_query_id"].(string); ok {
		return pressChat[q]
	}
	return 0
}

// merge puts the system lines among the messages by time: a line comes
// before the first message that appeared after it.
func merge(msgs []*messageView, lines []systemView) []itemView {
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at < lines[j].at })
	items := make([]itemView, 0, len(msgs)+len(lines))
	j := 0
	for _, m := range msgs {
		for j < len(lines) && lines[j].at < m.at {
			items = append(items, itemView{System: &lines[j]})
			j++
		}
		items = append(items, itemView{Message: m})
	}
	for ; j < len(lines); j++ {
		items = append(items, itemView{System: &lines[j]})
	}
	return items
}

func viewKeyboard(k *models.ReplyKeyboardMarkup) *keyboardView {
	if k == nil {
		return nil
	}
	v := &keyboardView{Placeholder: k.InputFieldPlaceholder}
	for _, row := range k.Keyboard {
		var r []keyButtonView
		for _, b := range row {
			r = append(r, keyButtonView{Text: b.Text, Contact: b.RequestContact, Location: b.RequestLocation})
		}
		v.Rows = append(v.Rows, r)
	}
	return v
}
