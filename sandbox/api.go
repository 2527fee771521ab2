package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/emulator"
)

// Limits of what the page may send: a JSON action is small but for a long
// text (maxTextParts messages, at most 6 bytes a character in JSON); an
// upload is kept in memory to be shown back, so it is capped well under
// Telegram's 50 MB.
const (
	maxJSONBody   = 512 << 10
	maxUpload     = 10 << 20
	maxKeptPhotos = 100
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// readJSON decodes a small JSON body into dst, answering 400 itself when it
// cannot.
func readJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := json.NewDecoder(r.Body).Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, tooLong)
			return false
		}
		writeError(w, http.StatusBadRequest, "the request body is not the JSON expected")
		return false
	}
	return true
}

// personaOr404 finds the persona of the path or answers 404.
func (s *Server) personaOr404(w http.ResponseWriter, r *http.Request) (*Persona, bool) {
	p, ok := s.persona(r)
	if !ok {
		writeError(w, http.StatusNotFound, "no such persona")
	}
	return p, ok
}

func (s *Server) listPersonas(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	personas := slices.Clone(s.personas)
	s.mu.Unlock()
	list := make([]personaView, 0, len(personas))
	for _, p := range personas {
		list = append(list, s.viewPersona(r.Context(), p))
	}
	bot := s.emu.Bot()
	writeJSON(w, http.StatusOK, map[string]any{
		"personas":  list,
		"bot":       botView{Name: bot.FirstName, Username: bot.Username},
		"time_zone": s.timeZone,
	})
}

