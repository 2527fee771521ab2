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
// # Redelivery
//
// Telegram delivers an update again until the bot has committed its turn,
// and a process can die between a code check and that commit. Send, Check
// and Notify therefore take the key of the event that asked (dialogs.Event's
// Key) and remember their answer under it for RecordTTL, longer than
// Telegram keeps an update: the same key gets the same answer, and nothing
// is consumed, counted or sent a second time. The answer is stored by the
// same script that consumes the code or counts the limits, so there is no
// moment at which one happened without the other. A code's SMS goes out at
// most once per key (the answer is decided before the gateway is called);
// a notice at least once and, but for a crash right after the gateway took
// it, once.
//
// # Keys
//
// All keys are under the prefix given to New (which must not contain "{");
// ids are internal numbers, key is the event's key:
//
//	otp:{u:user}:code:account        hash: mac, exp, checks, send  (the live code)
//	otp:{u:user}:fail:account        hash: streak, until, locks, lastlock
//	otp:{u:user}:fail                the same, over all the user's accounts
//	otp:{u:user}:sends               sorted set of send ids scored by time (caps)
//	otp:{u:user}:pause               hash: until, send  (the resend pause)
//	otp:{u:user}:lookup              sorted set of keyed hashes of account numbers
//	otp:{u:user}:check:account:key   hash: verdict, n  (a check's answer)
//	otp:{u:user}:send:account:key    hash: state, send, verdict, ms  (a send's answer)
//	otp:{a:account}:sends            sorted set of send ids scored by time (caps)
//	otp:{a:account}:pause            hash: until, send
//	otp:{a:account}:send:user:key    hash: send  (the account counted this send)
//	otp:note:key                     "sending" or "sent": a notice (Notify)
//
// Every script touches the keys of one hash tag only, {u:user} or
// {a:account}, so that all of them live in one Redis Cluster slot and the
// scripts run on a cluster too (a script whose keys span slots fails with
// CROSSSLOT). A check only needs the user's keys: the code and both failure
// streaks are the user's (the per-pair ones are the user's keys for that
// account). A send counts a user's caps and an account's caps, which no one
// tag can hold, so it runs as three scripts in order: the user's locks,
// pause and caps are checked and the send reserved in the user's slot; the
// account's pause and caps in the account's slot; then, in the user's slot
// again, the code is stored (or the user's reservation given back when the
// account said wait). Each step records under the event's key what it did,
// so that a crash between two steps is resumed by the same key without
// counting anything twice; a reservation given back may have made a
// parallel request wait for a moment, never let one through a cap.
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
	"strconv"
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

// RecordTTL is how long the answer to a keyed Send, Check or Notify is
// remembered: longer than Telegram keeps an update it could deliver again
// (24 hours), like the bot's own record of handled updates.
const RecordTTL = 25 * time.Hour

// userKey names one of a Telegram user's keys, in the slot of the hash tag
// {u:<user>} (see the package comment).
func (s *Service) userKey(userID int64, parts ...any) string {
	return s.tagged(fmt.Sprintf("{u:%d}", userID), parts)
}

// accountKey names one of an account's keys, in the slot of {a:<account>}.
func (s *Service) accountKey(accountID int64, parts ...any) string {
	return s.tagged(fmt.Sprintf("{a:%d}", accountID), parts)
}

func (s *Service) tagged(tag string, parts []any) string {
	var b strings.Builder
	b.WriteString(s.prefix)
	b.WriteString("otp:")
	b.WriteString(tag)
	for _, p := range parts {
		fmt.Fprintf(&b, ":%v", p)
	}
	return b.String()
}

// codeKey holds the live code of a (user, account) pair.
func (s *Service) codeKey(userID, accountID int64) string {
	return s.userKey(userID, "code", accountID)
}

// eventKey is key, or a key of its own for a call that names no event
// (such a call is never taken for another one).
func eventKey(key string) string {
	if key == "" {
		return "once-" + newID()
	}
	return key
}

