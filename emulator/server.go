// Package emulator is an in-process Telegram Bot API: an HTTP server that
// answers a bot's requests the way api.telegram.org does, with the real error
// shapes, and plays the people on the other side of the chats. End-to-end tests
// run the whole bot against it, and the sandbox page shows its chats to a
// person.
//
// It is stricter than Telegram where strictness finds bugs: it rejects
// parameters a method does not have (Telegram ignores them silently) and a
// bare "&" in HTML text. Everything else aims to be what Telegram does, so
// that a bot that works here works in production.
package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot/models"
)

// Options configure a Server; the zero value gives a working bot.
type Options struct {
	// Token is the bot token requests must carry. Empty: "<BotUser.ID>:emulator-token".
	Token string
	// BotUser is the bot as getMe describes it. Empty fields get defaults
	// (id 7000000001, first name "Kabinet", username "kabinet_test_bot").
	BotUser User

	// RetryInitial is the wait before the first redelivery of a webhook update
	// that failed (default 50ms); it doubles on each failure up to RetryMax
	// (default 2s). Telegram waits longer; tests should not.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// UpdateTTL is how long an undelivered update is kept (default 24h, as
	// Telegram does).
	UpdateTTL time.Duration
	// WebhookTimeout bounds one webhook POST (default 10s).
	WebhookTimeout time.Duration

	// Clock gives the time for message dates, update age and rate limits
	// (default time.Now). A test sets it to move time without sleeping.
	Clock func() time.Time

	// RateLimits, when set, enforces Telegram's flood limits from the start
	// (see EnableRateLimits). Nil: no limits, the default.
	RateLimits *RateLimits

	// Latency is the network round trip of every Bot API request
	// (latency.go): half of it before the emulator sees the request, half
	// before the bot gets the answer. Zero, the default, answers at once.
	// Webhook deliveries are not delayed.
	Latency time.Duration
	// OnCall, when set, hears of every request as it is answered, in the
	// order Calls lists them, so that a load test can time the replies
	// without reading the whole call log again and again. It is called
	// with the Server's lock held: it must be quick and must not call the
	// Server.
	OnCall func(Call)
}

const (
	defaultBotID       = 7000000001
	defaultBotName     = "Kabinet"
	defaultBotUsername = "kabinet_test_bot"
	firstUpdateID      = 100000001
)

// Server is one emulated bot account with its chats. It is safe for
// concurrent use.
type Server struct {
	opts  Options
	token string
	bot   models.User
	now   func() time.Time

	httpServer *httptest.Server
	client     *http.Client // webhook deliveries

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the webhook dispatcher

	mu          sync.Mutex
	closed      bool
	changed     chan struct{} // closed and replaced on every change (Wait, long polling)
	subscribers map[int]*subscriber
	nextSubID   int

	nextUpdateID   int64
	queue          []*pendingUpdate // not yet confirmed or delivered, in update_id order
	updateStatus   map[int64]UpdateStatus
	allowedUpdates []string // as last set by getUpdates or setWebhook; empty: Telegram's default
	pollGen        int64    // the newest getUpdates request; older waiting ones get 409

	webhook       *webhookState
	webhookTarget func(registered string) string

	chats         map[int64]*chat
	files         map[string]fileInfo
	nextFileN     int
	nextAlbumN    int
	callbacks     []*callbackRecord
	callbackID    map[string]*callbackRecord
	nextCallbackN int
	commands      map[commandKey][]models.BotCommand
	botTexts      map[botTextKey]string // description and short description per language

	calls  []Call
	faults []*fault
	// chatFaults fail every call addressed to a chat (see FailChat).
	chatFaults map[int64]*apiError
	limits     *rateLimiter
}

