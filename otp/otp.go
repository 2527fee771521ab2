// Package otp issues and checks the one-time codes that prove a person holds
// the phone on a contract before a Telegram user is linked to the account.
// Service implements dialogs.Codes on Redis, so that every limit holds across
// all instances of the bot.
//
// The rules (from NIST SP 800-63B and OWASP, as the design guide lists them):
//   - a code is 6 digits from crypto/rand, stored only as an HMAC-SHA256 keyed
//     with a server secret over (Telegram user, account, code), compared in
//     constant time, valid 5 minutes, single use; only the newest code of a
//     (user, account) pair counts;
//   - at most 5 checks per code; the 6th is refused even when it is right;
//   - a resend waits 60 seconds; at most 3 codes per 15 minutes, 5 per hour and
//     10 per day, counted per account and per Telegram user;
//   - 10 failed checks in a row (per pair, and per user over all accounts) lock
//     sending and checking for 1 hour, doubling with each further lock up to
//     24 hours; locks are remembered for a week;
//   - a user may look up at most 10 different account numbers a day.
//
// Time comes from an injected clock: every deadline is a timestamp stored in
// Redis and compared with that clock inside a Lua script, and Redis TTLs only
// collect garbage. Tests therefore move time forward without sleeping.
//
// Keys, all under the prefix given to New (ids are internal numbers):
//
//	otp:code:{user}:{account}     hash: mac, exp, checks, send  (the live code)
//	otp:fail:{user}:{account}     hash: streak, until, locks, lastlock
//	otp:fail:user:{user}          the same, over all the user's accounts
//	otp:sends:account:{account}   sorted set of send ids scored by time (caps)
//	otp:sends:user:{user}         the same per Telegram user
//	otp:pause:account:{account}   hash: until, send  (the resend pause)
//	otp:pause:user:{user}         the same per Telegram user
//	otp:lookup:{user}             sorted set of keyed hashes of account numbers
//
// The scripts touch a user's and an account's keys together, which a single
// Redis server or a Sentinel setup allows; Redis Cluster would need one hash
// tag for all of them.
package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// Sender sends one SMS. It is declared here, where it is used, so that otp
// needs nothing from package sms but this method; sms's providers satisfy it.
// Its errors must not contain the number or the text: otp wraps them and the
// caller logs them.
type Sender interface {
	Send(ctx context.Context, to, text string) error
}

// TextFunc renders the SMS that carries a code, in the person's language.
// It is passed in because subscriber-facing texts live in locales, not here.
type TextFunc func(lang, code string) string

// Window is one cap on sending: at most Max codes within any Period.
type Window struct {
	Period time.Duration
	Max    int
}

// Limits are the numbers behind the rules. They are a struct so that a
// provider can tune them; DefaultLimits holds the design's values.
type Limits struct {
	CodeTTL   time.Duration // how long a code is valid
	MaxChecks int           // checks a single code allows, right or wrong

	// ResendPause is the least time between two codes to the same account or
	// to the same Telegram user.
	ResendPause time.Duration
	// Windows are the caps on codes, each counted per account and per user.
	Windows []Window

	MaxFailures int           // failed checks in a row that lock
	LockBase    time.Duration // the first lock
	LockMax     time.Duration // the longest lock, however many came before
	LockMemory  time.Duration // how long earlier locks count toward growth

	// LookupsPerDay is how many different account numbers a user may look up
	// within 24 hours; it stops a person from walking the number space.
	LookupsPerDay int
}

// DefaultLimits returns the design guide's numbers.
func DefaultLimits() Limits {
	return Limits{
		CodeTTL:     5 * time.Minute,
		MaxChecks:   5,
		ResendPause: 60 * time.Second,
		Windows: []Window{
			{Period: 15 * time.Minute, Max: 3},
			{Period: time.Hour, Max: 5},
			{Period: 24 * time.Hour, Max: 10},
		},
		MaxFailures:   10,
		LockBase:      time.Hour,
		LockMax:       24 * time.Hour,
		LockMemory:    7 * 24 * time.Hour,
		LookupsPerDay: 10,
	}
}

// lookupWindow is the "day" of LookupsPerDay: a rolling 24 hours, so that
// midnight does not open a second batch of lookups.
const lookupWindow = 24 * time.Hour

