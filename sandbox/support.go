package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/emulator"
)

// SupportDesk is the operators' side of support: a forum supergroup of the
// emulator, where the bot opens a topic for each request, and the operators
// in it, whom the person at the page can be. The sandbox does not create
// the group: whoever runs the bot does (emulator.AddGroup, AddMember) and
// names it in the bot's SUPPORT_CHAT_IDS.
type SupportDesk struct {
	// ChatID is the group's chat id (negative: -100...).
	ChatID int64
	// Title is the group's name, as its header shows it.
	Title string
	// Operators are the group's members the person may answer as, in the
	// order the page offers them.
	Operators []emulator.User
}

// The JSON of the operators' view. As in the chat, every text is plain text
// with Telegram's entities.

type supportView struct {
	Enabled   bool           `json:"enabled"`
	ChatID    string         `json:"chat_id,omitempty"` // for /api/events?chat=
	Title     string         `json:"title,omitempty"`
	Operators []operatorView `json:"operators"`
	Topics    []topicView    `json:"topics"`
	// Errors are the rejected requests about the group that no topic can
	// show (a topic the bot could not create, say).
	Errors []systemView `json:"errors"`
}

type operatorView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username,omitempty"`
}

// topicView is a line of the topic list.
type topicView struct {
	Thread int    `json:"thread"` // 0: the General topic
	Name   string `json:"name"`
	Color  int    `json:"color,omitempty"`
	Closed bool   `json:"closed,omitempty"`
	// Unread counts the messages the operators have not read: the bot's
	// and anyone's but the demo operators', newer than the newest one read.
	Unread int `json:"unread"`
	// LastID is the newest message's id; the list is sorted by it, newest
	// first, as Telegram sorts topics by their last message.
	LastID   int    `json:"last_id"`
	LastDate int64  `json:"last_date"` // Unix seconds
	LastFrom string `json:"last_from,omitempty"`
	Last     string `json:"last,omitempty"` // the newest message in a line: its text, or "Photo", "File"
}

type topicDetailView struct {
	topicView
	Items []itemView `json:"items"`
}

// generalName is what the General topic is called; the bot never writes
// there, so the list shows it only when something is in it.
const generalName = "General"

// deskOr404 answers 404 when the sandbox has no operators' view.
func (s *Server) deskOr404(w http.ResponseWriter) (*SupportDesk, bool) {
	if s.desk == nil {
		writeError(w, http.StatusNotFound, "the sandbox has no support group")
	}
	return s.desk, s.desk != nil
}