// New starts an emulator on a local httptest server. Close it when done.
func New(opts Options) *Server {
	if opts.BotUser.ID == 0 {
		opts.BotUser.ID = defaultBotID
		if id, ok := tokenBotID(opts.Token); ok {
			opts.BotUser.ID = id
		}
	}
	if opts.BotUser.FirstName == "" {
		opts.BotUser.FirstName = defaultBotName
	}
	if opts.BotUser.Username == "" {
		opts.BotUser.Username = defaultBotUsername
	}
	if opts.Token == "" {
		opts.Token = strconv.FormatInt(opts.BotUser.ID, 10) + ":emulator-token"
	}
	if opts.RetryInitial <= 0 {
		opts.RetryInitial = 50 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 2 * time.Second
	}
	if opts.RetryMax < opts.RetryInitial {
		opts.RetryMax = opts.RetryInitial
	}
	if opts.UpdateTTL <= 0 {
		opts.UpdateTTL = 24 * time.Hour
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = 10 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:  opts,
		token: opts.Token,
		bot: models.User{
			ID:                      opts.BotUser.ID,
			IsBot:                   true,
			FirstName:               opts.BotUser.FirstName,
			LastName:                opts.BotUser.LastName,
			Username:                opts.BotUser.Username,
			CanJoinGroups:           true,
			CanReadAllGroupMessages: false,
			SupportInlineQueries:    false,
		},
		now:          opts.Clock,
		client:       &http.Client{Timeout: opts.WebhookTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 100}},
		ctx:          ctx,
		cancel:       cancel,
		kick:         make(chan struct{}, 1),
		changed:      make(chan struct{}),
		subscribers:  map[int]*subscriber{},
		nextUpdateID: firstUpdateID,
		updateStatus: map[int64]UpdateStatus{},
		chats:        map[int64]*chat{},
		files:        map[string]fileInfo{},
		callbackID:   map[string]*callbackRecord{},
		commands:     map[commandKey][]models.BotCommand{},
		botTexts:     map[botTextKey]string{},
	}
	if opts.RateLimits != nil {
		s.limits = newRateLimiter(*opts.RateLimits, s.now())
	}
	s.wg.Add(1)
	go s.dispatchLoop()
	s.httpServer = httptest.NewServer(s)
	return s
}

func tokenBotID(token string) (int64, bool) {
	head, _, ok := strings.Cut(token, ":")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(head, 10, 64)
	return id, err == nil && id > 0
}

// URL is the base URL to give the bot instead of https://api.telegram.org.
func (s *Server) URL() string { return s.httpServer.URL }

// Token is the token the bot must use.
func (s *Server) Token() string { return s.token }

// Bot is the bot's own user, as getMe returns it.
func (s *Server) Bot() models.User { return s.bot }

// Handler lets another server (the sandbox) serve the same emulator under its
// own address; requests are matched on their last two path segments,
// ".../bot<token>/<method>", so any mount prefix works.
func (s *Server) Handler() http.Handler { return s }

// Close stops webhook deliveries and long polls and shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.webhook != nil {
		s.webhook.cancel()
	}
	for id, sub := range s.subscribers {
		close(sub.ch)
		delete(s.subscribers, id)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()

	s.cancel()
	s.httpServer.Close()
	s.wg.Wait()
	s.client.CloseIdleConnections()
}

// ServeHTTP answers one Bot API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w = s.travel(w, r)
	started := s.now()
	token, methodName, ok := splitAPIPath(r.URL.Path)
	if !ok {
		s.finish(w, Call{Time: started, Method: methodName}, result{}, errNotFound)
		return
	}
	if token != s.token {
		s.finish(w, Call{Time: started, Method: methodName}, result{}, errUnauthorized)
		return
	}
	m := spec.method(methodName)
	if m == nil {
		s.finish(w, Call{Time: started, Method: methodName}, result{}, errNotFound)
		return
	}
	call := Call{Time: started, Method: m.Name}

	req, apiErr := readRequest(w, r)
	if apiErr != nil {
		s.finish(w, call, result{}, apiErr)
		return
	}
	call.Params = rawParams(req)
	if apiErr := s.takeFault(m.Name); apiErr != nil {
		s.finish(w, call, result{}, apiErr)
		return
	}
	p, apiErr := decodeParams(m, req)
	if apiErr != nil {
		s.finish(w, call, result{}, apiErr)
		return
	}
	call.Params = p.typed
	if apiErr := s.chatFault(p); apiErr != nil {
		s.finish(w, call, result{}, apiErr)
		return
	}

	res, apiErr := s.dispatch(r.Context(), m.Name, p)
	s.finish(w, call, res, apiErr)
}

// splitAPIPath reads ".../bot<token>/<method>".
func splitAPIPath(path string) (token, method string, ok bool) {
	parts := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(parts) < 2 {
		return "", "", false
	}
	method = parts[len(parts)-1]
	token, ok = strings.CutPrefix(parts[len(parts)-2], "bot")
	return token, method, ok && method != ""
}

func rawParams(req rawRequest) map[string]any {
	out := make(map[string]any, len(req.values)+len(req.files))
	for k, v := range req.values {
		out[k] = v
	}
	for k, f := range req.files {
		out[k] = f
	}
	return out
}

// result is a successful answer: the value of "result" and, for a few
// methods, Telegram's "description" ("Webhook was set").
type result struct {
	value       any
	description string
}

