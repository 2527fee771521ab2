package emulator

import (
	"math"
	"strings"
	"time"
)

// Rate is a token bucket: one message per Every, up to Burst at once.
type Rate struct {
	Every time.Duration
	Burst int
}

// PerSecond is n messages a second with bursts of up to burst at once.
func PerSecond(n, burst int) Rate {
	return Rate{Every: time.Second / time.Duration(max(n, 1)), Burst: burst}
}

// RateLimits are Telegram's flood limits. They are counted for the bot: one
// Server is one bot, so every instance of a bot that talks to the same
// Server shares them, as instances share Telegram's. The zero value of a
// field takes Telegram's figure.
type RateLimits struct {
	// PerChat limits one private chat: about 1 message per second, short
	// bursts allowed (default 1/s, burst 3).
	PerChat Rate
	// PerGroup limits one group: 20 per minute for messages (copies and
	// albums' messages included), edits, and forum topics created, edited,
	// closed and reopened, all topics together (default one per 3s, burst
	// 20).
	PerGroup Rate
	// Global limits the whole bot: about 30 messages per second (default
	// one per 1/30 s, burst 30). A message sent with allow_paid_broadcast
	// skips it.
	Global Rate
	// PaidBroadcast is the whole bot's ceiling, 1000 messages a second
	// (default burst 1000): what allow_paid_broadcast raises the global
	// limit to. Every message counts here, paid or not.
	PaidBroadcast Rate
}

func (l RateLimits) withDefaults() RateLimits {
	if l.PerChat.Every <= 0 {
		l.PerChat = Rate{Every: time.Second, Burst: 3}
	}
	if l.PerGroup.Every <= 0 {
		l.PerGroup = Rate{Every: 3 * time.Second, Burst: 20}
	}
	if l.Global.Every <= 0 {
		l.Global = PerSecond(30, 30)
	}
	if l.PaidBroadcast.Every <= 0 {
		l.PaidBroadcast = PerSecond(1000, 1000)
	}
	for _, r := range []*Rate{&l.PerChat, &l.PerGroup, &l.Global, &l.PaidBroadcast} {
		r.Burst = max(r.Burst, 1)
	}
	return l
}

// The limits a 429 names in Call.Limit.
const (
	LimitChat          = "chat"           // RateLimits.PerChat
	LimitGroup         = "group"          // RateLimits.PerGroup
	LimitGlobal        = "global"         // RateLimits.Global
	LimitPaidBroadcast = "paid_broadcast" // RateLimits.PaidBroadcast
)

type bucket struct {
	tokens float64
	last   time.Time
}

func fullBucket(r Rate, now time.Time) *bucket {
	return &bucket{tokens: float64(r.Burst), last: now}
}

type rateLimiter struct {
	limits RateLimits
	chats  map[int64]*bucket
	global *bucket
	paid   *bucket
}

func newRateLimiter(l RateLimits, now time.Time) *rateLimiter {
	l = l.withDefaults()
	return &rateLimiter{
		limits: l,
		chats:  map[int64]*bucket{},
		global: fullBucket(l.Global, now),
		paid:   fullBucket(l.PaidBroadcast, now),
	}
}

// EnableRateLimits switches on Telegram's flood limits, with full buckets:
// a message over a limit gets 429 "Too Many Requests: retry after N" with
// parameters.retry_after, and TooManyRequests lists it. The limits use
// Options.Clock, so a test can move time instead of sleeping. They are off
// by default (or set from the start with Options.RateLimits).
func (s *Server) EnableRateLimits(l RateLimits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = newRateLimiter(l, s.now())
}

// DisableRateLimits switches the flood limits off again.
func (s *Server) DisableRateLimits() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = nil
}

// TooManyRequests lists the calls answered 429, by the flood limits (their
// Call.Limit says which) or by FailNext: a test of a sender that keeps
// under the limits expects none.
func (s *Server) TooManyRequests() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.ErrorCode == 429 {
			out = append(out, c)
		}
	}
	return out
}

// counts tells whether a method counts against the flood limits: messages
// sent (copies, forwards and each message of an album included), edits in
// groups, and forum topics created, edited, closed or reopened, since each
// of those posts a service message into the group. Deleting a topic or a
// message, and setting a reaction, post nothing and are not counted (how
// Telegram counts those is not documented).
func counts(method string, c *chat) bool {
	switch {
	case method == "sendChatAction":
		return false
	case strings.HasPrefix(method, "send"), strings.HasPrefix(method, "copyMessage"), strings.HasPrefix(method, "forwardMessage"):
		return true
	case method == "createForumTopic", method == "editForumTopic", method == "closeForumTopic", method == "reopenForumTopic":
		return true
	case strings.HasPrefix(method, "editMessage"):
		return !c.private()
	}
	return false
}

// limitLocked takes a message from the chat's and the bot's buckets, or
// answers 429 taking nothing. paid is the request's allow_paid_broadcast.
func (s *Server) limitLocked(c *chat, method string, paid bool) *apiError {
	return s.limitNLocked(c, method, paid, 1)
}

// limitNLocked is limitLocked for a request that posts n messages at once
// (an album, copyMessages): each counts, all or none. Telegram seems to
// count each message of an album (a big album in a group draws 429 after a
// few of its messages; it may then even send part of one, which the
// emulator does not do). How it counts exactly is not documented.
func (s *Server) limitNLocked(c *chat, method string, paid bool, n int) *apiError {
	l := s.limits
	if l == nil || !counts(method, c) {
		return nil
	}
	now := s.now()
	rate, scope := l.limits.PerChat, LimitChat
	if !c.private() {
		rate, scope = l.limits.PerGroup, LimitGroup
	}
	cb := l.chats[c.info.ID]
	if cb == nil {
		cb = fullBucket(rate, now)
		l.chats[c.info.ID] = cb
	}
	type use struct {
		b    *bucket
		r    Rate
		name string
	}
	uses := []use{{cb, rate, scope}, {l.paid, l.limits.PaidBroadcast, LimitPaidBroadcast}}
	if !paid {
		uses = append(uses, use{l.global, l.limits.Global, LimitGlobal})
	}
	var wait time.Duration
	var by string
	for _, u := range uses {
		refill(u.b, u.r, now)
		if w := shortfall(u.b, u.r, n); w > wait {
			wait, by = w, u.name
		}
	}
	if wait > 0 {
		e := tooManyRequests(int(math.Ceil(wait.Seconds())))
		e.limit = by
		return e
	}
	for _, u := range uses {
		u.b.tokens -= float64(n)
	}
	return nil
}

func refill(b *bucket, r Rate, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(float64(r.Burst), b.tokens+float64(elapsed)/float64(r.Every))
		b.last = now
	}
}

// shortfall is how long until the bucket holds n whole tokens, or a full
// bucket's worth when n is more than it holds: an album of 10 into a private
// chat (a burst of 3) goes out when the bucket is full and leaves it in debt,
// so the next messages wait, rather than never going out.
func shortfall(b *bucket, r Rate, n int) time.Duration {
	need := float64(min(n, r.Burst))
	if b.tokens >= need {
		return 0
	}
	return time.Duration((need - b.tokens) * float64(r.Every))
}