func (s *Service) nowMs() int64 { return s.now().UnixMilli() }

func ms(d time.Duration) int64 { return d.Milliseconds() }

// capsLua is shared by the scripts that count a side's caps: waitForCaps
// drops sends older than history from the sorted set key and answers how
// long until one more send fits every window (ARGV from first on: pairs of
// period ms and max), 0 if it fits now.
const capsLua = `
local function waitForCaps(key, now, history, first)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now - history))
  local wait = 0
  for w = first, #ARGV, 2 do
    local period = tonumber(ARGV[w])
    local limit = tonumber(ARGV[w + 1])
    local since = string.format('(%d', now - period)
    local count = redis.call('ZCOUNT', key, since, '+inf')
    if count >= limit then
      -- a slot frees when the (count-limit+1)-th oldest send leaves the window
      local e = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
      wait = math.max(wait, tonumber(e[2]) + period - now)
    end
  end
  return wait
end
`

// sendUserScript is a send's first step, in the user's slot. It answers
// from the event's record when there is one: {"done", verdict, ms} for a
// send already decided, {"pending", send id, 0} for one reserved before a
// crash (the caller resumes it with that id). Otherwise it checks the
// locks (a lock is the answer, recorded), then the user's pause and caps:
// when they stand it answers {"wait", "", ms} and records nothing, since
// nothing was counted; when they pass it counts the send, sets the pause
// and records the reservation. Doing it in one script means two parallel
// requests cannot both squeeze under the user's cap.
//
// KEYS: 1 pair fail, 2 user fail, 3 user sends, 4 user pause, 5 record.
// ARGV: 1 now, 2 pause, 3 history, 4 send id, 5 record TTL (all ms but 4),
// then pairs of (window period ms, max).
var sendUserScript = redis.NewScript(capsLua + `
local rec = redis.call('HMGET', KEYS[5], 'state', 'send', 'verdict', 'ms')
if rec[1] == 'done' then return {'done', rec[3], tonumber(rec[4])} end
if rec[1] == 'pending' then return {'pending', rec[2], 0} end

local now = tonumber(ARGV[1])
local pause = tonumber(ARGV[2])
local ttl = tonumber(ARGV[5])
local locked = 0
for i = 1, 2 do
  local untilMs = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if untilMs > now then locked = math.max(locked, untilMs - now) end
end
if locked > 0 then
  redis.call('HSET', KEYS[5], 'state', 'done', 'verdict', 'locked', 'ms', locked)
  redis.call('PEXPIRE', KEYS[5], ttl)
  return {'done', 'locked', locked}
end

local wait = 0
local untilMs = tonumber(redis.call('HGET', KEYS[4], 'until') or '0')
if untilMs > now then wait = untilMs - now end
wait = math.max(wait, waitForCaps(KEYS[3], now, tonumber(ARGV[3]), 6))
if wait > 0 then return {'wait', '', wait} end

redis.call('ZADD', KEYS[3], now, ARGV[4])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[3]))
if pause > 0 then
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[4], 'until', now + pause, 'send', ARGV[4])
  redis.call('PEXPIRE', KEYS[4], pause)
end
redis.call('HSET', KEYS[5], 'state', 'pending', 'send', ARGV[4])
redis.call('PEXPIRE', KEYS[5], ttl)
return {'pending', ARGV[4], 0}
`)

// sendAccountScript is a send's second step, in the account's slot. A
// reservation recorded under the event's key is answered {"ok", 0} again
// without counting. Otherwise it checks the account's pause and caps and,
// when they pass and the user's side reserved (ARGV 6 is "1"), counts the
// send, sets the pause and records that; when they stand, or the user
// waits, it answers {"wait", ms} and changes nothing.
//
// KEYS: 1 account sends, 2 account pause, 3 record.
// ARGV: 1 now, 2 pause, 3 history, 4 send id, 5 record TTL, 6 reserve
// (1/0), then pairs of (window period ms, max).
var sendAccountScript = redis.NewScript(capsLua + `
if redis.call('HGET', KEYS[3], 'send') then return {'ok', 0} end
local now = tonumber(ARGV[1])
local pause = tonumber(ARGV[2])
local wait = 0
local untilMs = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
if untilMs > now then wait = untilMs - now end
wait = math.max(wait, waitForCaps(KEYS[1], now, tonumber(ARGV[3]), 7))
if wait > 0 or ARGV[6] ~= '1' then return {'wait', wait} end

redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
if pause > 0 then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'until', now + pause, 'send', ARGV[4])
  redis.call('PEXPIRE', KEYS[2], pause)
end
redis.call('HSET', KEYS[3], 'send', ARGV[4])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]))
return {'ok', 0}
`)