func (s *Server) dispatch(ctx context.Context, method string, p params) (result, *apiError) {
	switch method {
	case "getMe":
		return result{value: s.bot}, nil
	case "getUpdates":
		return s.getUpdates(ctx, p)
	case "setWebhook":
		return s.setWebhook(p)
	case "deleteWebhook":
		return s.deleteWebhook(p)
	case "getWebhookInfo":
		return s.getWebhookInfo()
	case "setMyCommands":
		return s.setMyCommands(p)
	case "getMyCommands":
		return s.getMyCommands(p)
	case "deleteMyCommands":
		return s.deleteMyCommands(p)
	case "setMyDescription":
		return s.setBotText(descriptionText, p)
	case "getMyDescription":
		return s.getMyDescription(p)
	case "setMyShortDescription":
		return s.setBotText(shortDescriptionText, p)
	case "getMyShortDescription":
		return s.getMyShortDescription(p)
	case "sendMessage":
		return s.sendMessage(p)
	case "editMessageText":
		return s.editMessageText(p)
	case "editMessageCaption":
		return s.editMessageCaption(p)
	case "editMessageReplyMarkup":
		return s.editMessageReplyMarkup(p)
	case "deleteMessage":
		return s.deleteMessage(p)
	case "answerCallbackQuery":
		return s.answerCallbackQuery(p)
	case "sendChatAction":
		return s.sendChatAction(p)
	case "sendLocation", "sendVenue", "sendContact":
		return s.sendPlace(method, p)
	case "sendPhoto", "sendDocument", "sendVoice", "sendVideo", "sendAudio", "sendAnimation":
		return s.sendFile(method, p)
	case "copyMessage":
		return s.copyMessage(p)
	case "copyMessages":
		return s.copyMessages(p)
	case "forwardMessage":
		return s.forwardMessage(p)
	case "setMessageReaction":
		return s.setMessageReaction(p)
	case "sendMediaGroup":
		return s.sendMediaGroup(p)
	case "createForumTopic":
		return s.createForumTopic(p)
	case "editForumTopic":
		return s.editForumTopic(p)
	case "closeForumTopic":
		return s.setTopicClosed(method, true, p)
	case "reopenForumTopic":
		return s.setTopicClosed(method, false, p)
	case "deleteForumTopic":
		return s.deleteForumTopic(p)
	case "getChat":
		return s.getChat(p)
	case "getChatMember":
		return s.getChatMember(p)
	case "getChatAdministrators":
		return s.getChatAdministrators(p)
	}
	return result{}, badRequest("method not implemented by the emulator")
}

// finish writes the answer and records the call.
func (s *Server) finish(w http.ResponseWriter, call Call, res result, apiErr *apiError) {
	var body []byte
	if apiErr != nil {
		call.ErrorCode, call.Description, call.RetryAfter, call.Limit = apiErr.code, apiErr.description, apiErr.retryAfter, apiErr.limit
		body = errorBody(apiErr)
	} else {
		call.OK = true
		value, err := json.Marshal(res.value)
		if err != nil {
			apiErr = &apiError{code: http.StatusInternalServerError, description: "Internal Server Error: " + err.Error()}
			call.OK, call.ErrorCode, call.Description = false, apiErr.code, apiErr.description
			body = errorBody(apiErr)
		} else {
			call.Result = value
			body = okBody(value, res.description)
		}
	}

	s.mu.Lock()
	s.calls = append(s.calls, call)
	if s.opts.OnCall != nil {
		s.opts.OnCall(call)
	}
	ev := Event{Kind: EventCall, Method: call.Method}
	if !call.OK {
		ev = Event{Kind: EventError, Method: call.Method, Detail: call.Description}
	}
	s.notifyLocked(ev)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if apiErr != nil {
		w.WriteHeader(apiErr.code)
	}
	_, _ = w.Write(body)
}

func okBody(value json.RawMessage, description string) []byte {
	body := struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		Description string          `json:"description,omitempty"`
	}{true, value, description}
	data, _ := json.Marshal(body)
	return data
}

func errorBody(e *apiError) []byte {
	type parameters struct {
		RetryAfter int `json:"retry_after,omitempty"`
	}
	body := struct {
		OK          bool        `json:"ok"`
		ErrorCode   int         `json:"error_code"`
		Description string      `json:"description"`
		Parameters  *parameters `json:"parameters,omitempty"`
	}{OK: false, ErrorCode: e.code, Description: e.description}
	if e.retryAfter > 0 {
		body.Parameters = &parameters{RetryAfter: e.retryAfter}
	}
	data, _ := json.Marshal(body)
	return data
}

