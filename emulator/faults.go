package emulator

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// fault is a planned failure of the next calls to a method.
type fault struct {
	method string // lower case; "*" for any method but getUpdates
	times  int
	err    *apiError
}

// FailNext makes the next `times` calls of method fail with this error code
// and description, before any other check, as when Telegram has trouble.
// method "*" matches every method but getUpdates. An empty description gets
// Telegram's usual one for the code. retryAfter > 0 adds
// parameters.retry_after (with 429: "Too Many Requests: retry after N").
func (s *Server) FailNext(method string, times int, code int, description string, retryAfter int) {
	if times <= 0 {
		return
	}
	if description == "" {
		switch code {
		case http.StatusTooManyRequests:
			description = tooManyRequests(max(retryAfter, 1)).description
		case http.StatusBadRequest:
			description = "Bad Request"
		case http.StatusForbidden:
			description = "Forbidden: bot was blocked by the user"
		case http.StatusConflict:
			description = "Conflict"
		default:
			description = http.StatusText(code)
		}
	}
	if code == http.StatusTooManyRequests && retryAfter <= 0 {
		retryAfter = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{
		method: strings.ToLower(method),
		times:  times,
		err:    &apiError{code: code, description: description, retryAfter: retryAfter},
	})
}

// takeFault returns the planned failure for this call, if any.
func (s *Server) takeFault(method string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	lower := strings.ToLower(method)
	for i, f := range s.faults {
		if f.method != lower && (f.method != "*" || lower == "getupdates") {
			continue
		}
		f.times--
		if f.times == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f.err
	}
	return nil
}

// Rate is a token bucket: one message per Every, up to Burst at once.
type Rate struct {
	Every time.Duration
	Burst int
}

// RateLimits are Telegram's flood limits. The zero value of a field takes
// Telegram's figure.
type RateLimits struct {
	// PerChat limits one private chat: about 1 message per second, short
	// bursts allowed (default 1/s, burst 3).
	PerChat Rate
	// PerGroup limits one group: 20 messages per minute, edits included
	// (default one per 3s, burst 20).
	PerGroup Rate
	// Global limits the whole bot: about 30 messages per second (default
	// one per 1/30 s, burst 30).
	Global Rate
}

func (l RateLimits) withDefaults() RateLimits {
	if l.PerChat.Every <= 0 {
		l.PerChat = Rate{Every: time.Second, Burst: 3}
	}
	if l.PerGroup.Every <= 0 {
		l.PerGroup = Rate{Every: 3 * time.Second, Burst: 20}
	}
	if l.Global.Every <= 0 {
		l.Global = Rate{Every: time.Second / 30, Burst: 30}
	}
	for _, r := range []*Rate{&l.PerChat, &l.PerGroup, &l.Global} {
		r.Burst = max(r.Burst, 1)
	}
	return l
}

type bucket struct {
	tokens float64
	last   time.Time
}

type rateLimiter struct {
	limits RateLimits
	chats  map[int64]*bucket
	global bucket
}

// EnableRateLimits switches on Telegram's flood limits: a message over a
// limit gets 429 "Too Many Requests: retry after N" with
// parameters.retry_after. The limits use Options.Clock, so a test can move
// time instead of sleeping. They are off by default.
func (s *Server) EnableRateLimits(l RateLimits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l = l.withDefaults()
	s.limits = &rateLimiter{limits: l, chats: map[int64]*bucket{}, global: bucket{tokens: float64(l.Global.Burst), last: s.now()}}
}

// DisableRateLimits switches the flood limits off again.
func (s *Server) DisableRateLimits() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = nil
}

// counts tells whether a method counts against the flood limits: messages
// sent, and edits in groups.
func counts(method string, c *chat) bool {
	switch {
	case method == "sendChatAction":
		return false
	case strings.HasPrefix(method, "send"), strings.HasPrefix(method, "copyMessage"), strings.HasPrefix(method, "forwardMessage"):
		return true
	case strings.HasPrefix(method, "editMessage"):
		return !c.private()
	}
	return false
}

// limitLocked takes a message from the chat's and the bot's buckets, or
// answers 429 taking nothing.
func (s *Server) limitLocked(c *chat, method string) *apiError {
	l := s.limits
	if l == nil || !counts(method, c) {
		return nil
	}
	now := s.now()
	rate := l.limits.PerChat
	if !c.private() {
		rate = l.limits.PerGroup
	}
	cb := l.chats[c.info.ID]
	if cb == nil {
		cb = &bucket{tokens: float64(rate.Burst), last: now}
		l.chats[c.info.ID] = cb
	}
	refill(cb, rate, now)
	refill(&l.global, l.limits.Global, now)

	wait := max(shortfall(cb, rate), shortfall(&l.global, l.limits.Global))
	if wait > 0 {
		return tooManyRequests(int(math.Ceil(wait.Seconds())))
	}
	cb.tokens--
	l.global.tokens--
	return nil
}

func refill(b *bucket, r Rate, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(float64(r.Burst), b.tokens+float64(elapsed)/float64(r.Every))
		b.last = now
	}
}

// shortfall is how long until the bucket holds a whole token.
func shortfall(b *bucket, r Rate) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(r.Every))
}