// sendFinishScript is a send's last step, in the user's slot, and what
// decides its answer, recorded under the event's key. With the user's
// reservation and the account's "ok" it stores the new code, replacing the
// old one: {"sent", 0}. With the reservation and an account that said wait,
// it gives the reservation back (the send was not made, so it takes nothing
// from the user's caps or pause): {"wait", ms}. Without a reservation (the
// user waits) it is {"wait", ms} too. A record already decided is answered
// as it is.
//
// A code that is sent is also marked due for delivery in the record
// ('dlv'), with its SMS text ('sms'; empty and 'decoy' for a decoy), for
// Deliver.
//
// KEYS: 1 user sends, 2 user pause, 3 code, 4 record.
// ARGV: 1 now, 2 code TTL, 3 mac, 4 send id, 5 the account's verdict,
// 6 the wait to tell (ms), 7 record TTL, 8 the SMS text ("" for a decoy).
var sendFinishScript = redis.NewScript(`
local rec = redis.call('HMGET', KEYS[4], 'state', 'send', 'verdict', 'ms')
if rec[1] == 'done' then return {rec[3], tonumber(rec[4])} end
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[7])
if rec[1] == 'pending' and rec[2] == ARGV[4] then
  if ARGV[5] == 'ok' then
    redis.call('DEL', KEYS[3])
    redis.call('HSET', KEYS[3], 'mac', ARGV[3], 'exp', now + tonumber(ARGV[2]), 'checks', 0, 'send', ARGV[4])
    redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[2]))
    redis.call('HSET', KEYS[4], 'state', 'done', 'verdict', 'sent', 'ms', 0)
    if ARGV[8] == '' then
      redis.call('HSET', KEYS[4], 'dlv', 'decoy')
    else
      redis.call('HSET', KEYS[4], 'dlv', 'due', 'sms', ARGV[8])
    end
    redis.call('PEXPIRE', KEYS[4], ttl)
    return {'sent', 0}
  end
  redis.call('ZREM', KEYS[1], ARGV[4])
  if redis.call('HGET', KEYS[2], 'send') == ARGV[4] then redis.call('DEL', KEYS[2]) end
end
redis.call('HSET', KEYS[4], 'state', 'done', 'verdict', 'wait', 'ms', tonumber(ARGV[6]))
redis.call('PEXPIRE', KEYS[4], ttl)
return {'wait', tonumber(ARGV[6])}
`)

// unsendUserScript undoes, in the user's slot, what a send whose SMS failed
// must not leave behind: its code (nobody received it) and the user's
// resend pause (the person did nothing wrong and may retry at once); the
// event's answer becomes "failed". The entries in the send histories stay,
// so failed sends still count toward the caps: otherwise a number that
// makes the SMS gateway fail could be hammered without limit, and each
// attempt may cost the provider money (SMS pumping).
//
// KEYS: 1 code, 2 user pause, 3 record. ARGV: 1 send id.
var unsendUserScript = redis.NewScript(`
for i = 1, 2 do
  if redis.call('HGET', KEYS[i], 'send') == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
if redis.call('HGET', KEYS[3], 'send') == ARGV[1] then
  redis.call('HSET', KEYS[3], 'state', 'done', 'verdict', 'failed', 'ms', 0)
end
return 0
`)