// Validate reports the first limit that makes no sense, so that a provider's
// configuration fails at start-up with a clear message.
func (l Limits) Validate() error {
	switch {
	case l.CodeTTL < time.Second:
		return errors.New("otp: limits: CodeTTL must be at least 1s")
	case l.MaxChecks < 1:
		return errors.New("otp: limits: MaxChecks must be at least 1")
	case l.ResendPause < 0:
		return errors.New("otp: limits: ResendPause must not be negative")
	case len(l.Windows) == 0:
		return errors.New("otp: limits: at least one sending window is needed")
	case l.MaxFailures < 1:
		return errors.New("otp: limits: MaxFailures must be at least 1")
	case l.LockBase < time.Second || l.LockMax < l.LockBase:
		return errors.New("otp: limits: need 1s <= LockBase <= LockMax")
	case l.LockMemory < time.Second:
		return errors.New("otp: limits: LockMemory must be at least 1s")
	case l.LookupsPerDay < 1:
		return errors.New("otp: limits: LookupsPerDay must be at least 1")
	}
	for _, w := range l.Windows {
		if w.Period < time.Second || w.Max < 1 {
			return errors.New("otp: limits: every window needs Period >= 1s and Max >= 1")
		}
	}
	return nil
}

// history is how long sends must be remembered: the longest window.
func (l Limits) history() time.Duration {
	var h time.Duration
	for _, w := range l.Windows {
		h = max(h, w.Period)
	}
	return h
}

// MinSecretLen is the shortest secret New accepts. The secret is all that
// keeps a stolen Redis dump from giving away the codes (a 6-digit code is
// found by trying a million HMACs), so it must be long and random.
const MinSecretLen = 32

// Service issues and checks codes; it implements dialogs.Codes. It is safe
// for concurrent use, also across processes sharing one Redis.
type Service struct {
	rdb    redis.UniversalClient
	sender Sender
	text   TextFunc
	secret []byte
	prefix string
	now    func() time.Time
	limits Limits

	// newCode makes a code; tests in this package replace it to get codes
	// they know in advance, everything else uses randomCode.
	newCode func() (string, error)

	// smsTime is a moving average of how long real SMS sends take, in
	// nanoseconds; a decoy send waits as long, so that the answer's timing
	// does not tell an unknown account number from a real one.
	smsTime *atomic.Int64
}

var _ dialogs.Codes = (*Service)(nil)

// New returns a Service with DefaultLimits. Keys go under prefix; now is the
// clock (time.Now when nil), injected so that tests can move time. New
// panics when a dependency is missing or the secret is shorter than
// MinSecretLen: those are wiring mistakes that must stop the start.
func New(rdb redis.UniversalClient, sender Sender, text TextFunc, secret []byte, prefix string, now func() time.Time) *Service {
	if rdb == nil || sender == nil || text == nil {
		panic("otp: New needs a Redis client, a Sender and a TextFunc")
	}
	if len(secret) < MinSecretLen {
		panic(fmt.Sprintf("otp: the secret must be at least %d bytes", MinSecretLen))
	}
	if now == nil {
		now = time.Now
	}
	return &Service{
		rdb:     rdb,
		sender:  sender,
		text:    text,
		secret:  append([]byte(nil), secret...),
		prefix:  prefix,
		now:     now,
		limits:  DefaultLimits(),
		newCode: randomCode,
		smsTime: new(atomic.Int64),
	}
}

// WithLimits returns a copy of the service that enforces l instead. It
// panics on limits that fail Validate; call Validate first when they come
// from configuration.
func (s *Service) WithLimits(l Limits) *Service {
	if err := l.Validate(); err != nil {
		panic(err.Error())
	}
	c := *s
	c.limits = l
	c.limits.Windows = append([]Window(nil), l.Windows...)
	return &c
}

// Limits returns the limits in force, so that the dialogs offer "send again"
// exactly when a new code may go out.
func (s *Service) Limits() Limits { return s.limits }

// randomCode returns 6 uniformly random digits. rand.Int draws by rejection,
// so no digit is more likely than another (no modulo bias).
func randomCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("random code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// mac is what is stored instead of a code. Binding the user and the account
// into it means a code (or a stored value copied to another key) proves
// nothing for any other pair.
func (s *Service) mac(userID, accountID int64, code string) string {
	h := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(h, "otp-code\x00%d\x00%d\x00%s", userID, accountID, code)
	return hex.EncodeToString(h.Sum(nil))
}

// newID names one send, so that a rollback or a consume touches only what
// that send or check created, never a newer code.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func (s *Service) key(parts ...any) string {
	var b strings.Builder
	b.WriteString(s.prefix)
	b.WriteString("otp")
	for _, p := range parts {
		fmt.Fprintf(&b, ":%v", p)
	}
	return b.String()
}

func (s *Service) nowMs() int64 { return s.now().UnixMilli() }

func ms(d time.Duration) int64 { return d.Milliseconds() }

