// Package sandbox is a web page that looks and behaves like a Telegram chat
// with the bot, over the in-process Bot API emulator. It lets a provider's
// engineer, a product owner or a developer try the whole bot in a browser
// without a Telegram token: the bot runs exactly as in production and talks
// to the emulator, and the page shows the emulator's chats.
//
// The page holds no logic of the bot. It only shows what the emulator holds
// (messages, keyboards, the commands menu, rejected requests) and turns a
// person's clicks into the emulator's user actions (SendText, PressButton,
// SendContact ...). With a support desk it also shows the operators' forum
// group, where the person answers requests as an operator (PostText,
// PressButtonIn ...). Texts reach the page as Telegram's parsed text plus
// entities, never as HTML, so nothing the bot sends is injected as markup.
package sandbox

import (
	"context"
	"crypto/rand"
	"embed"
	"io/fs"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/sms"
)

//go:embed web
var webFiles embed.FS

// Persona is someone the person at the page can be: a Telegram user with a
// language and a phone of their own (what "share my phone number" sends).
type Persona struct {
	// User is the Telegram user. User.PhoneNumber is in the form Telegram
	// shares it, digits without "+" ("79000000001").
	User emulator.User
	// Note says what the persona is for ("new user"). The page shows it
	// when Options.Linked is nil; otherwise it shows what is linked.
	Note string
}

// PhoneLog is where the SMS messages of the demo phones are kept; the page's
// "phone" panel shows them so that a code can be read and typed.
// *sms.Memory implements it. Declared here because only the page needs it.
type PhoneLog interface {
	All() []sms.Message
	Subscribe() (<-chan sms.Message, func())
}

// Options are what a Server needs.
type Options struct {
	// Emulator is the Bot API the bot talks to.
	Emulator *emulator.Server
	// Phones are the SMS messages sent to subscribers' phones.
	Phones PhoneLog
	// Personas are offered at the start, in this order.
	Personas []Persona
	// FreshPhones are given in turn to the personas added from the page, so
	// that their "share my phone number" finds a demo subscriber.
	FreshPhones []string
	// NewUserID makes Telegram user ids for added personas and for the
	// "someone else" of a shared contact. Default: random.
	NewUserID func() int64
	// Linked, when set, is the numbers of the accounts a Telegram user has
	// linked, as the bot's database holds them: the persona list says who
	// has linked what.
	Linked func(ctx context.Context, userID int64) ([]string, error)
	// TimeZone is the provider's, the one the bot writes its times in; the
	// page writes the times of messages and SMS in it too. Default: the
	// browser's own.
	TimeZone *time.Location
	// Support, when set, is the operators' forum group the page shows next
	// to the subscriber's chat, where the person answers as an operator.
	Support *SupportDesk
}

// Server is the page and its JSON + Server-Sent-Events API. It is an
// http.Handler; mount it at the root of its own server.
type Server struct {
	emu       *emulator.Server
	phones    PhoneLog
	newUserID func() int64
	linked    func(ctx context.Context, userID int64) ([]string, error)
	timeZone  string // IANA name, "" for the browser's own
	mux       *http.ServeMux

	mu          sync.Mutex
	personas    []*Persona
	byID        map[int64]*Persona
	freshPhones []string
	added       int
	photos      map[string]storedPhoto // file_id -> what the person uploaded, to show it back
	photoOrder  []string
	// arrived is when each message appeared, to the nanosecond: a message's
	// date has whole seconds only, too coarse to place a rejected request
	// between the messages around it.
	arrived map[messageKey]time.Time

	desk      *SupportDesk            // nil: no operators' view
	operators map[int64]emulator.User // the desk's operators by user id
	seen      map[int]int             // the operators' view: topic -> the newest message read
}

type messageKey struct {
	chatID    int64
	messageID int
}

