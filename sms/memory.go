package sms

import (
	"context"
	"sync"
	"time"
)

// Message is one SMS kept by Memory.
type Message struct {
	To   string
	Text string
	At   time.Time
}

// subscriberBuffer is how many messages a subscriber may fall behind before
// Memory starts dropping messages for it; Send never waits for a reader.
const subscriberBuffer = 64

// Memory keeps every message in memory instead of sending it. Tests read the
// codes from it, and the sandbox web page shows it as the demo subscriber's
// phone. It keeps everything until the process ends, so it is not for
// production.
type Memory struct {
	mu     sync.Mutex
	all    []Message
	byTo   map[string][]Message
	subs   map[int]chan Message
	nextID int
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{
		byTo: make(map[string][]Message),
		subs: make(map[int]chan Message),
	}
}

// Send records the message and passes it to every subscriber. A subscriber
// whose buffer is full misses the message (it is still in Messages and All):
// a slow web page must not hold up a code for someone else.
func (m *Memory) Send(_ context.Context, to, text string) error {
	if err := checkMessage(to, text); err != nil {
		return err
	}
	msg := Message{To: to, Text: text, At: time.Now()}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.all = append(m.all, msg)
	m.byTo[to] = append(m.byTo[to], msg)
	for _, ch := range m.subs {
		select {
		case ch <- msg:
		default:
		}
	}
	return nil
}

// Messages returns the messages sent to phone, oldest first.
func (m *Memory) Messages(phone string) []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.byTo[phone]...)
}

// All returns every message sent, oldest first.
func (m *Memory) All() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.all...)
}

// Last returns the latest message sent to phone, and false when there is none.
// Tests use it to read the code that was just sent.
func (m *Memory) Last(phone string) (Message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	msgs := m.byTo[phone]
	if len(msgs) == 0 {
		return Message{}, false
	}
	return msgs[len(msgs)-1], true
}

// Subscribe returns a channel that receives every message sent from now on,
// and a function that ends the subscription and closes the channel. The
// function may be called more than once.
func (m *Memory) Subscribe() (<-chan Message, func()) {
	ch := make(chan Message, subscriberBuffer)

	m.mu.Lock()
	id := m.nextID
	m.nextID++
	m.subs[id] = ch
	m.mu.Unlock()

	var once sync.Once
	cancel := func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs, id)
			m.mu.Unlock()
			close(ch) // safe: Send only writes to channels still in m.subs, under m.mu
		})
	}
	return ch, cancel
}