// sendScript checks the locks, the resend pauses and every cap of both the
// account and the user, and only if all pass records the send and stores the
// new code, replacing the old one. Doing it in one script means two parallel
// requests cannot both squeeze under a cap.
//
// KEYS: 1 pair fail, 2 user fail, 3 account sends, 4 user sends,
// 5 account pause, 6 user pause, 7 code.
// ARGV: 1 now, 2 pause, 3 code TTL, 4 mac, 5 send id, 6 history (all ms),
// then pairs of (window period ms, max).
// Returns {"locked", ms}, {"wait", ms} or {"sent", 0}.
var sendScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local pause = tonumber(ARGV[2])
local codeTTL = tonumber(ARGV[3])
local history = tonumber(ARGV[6])

local locked = 0
for i = 1, 2 do
  local untilMs = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if untilMs > now then locked = math.max(locked, untilMs - now) end
end
if locked > 0 then return {'locked', locked} end

local wait = 0
for i = 5, 6 do
  local untilMs = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if untilMs > now then wait = math.max(wait, untilMs - now) end
end
for i = 3, 4 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%d', now - history))
  for w = 7, #ARGV, 2 do
    local period = tonumber(ARGV[w])
    local limit = tonumber(ARGV[w + 1])
    local since = string.format('(%d', now - period)
    local count = redis.call('ZCOUNT', KEYS[i], since, '+inf')
    if count >= limit then
      -- a slot frees when the (count-limit+1)-th oldest send leaves the window
      local e = redis.call('ZRANGEBYSCORE', KEYS[i], since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
      wait = math.max(wait, tonumber(e[2]) + period - now)
    end
  end
end
if wait > 0 then return {'wait', wait} end

for i = 3, 4 do
  redis.call('ZADD', KEYS[i], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[i], history)
end
if pause > 0 then
  for i = 5, 6 do
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], 'until', now + pause, 'send', ARGV[5])
    redis.call('PEXPIRE', KEYS[i], pause)
  end
end
redis.call('DEL', KEYS[7])
redis.call('HSET', KEYS[7], 'mac', ARGV[4], 'exp', now + codeTTL, 'checks', 0, 'send', ARGV[5])
redis.call('PEXPIRE', KEYS[7], codeTTL)
return {'sent', 0}
`)

// unsendScript undoes what a send whose SMS failed must not leave behind:
// its code (nobody received it) and the resend pauses (the person did
// nothing wrong and may retry at once). The entries in the send history
// stay, so failed sends still count toward the caps: otherwise a number that
// makes the SMS gateway fail could be hammered without limit, and each
// attempt may cost the provider money (SMS pumping).
//
// KEYS: 1 code, 2 account pause, 3 user pause. ARGV: 1 send id.
var unsendScript = redis.NewScript(`
for i = 1, 3 do
  if redis.call('HGET', KEYS[i], 'send') == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 0