// unsendAccountScript gives back the account's resend pause of a send
// whose SMS failed, if no newer send set it. KEYS: 1 account pause. ARGV: 1 send id.
var unsendAccountScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'send') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)

// ErrSendFailed is what Send answers, again, for an event whose SMS failed:
// the answer to a key does not change, and that answer was a failure.
var ErrSendFailed = errors.New("the SMS of this request failed")

// Send issues a new code for (userID, accountID), to go by SMS to phone
// when Deliver is called with the same key, once per key: a Send with a key
// seen before (the same update delivered again after a crash) answers what
// that one answered and counts nothing again. Redis is asked first: when it
// is unreachable, or a limit or lock stands, nothing is issued. Send calls
// no gateway, so the turn that calls it, under its chat's lock, never waits
// for one; until delivered, the SMS text (with the code) waits in the
// send's record, at most RecordTTL, and is deleted once delivered.
//
// An empty phone is a decoy for an account number that does not exist:
// everything happens as for a real send, and Deliver sends nothing but
// takes about as long as recent real sends took.
func (s *Service) Send(ctx context.Context, key string, userID, accountID int64, phone string, lang string) (res dialogs.SendResult, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("otp: send code: %w", err)
		}
	}()
	key = eventKey(key)
	code, err := s.newCode()
	if err != nil {
		return dialogs.SendResult{}, err
	}
	l := s.limits
	var windows []any
	for _, w := range l.Windows {
		windows = append(windows, ms(w.Period), w.Max)
	}
	now := s.nowMs()
	rec := s.userKey(userID, "send", accountID, key)
	userPause := s.userKey(userID, "pause")
	userSends := s.userKey(userID, "sends")

	reply, err := sendUserScript.Run(ctx, s.rdb,
		[]string{s.userKey(userID, "fail", accountID), s.userKey(userID, "fail"), userSends, userPause, rec},
		append([]any{now, ms(l.ResendPause), ms(l.history()), newID(), ms(RecordTTL)}, windows...)...).Slice()
	if err != nil {
		return dialogs.SendResult{}, fmt.Errorf("reserve: %w", err)
	}
	if len(reply) != 3 {
		return dialogs.SendResult{}, fmt.Errorf("reserve: unexpected reply of %d values", len(reply))
	}
	step, _ := reply[0].(string)
	detail, _ := reply[1].(string)
	userWait, _ := reply[2].(int64)
	switch step {
	case "done": // decided before: the same answer, nothing sent
		return sendResult(detail, userWait)
	case "pending", "wait":
	default:
		return dialogs.SendResult{}, fmt.Errorf("reserve: unexpected step %q", step)
	}
	sendID, reserved := detail, step == "pending"

	accountPause := s.accountKey(accountID, "pause")
	flag := "0"
	if reserved {
		flag = "1"
	}
	accVerdict, accWait, err := runVerdict(ctx, sendAccountScript, s.rdb,
		[]string{s.accountKey(accountID, "sends"), accountPause, s.accountKey(accountID, "send", userID, key)},
		append([]any{now, ms(l.ResendPause), ms(l.history()), sendID, ms(RecordTTL), flag}, windows...))
	if err != nil {
		return dialogs.SendResult{}, fmt.Errorf("reserve for the account: %w", err)
	}
	wait := max(time.Duration(userWait)*time.Millisecond, accWait)
	text := ""
	if phone != "" {
		text = s.text(lang, code)
	}
	verdict, wait, err := runVerdict(ctx, sendFinishScript, s.rdb,
		[]string{userSends, userPause, s.codeKey(userID, accountID), rec},
		[]any{now, ms(l.CodeTTL), s.mac(userID, accountID, code), sendID, accVerdict, ms(wait), ms(RecordTTL), text})
	if err != nil {
		return dialogs.SendResult{}, fmt.Errorf("store the code: %w", err)
	}
	return sendResult(verdict, ms(wait))
}

