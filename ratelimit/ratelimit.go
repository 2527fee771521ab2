// Package ratelimit is a send budget shared by every instance of the bot: a
// rate with a burst kept in Redis by the generic cell rate algorithm (GCRA),
// and a shared pause, so that all instances together stay under a limit that
// Telegram counts for the whole bot, and a 429 seen by one of them stops them
// all for its retry_after.
//
// GCRA keeps one number per key, the theoretical arrival time (TAT) of the
// next message: a message may go at max(now, TAT - (burst-1)·interval), and
// each one moves TAT on by one interval. There is no counter to reset and no
// window edge to burst across.
//
// Why its own Lua script rather than github.com/go-redis/redis_rate/v10
// (v10.0.1, the newest on the module proxy): redis_rate answers "allowed
// now, or retry after d", so a waiter sleeps d and asks again; when waiters
// of several instances wake for the same slot, all but one ask again for
// nothing, and with a burst of 1, as a bulk lane wants, every slot loses the
// time between its opening and the winner's next request, so the lane runs
// below its rate. The script here reserves instead: it books the next slot
// (TAT moves on at once) and answers how long until it, so a waiter sleeps
// once and goes on its slot, waiters of every instance go in the order they
// asked, and the slots keep to Redis's clock whatever the instances'
// scheduling delays. The same script reads the lane's pause in the same
// atomic step; redis_rate knows no pause, so it would take a second script
// or a race between the check and the booking. Time is Redis's (TIME), so
// the instances' clocks need not agree.
//
// Reserving has one hazard, which Wait guards against: a process that
// stalls (short of CPU, paused by the runtime) wakes all its waiters at
// once, and their slots, booked at the right rate, would then reach
// Telegram as one burst. A waiter woken more than five intervals late gives
// its slot up and books a new one (TestWaitersWokenLateDoNotBurst). Two
// instances sending 2,000 pushes at 100/s through it got no 429 from an
// emulator enforcing 100/s and kept to 97-100% of the rate, with -race on 2
// cores busy with other jobs (bot's BenchmarkTwoInstancesShareTheBulkBudget).
//
// Keys are prefix + "rate:{" + key + "}" (the TAT) and the same with
// ":pause": the hash tag puts both in one slot, so the script runs on Redis
// Cluster. Both always carry a TTL: the TAT lives until it is in the past
// (then it means nothing), the pause as long as the pause. Redis 5 or newer
// (scripts replicated by their effects).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limit is a rate with a burst.
type Limit struct {
	// Rate is how many events a second, above 0.
	Rate float64
	// Burst is how many may go at once after a quiet spell (at least 1; 1
	// spaces every event by 1/Rate).
	Burst int
}

func (l Limit) String() string { return fmt.Sprintf("%g/s (burst %d)", l.Rate, l.Burst) }

// Limiter is one instance's handle on budgets shared through Redis; every
// Limiter with the same Redis, prefix and key shares one budget. It is safe
// for concurrent use.
type Limiter struct {
	rdb      redis.UniversalClient
	prefix   string
	limit    Limit
	interval int64         // microseconds between two events
	slack    time.Duration // how late a waiter may wake and still take its slot
	sleep    func(ctx context.Context, d time.Duration) error
}

// maxRebook bounds how many slots one Wait gives up for waking late, so a
// machine that is always slow still sends.
const maxRebook = 2

// New returns a Limiter for limit. prefix separates bots and tests sharing
// one Redis ("kabinet:<bot id>:"). A rate that is not positive panics: it is
// a programming error, since configuration is validated before.
func New(rdb redis.UniversalClient, prefix string, limit Limit) *Limiter {
	if !(limit.Rate > 0) || math.IsInf(limit.Rate, 0) {
		panic(fmt.Sprintf("ratelimit: rate %v is not a positive number", limit.Rate))
	}
	limit.Burst = max(limit.Burst, 1)
	interval := max(int64(math.Round(1e6/limit.Rate)), 1)
	// Five events' worth of lateness, but at least the 10 ms a busy
	// machine's timers may run late anyway.
	slack := max(5*time.Duration(interval)*time.Microsecond, 10*time.Millisecond)
	return &Limiter{rdb: rdb, prefix: prefix, limit: limit, interval: interval, slack: slack, sleep: sleep}
}

// Limit is the rate and burst this Limiter books by.
func (l *Limiter) Limit() Limit { return l.limit }

func (l *Limiter) keys(key string) []string {
	tat := l.prefix + "rate:{" + key + "}"
	return []string{tat, tat + ":pause"}
}

// The answers of reserveScript.
const (
	reservePaused = 0 // not booked: the lane is paused for the returned wait
	reserveBooked = 1 // booked: go after the returned wait
	reserveTooFar = 2 // not booked: the slot is further than the wait allowed
)

