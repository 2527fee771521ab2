package state

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// TimerEntry is a payload to hand back at Due. Payloads must be unique
// (include an id): equal payloads are kept once.
type TimerEntry struct {
	Due     time.Time
	Payload []byte
}

func (s *Store) timersKey() string { return s.prefix + "{timers}" }
func (s *Store) leaseKey() string  { return s.prefix + "{timers}:lease" }

// addTimers queues a turn's timers in p (see Commit for why outside the
// turn's script).
func (s *Store) addTimers(ctx context.Context, p redis.Pipeliner, timers []TimerEntry) {
	for _, tm := range timers {
		p.ZAdd(ctx, s.timersKey(), redis.Z{Score: float64(tm.Due.UnixMilli()), Member: tm.Payload})
	}
}

// claimScript leases up to ARGV[2] timers due by ARGV[1] to the caller for
// ARGV[3] ms, in one step, so that of several instances exactly one gets each
// timer; leases that ran out (their holder died) are handed out again.
// KEYS: timers, leases (both shared keys, one slot each: a script over two
// keys needs them in one slot, hence the common hash tag in their names).
var claimScript = redis.NewScript(`
local now, max, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, max)) do
  redis.call('ZADD', KEYS[2], now + lease, m)
  table.insert(out, m)
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, max)) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[2], now + lease, m)
  table.insert(out, m)
end
return out`)

// TimerLease is how long a claimed timer belongs to its claimer before
// another instance may take it (the claimer died before Ack). A claimer
// that is still working on it extends the lease (ExtendTimer).
const TimerLease = 30 * time.Second

// DueTimers claims the timers due at now (at most max, plus leases that ran
// out). A claimed timer must be Acked once handled, or Rescheduled.
func (s *Store) DueTimers(ctx context.Context, now time.Time, max int) ([][]byte, error) {
	vals, err := claimScript.Run(ctx, s.rdb, []string{s.timersKey(), s.leaseKey()}, now.UnixMilli(), max, TimerLease.Milliseconds()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

// ExtendTimer keeps a claimed timer leased to the caller until now + TimerLease.
func (s *Store) ExtendTimer(ctx context.Context, payload []byte, now time.Time) error {
	if err := s.rdb.ZAddXX(ctx, s.leaseKey(), redis.Z{Score: float64(now.Add(TimerLease).UnixMilli()), Member: payload}).Err(); err != nil {
		return fmt.Errorf("extend timer: %w", err)
	}
	return nil
}

// Ack forgets a timer that was handled.
func (s *Store) Ack(ctx context.Context, payload []byte) error {
	if err := s.rdb.ZRem(ctx, s.leaseKey(), payload).Err(); err != nil {
		return fmt.Errorf("ack timer: %w", err)
	}
	return nil
}

// Reschedule replaces a claimed timer by next (the same timer with its
// count of tries), due at due.
func (s *Store) Reschedule(ctx context.Context, payload, next []byte, due time.Time) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.leaseKey(), payload)
		p.ZAdd(ctx, s.timersKey(), redis.Z{Score: float64(due.UnixMilli()), Member: next})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reschedule timer: %w", err)
	}
	return nil
}