// Deliver sends the SMS of the code that Send issued under key, after the
// turn that called Send was saved and outside its chat's lock. A code
// delivered before is not sent again; the one case of two SMS is a process
// that dies after the gateway took it and before it is marked, and then the
// same code goes twice. A code that is no longer the live one (it expired
// while the chat's replies waited, or a newer one replaced it) is not sent.
// When the gateway refuses, the code is withdrawn and the resend pauses
// are given back, but the attempt still counts toward the caps (see
// unsendUserScript); the answer is dialogs.ErrCodeUndelivered then, as for
// a dead code. It implements dialogs.Codes.
func (s *Service) Deliver(ctx context.Context, key string, userID, accountID int64, phone string) (err error) {
	defer func() {
		if err != nil && !errors.Is(err, dialogs.ErrCodeUndelivered) {
			err = fmt.Errorf("otp: deliver code: %w", err)
		}
	}()
	rec := s.userKey(userID, "send", accountID, eventKey(key))
	vals, err := s.rdb.HMGet(ctx, rec, "verdict", "send", "dlv", "sms").Result()
	if err != nil {
		return fmt.Errorf("read the send: %w", err)
	}
	str := func(i int) string { v, _ := vals[i].(string); return v }
	verdict, sendID, dlv, text := str(0), str(1), str(2), str(3)
	switch {
	case verdict != "sent" || dlv == "failed":
		return dialogs.ErrCodeUndelivered
	case dlv == "sent":
		return nil
	case dlv == "decoy":
		if err := s.waitLikeSMS(ctx); err != nil {
			return fmt.Errorf("decoy: %w", err)
		}
		return s.markDelivered(ctx, rec, "sent")
	}
	code, err := s.rdb.HMGet(ctx, s.codeKey(userID, accountID), "send", "exp").Result()
	if err != nil {
		return fmt.Errorf("read the code: %w", err)
	}
	live, _ := code[0].(string)
	exp, _ := code[1].(string)
	expMs, _ := strconv.ParseInt(exp, 10, 64)
	if live != sendID || expMs <= s.nowMs() || phone == "" {
		if err := s.markDelivered(ctx, rec, "failed"); err != nil {
			return err
		}
		return dialogs.ErrCodeUndelivered
	}
	start := time.Now() // real time, not s.now: this measures the gateway
	err = s.sender.Send(ctx, phone, text)
	s.recordSMSTime(time.Since(start))
	// The rollback or the mark must happen even when the request's context
	// is what failed the SMS, or it ended as the gateway answered.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err != nil {
		uerr := errors.Join(
			unsendUserScript.Run(bg, s.rdb, []string{s.codeKey(userID, accountID), s.userKey(userID, "pause"), rec}, sendID).Err(),
			unsendAccountScript.Run(bg, s.rdb, []string{s.accountKey(accountID, "pause")}, sendID).Err(),
			s.markDelivered(bg, rec, "failed"))
		if uerr != nil {
			return errors.Join(fmt.Errorf("sms: %w", err), fmt.Errorf("roll back: %w", uerr))
		}
		return fmt.Errorf("sms: %v: %w", err, dialogs.ErrCodeUndelivered)
	}
	return s.markDelivered(bg, rec, "sent")
}

// markDelivered records how a send's delivery ended and forgets its text.
func (s *Service) markDelivered(ctx context.Context, rec, how string) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, rec, "dlv", how)
		p.HDel(ctx, rec, "sms")
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark delivery: %w", err)
	}
	return nil
}

// sendResult turns a recorded verdict into Send's answer.
func sendResult(verdict string, waitMs int64) (dialogs.SendResult, error) {
	wait := time.Duration(waitMs) * time.Millisecond
	switch verdict {
	case "sent":
		return dialogs.SendResult{Sent: true}, nil
	case "locked":
		return dialogs.SendResult{Locked: true, RetryAfter: wait}, nil
	case "wait":
		return dialogs.SendResult{RetryAfter: wait}, nil
	case "failed":
		return dialogs.SendResult{}, ErrSendFailed
	}
	return dialogs.SendResult{}, fmt.Errorf("unexpected verdict %q", verdict)
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
	verdict, n, err := runPair(ctx, script, rdb, keys, args)
	return verdict, time.Duration(n) * time.Millisecond, err
}

