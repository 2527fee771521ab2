package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/state"
)

// Processor handles one update completely: de-duplication, dialog state,
// replies. It returns nil once the update is handled and its effects are
// saved, i.e. when it may be acknowledged to Telegram; an error means
// "not handled, deliver it again".
//
// It is declared here, next to the intake that calls it, so that the webhook
// handler and the poller can be tested with a fake one.
type Processor interface {
	Process(ctx context.Context, upd *models.Update) error
}

// ErrSequencerClosed is the result of an update submitted after Close: it was
// not handled, and the webhook or the poller must not acknowledge it.
var ErrSequencerClosed = errors.New("bot: sequencer closed, update not accepted")

// PanicError is the result of an update whose processing panicked. The
// panic was recovered and logged with its stack, and the processor had the
// chance to answer the person politely; the intake acknowledges such an
// update to Telegram, because delivering a poison update again would only
// repeat the panic forever.
type PanicError struct {
	UpdateID int64
	// Value is what was passed to panic. It may hold personal data, so it
	// is never logged as is; see Error.
	Value any
	// Stack is the goroutine's stack at the moment of the panic.
	Stack []byte
}

// Error names the update and the kind of panic. A Go runtime error (nil
// dereference, index out of range) is quoted because it carries no user
// data; any other value is named only by its type, since code might have
// panicked with a string built from a message text.
func (e *PanicError) Error() string {
	return fmt.Sprintf("bot: panic while processing update %d: %s", e.UpdateID, describePanic(e.Value))
}

func describePanic(v any) string {
	if rerr, ok := v.(runtime.Error); ok {
		return rerr.Error()
	}
	return fmt.Sprintf("panic value of type %T", v)
}

// IsPanic reports whether err is (or wraps) a PanicError. The webhook and
// the poller use it to acknowledge a poison update instead of having it
// delivered again.
func IsPanic(err error) bool {
	var pe *PanicError
	return errors.As(err, &pe)
}

// Sequencer runs updates through a Processor so that the updates of one chat
// are handled one at a time and in the order they were submitted, while
// different chats are handled in parallel by a fixed pool of workers.
//
// Each chat key has its own FIFO queue; a key whose queue is not empty and
// which no worker is handling waits in a "ready" list, and a free worker
// takes the oldest ready key, handles one update of it and puts the key back
// at the end of the list if more updates wait. So a slow chat holds one
// worker and never delays other chats (no head-of-line blocking, which
// sharding by hash onto N goroutines would have), and a busy chat cannot
// starve quiet ones. The queues are unbounded: the webhook is bounded by
// Telegram's max_connections and the poller by its batch of at most 100.
type Sequencer struct {
	processor Processor
	logger    *slog.Logger

	mu sync.Mutex
	// wake is signalled when a key becomes ready or the sequencer closes.
	wake *sync.Cond
	// queues holds the waiting updates of each key. A key is present while
	// it has an update waiting or being handled, which is how Submit knows
	// whether the key still has to be put on the ready list.
	queues map[state.Conv][]*sequencerJob
	// ready lists keys that have a waiting update and no update being
	// handled, oldest first.
	ready  []state.Conv
	closed bool

	workers sync.WaitGroup
}

type sequencerJob struct {
	ctx    context.Context
	upd    *models.Update
	result chan error
}

// NewSequencer starts workers goroutines (at least one) that hand updates to
// p. Panics in p are recovered and logged to logger.
func NewSequencer(p Processor, workers int, logger *slog.Logger) *Sequencer {
	if workers < 1 {
		workers = 1
	}
	s := &Sequencer{
		processor: p,
		logger:    logger,
		queues:    make(map[state.Conv][]*sequencerJob),
	}
	s.wake = sync.NewCond(&s.mu)
	s.workers.Add(workers)
	for range workers {
		go s.work()
	}
	return s
}

// Submit enqueues upd behind the earlier updates of its conversation (see ConvKey)
// and returns a channel that receives exactly one value once it is handled:
// nil, the Processor's error, a *PanicError, ErrSequencerClosed, or the
// error of ctx if ctx ended before the update's turn came. Submit itself
// never blocks, so the order of Submit calls is the order of handling.
// ctx is passed to the Processor; the caller decides how long handling may
// take.
func (s *Sequencer) Submit(ctx context.Context, upd *models.Update) <-chan error {
	result := make(chan error, 1)
	if upd == nil {
		result <- errors.New("bot: nil update submitted")
		return result
	}
	key := ConvKey(upd)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		result <- ErrSequencerClosed
		return result
	}
	queue, active := s.queues[key]
	s.queues[key] = append(queue, &sequencerJob{ctx: ctx, upd: upd, result: result})
	if !active {
		s.ready = append(s.ready, key)
		s.wake.Signal()
	}
	return result
}

// Close stops accepting updates and waits until every update already
// submitted has been handled, so that a shutdown acknowledges nothing that
// was not done. It returns ctx's error if ctx ends first; the workers then
// still finish in the background.
func (s *Sequencer) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.wake.Broadcast()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close sequencer: updates still in hand: %w", ctx.Err())
	}
}