// createPersona adds a fresh Telegram user: {"lang": "ru"}.
func (s *Server) createPersona(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Lang string `json:"lang"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Lang != "ru" && req.Lang != "en" {
		writeError(w, http.StatusBadRequest, `lang must be "ru" or "en"`)
		return
	}
	writeJSON(w, http.StatusCreated, s.viewPersona(r.Context(), s.newPersona(req.Lang)))
}

// chat is everything the page draws for one persona: the messages with the
// rejected requests among them, the reply keyboard and the commands menu.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	p, ok := s.personaOr404(w, r)
	if !ok {
		return
	}
	id := p.User.ID
	var msgs []*messageView
	all := s.emu.Messages(id)
	s.awaitArrivals(id, all)
	for _, m := range all {
		msgs = append(msgs, s.viewMessage(m, id))
	}
	bot := s.emu.Bot()
	v := chatView{
		Persona:  s.viewPersona(r.Context(), p),
		Bot:      botView{Name: bot.FirstName, Username: bot.Username},
		Items:    merge(msgs, s.systemLines(id)),
		Keyboard: viewKeyboard(s.emu.ReplyKeyboard(id)),
		Commands: []commandView{},
	}
	for _, c := range s.emu.CommandsFor(p.User) {
		v.Commands = append(v.Commands, commandView{Command: c.Command, Description: c.Description})
	}
	writeJSON(w, http.StatusOK, v)
}

// actionError is a page action refused with an HTTP status and a reason
// the page shows.
type actionError struct {
	status int
	msg    string
}

func (e *actionError) Error() string { return e.msg }

func badAction(msg string) error { return &actionError{http.StatusBadRequest, msg} }

// conflict: the emulator refused the action (e.g. the message is gone).
func conflict(err error) error { return &actionError{http.StatusConflict, err.Error()} }

// action turns a page action into a handler: it finds the persona of the
// path (404), decodes the JSON body into a Req (400), runs act as that
// persona and answers 202, or the status of the actionError act returns.
func action[Req any](s *Server, act func(u emulator.User, req Req) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.personaOr404(w, r)
		if !ok {
			return
		}
		var req Req
		if !readJSON(w, r, &req) {
			return
		}
		if err := act(p.User, req); err != nil {
			status := http.StatusInternalServerError
			var ae *actionError
			if errors.As(err, &ae) {
				status = ae.status
			}
			writeError(w, status, err.Error())
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
	}
}

type textRequest struct {
	Text string `json:"text"`
}

// tooLong is what the person reads about a text too long to send: the page
// shows it as it is.
var tooLong = fmt.Sprintf("This text is too long for the sandbox: it sends at most %d messages of %s characters at once. Send it in pieces.",
	maxTextParts, thousands(maxTextLen))

// sendText is the person typing a text (or a command) and sending it. A text
// over Telegram's limit goes as several messages one after another, as
// Telegram's apps send it.
func (s *Server) sendText(u emulator.User, req textRequest) error {
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return badAction("the text is empty")
	}
	parts := splitText(text, maxTextLen)
	if len(parts) > maxTextParts {
		return &actionError{http.StatusRequestEntityTooLarge, tooLong}
	}
	for _, p := range parts {
		s.emu.SendText(u, p)
	}
	return nil
}

// thousands writes n with a comma between thousands, as English does.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

type editRequest struct {
	MessageID int    `json:"message_id"`
	Text      string `json:"text"`
}

// editText is the person editing a text they sent.
func (s *Server) editText(u emulator.User, req editRequest) error {
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return badAction("the text is empty")
	}
	// Telegram's apps do not split an edit; they refuse it.
	if n := utf16Len(text); n > maxTextLen {
		return badAction(fmt.Sprintf("Telegram allows at most %s characters in a message, and the edited text has %s. Shorten it.",
			thousands(maxTextLen), thousands(n)))
	}
	if _, err := s.emu.EditText(u, req.MessageID, text); err != nil {
		return conflict(err)
	}
	return nil
}

type buttonRequest struct {
	MessageID int    `json:"message_id"`
	Data      string `json:"data"`
}

// pressButton is the person pressing an inline button under a message.
func (s *Server) pressButton(u emulator.User, req buttonRequest) error {
	if req.Data == "" {
		return badAction("the button has no callback data")
	}
	s.emu.PressButton(u, req.MessageID, req.Data)
	return nil
}

// pressKey is the person pressing a button of the reply keyboard: a plain
// one sends its text, "share my phone number" the persona's own contact.
func (s *Server) pressKey(u emulator.User, req textRequest) error {
	if _, err := s.emu.PressKeyboardButton(u, req.Text); err != nil {
		return conflict(err)
	}
	return nil
}

type locationRequest struct {
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
}

// sendLocation is the person sharing a location (the "share location"
// button, or the attachment menu).
func (s *Server) sendLocation(u emulator.User, req locationRequest) error {
	if req.Latitude == nil || req.Longitude == nil ||
		*req.Latitude < -90 || *req.Latitude > 90 || *req.Longitude < -180 || *req.Longitude > 180 {
		return badAction("latitude must be -90..90 and longitude -180..180")
	}
	s.emu.SendLocation(u, *req.Latitude, *req.Longitude)
	return nil
}

type contactRequest struct {
	Phone     string `json:"phone"`
	FirstName string `json:"first_name"`
}

// sendContact is the person sharing someone else's contact from their
// address book: a contact whose user_id is not the sender's, which the bot
// must refuse to link by.
func (s *Server) sendContact(u emulator.User, req contactRequest) error {
	phone := strings.TrimPrefix(strings.Map(func(c rune) rune {
		if c == '+' || c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, req.Phone), "+")
	if len(phone) < 7 || len(phone) > 15 {
		return badAction("the phone number needs 7 to 15 digits")
	}
	name := strings.TrimSpace(req.FirstName)
	if name == "" {
		name = "Contact"
	}
	s.emu.SendContact(u, models.Contact{PhoneNumber: phone, FirstName: name, UserID: s.newUserID()})
	return nil
}

// sendSticker is the person sending a sticker (a thumbs-up).
func (s *Server) sendSticker(w http.ResponseWriter, r *http.Request) {
	p, ok := s.personaOr404(w, r)
	if !ok {
		return
	}
	s.emu.SendSticker(p.User)
	writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
}

// storedPhoto is a picture the person sent, kept to show it in the chat.
type storedPhoto struct {
	contentType string
	data        []byte
}

// upload is a file the person picked in the page, with what to send it as.
type upload struct {
	as      string // "photo" or "document"
	name    string
	data    []byte
	caption string
}

// readUpload reads a multipart upload: "file", "as" ("photo" or "document")
// and an optional "caption", answering 4xx itself when it cannot.
func readUpload(w http.ResponseWriter, r *http.Request) (upload, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload+64<<10)
	f, hdr, err := r.FormFile("file")
	if err != nil {
		writeError(w, http.StatusBadRequest, "send the file as multipart form field \"file\", at most 10 MB")
		return upload{}, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUpload+1))
	if err != nil || len(data) > maxUpload {
		writeError(w, http.StatusRequestEntityTooLarge, "the sandbox takes files up to 10 MB")
		return upload{}, false
	}
	if len(data) == 0 {
		writeError(w, http.StatusBadRequest, "the file is empty")
		return upload{}, false
	}
	caption := strings.TrimSpace(r.FormValue("caption"))
	if len([]rune(caption)) > 1024 {
		writeError(w, http.StatusBadRequest, "a caption is at most 1024 characters")
		return upload{}, false
	}
	as := r.FormValue("as")
	if as != "photo" && as != "document" {
		writeError(w, http.StatusBadRequest, `"as" must be "photo" or "document"`)
		return upload{}, false
	}
	name := hdr.Filename
	if name == "" {
		name = "file"
	}
	return upload{as: as, name: name, data: data, caption: caption}, true
}

// sendFile is the person sending a photo ("as" = "photo") or any file
// ("as" = "document"), multipart with "file" and an optional "caption".
func (s *Server) sendFile(w http.ResponseWriter, r *http.Request) {
	p, ok := s.personaOr404(w, r)
	if !ok {
		return
	}
	up, ok := readUpload(w, r)
	if !ok {
		return
	}
	switch up.as {
	case "photo":
		// Only pictures are kept and served back; anything else sent "as a
		// photo" still reaches the bot, shown as a placeholder.
		ctype := http.DetectContentType(up.data)
		s.emu.SendPhoto(p.User, up.caption)
		if isPicture(ctype) {
			s.keepPhoto(p.User.ID, storedPhoto{contentType: ctype, data: up.data})
		}
	case "document":
		if err := s.sendDocument(p.User, up.name, int64(len(up.data)), up.caption); err != nil {
			writeError(w, http.StatusConflict, err.Error())
			return
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
}

func isPicture(ctype string) bool {
	switch ctype {
	case "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp":
		return true
	}
	return false
}

// keepPhoto remembers the picture of the person's newest photo message that
// has none yet. The emulator names a photo only by its file_id.
func (s *Server) keepPhoto(chatID int64, ph storedPhoto) {
	msgs := s.emu.Messages(chatID)
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.FromBot || len(m.Message.Photo) == 0 {
			continue
		}
		s.keepPhotoAs(m.Message.Photo[len(m.Message.Photo)-1].FileID, ph)
		return
	}
}

// keepPhotoAs remembers the picture of a photo by its file_id, unless one is
// kept already; only the newest maxKeptPhotos are kept.
func (s *Server) keepPhotoAs(fileID string, ph storedPhoto) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.photos[fileID]; ok {
		return
	}
	s.photos[fileID] = ph
	s.photoOrder = append(s.photoOrder, fileID)
	if len(s.photoOrder) > maxKeptPhotos {
		delete(s.photos, s.photoOrder[0])
		s.photoOrder = s.photoOrder[1:]
	}
}

func (s *Server) hasPhoto(fileID string) bool {
	_, ok := s.photo(fileID)
	return ok
}

// photo is a picture to show: one the person sent, or one the bot
// uploaded (a usage chart), read from the emulator when it is a picture.
func (s *Server) photo(fileID string) (storedPhoto, bool) {
	s.mu.Lock()
	ph, ok := s.photos[fileID]
	s.mu.Unlock()
	if ok {
		return ph, true
	}
	data, ok := s.emu.FileBytes(fileID)
	if ctype := http.DetectContentType(data); ok && strings.HasPrefix(ctype, "image/") {
		return storedPhoto{contentType: ctype, data: data}, true
	}
	return storedPhoto{}, false
}

// file serves back a picture the person sent or the bot uploaded. Only
// pictures are ever served, with their sniffed type and nosniff, so an
// upload cannot become a page that runs script on the sandbox's origin.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	ph, ok := s.photo(r.PathValue("fileID"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ph.contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(ph.data))
}

// sendDocument is the person sending a file. The emulator has no user
// action for it, so the message is pushed as a raw update with the chat's
// next message id.
func (s *Server) sendDocument(u emulator.User, name string, size int64, caption string) error {
	last, ok := s.emu.LastMessage(u.ID)
	if !ok {
		return errors.New("start the chat first: the bot has no chat with this persona yet")
	}
	from := models.User{ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, LanguageCode: u.LanguageCode}
	n := time.Now().UnixNano()
	msg := models.Message{
		ID:   last.ID + 1,
		From: &from,
		Date: int(time.Now().Unix()),
		Chat: models.Chat{ID: u.ID, Type: models.ChatTypePrivate, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username},
		Document: &models.Document{
			FileID:       "BQACAgIAAxkBAAEsandbox" + strconv.FormatInt(n, 36),
			FileUniqueID: "AgADsandbox" + strconv.FormatInt(n, 36),
			FileName:     name,
			FileSize:     size,
		},
		Caption: caption,
	}
	body, err := json.Marshal(map[string]any{"message": msg})
	if err != nil {
		return fmt.Errorf("encode the document message: %w", err)
	}
	if _, err := s.emu.PushRaw(body); err != nil {
		return fmt.Errorf("send the document: %w", err)
	}
	return nil
}

type phoneView struct {
	Phone    string    `json:"phone"`
	Messages []smsView `json:"messages"`
}

type smsView struct {
	Text string `json:"text"`
	At   int64  `json:"at"` // Unix milliseconds
}

// listPhones is the "phone" panel: the SMS sent to each phone, the phone
// with the newest message first, its messages newest first, as a phone's
// inbox shows them: the code just asked for is at the top.
func (s *Server) listPhones(w http.ResponseWriter, r *http.Request) {
	byPhone := map[string]*phoneView{}
	var order []*phoneView
	for _, m := range s.phones.All() {
		pv := byPhone[m.To]
		if pv == nil {
			pv = &phoneView{Phone: m.To}
			byPhone[m.To] = pv
			order = append(order, pv)
		}
		pv.Messages = append(pv.Messages, smsView{Text: m.Text, At: m.At.UnixMilli()})
	}
	for _, pv := range order {
		slices.Reverse(pv.Messages) // All is oldest first
	}
	sort.SliceStable(order, func(i, j int) bool {
		return order[i].Messages[0].At > order[j].Messages[0].At
	})
	if order == nil {
		order = []*phoneView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"phones": order})
}