// runPair runs a script that answers {verdict, number}.
func runPair(ctx context.Context, script *redis.Script, rdb redis.UniversalClient, keys []string, args []any) (string, int64, error) {
	reply, err := script.Run(ctx, rdb, keys, args...).Slice()
	if err != nil {
		return "", 0, err
	}
	if len(reply) != 2 {
		return "", 0, fmt.Errorf("unexpected reply of %d values", len(reply))
	}
	verdict, _ := reply[0].(string)
	n, _ := reply[1].(int64)
	return verdict, n, nil
}

// checkScript is a whole check in one step, in the user's slot: the answer
// recorded under the event's key if there is one; else the locks, then one
// check taken from the live code, the comparison of the stored MAC with
// the typed code's, and then the code consumed and the failure streaks
// ended (right), or the failure counted against the pair and the user,
// locking when a streak reaches the limit (wrong); and the answer recorded.
// Because it all happens at once, 50 parallel guesses get at most MaxChecks
// comparisons, a right code is consumed by exactly one check, and a crash
// cannot separate the code being consumed from the answer being kept.
//
// The MACs are compared in constant time: every byte is looked at, and
// the differences are OR-ed together. A lock is LockBase doubled for every
// lock within LockMemory before it, capped at LockMax.
//
// KEYS: 1 pair fail, 2 user fail, 3 code, 4 record.
// ARGV: 1 now, 2 max checks, 3 the typed code's MAC, 4 max failures,
// 5 lock base, 6 lock max, 7 lock memory, 8 record TTL (all ms).
// Returns {"ok", 0}, {"wrong", tries left}, {"expired", 0} or {"locked", ms}.
var checkScript = redis.NewScript(`
local rec = redis.call('HMGET', KEYS[4], 'verdict', 'n')
if rec[1] then return {rec[1], tonumber(rec[2])} end
local now = tonumber(ARGV[1])
local function answer(verdict, n)
  redis.call('HSET', KEYS[4], 'verdict', verdict, 'n', n)
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[8]))
  return {verdict, n}
end

local locked = 0
for i = 1, 2 do
  local untilMs = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if untilMs > now then locked = math.max(locked, untilMs - now) end
end
if locked > 0 then return answer('locked', locked) end

local c = redis.call('HMGET', KEYS[3], 'mac', 'exp', 'checks')
if not c[1] then return answer('expired', 0) end
if tonumber(c[2]) <= now then
  redis.call('DEL', KEYS[3])
  return answer('expired', 0)
end
if tonumber(c[3]) >= tonumber(ARGV[2]) then return answer('expired', 0) end
local checks = redis.call('HINCRBY', KEYS[3], 'checks', 1)

local stored, typed = c[1], ARGV[3]
local diff = 0
if #stored ~= #typed then diff = 1 end
for i = 1, math.min(#stored, #typed) do
  diff = bit.bor(diff, bit.bxor(string.byte(stored, i), string.byte(typed, i)))
end
if diff == 0 then
  redis.call('DEL', KEYS[3])
  for i = 1, 2 do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], 'streak', 0) end
  end
  return answer('ok', 0)
end

local maxFailures = tonumber(ARGV[4])
local base = tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local memory = tonumber(ARGV[7])
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
if locked > 0 then return answer('locked', locked) end
return answer('wrong', math.max(tonumber(ARGV[2]) - checks, 0))
`)