// supportGroup is the operators' group: who may answer, and the topics,
// newest first.
func (s *Server) supportGroup(w http.ResponseWriter, r *http.Request) {
	if s.desk == nil {
		writeJSON(w, http.StatusOK, supportView{Operators: []operatorView{}, Topics: []topicView{}, Errors: []systemView{}})
		return
	}
	d := s.desk
	v := supportView{
		Enabled:   true,
		ChatID:    strconv.FormatInt(d.ChatID, 10),
		Title:     d.Title,
		Operators: make([]operatorView, 0, len(d.Operators)),
		Topics:    []topicView{},
		Errors:    []systemView{},
	}
	for _, op := range d.Operators {
		v.Operators = append(v.Operators, viewOperator(op))
	}
	byThread := s.threads()
	for thread, msgs := range byThread {
		if thread == 0 && len(msgs) == 0 {
			continue
		}
		tv, ok := s.viewTopic(thread, msgs)
		if ok {
			v.Topics = append(v.Topics, tv)
		}
	}
	sort.Slice(v.Topics, func(i, j int) bool { return v.Topics[i].LastID > v.Topics[j].LastID })
	for _, line := range s.groupLines(byThread) {
		if line.thread == noThread {
			v.Errors = append(v.Errors, line.systemView)
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func viewOperator(u emulator.User) operatorView {
	return operatorView{
		ID:       strconv.FormatInt(u.ID, 10),
		Name:     strings.TrimSpace(u.FirstName + " " + u.LastName),
		Username: u.Username,
	}
}

// threads is the group's messages by topic (0: General), with an entry for
// every topic that exists, empty or not.
func (s *Server) threads() map[int][]emulator.ChatMessage {
	id := s.desk.ChatID
	out := map[int][]emulator.ChatMessage{0: nil}
	for _, t := range s.emu.Topics(id) {
		out[t.MessageThreadID] = nil
	}
	all := s.emu.Messages(id)
	s.awaitArrivals(id, all)
	for _, m := range all {
		thread := m.Message.MessageThreadID
		if _, ok := out[thread]; !ok {
			continue // a topic deleted meanwhile
		}
		out[thread] = append(out[thread], m)
	}
	return out
}

// viewTopic is a topic's line in the list; false when the topic is gone.
func (s *Server) viewTopic(thread int, msgs []emulator.ChatMessage) (topicView, bool) {
	v := topicView{Thread: thread, Name: generalName}
	if thread != 0 {
		st, ok := s.emu.Topic(s.desk.ChatID, thread)
		if !ok {
			return topicView{}, false
		}
		v.Name, v.Color, v.Closed = st.Name, st.IconColor, st.Closed
		v.LastID = thread // the "topic created" message, when nothing follows
	}
	s.mu.Lock()
	seen := s.seen[thread]
	s.mu.Unlock()
	for _, m := range msgs {
		if m.ID > seen && s.countsUnread(m) {
			v.Unread++
		}
	}
	if n := len(msgs); n > 0 {
		last := msgs[n-1]
		v.LastID, v.LastDate = last.ID, last.Date.Unix()
		v.LastFrom = s.senderName(last)
		v.Last = preview(last)
	}
	return v, true
}

// countsUnread tells whether a message makes its topic unread: anything but
// service messages and what the demo operators wrote, which is the person's own.
func (s *Server) countsUnread(m emulator.ChatMessage) bool {
	if service(m.Message) != "" {
		return false
	}
	if m.FromBot || m.Message.From == nil {
		return true
	}
	_, own := s.operators[m.Message.From.ID]
	return !own
}

// senderName is who wrote a message of the group, as the app shows it.
func (s *Server) senderName(m emulator.ChatMessage) string {
	if m.FromBot || m.Message.From == nil {
		return s.emu.Bot().FirstName
	}
	f := m.Message.From
	return strings.TrimSpace(f.FirstName + " " + f.LastName)
}

// preview is a message in one short line, as the topic list shows the last one.
func preview(m emulator.ChatMessage) string {
	if sv := service(m.Message); sv != "" {
		return sv
	}
	text := strings.Join(strings.Fields(m.Text), " ")
	if r := []rune(text); len(r) > 80 {
		text = string(r[:79]) + "…"
	}
	var kind string
	msg := m.Message
	switch {
	case len(msg.Photo) > 0:
		kind = "Photo"
	case msg.Document != nil:
		kind = "File"
	case msg.Voice != nil:
		kind = "Voice message"
	case msg.Video != nil:
		kind = "Video"
	case msg.Sticker != nil:
		kind = "Sticker"
	case msg.Location != nil || msg.Venue != nil:
		kind = "Location"
	case msg.Contact != nil:
		kind = "Contact"
	}
	switch {
	case kind != "" && text != "":
		return kind + ", " + text
	case kind != "":
		return kind
	}
	return text
}

// service says what a service message of a topic tells, "" for any other.
func service(m models.Message) string {
	switch {
	case m.ForumTopicCreated != nil:
		return "created the topic «" + m.ForumTopicCreated.Name + "»"
	case m.ForumTopicEdited != nil && m.ForumTopicEdited.Name != "":
		return "renamed the topic to «" + m.ForumTopicEdited.Name + "»"
	case m.ForumTopicEdited != nil:
		return "changed the topic's icon"
	case m.ForumTopicClosed != nil:
		return "closed the topic"
	case m.ForumTopicReopened != nil:
		return "reopened the topic"
	case m.PinnedMessage != nil:
		return "pinned a message"
	case len(m.NewChatMembers) > 0:
		return "joined the group"
	case m.LeftChatMember != nil:
		return "left the group"
	}
	return ""
}

// threadOr404 reads the {thread} of the path: a topic that exists, or 0 for
// General.
func (s *Server) threadOr404(w http.ResponseWriter, r *http.Request) (int, bool) {
	if _, ok := s.deskOr404(w); !ok {
		return 0, false
	}
	thread, err := strconv.Atoi(r.PathValue("thread"))
	if err != nil || thread < 0 {
		writeError(w, http.StatusNotFound, "no such topic")
		return 0, false
	}
	if thread != 0 {
		if _, ok := s.emu.Topic(s.desk.ChatID, thread); !ok {
			writeError(w, http.StatusNotFound, "no such topic: it may have been deleted")
			return 0, false
		}
	}
	return thread, true
}

// supportTopic is one topic as the page draws it: its messages with the
// rejected requests about it among them.
func (s *Server) supportTopic(w http.ResponseWriter, r *http.Request) {
	thread, ok := s.threadOr404(w, r)
	if !ok {
		return
	}
	byThread := s.threads()
	tv, ok := s.viewTopic(thread, byThread[thread])
	if !ok {
		writeError(w, http.StatusNotFound, "no such topic: it may have been deleted")
		return
	}
	var msgs []*messageView
	for _, m := range byThread[thread] {
		msgs = append(msgs, s.viewGroupMessage(m))
	}
	var lines []systemView
	for _, line := range s.groupLines(byThread) {
		if line.thread == thread {
			lines = append(lines, line.systemView)
		}
	}
	writeJSON(w, http.StatusOK, topicDetailView{topicView: tv, Items: merge(msgs, lines)})
}

// viewGroupMessage is viewMessage for a message of the operators' group:
// with who wrote it, and what a service message says.
func (s *Server) viewGroupMessage(m emulator.ChatMessage) *messageView {
	v := s.viewMessage(m, s.desk.ChatID)
	v.From = &senderView{Name: s.senderName(m)}
	if !m.FromBot && m.Message.From != nil {
		v.From.ID = strconv.FormatInt(m.Message.From.ID, 10)
	}
	v.Service = service(m.Message)
	return v
}

// noThread marks a rejected request about the group that names no topic.
const noThread = -1

type groupLine struct {
	systemView
	thread int
}

// groupLines are the rejected requests about the group, each with the topic
// it was about: the message_thread_id it named, or the topic of the message
// it named (a reaction, an edit); noThread when it named neither.
func (s *Server) groupLines(byThread map[int][]emulator.ChatMessage) []groupLine {
	id := s.desk.ChatID
	threadOf := map[int]int{}
	for thread, msgs := range byThread {
		for _, m := range msgs {
			threadOf[m.ID] = thread
		}
	}
	calls := s.emu.Errors()
	if len(calls) == 0 {
		return nil
	}
	pressChat := map[string]int64{}
	for _, q := range s.emu.CallbackQueries() {
		pressChat[q.ID] = q.ChatID
	}
	var out []groupLine
	for _, c := range calls {
		if callChat(c, pressChat) != id {
			continue
		}
		line := groupLine{systemView: viewCall(c), thread: noThread}
		if t, ok := intParam(c.Params["message_thread_id"]); ok && t > 0 {
			line.thread = int(t)
			if _, exists := byThread[line.thread]; !exists {
				line.thread = noThread // a deleted topic: shown with the list
			}
		} else if mid, ok := intParam(c.Params["message_id"]); ok {
			if t, found := threadOf[int(mid)]; found {
				line.thread = t
			}
		}
		out = append(out, line)
	}
	return out
}

// intParam reads a request's number parameter, typed or still a string.
func intParam(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

type readRequest struct {
	MessageID int `json:"message_id"`
}

// markRead is the person having read a topic up to a message.
func (s *Server) markRead(w http.ResponseWriter, r *http.Request) {
	thread, ok := s.threadOr404(w, r)
	if !ok {
		return
	}
	var req readRequest
	if !readJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	s.seen[thread] = max(s.seen[thread], req.MessageID)
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
}

// operator finds the demo operator a request names by id.
func (s *Server) operator(id string) (emulator.User, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	op, ok := s.operators[n]
	if err != nil || !ok {
		return emulator.User{}, badAction("pick one of the group's operators")
	}
	return op, nil
}

// answer writes what an operator's action came to: 202, or the error.
func answer(w http.ResponseWriter, err error) {
	if err == nil {
		writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
		return
	}
	status := http.StatusInternalServerError
	var ae *actionError
	if errors.As(err, &ae) {
		status = ae.status
	}
	writeError(w, status, err.Error())
}

type postRequest struct {
	Operator string `json:"operator"`
	Text     string `json:"text"`
}

// postText is the person writing into a topic as an operator. A text over
// Telegram's limit goes as several messages, as on the subscriber's side.
func (s *Server) postText(w http.ResponseWriter, r *http.Request) {
	thread, ok := s.threadOr404(w, r)
	if !ok {
		return
	}
	var req postRequest
	if !readJSON(w, r, &req) {
		return
	}
	answer(w, func() error {
		op, err := s.operator(req.Operator)
		if err != nil {
			return err
		}
		text := strings.TrimSpace(req.Text)
		if text == "" {
			return badAction("the text is empty")
		}
		parts := splitText(text, maxTextLen)
		if len(parts) > maxTextParts {
			return &actionError{http.StatusRequestEntityTooLarge, tooLong}
		}
		for _, p := range parts {
			if _, err := s.emu.PostText(s.desk.ChatID, thread, op, p); err != nil {
				return conflict(err)
			}
		}
		return nil
	}())
}

// postFile is the person attaching a photo or a file to a topic as an
// operator: multipart with "operator", "file", "as" and an optional "caption".
func (s *Server) postFile(w http.ResponseWriter, r *http.Request) {
	thread, ok := s.threadOr404(w, r)
	if !ok {
		return
	}
	up, ok := readUpload(w, r)
	if !ok {
		return
	}
	op, err := s.operator(r.FormValue("operator"))
	if err != nil {
		answer(w, err)
		return
	}
	chat := s.desk.ChatID
	switch up.as {
	case "photo":
		sent, err := s.emu.PostPhoto(chat, thread, op, up.caption)
		if err != nil {
			answer(w, conflict(err))
			return
		}
		ctype := http.DetectContentType(up.data)
		if m, ok := s.emu.Message(chat, sent.MessageID); ok && isPicture(ctype) && len(m.Message.Photo) > 0 {
			s.keepPhotoAs(m.Message.Photo[len(m.Message.Photo)-1].FileID, storedPhoto{contentType: ctype, data: up.data})
		}
	case "document":
		if _, err := s.emu.PostDocument(chat, thread, op, up.name, up.caption); err != nil {
			answer(w, conflict(err))
			return
		}
	}
	answer(w, nil)
}

type editPostRequest struct {
	Operator  string `json:"operator"`
	MessageID int    `json:"message_id"`
	Text      string `json:"text"`
}

// editPost is the person editing, as an operator, a message that operator
// wrote in the group.
func (s *Server) editPost(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.deskOr404(w); !ok {
		return
	}
	var req editPostRequest
	if !readJSON(w, r, &req) {
		return
	}
	answer(w, func() error {
		op, err := s.operator(req.Operator)
		if err != nil {
			return err
		}
		text := strings.TrimSpace(req.Text)
		if text == "" {
			return badAction("the text is empty")
		}
		if n := utf16Len(text); n > maxTextLen {
			return badAction(fmt.Sprintf("Telegram allows at most %s characters in a message, and the edited text has %s. Shorten it.",
				thousands(maxTextLen), thousands(n)))
		}
		if _, err := s.emu.EditPost(s.desk.ChatID, op, req.MessageID, text); err != nil {
			return conflict(err)
		}
		return nil
	}())
}

type cardButtonRequest struct {
	Operator  string `json:"operator"`
	MessageID int    `json:"message_id"`
	Data      string `json:"data"`
}

// pressCardButton is the person pressing, as an operator, an inline button
// under a message of the group (the request card's Take, Solved, Close).
func (s *Server) pressCardButton(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.deskOr404(w); !ok {
		return
	}
	var req cardButtonRequest
	if !readJSON(w, r, &req) {
		return
	}
	answer(w, func() error {
		op, err := s.operator(req.Operator)
		if err != nil {
			return err
		}
		if req.Data == "" {
			return badAction("the button has no callback data")
		}
		if _, err := s.emu.PressButtonIn(s.desk.ChatID, op, req.MessageID, req.Data); err != nil {
			return conflict(err)
		}
		return nil
	}())
}
