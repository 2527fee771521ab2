// Package state keeps what the bot must remember between updates in Redis:
// each conversation's dialog state, which updates were already handled, the
// replies still to be sent (the outbox) and the per-chat lock that keeps one
// chat's updates strictly one at a time across several bot instances.
//
// Saving a turn is one Redis transaction: the new dialog state, the replies
// it produced and the "update handled" mark are written together or not at
// all. That is what makes a crash at any point lose nothing and repeat nothing
// but, at worst, the one reply that was being sent at that instant.
package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// ErrConflict means the dialog state changed between Load and Commit: another
// instance handled the chat meanwhile (its lock had expired). The update is
// then not acknowledged and comes again.
var ErrConflict = errors.New("state: dialog state changed concurrently")

// Settings for how long things are kept.
const (
	// DialogTTL: an abandoned conversation is forgotten after a day.
	DialogTTL = 24 * time.Hour
	// SeenTTL: Telegram keeps undelivered updates for 24 hours, so an
	// update_id cannot come again later than that.
	SeenTTL = 25 * time.Hour
	// LockTTL bounds how long a crashed instance can hold a chat. A live
	// holder keeps extending it (a 429 may make it wait longer than this).
	LockTTL = 15 * time.Second
)

// Store is the Redis adapter. Keys are "{prefix}{kind}:{bot}:{chat}...".
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	lockTTL time.Duration
}

// New returns a Store; prefix separates bots and tests sharing one Redis
// (e.g. "kabinet:123456:" with the bot's id).
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix, lockTTL: LockTTL}
}

func (s *Store) dialogKey(chat, user int64) string {
	return s.prefix + "dlg:" + strconv.FormatInt(chat, 10) + ":" + strconv.FormatInt(user, 10)
}
func (s *Store) seenKey(update int64) string {
	return s.prefix + "seen:" + strconv.FormatInt(update, 10)
}
func (s *Store) lockKey(chat int64) string   { return s.prefix + "lock:" + strconv.FormatInt(chat, 10) }
func (s *Store) outboxKey(chat int64) string { return s.prefix + "out:" + strconv.FormatInt(chat, 10) }
func (s *Store) pendingKey() string          { return s.prefix + "out:chats" }
func (s *Store) unreachableKey() string      { return s.prefix + "unreachable" }
func (s *Store) timersKey() string           { return s.prefix + "timers" }

// Turn is everything one handled update changes.
type Turn struct {
	Chat, User int64
	UpdateID   int64
	// Version is what Begin returned; Commit fails with ErrConflict if it moved.
	Version int64
	State   dialogs.State
	// SaveState is false for updates that do not touch the dialog (e.g. a member update).
	SaveState bool
	// Outbox items to append to the chat's outbox, in order.
	Outbox [][]byte
	// Timers to keep until they fall due (see DueTimers).
	Timers []TimerEntry
}

// TimerEntry is a payload to hand back at Due. Payloads must be unique
// (include an id): equal payloads are kept once.
type TimerEntry struct {
	Due     time.Time
	Payload []byte
}

// commitScript saves a turn in one round trip: the version check, the new
// state with its TTL, the outbox items, the "handled" mark and the timers, all
// or nothing (a Lua script runs without interruption).
//
// KEYS: dialog, outbox, pending chats, seen, timers.
// ARGV: save (0/1), expected version, state JSON, dialog TTL ms, seen TTL ms,
// chat, number of outbox items, the items, then timer (score, member) pairs.
var commitScript = redis.NewScript(`
if ARGV[1] == '1' then
  local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
  if cur ~= tonumber(ARGV[2]) then return 'conflict' end
  redis.call('HSET', KEYS[1], 'v', cur + 1, 's', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local n = tonumber(ARGV[7])
for i = 1, n do redis.call('RPUSH', KEYS[2], ARGV[7 + i]) end
if n > 0 then redis.call('SADD', KEYS[3], ARGV[6]) end
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], 1, 'PX', ARGV[5]) end
for i = 8 + n, #ARGV, 2 do redis.call('ZADD', KEYS[5], ARGV[i], ARGV[i + 1]) end
return 'ok'`)

// Commit saves a turn atomically: state (with a fresh TTL and the next
// version), outbox items, timers and the update's "handled" mark.
func (s *Store) Commit(ctx context.Context, t Turn) error {
	stateJSON, err := json.Marshal(t.State)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	save := "0"
	if t.SaveState {
		save = "1"
	}
	seen := ""
	if t.UpdateID != 0 {
		seen = s.seenKey(t.UpdateID)
	}
	args := []any{save, t.Version, stateJSON, DialogTTL.Milliseconds(), SeenTTL.Milliseconds(), t.Chat, len(t.Outbox)}
	for _, it := range t.Outbox {
		args = append(args, it)
	}
	for _, tm := range t.Timers {
		args = append(args, tm.Due.UnixMilli(), tm.Payload)
	}
	keys := []string{s.dialogKey(t.Chat, t.User), s.outboxKey(t.Chat), s.pendingKey(), seen, s.timersKey()}
	res, err := commitScript.Run(ctx, s.rdb, keys, args...).Text()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if res == "conflict" {
		return ErrConflict
	}
	return nil
}

// Snapshot is what a turn starts from: replies a crash left unsent, whether
// the update was handled before, and the dialog state with its version.
type Snapshot struct {
	Outbox  [][]byte
	Seen    bool
	State   dialogs.State
	Version int64
}