func (s *Sequencer) work() {
	defer s.workers.Done()
	for {
		s.mu.Lock()
		for len(s.ready) == 0 && !s.closed {
			s.wake.Wait()
		}
		if len(s.ready) == 0 {
			// Closed and nothing is ready. A key still being handled by
			// another worker is put back on the ready list by that worker,
			// which then takes it itself, so nothing is left behind.
			s.mu.Unlock()
			return
		}
		key := s.ready[0]
		s.ready = s.ready[1:]
		job := s.queues[key][0]
		s.queues[key] = s.queues[key][1:]
		s.mu.Unlock()

		job.result <- s.handle(job)

		s.mu.Lock()
		if len(s.queues[key]) > 0 {
			s.ready = append(s.ready, key)
			s.wake.Signal()
		} else {
			delete(s.queues, key)
		}
		s.mu.Unlock()
	}
}

// handle runs one update and turns a panic into a *PanicError, so that a
// bug in one conversation never stops the process.
func (s *Sequencer) handle(job *sequencerJob) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		pe := &PanicError{UpdateID: job.upd.ID, Value: v, Stack: debug.Stack()}
		// Logged here because only here is the stack at hand; the callers
		// treat a PanicError as handled and do not log it again.
		s.logger.Error("panic while processing update",
			"update_id", pe.UpdateID,
			"panic", describePanic(v),
			"stack", string(pe.Stack))
		err = pe
	}()
	// The caller has given up on this update (its webhook request timed
	// out, the batch deadline passed): it will come again, so doing it now
	// would only be wasted and possibly half done.
	if err := job.ctx.Err(); err != nil {
		return fmt.Errorf("update %d not processed: %w", job.upd.ID, err)
	}
	return s.processor.Process(job.ctx, job.upd)
}

// ConvKey is the conversation an update belongs to, the key under which it
// is ordered: updates with the same key are handled one at a time and in
// order. It is the chat the update belongs to, and in a forum supergroup
// the topic (message_thread_id), so that one busy topic never holds up
// another; for payment queries, inline queries and the like it is the
// user, whose private chat has the same id; an update that belongs to no
// chat gets its own update_id, so it runs independently. An update_id may
// equal some chat id by chance; that only makes the two wait for each
// other, never reorders anything.
func ConvKey(upd *models.Update) state.Conv {
	switch {
	case upd.Message != nil:
		return messageConv(upd.Message)
	case upd.EditedMessage != nil:
		return messageConv(upd.EditedMessage)
	case upd.ChannelPost != nil:
		return state.ChatConv(upd.ChannelPost.Chat.ID)
	case upd.EditedChannelPost != nil:
		return state.ChatConv(upd.EditedChannelPost.Chat.ID)
	case upd.BusinessMessage != nil:
		return state.ChatConv(upd.BusinessMessage.Chat.ID)
	case upd.EditedBusinessMessage != nil:
		return state.ChatConv(upd.EditedBusinessMessage.Chat.ID)
	case upd.CallbackQuery != nil:
		return callbackConv(upd.CallbackQuery)
	case upd.MyChatMember != nil:
		return state.ChatConv(upd.MyChatMember.Chat.ID)
	case upd.ChatMember != nil:
		return state.ChatConv(upd.ChatMember.Chat.ID)
	case upd.ChatJoinRequest != nil:
		return state.ChatConv(upd.ChatJoinRequest.Chat.ID)
	case upd.MessageReaction != nil:
		return state.ChatConv(upd.MessageReaction.Chat.ID)
	case upd.MessageReactionCount != nil:
		return state.ChatConv(upd.MessageReactionCount.Chat.ID)
	case upd.PreCheckoutQuery != nil && upd.PreCheckoutQuery.From != nil:
		return state.ChatConv(upd.PreCheckoutQuery.From.ID)
	case upd.ShippingQuery != nil && upd.ShippingQuery.From != nil:
		return state.ChatConv(upd.ShippingQuery.From.ID)
	case upd.InlineQuery != nil && upd.InlineQuery.From != nil:
		return state.ChatConv(upd.InlineQuery.From.ID)
	case upd.ChosenInlineResult != nil:
		return state.ChatConv(upd.ChosenInlineResult.From.ID)
	}
	return state.ChatConv(upd.ID)
}

// messageConv is a message's chat, and its topic in a forum. A message in
// a forum's General topic, or in a group without topics, has no topic:
// Telegram sets message_thread_id also for replies in ordinary groups, so
// only is_topic_message makes it a topic.
func messageConv(m *models.Message) state.Conv {
	c := state.ChatConv(m.Chat.ID)
	if m.IsTopicMessage && m.MessageThreadID != 0 {
		c.Thread = m.MessageThreadID
	}
	return c
}

// callbackConv keys a button press by the conversation of the message that
// holds the button, so that it queues behind the messages there. A message
// too old to be accessible still names its chat (not its topic); only a
// button under an inline-mode message has no chat, and then the person is
// the key.
func callbackConv(q *models.CallbackQuery) state.Conv {
	switch {
	case q.Message.Message != nil:
		return messageConv(q.Message.Message)
	case q.Message.InaccessibleMessage != nil && q.Message.InaccessibleMessage.Chat.ID != 0:
		return state.ChatConv(q.Message.InaccessibleMessage.Chat.ID)
	}
	return state.ChatConv(q.From.ID)
}
