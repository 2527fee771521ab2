package sandbox

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

// eventView is one Server-Sent Event for the page. It says what changed,
// not the new content: the page then reads the chat or the phones again, so
// one code path draws everything.
type eventView struct {
	// Kind is "chat" (the chat changed: read it again), "typing", "toast"
	// (the bot answered a button press), "error" (a request was rejected),
	// "sms", "commands" (the commands menu changed) or "reload" (events were
	// missed: read everything again).
	Kind   string `json:"kind"`
	Action string `json:"action,omitempty"` // typing: "typing", "upload_photo" ...
	Text   string `json:"text,omitempty"`   // toast: the answer's text
	Alert  bool   `json:"alert,omitempty"`  // toast: shown as an alert the person must close
}

// heartbeat keeps proxies and browsers from closing a quiet stream.
const heartbeat = 20 * time.Second

// events streams what happens in one chat (?chat=<id>): a persona's, or the
// operators' group (its chat_id from /api/support), plus what concerns
// every page: rejected requests, SMS, the commands menu.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	chatID, _ := strconv.ParseInt(r.URL.Query().Get("chat"), 10, 64)
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this server")
		return
	}
	emuEvents, stopEmu := s.emu.Subscribe()
	defer stopEmu()
	smsEvents, stopSMS := s.phones.Subscribe()
	defer stopSMS()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("retry: 1000\n\n"))
	flusher.Flush()

	send := func(ev eventView) bool {
		data, _ := json.Marshal(ev) // a flat struct of strings and a bool always marshals
		if _, err := w.Write([]byte("data: " + string(data) + "\n\n")); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			flusher.Flush()
		case _, ok := <-smsEvents:
			if !ok {
				return
			}
			if !send(eventView{Kind: "sms"}) {
				return
			}
		case ev, ok := <-emuEvents:
			if !ok {
				return // the emulator is closing
			}
			out, relevant := s.translate(ev, chatID)
			if relevant && !send(out) {
				return
			}
		}
	}
}

// translate turns an emulator event into the page's, or reports that the
// page does not care (events of other chats, the bot's polling).
func (s *Server) translate(ev emulator.Event, chatID int64) (eventView, bool) {
	switch ev.Kind {
	case emulator.EventMessage, emulator.EventEdit, emulator.EventDelete, emulator.EventBlock, emulator.EventReaction:
		return eventView{Kind: "chat"}, ev.ChatID == chatID
	case emulator.EventChatAction:
		return eventView{Kind: "typing", Action: ev.Detail}, ev.ChatID == chatID
	case emulator.EventCallbackAnswer:
		if ev.ChatID != chatID {
			return eventView{}, false
		}
		out := eventView{Kind: "toast", Text: ev.Detail}
		if q, ok := s.emu.CallbackQueryFor(ev.UpdateID); ok {
			out.Alert = q.Answer.ShowAlert
		}
		return out, out.Text != ""
	case emulator.EventError:
		return eventView{Kind: "error"}, true
	case emulator.EventCall:
		if ev.Method == "setMyCommands" || ev.Method == "deleteMyCommands" {
			return eventView{Kind: "commands"}, true
		}
	case emulator.EventOverflow:
		return eventView{Kind: "reload"}, true
	}
	return eventView{}, false
}