// Begin reads everything a turn starts from in one round trip. Call it
// holding the chat's lock, so that nothing changes between it and Commit.
func (s *Store) Begin(ctx context.Context, chat, user, updateID int64) (Snapshot, error) {
	var (
		outbox *redis.StringSliceCmd
		seen   *redis.IntCmd
		dlg    *redis.SliceCmd
	)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		outbox = p.LRange(ctx, s.outboxKey(chat), 0, -1)
		seen = p.Exists(ctx, s.seenKey(updateID))
		dlg = p.HMGet(ctx, s.dialogKey(chat, user), "v", "s")
		return nil
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("begin turn: %w", err)
	}
	var snap Snapshot
	for _, v := range outbox.Val() {
		snap.Outbox = append(snap.Outbox, []byte(v))
	}
	snap.Seen = updateID != 0 && seen.Val() > 0
	snap.State, snap.Version = decodeDialog(dlg.Val())
	return snap, nil
}

// decodeDialog reads the "v" and "s" fields of a dialog hash. A state
// written by an incompatible older version starts over rather than failing
// every update of its chat.
func decodeDialog(vals []any) (dialogs.State, int64) {
	var st dialogs.State
	if len(vals) != 2 || vals[0] == nil || vals[1] == nil {
		return st, 0
	}
	v, _ := vals[0].(string)
	version, _ := strconv.ParseInt(v, 10, 64)
	raw, _ := vals[1].(string)
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return dialogs.State{}, version
	}
	return st, version
}

// Outbox returns the chat's unsent items, oldest first.
func (s *Store) Outbox(ctx context.Context, chat int64) ([][]byte, error) {
	vals, err := s.rdb.LRange(ctx, s.outboxKey(chat), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

// popScript removes the outbox head and forgets the chat once its outbox is empty.
var popScript = redis.NewScript(`
redis.call('LPOP', KEYS[1])
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1`)

// Pop removes the oldest outbox item of a chat after it was sent.
func (s *Store) Pop(ctx context.Context, chat int64) error {
	if err := popScript.Run(ctx, s.rdb, []string{s.outboxKey(chat), s.pendingKey()}, chat).Err(); err != nil {
		return fmt.Errorf("pop outbox: %w", err)
	}
	return nil
}

// Clear drops a chat's outbox (the person blocked the bot).
func (s *Store) Clear(ctx context.Context, chat int64) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.outboxKey(chat))
		p.SRem(ctx, s.pendingKey(), chat)
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear outbox: %w", err)
	}
	return nil
}

// PendingChats lists chats whose outbox is not empty, e.g. after a crash.
func (s *Store) PendingChats(ctx context.Context) ([]int64, error) {
	vals, err := s.rdb.SMembers(ctx, s.pendingKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("pending chats: %w", err)
	}
	out := make([]int64, 0, len(vals))
	for _, v := range vals {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

// SetReachable records whether the bot can write to a chat (false after
// "bot was blocked by the user" until a my_chat_member update says otherwise).
func (s *Store) SetReachable(ctx context.Context, chat int64, ok bool) error {
	var err error
	if ok {
		err = s.rdb.SRem(ctx, s.unreachableKey(), chat).Err()
	} else {
		err = s.rdb.SAdd(ctx, s.unreachableKey(), chat).Err()
	}
	if err != nil {
		return fmt.Errorf("set reachable: %w", err)
	}
	return nil
}

// Reachable reports whether the bot may write to a chat.
func (s *Store) Reachable(ctx context.Context, chat int64) (bool, error) {
	blocked, err := s.rdb.SIsMember(ctx, s.unreachableKey(), chat).Result()
	if err != nil {
		return false, fmt.Errorf("reachable: %w", err)
	}
	return !blocked, nil
}

// unlockScript deletes the lock only if we still hold it.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// extendScript extends the lock only if we still hold it.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// SetLockTTL changes how long a lock outlives a crashed holder (tests).
func (s *Store) SetLockTTL(d time.Duration) { s.lockTTL = d }

// Lock takes the chat's lock, waiting while another instance holds it. The
// returned function releases it. Updates of one chat are handled one at a
// time even when a load balancer spreads them over several instances. While
// held, the lock is extended every third of its TTL, so a holder that waits
// out a long retry_after keeps the chat; a crashed one loses it within the TTL.
func (s *Store) Lock(ctx context.Context, chat int64) (func(), error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	key := s.lockKey(chat)
	wait := 2 * time.Millisecond
	for {
		ok, err := s.rdb.SetNX(ctx, key, token, s.lockTTL).Result()
		if err != nil {
			return nil, fmt.Errorf("lock chat: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock chat: %w", ctx.Err())
		case <-time.After(wait):
		}
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
	bg := context.WithoutCancel(ctx)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.lockTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = extendScript.Run(bg, s.rdb, []string{key}, token, s.lockTTL.Milliseconds()).Err()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			_ = unlockScript.Run(bg, s.rdb, []string{key}, token).Err()
		})
	}, nil
}

// claimScript leases up to ARGV[2] timers due by ARGV[1] to the caller for
// ARGV[3] ms, in one step, so that of several instances exactly one gets each
// timer; leases that ran out (their holder died) are handed out again.
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
// another instance may take it (the claimer died before Ack).
const TimerLease = 30 * time.Second

func (s *Store) leaseKey() string { return s.timersKey() + ":lease" }

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

// Ack forgets a timer that was handled.
func (s *Store) Ack(ctx context.Context, payload []byte) error {
	if err := s.rdb.ZRem(ctx, s.leaseKey(), payload).Err(); err != nil {
		return fmt.Errorf("ack timer: %w", err)
	}
	return nil
}

// Reschedule puts a claimed timer back, due at due.
func (s *Store) Reschedule(ctx context.Context, payload []byte, due time.Time) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.leaseKey(), payload)
		p.ZAdd(ctx, s.timersKey(), redis.Z{Score: float64(due.UnixMilli()), Member: payload})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reschedule timer: %w", err)
	}
	return nil
}