// reserveScript books the next slot of a GCRA budget unless the lane is
// paused, and answers {status, microseconds to wait}.
//
// KEYS: TAT, pause. ARGV: interval µs, burst, longest wait µs (-1: any).
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {0, paused * 1000} end
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - (tonumber(ARGV[2]) - 1) * interval - now
if wait < 0 then wait = 0 end
local longest = tonumber(ARGV[3])
if longest >= 0 and wait > longest then return {2, wait} end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1)
return {1, wait}`)

// pauseScript closes the lane for ARGV[1] ms from now, never shortening a
// longer pause already set. KEYS: pause.
var pauseScript = redis.NewScript(`
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 0`)

// ErrDeadline is wrapped by Wait's error when the next slot comes after the
// context's deadline; no slot is booked then, so none is wasted.
var ErrDeadline = errors.New("ratelimit: the next slot is after the deadline")

// Wait blocks until key's budget gives this caller a slot and the lane is
// not paused. It books the slot first and then sleeps exactly until it, so
// waiters of every instance go in the order they asked, one round trip each
// (two when they had to sleep: the pause is read again on waking, since a
// 429 may have come meanwhile; the slot is then lost and the pause waited
// out).
//
// A waiter that wakes much later than its slot (a stalled process, a
// machine short of CPU: more than five intervals, at least 10 ms) gives the
// slot up and books a new one, up to twice: otherwise every waiter of a
// stalled instance would go at once when it resumes, a burst that Telegram
// answers with 429 although the booked rate was right.
//
// It returns the context's error when ctx ends first, and one wrapping
// ErrDeadline and context.DeadlineExceeded at once when the slot would come
// after ctx's deadline.
func (l *Limiter) Wait(ctx context.Context, key string) error {
	keys := l.keys(key)
	for rebooked := 0; ; {
		longest := int64(-1)
		if dl, ok := ctx.Deadline(); ok {
			longest = max(time.Until(dl).Microseconds(), 0)
		}
		status, wait, err := l.reserve(ctx, keys, longest)
		if err != nil {
			return err
		}
		switch status {
		case reserveTooFar:
			return fmt.Errorf("ratelimit %s: slot in %v: %w (%w)", key, wait, ErrDeadline, context.DeadlineExceeded)
		case reservePaused:
			if err := l.sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if wait <= 0 {
			return nil
		}
		due := time.Now().Add(wait)
		if err := l.sleep(ctx, wait); err != nil {
			return err
		}
		paused, err := l.Paused(ctx, key)
		if err != nil {
			return err
		}
		if paused > 0 {
			if err := l.sleep(ctx, paused); err != nil {
				return err
			}
			continue
		}
		if time.Since(due) > l.slack && rebooked < maxRebook {
			rebooked++
			continue
		}
		return nil
	}
}

func (l *Limiter) reserve(ctx context.Context, keys []string, longest int64) (status int64, wait time.Duration, err error) {
	res, err := reserveScript.Run(ctx, l.rdb, keys, l.interval, l.limit.Burst, longest).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("ratelimit %s: %w", keys[0], err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("ratelimit %s: the script answered %v", keys[0], res)
	}
	return res[0], time.Duration(res[1]) * time.Microsecond, nil
}

// Pause closes key's lane for d for every instance (a 429's retry_after):
// Wait lets nobody through until it is over. A shorter pause than one
// already set changes nothing.
func (l *Limiter) Pause(ctx context.Context, key string, d time.Duration) error {
	ms := (d + time.Millisecond - 1).Milliseconds() // never shorter than asked
	if ms <= 0 {
		return nil
	}
	if err := pauseScript.Run(ctx, l.rdb, l.keys(key)[1:], ms).Err(); err != nil {
		return fmt.Errorf("ratelimit %s: pause: %w", key, err)
	}
	return nil
}

// Paused tells how much longer key's lane is paused, 0 when it is open.
func (l *Limiter) Paused(ctx context.Context, key string) (time.Duration, error) {
	left, err := l.rdb.PTTL(ctx, l.keys(key)[1]).Result()
	if err != nil {
		return 0, fmt.Errorf("ratelimit %s: %w", key, err)
	}
	// go-redis gives PTTL's -1 and -2 (no TTL, no key) as those many
	// nanoseconds, anything else as the time left.
	if left <= 0 {
		return 0, nil
	}
	return left, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Take books key's next slot if it comes within d and waits for it (true);
// otherwise it books nothing and tells how long until a slot is free or
// the lane's pause ends (false). It is for a sender that has other work:
// instead of sleeping long it puts the message aside until then.
func (l *Limiter) Take(ctx context.Context, key string, within time.Duration) (ok bool, retryIn time.Duration, err error) {
	status, wait, err := l.reserve(ctx, l.keys(key), within.Microseconds())
	if err != nil {
		return false, 0, err
	}
	if status != reserveBooked {
		return false, wait, nil
	}
	if err := l.sleep(ctx, wait); err != nil {
		return false, 0, err
	}
	return true, 0, nil
}