// Call is one request the bot made, as the emulator understood it.
type Call struct {
	Time   time.Time
	Method string // as the Bot API spells it ("sendMessage"), or as requested when unknown
	// Params are the parameters read by their Bot API types: int64, float64,
	// bool, string, *Upload, or decoded JSON (map[string]any, []any, numbers as
	// int64 when whole). A request rejected before that has the raw strings.
	Params map[string]any
	OK     bool
	// Result is the JSON of "result" when OK.
	Result json.RawMessage
	// ErrorCode, Description and RetryAfter are the error answer when not OK.
	ErrorCode   int
	Description string
	RetryAfter  int
	// Limit names the flood limit that answered 429 (LimitChat, LimitGroup,
	// LimitGlobal, LimitPaidBroadcast); empty for every other answer,
	// including a 429 planned with FailNext.
	Limit string
}

// Calls lists every request so far, in the order they were answered.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo lists the requests to one method.
func (s *Server) CallsTo(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if strings.EqualFold(c.Method, method) {
			out = append(out, c)
		}
	}
	return out
}

// Errors lists the requests that were answered with an error; a test of a
// healthy conversation expects none, and the sandbox shows them in red.
func (s *Server) Errors() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// EventKind says what changed.
type EventKind string

// The kinds of Event.
const (
	EventCall           EventKind = "call"            // the bot made a request that succeeded (Method)
	EventError          EventKind = "error"           // a request was rejected (Method, Detail: the description)
	EventMessage        EventKind = "message"         // a message appeared in a chat, from either side (ChatID, MessageID)
	EventEdit           EventKind = "edit"            // a message was edited (ChatID, MessageID)
	EventDelete         EventKind = "delete"          // a message was deleted (ChatID, MessageID)
	EventReaction       EventKind = "reaction"        // the bot set its reactions on a message (ChatID, MessageID, Detail: the emoji)
	EventChatAction     EventKind = "chat_action"     // the bot sent a chat action (ChatID, Detail: "typing"...)
	EventCallbackQuery  EventKind = "callback_query"  // a person pressed an inline button (ChatID, MessageID, UpdateID)
	EventCallbackAnswer EventKind = "callback_answer" // the bot answered a button press (UpdateID, Detail: the text)
	EventBlock          EventKind = "block"           // a person blocked or unblocked the bot (ChatID, Detail: "blocked"/"unblocked")
	EventUpdate         EventKind = "update"          // an update was queued for the bot (UpdateID, ChatID)
	EventUpdateDone     EventKind = "update_done"     // the bot confirmed an update (offset) or took it (webhook 2xx) (UpdateID)
	EventUpdateDropped  EventKind = "update_dropped"  // an update was given up: too old, or dropped by drop_pending_updates (UpdateID)
	EventWebhookError   EventKind = "webhook_error"   // a webhook delivery failed and will be retried (UpdateID, Detail)
	EventOverflow       EventKind = "overflow"        // the subscriber was too slow and missed events: read the state again
)

// Event tells a subscriber that something changed.
type Event struct {
	Kind      EventKind
	Time      time.Time
	ChatID    int64
	MessageID int
	UpdateID  int64
	Method    string
	Detail    string
}

// subscriberBuffer is how many events a subscriber may lag behind before it
// gets EventOverflow instead.
const subscriberBuffer = 1024

type subscriber struct {
	ch       chan Event
	overflow bool
}

// Subscribe returns a channel of events (for the sandbox to push to a
// browser) and a function that ends the subscription. Events are never
// waited for: a subscriber that lags more than 1024 events behind misses
// some and then receives EventOverflow. The channel is closed by cancel or
// Close.
func (s *Server) Subscribe() (<-chan Event, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &subscriber{ch: make(chan Event, subscriberBuffer)}
	if s.closed {
		close(sub.ch)
		return sub.ch, func() {}
	}
	id := s.nextSubID
	s.nextSubID++
	s.subscribers[id] = sub
	return sub.ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subscribers[id]; ok {
			delete(s.subscribers, id)
			close(sub.ch)
		}
	}
}

// notifyLocked tells subscribers and waiters that the state changed. The
// caller holds s.mu.
func (s *Server) notifyLocked(ev Event) {
	if s.closed {
		return
	}
	ev.Time = s.now()
	for _, sub := range s.subscribers {
		if sub.overflow {
			select {
			case sub.ch <- Event{Kind: EventOverflow, Time: ev.Time}:
				sub.overflow = false
			default:
				continue
			}
		}
		select {
		case sub.ch <- ev:
		default:
			sub.overflow = true
		}
	}
	s.wakeLocked()
}

// Wait returns when cond is true, checking it after every change, or the
// context's error when it ends first. cond may call the Server's methods.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("emulator: wait: %w", ctx.Err())
		}
	}
}

// sortedChatIDs lists chats in a stable order.
func (s *Server) sortedChatIDs() []int64 {
	ids := make([]int64, 0, len(s.chats))
	for id := range s.chats {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
