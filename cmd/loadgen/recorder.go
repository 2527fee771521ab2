package main

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

// What a subscriber does, and how the reply to each is recognised.
type kind int

const (
	kindStart   kind = iota // "/start": a greeting, then the menu
	kindBalance             // "/balance": the balance screen as a new message
	kindRefresh             // "Обновить" under the balance: the screen edited in place
	kindPay                 // "Оплатить" under the balance: the pay screen in its place
	kindOffices             // "/offices": the offices of the subscriber's city
	kindText                // free text the bot does not understand: a hint, then the menu
	kinds
)

var kindNames = [kinds]string{"/start", "balance", "refresh", "pay screen", "offices", "free text"}

// mix is how often each kind comes, in percent: mostly the balance and its
// refresh, as in a personal account's real traffic.
var mix = [kinds]int{kindStart: 10, kindBalance: 25, kindRefresh: 25, kindPay: 15, kindOffices: 10, kindText: 15}

// freeText is what a subscriber types that is neither a command nor a
// question about contacts.
const freeText = "спасибо, всё понятно"

func (k kind) callback() bool { return k == kindRefresh || k == kindPay }

// update is one update played to the bot.
type update struct {
	chat *chatState
	kind kind
	sig  string // the first reply's signature (message kinds)
	cbID string // the callback query's id (button kinds)
	sent time.Time
}

// chatState is one subscriber's chat.
type chatState struct {
	user emulator.User
	// sigs are the signatures of each message kind's first reply in this
	// chat, learned before the measurement.
	sigs [kinds]string
	// balanceMsg is the bot's balance message, whose buttons are pressed;
	// refreshData and payData are those buttons' data.
	balanceMsg           int
	refreshData, payData string
	pending              []*update // sent, not answered yet, in the order sent
	learned              []emulator.Call
	learning             bool // before the measurement: learn files its sendMessage calls
}

// recorder watches every Bot API call (emulator.Options.OnCall) and pairs
// each update with its first reply: a button press with the
// answerCallbackQuery of its query id, a message with the first
// sendMessage to its chat that looks like that kind's reply (its
// signature). A reply that comes while an earlier update of the same chat
// is still unanswered is a reordering. Replies that match no update (the
// menu after a greeting, a screen edited in place) are passed over.
type recorder struct {
	mu         sync.Mutex
	chats      map[int64]*chatState
	byCallback map[string]*update
	// orphans are callback answers heard before the press was registered.
	orphans map[string]time.Time

	measuring bool
	total     int
	answered  int
	latencies []time.Duration
	first     time.Time // the first update sent
	last      time.Time // the last reply
	refused   int
	refusals  map[string]int // refused calls by method and description
	reorders  int
	allDone   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{chats: map[int64]*chatState{}, byCallback: map[string]*update{}, orphans: map[string]time.Time{}, refusals: map[string]int{}}
}

// benign are error answers that are part of a healthy conversation: a
// refresh with nothing new is answered so by Telegram.
func benign(c emulator.Call) bool {
	return strings.Contains(c.Description, "message is not modified") ||
		strings.Contains(c.Description, "terminated by other getUpdates")
}

// observe is the emulator's OnCall: called under the emulator's lock, so it
// only files the call.
func (r *recorder) observe(c emulator.Call) {
	if c.Method == "getUpdates" && c.OK {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !c.OK {
		if r.measuring && !benign(c) {
			r.refused++
			r.refusals[c.Method+": "+c.Description]++
		}
		return
	}
	switch c.Method {
	case "answerCallbackQuery":
		id, _ := c.Params["callback_query_id"].(string)
		if u := r.byCallback[id]; u != nil {
			r.answerLocked(u, c.Time)
		} else if r.measuring {
			r.orphans[id] = c.Time
		}
	case "sendMessage":
		chatID, _ := c.Params["chat_id"].(int64)
		ch := r.chats[chatID]
		if ch == nil {
			return
		}
		if ch.learning {
			ch.learned = append(ch.learned, c)
			return
		}
		s := signature(c)
		for _, u := range ch.pending {
			if !u.kind.callback() && u.sig == s {
				r.answerLocked(u, c.Time)
				return
			}
		}
	}
}

// answerLocked records u's first reply at t.
func (r *recorder) answerLocked(u *update, t time.Time) {
	ch := u.chat
	i := slices.Index(ch.pending, u)
	if i < 0 {
		return // answered already
	}
	if i > 0 {
		r.reorders++
	}
	ch.pending = slices.Delete(ch.pending, i, i+1)
	if u.cbID != "" {
		delete(r.byCallback, u.cbID)
	}
	if !r.measuring {
		return
	}
	r.answered++
	r.latencies = append(r.latencies, t.Sub(u.sent))
	if t.After(r.last) {
		r.last = t
	}
	if r.answered == r.total && r.allDone != nil {
		close(r.allDone)
		r.allDone = nil
	}
}

// startMeasuring begins counting: total updates will be played.
func (r *recorder) startMeasuring(total int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.measuring, r.total = true, total
	r.answered, r.refused, r.reorders, r.latencies = 0, 0, 0, make([]time.Duration, 0, total)
	done := make(chan struct{})
	r.allDone = done
	if total == 0 {
		close(done)
		r.allDone = nil
	}
	return done
}

// sending registers an update about to be sent.
func (r *recorder) sending(ch *chatState, k kind) *update {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := &update{chat: ch, kind: k, sig: ch.sigs[k], sent: time.Now()}
	if r.first.IsZero() {
		r.first = u.sent
	}
	ch.pending = append(ch.pending, u)
	return u
}

// pressed gives a button update its callback query id, once known.
func (r *recorder) pressed(u *update, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u.cbID = id
	if t, ok := r.orphans[id]; ok {
		delete(r.orphans, id)
		r.answerLocked(u, t)
		return
	}
	r.byCallback[id] = u
}

// signature is what a reply looks like, whichever update it answers: the
// method and the first line of its text with the digits taken out (a time,
// a sum), so that the balance screen is told from the menu and the pay
// screen.
func signature(c emulator.Call) string {
	text, _ := c.Params["text"].(string)
	line, _, _ := strings.Cut(text, "\n")
	return c.Method + "|" + strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, line)
}

// messageID is the message_id of a send's result.
func messageID(c emulator.Call) int {
	var m struct {
		ID int `json:"message_id"`
	}
	_ = json.Unmarshal(c.Result, &m)
	return m.ID
}

// buttonData finds a button of an inline keyboard whose data starts with prefix.
func buttonData(c emulator.Call, prefix string) string {
	markup, _ := c.Params["reply_markup"].(map[string]any)
	rows, _ := markup["inline_keyboard"].([]any)
	for _, row := range rows {
		buttons, _ := row.([]any)
		for _, b := range buttons {
			button, _ := b.(map[string]any)
			if data, _ := button["callback_data"].(string); strings.HasPrefix(data, prefix) {
				return data
			}
		}
	}
	return ""
}