// Check checks a typed code for (userID, accountID), once per key: a Check
// with a key seen before (the same update delivered again after a crash)
// answers what that one answered, without taking a check, consuming a code
// or counting a failure again; so a right code whose turn was never
// committed still says CheckOK when its update comes again.
//
// Surrounding spaces are ignored; anything else that is not the code
// counts as a wrong guess, since telling malformed input apart would give a
// guesser free tries. A right code is consumed; a wrong one counts toward
// the lock, and the check that reaches the lock answers CheckLocked. A
// check refused without comparing (no live code, or its checks used up)
// does not count toward the lock: nothing was guessed.
func (s *Service) Check(ctx context.Context, key string, userID, accountID int64, code string) (res dialogs.CheckResult, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("otp: check code: %w", err)
		}
	}()
	l := s.limits
	keys := []string{
		s.userKey(userID, "fail", accountID),
		s.userKey(userID, "fail"),
		s.codeKey(userID, accountID),
		s.userKey(userID, "check", accountID, eventKey(key)),
	}
	verdict, n, err := runPair(ctx, checkScript, s.rdb, keys, []any{s.nowMs(), l.MaxChecks,
		s.mac(userID, accountID, strings.TrimSpace(code)), l.MaxFailures, ms(l.LockBase), ms(l.LockMax), ms(l.LockMemory), ms(RecordTTL)})
	if err != nil {
		return dialogs.CheckResult{}, err
	}
	switch verdict {
	case "ok":
		return dialogs.CheckResult{Outcome: dialogs.CheckOK}, nil
	case "wrong":
		return dialogs.CheckResult{Outcome: dialogs.CheckWrong, TriesLeft: int(n)}, nil
	case "expired":
		return dialogs.CheckResult{Outcome: dialogs.CheckExpired}, nil
	case "locked":
		return dialogs.CheckResult{Outcome: dialogs.CheckLocked, RetryAfter: time.Duration(n) * time.Millisecond}, nil
	}
	return dialogs.CheckResult{}, fmt.Errorf("unexpected verdict %q", verdict)
}

// claimNoticeScript claims a notice for sending unless it was sent: a
// claim left by a call that never finished (its process died before it
// heard the gateway) is taken over.
//
// KEYS: 1 notice. ARGV: 1 record TTL ms. Returns 1 if the caller must send.
var claimNoticeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == 'sent' then return 0 end
redis.call('SET', KEYS[1], 'sending', 'PX', ARGV[1])
return 1
`)

// Notify sends text to phone once per key: the "a Telegram account was
// linked" notice of a turn that a crash made run twice goes out once. The
// key is claimed before the gateway is called and marked sent after it
// answered; a failed call releases it. A claim found unfinished was left by
// a process that died during the call (one update is handled by one process
// at a time, under its chat's lock), and the notice is sent again: it may
// have gone out if the process died after the gateway took it and before
// the mark, the one case in which it is sent twice; it is never lost.
// Nothing is held while the gateway is called: the claim is a mark, not a
// lock. An empty key sends every time. It implements dialogs.Notifier.
func (s *Service) Notify(ctx context.Context, key, phone, text string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("otp: notify: %w", err)
		}
	}()
	if key == "" {
		if err := s.sender.Send(ctx, phone, text); err != nil {
			return fmt.Errorf("sms: %w", err)
		}
		return nil
	}
	notice := s.prefix + "otp:note:" + key
	send, err := claimNoticeScript.Run(ctx, s.rdb, []string{notice}, ms(RecordTTL)).Int()
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if send == 0 {
		return nil // sent for this key before
	}
	// The gateway's answer and the mark must not be lost to the request's
	// context once the SMS may be out.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.sender.Send(ctx, phone, text); err != nil {
		if uerr := s.rdb.Del(bg, notice).Err(); uerr != nil {
			return errors.Join(fmt.Errorf("sms: %w", err), fmt.Errorf("release: %w", uerr))
		}
		return fmt.Errorf("sms: %w", err)
	}
	if err := s.rdb.Set(bg, notice, "sent", RecordTTL).Err(); err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
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
	ok, err := lookupScript.Run(ctx, s.rdb, []string{s.userKey(userID, "lookup")},
		s.nowMs(), ms(lookupWindow), s.limits.LookupsPerDay, member).Int()
	if err != nil {
		return false, fmt.Errorf("otp: allow lookup: %w", err)
	}
	return ok == 1, nil
}