`)

// Send issues a new code for (userID, accountID) and sends it by SMS to
// phone. Redis is asked first: when it is unreachable, or a limit or lock
// stands, no SMS goes out. When the SMS itself fails, Send returns the error
// and the code is withdrawn; the resend pause is rolled back, but the
// attempt still counts toward the caps (see unsendScript for why).
//
// An empty phone is a decoy for an account number that does not exist:
// everything happens as for a real send, except that no SMS goes out and
// Send instead waits about as long as recent real sends took.
func (s *Service) Send(ctx context.Context, userID, accountID int64, phone string, lang string) (res dialogs.SendResult, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("otp: send code: %w", err)
		}
	}()
	code, err := s.newCode()
	if err != nil {
		return dialogs.SendResult{}, err
	}
	sendID := newID()
	l := s.limits
	keys := []string{
		s.key("fail", userID, accountID),
		s.key("fail", "user", userID),
		s.key("sends", "account", accountID),
		s.key("sends", "user", userID),
		s.key("pause", "account", accountID),
		s.key("pause", "user", userID),
		s.key("code", userID, accountID),
	}
	args := []any{s.nowMs(), ms(l.ResendPause), ms(l.CodeTTL), s.mac(userID, accountID, code), sendID, ms(l.history())}
	for _, w := range l.Windows {
		args = append(args, ms(w.Period), w.Max)
	}
	verdict, wait, err := runVerdict(ctx, sendScript, s.rdb, keys, args)
	if err != nil {
		return dialogs.SendResult{}, fmt.Errorf("reserve: %w", err)
	}
	switch verdict {
	case "locked":
		return dialogs.SendResult{Locked: true, RetryAfter: wait}, nil
	case "wait":
		return dialogs.SendResult{RetryAfter: wait}, nil
	case "sent":
	default:
		return dialogs.SendResult{}, fmt.Errorf("reserve: unexpected verdict %q", verdict)
	}

	if phone == "" {
		if err := s.waitLikeSMS(ctx); err != nil {
			return dialogs.SendResult{}, fmt.Errorf("decoy: %w", err)
		}
		return dialogs.SendResult{Sent: true}, nil
	}
	start := time.Now() // real time, not s.now: this measures the gateway
	err = s.sender.Send(ctx, phone, s.text(lang, code))
	s.recordSMSTime(time.Since(start))
	if err != nil {
		// The request's context may be what failed the SMS; the rollback
		// must still happen.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		undo := []string{keys[6], keys[4], keys[5]}
		if uerr := unsendScript.Run(rctx, s.rdb, undo, sendID).Err(); uerr != nil {
			return dialogs.SendResult{}, errors.Join(fmt.Errorf("sms: %w", err), fmt.Errorf("roll back: %w", uerr))
		}
		return dialogs.SendResult{}, fmt.Errorf("sms: %w", err)
	}
	return dialogs.SendResult{Sent: true}, nil
}

// recordSMSTime folds one real send's duration into the moving average
// (weight 1/8 for the newest, the first one taken as it is).
func (s *Service) recordSMSTime(d time.Duration) {
	for {
		old := s.smsTime.Load()
		avg := int64(d)
		if old > 0 {
			avg = old + (int64(d)-old)/8
		}
		if s.smsTime.CompareAndSwap(old, avg) {
			return
		}
	}
}

// waitLikeSMS waits as long as a real send takes on average.
func (s *Service) waitLikeSMS(ctx context.Context) error {
	d := time.Duration(s.smsTime.Load())
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runVerdict runs a script that answers {verdict, milliseconds}.
func runVerdict(ctx context.Context, script *redis.Script, rdb redis.UniversalClient, keys []string, args []any) (string, time.Duration, error) {
	reply, err := script.Run(ctx, rdb, keys, args...).Slice()
	if err != nil {
		return "", 0, err
	}
	if len(reply) != 2 {
		return "", 0, fmt.Errorf("unexpected reply of %d values", len(reply))
	}
	verdict, _ := reply[0].(string)
	n, _ := reply[1].(int64)
	return verdict, time.Duration(n) * time.Millisecond, nil
}

// checkScript takes one check from the live code, atomically, and hands
// back its MAC for the caller to compare in constant time. Because the
// counter is raised before anyone compares, 50 parallel guesses get at most
// MaxChecks comparisons; a check beyond that is refused even when right.
//
// KEYS: 1 pair fail, 2 user fail, 3 code. ARGV: 1 now ms, 2 max checks.
// Returns {"locked", ms}, {"expired"} or {"check", mac, send id, checks}.
var checkScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local locked = 0
for i = 1, 2 do
  local untilMs = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if untilMs > now then locked = math.max(locked, untilMs - now) end
end
if locked > 0 then return {'locked', locked} end

local c = redis.call('HMGET', KEYS[3], 'mac', 'exp', 'checks', 'send')
if not c[1] then return {'expired'} end
if tonumber(c[2]) <= now then
  redis.call('DEL', KEYS[3])
  return {'expired'}
end
if tonumber(c[3]) >= tonumber(ARGV[2]) then return {'expired'} end
local checks = redis.call('HINCRBY', KEYS[3], 'checks', 1)
return {'check', c[1], c[4], checks}
`)

// consumeScript uses up the code that was just found right, if no parallel
// check used it first, and ends the failure streaks.
//
// KEYS: 1 code, 2 pair fail, 3 user fail. ARGV: 1 send id. Returns 1 if consumed.
var consumeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'send') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], 'streak', 0) end
end
return 1
`)

// failScript counts a wrong code against the pair and against the user.
// When a streak reaches the limit it locks: LockBase doubled for every lock
// within LockMemory before it, capped at LockMax.
//
// KEYS: 1 pair fail, 2 user fail. ARGV: 1 now, 2 max failures, 3 lock base,
// 4 lock max, 5 lock memory (ms). Returns the longest lock just set, in ms (0 if none).
var failScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local maxFailures = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local memory = tonumber(ARGV[5])
local locked = 0
for i = 1, 2 do
  local streak = redis.call('HINCRBY', KEYS[i], 'streak', 1)
  if streak >= maxFailures then
    local locks = tonumber(redis.call('HGET', KEYS[i], 'locks') or '0')
    local last = tonumber(redis.call('HGET', KEYS[i], 'lastlock') or '0')
    if now - last >= memory then locks = 0 end
    locks = locks + 1
    local d = base
    for n = 2, locks do
      d = d * 2
      if d >= cap then break end
    end
    if d > cap then d = cap end
    redis.call('HSET', KEYS[i], 'streak', 0, 'locks', locks, 'lastlock', now, 'until', now + d)
    locked = math.max(locked, d)
  end
  redis.call('PEXPIRE', KEYS[i], memory + cap)
end
return locked
`)

