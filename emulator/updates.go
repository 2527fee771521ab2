package emulator

import (
	"bytes"
	"context"
	"net/http"
	"time"
)

// UpdateStatus is where an update is in its life.
type UpdateStatus int

// The states of an update.
const (
	// UpdateUnknown: no update has this id (or it was never created because
	// allowed_updates excludes its type).
	UpdateUnknown UpdateStatus = iota
	// UpdatePending: queued; the bot has not confirmed it yet.
	UpdatePending
	// UpdateDone: confirmed by a later getUpdates offset, or answered 2xx by
	// the webhook.
	UpdateDone
	// UpdateDropped: given up because it is older than UpdateTTL, or dropped
	// by drop_pending_updates.
	UpdateDropped
)

func (s UpdateStatus) String() string {
	switch s {
	case UpdatePending:
		return "pending"
	case UpdateDone:
		return "done"
	case UpdateDropped:
		return "dropped"
	}
	return "unknown"
}

// pendingUpdate is an update Telegram still keeps for the bot.
type pendingUpdate struct {
	id       int64
	kind     string // "message", "callback_query" ... as allowed_updates names it
	chatKey  int64  // updates with the same key are delivered one at a time; 0: none
	body     []byte
	created  time.Time // by the Clock, for UpdateTTL
	inFlight bool      // a webhook POST is under way
	attempts int       // failed webhook deliveries
	retryAt  time.Time // wall time of the next delivery attempt
}

// defaultExcludedUpdates are the types Telegram leaves out when
// allowed_updates is empty or was never given.
var defaultExcludedUpdates = map[string]bool{
	"chat_member": true, "message_reaction": true, "message_reaction_count": true,
}

func (s *Server) allowedLocked(kind string) bool {
	if len(s.allowedUpdates) == 0 {
		return !defaultExcludedUpdates[kind]
	}
	return contains(s.allowedUpdates, kind)
}

// enqueueLocked gives an update its id and queues it for the bot. encode
// gets the id and returns the update's JSON. An update of a type the bot did
// not ask for is not created, as in Telegram, and 0 is returned.
func (s *Server) enqueueLocked(kind string, chatKey int64, encode func(id int64) ([]byte, error)) (int64, error) {
	if !s.allowedLocked(kind) {
		return 0, nil
	}
	id := s.nextUpdateID
	body, err := encode(id)
	if err != nil {
		return 0, err
	}
	s.nextUpdateID++
	s.queue = append(s.queue, &pendingUpdate{id: id, kind: kind, chatKey: chatKey, body: body, created: s.now()})
	s.updateStatus[id] = UpdatePending
	s.notifyLocked(Event{Kind: EventUpdate, UpdateID: id, ChatID: chatKey})
	s.kickDispatcher()
	return id, nil
}

// finishLocked takes an update out of the queue for good.
func (s *Server) finishLocked(u *pendingUpdate, status UpdateStatus) {
	for i, q := range s.queue {
		if q == u {
			s.queue = append(s.queue[:i:i], s.queue[i+1:]...)
			break
		}
	}
	s.updateStatus[u.id] = status
	kind := EventUpdateDone
	if status == UpdateDropped {
		kind = EventUpdateDropped
	}
	s.notifyLocked(Event{Kind: kind, UpdateID: u.id, ChatID: u.chatKey})
}

// expireLocked drops updates older than UpdateTTL.
func (s *Server) expireLocked() {
	now := s.now()
	for _, u := range append([]*pendingUpdate(nil), s.queue...) {
		if !u.inFlight && now.Sub(u.created) > s.opts.UpdateTTL {
			s.finishLocked(u, UpdateDropped)
		}
	}
}

// dropPendingLocked is drop_pending_updates.
func (s *Server) dropPendingLocked() {
	for _, u := range append([]*pendingUpdate(nil), s.queue...) {
		s.finishLocked(u, UpdateDropped)
	}
}

// PendingUpdates is how many updates wait for the bot, as getWebhookInfo's
// pending_update_count.
func (s *Server) PendingUpdates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// UpdateStatus tells whether the bot has taken an update; a test waits for
// UpdateDone to know the bot confirmed it.
func (s *Server) UpdateStatus(updateID int64) UpdateStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updateStatus[updateID]
}

var (
	errWebhookActive = &apiError{code: http.StatusConflict,
		description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"}
	errOtherGetUpdates = &apiError{code: http.StatusConflict,
		description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
)

// getUpdates confirms the updates before offset, then returns the next ones,
// waiting up to timeout seconds for one to arrive (long polling). A newer
// getUpdates ends a waiting one with 409, as Telegram does when two bot
// instances poll.
func (s *Server) getUpdates(ctx context.Context, p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webhook != nil {
		return result{}, errWebhookActive
	}
	limit := 100
	if p.has("limit") {
		limit = int(min(max(p.int("limit"), 1), 100))
	}
	timeout := time.Duration(max(p.int("timeout"), 0)) * time.Second
	if p.has("allowed_updates") {
		s.allowedUpdates = stringList(p.typed["allowed_updates"])
	}
	if offset := p.int("offset"); offset > 0 {
		for _, u := range append([]*pendingUpdate(nil), s.queue...) {
			if u.id < offset {
				s.finishLocked(u, UpdateDone)
			}
		}
	} else if offset < 0 {
		keep := int(-offset)
		for len(s.queue) > keep {
			s.finishLocked(s.queue[0], UpdateDone)
		}
	}

	s.pollGen++
	gen := s.pollGen
	s.wakeLocked() // an older poll still waiting learns it was replaced

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.expireLocked()
		if len(s.queue) > 0 || timeout <= 0 {
			return result{value: s.batchLocked(limit)}, nil
		}
		changed := s.changed
		s.mu.Unlock()
		var timedOut bool
		select {
		case <-changed:
		case <-ctx.Done():
			timedOut = true
		case <-s.ctx.Done():
			timedOut = true
		case <-deadline.C:
			timedOut = true
		}
		s.mu.Lock()
		if s.pollGen != gen {
			return result{}, errOtherGetUpdates
		}
		if s.webhook != nil {
			return result{}, errWebhookActive
		}
		if timedOut {
			return result{value: s.batchLocked(limit)}, nil
		}
	}
}

// batchLocked is the JSON array of the first limit updates.
func (s *Server) batchLocked(limit int) rawJSON {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, u := range s.queue {
		if i == limit {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(u.body)
	}
	b.WriteByte(']')
	return rawJSON(b.Bytes())
}

// rawJSON is a result that is already JSON.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// wakeLocked wakes everyone waiting for a change (Wait, long polls) without
// telling subscribers, for changes that are not events.
func (s *Server) wakeLocked() {
	if s.closed {
		return
	}
	close(s.changed)
	s.changed = make(chan struct{})
}