// New returns the page over an emulator and a phone log.
func New(o Options) *Server {
	s := &Server{
		emu:         o.Emulator,
		phones:      o.Phones,
		newUserID:   o.NewUserID,
		linked:      o.Linked,
		timeZone:    zoneName(o.TimeZone),
		byID:        map[int64]*Persona{},
		freshPhones: o.FreshPhones,
		photos:      map[string]storedPhoto{},
		arrived:     map[messageKey]time.Time{},
		operators:   map[int64]emulator.User{},
		seen:        map[int]int{},
	}
	if o.Support != nil {
		desk := *o.Support
		desk.Operators = slices.Clone(desk.Operators)
		s.desk = &desk
		for _, op := range desk.Operators {
			s.operators[op.ID] = op
		}
	}
	if s.newUserID == nil {
		s.newUserID = RandomUserID
	}
	for _, p := range o.Personas {
		s.addPersona(p)
	}
	// The watch ends when the emulator closes the channel.
	events, _ := s.emu.Subscribe()
	go s.watch(events)

	static, _ := fs.Sub(webFiles, "web") // the embedded tree always has it
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /", withHeaders(http.FileServerFS(static)))
	s.mux.HandleFunc("GET /api/personas", s.listPersonas)
	s.mux.HandleFunc("POST /api/personas", s.createPersona)
	s.mux.HandleFunc("GET /api/chats/{id}", s.chat)
	s.mux.HandleFunc("POST /api/chats/{id}/text", action(s, s.sendText))
	s.mux.HandleFunc("POST /api/chats/{id}/edit", action(s, s.editText))
	s.mux.HandleFunc("POST /api/chats/{id}/button", action(s, s.pressButton))
	s.mux.HandleFunc("POST /api/chats/{id}/key", action(s, s.pressKey))
	s.mux.HandleFunc("POST /api/chats/{id}/location", action(s, s.sendLocation))
	s.mux.HandleFunc("POST /api/chats/{id}/contact", action(s, s.sendContact))
	s.mux.HandleFunc("POST /api/chats/{id}/file", s.sendFile)
	s.mux.HandleFunc("POST /api/chats/{id}/sticker", s.sendSticker)
	s.mux.HandleFunc("GET /api/phones", s.listPhones)
	s.mux.HandleFunc("GET /api/files/{fileID}", s.file)
	s.mux.HandleFunc("GET /api/events", s.events)
	s.mux.HandleFunc("GET /api/support", s.supportGroup)
	s.mux.HandleFunc("GET /api/support/topics/{thread}", s.supportTopic)
	s.mux.HandleFunc("POST /api/support/topics/{thread}/read", s.markRead)
	s.mux.HandleFunc("POST /api/support/topics/{thread}/text", s.postText)
	s.mux.HandleFunc("POST /api/support/topics/{thread}/file", s.postFile)
	s.mux.HandleFunc("POST /api/support/edit", s.editPost)
	s.mux.HandleFunc("POST /api/support/button", s.pressCardButton)
	return s
}

// zoneName is the IANA name of loc for the page's Intl.DateTimeFormat, or ""
// (the browser's own zone) when it has none: time.Local is named "Local",
// and the browser, usually on the same machine, is there anyway.
func zoneName(loc *time.Location) string {
	if loc == nil || loc == time.Local || loc.String() == "Local" {
		return ""
	}
	return loc.String()
}

// ServeHTTP serves the page and its API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// withHeaders adds the page's security headers: the page runs only its own
// script and style, so even a text that slipped through as markup could not
// run code.
func withHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy",
			"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// watch notes when each message appears.
func (s *Server) watch(events <-chan emulator.Event) {
	for ev := range events {
		if ev.Kind == emulator.EventMessage {
			s.mu.Lock()
			s.arrived[messageKey{ev.ChatID, ev.MessageID}] = ev.Time
			s.mu.Unlock()
		}
	}
}

// awaitArrivals gives the watch a moment to note the messages of the last
// two seconds it has not seen yet: the page reads a chat as soon as an event
// tells it to, which may be before the watch got the same event.
func (s *Server) awaitArrivals(chatID int64, msgs []emulator.ChatMessage) {
	recent := time.Now().Add(-2 * time.Second)
	for try := 0; try < 10; try++ {
		missing := false
		s.mu.Lock()
		for _, m := range msgs {
			if _, ok := s.arrived[messageKey{chatID, m.ID}]; !ok && m.Date.After(recent) {
				missing = true
				break
			}
		}
		s.mu.Unlock()
		if !missing {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// arrivedAt is when a message appeared, in Unix nanoseconds. When the watch
// missed it, the end of the second of its date is the best guess.
func (s *Server) arrivedAt(chatID int64, m emulator.ChatMessage) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.arrived[messageKey{chatID, m.ID}]; ok {
		return t.UnixNano()
	}
	return m.Date.Add(time.Second - 1).UnixNano()
}

// RandomUserID is a Telegram-like user id that will not collide with another
// sandbox's users in a shared database.
func RandomUserID() int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<40))
	if err != nil {
		panic("sandbox: crypto/rand failed: " + err.Error()) // never happens on a working OS
	}
	return n.Int64() + 100_000_000
}

func (s *Server) addPersona(p Persona) *Persona {
	s.mu.Lock()
	defer s.mu.Unlock()
	pp := &p
	s.personas = append(s.personas, pp)
	s.byID[p.User.ID] = pp
	return pp
}

// persona finds the persona named by the {id} of the path.
func (s *Server) persona(r *http.Request) (*Persona, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	return p, ok
}

// Names for the personas added from the page, per language.
var freshNames = map[string][]string{
	"ru": {"Мария", "Иван", "Ольга", "Дмитрий", "Елена", "Павел", "Наталья", "Андрей"},
	"en": {"Emma", "Oliver", "Sophie", "James", "Lucy", "Henry"},
}

// newPersona makes a fresh Telegram user speaking lang, with the next of
// the fresh phones.
func (s *Server) newPersona(lang string) *Persona {
	s.mu.Lock()
	n := s.added
	s.added++
	phone := ""
	if len(s.freshPhones) > 0 {
		phone = s.freshPhones[n%len(s.freshPhones)]
	}
	s.mu.Unlock()

	names := freshNames[lang]
	if names == nil {
		names = freshNames["en"]
	}
	id := s.newUserID()
	return s.addPersona(Persona{
		User: emulator.User{
			ID:           id,
			FirstName:    names[n%len(names)],
			Username:     "sandbox_" + strconv.FormatInt(id, 10),
			LanguageCode: lang,
			PhoneNumber:  phone,
		},
		Note: "new user",
	})
}