// Check checks a typed code for (userID, accountID). Surrounding spaces are
// ignored; anything else that is not the code counts as a wrong guess, since
// telling malformed input apart would give a guesser free tries. A right
// code is consumed; a wrong one counts toward the lock, and the check that
// reaches the lock answers CheckLocked. A check refused without comparing
// (no live code, or its checks used up) does not count toward the lock:
// nothing was guessed.
func (s *Service) Check(ctx context.Context, userID, accountID int64, code string) (res dialogs.CheckResult, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("otp: check code: %w", err)
		}
	}()
	code = strings.TrimSpace(code)
	l := s.limits
	pairFail := s.key("fail", userID, accountID)
	userFail := s.key("fail", "user", userID)
	codeKey := s.key("code", userID, accountID)

	reply, err := checkScript.Run(ctx, s.rdb, []string{pairFail, userFail, codeKey}, s.nowMs(), l.MaxChecks).Slice()
	if err != nil {
		return dialogs.CheckResult{}, err
	}
	if len(reply) == 0 {
		return dialogs.CheckResult{}, errors.New("empty reply")
	}
	verdict, _ := reply[0].(string)
	switch {
	case verdict == "locked" && len(reply) == 2:
		n, _ := reply[1].(int64)
		return dialogs.CheckResult{Outcome: dialogs.CheckLocked, RetryAfter: time.Duration(n) * time.Millisecond}, nil
	case verdict == "expired":
		return dialogs.CheckResult{Outcome: dialogs.CheckExpired}, nil
	case verdict == "check" && len(reply) == 4:
	default:
		return dialogs.CheckResult{}, fmt.Errorf("unexpected reply %q", verdict)
	}
	stored, _ := reply[1].(string)
	sendID, _ := reply[2].(string)
	checks, _ := reply[3].(int64)

	if hmac.Equal([]byte(stored), []byte(s.mac(userID, accountID, code))) {
		done, err := consumeScript.Run(ctx, s.rdb, []string{codeKey, pairFail, userFail}, sendID).Int()
		if err != nil {
			return dialogs.CheckResult{}, err
		}
		if done == 0 { // a parallel check used it, or a resend replaced it
			return dialogs.CheckResult{Outcome: dialogs.CheckExpired}, nil
		}
		return dialogs.CheckResult{Outcome: dialogs.CheckOK}, nil
	}

	lockMs, err := failScript.Run(ctx, s.rdb, []string{pairFail, userFail},
		s.nowMs(), l.MaxFailures, ms(l.LockBase), ms(l.LockMax), ms(l.LockMemory)).Int64()
	if err != nil {
		return dialogs.CheckResult{}, err
	}
	if lockMs > 0 {
		return dialogs.CheckResult{Outcome: dialogs.CheckLocked, RetryAfter: time.Duration(lockMs) * time.Millisecond}, nil
	}
	return dialogs.CheckResult{Outcome: dialogs.CheckWrong, TriesLeft: max(l.MaxChecks-int(checks), 0)}, nil
}

// lookupScript keeps, per user, the numbers looked up in the last 24 hours.
// A number seen before is free; a new one is allowed while fewer than the
// limit are remembered.
//
// KEYS: 1 lookup set. ARGV: 1 now, 2 window (ms), 3 limit, 4 member. Returns 1 if allowed.
var lookupScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 1
`)

// AllowLookup records that userID looked up accountNumber and reports
// whether the user is still within LookupsPerDay different numbers in the
// last 24 hours. Repeating a number already counted is free. The number is
// stored only as a keyed hash, so Redis holds no account numbers.
func (s *Service) AllowLookup(ctx context.Context, userID int64, accountNumber string) (bool, error) {
	h := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(h, "otp-lookup\x00%s", strings.TrimSpace(accountNumber))
	member := hex.EncodeToString(h.Sum(nil)[:16])
	ok, err := lookupScript.Run(ctx, s.rdb, []string{s.key("lookup", userID)},
		s.nowMs(), ms(lookupWindow), s.limits.LookupsPerDay, member).Int()
	if err != nil {
		return false, fmt.Errorf("otp: allow lookup: %w", err)
	}
	return ok == 1, nil
}
