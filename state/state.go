// Package state keeps what the bot must remember between updates in Redis:
// each conversation's dialog state, which updates were already handled, the
// replies still to be sent (the outbox), the chats whose replies wait for a
// retry, the dialog timers, and the per-chat lock that keeps one chat's
// updates strictly one at a time across several bot instances.
//
// Saving a turn is one Lua script: the new dialog state, the replies it
// produced and the "update handled" mark are written together or not at
// all, and only while the caller still holds the chat's lock (the lock's
// value is the fencing token every write checks). That is what makes a crash
// at any point lose nothing and repeat nothing but, at worst, the one reply
// that was being sent at that instant.
//
// Every key of one chat carries the chat in a hash tag ("{c42}"), so each
// script touches one Redis Cluster slot. The few keys that span chats (the
// index of chats with replies waiting, the timers) are written with single
// commands outside the scripts, in an order that makes a crash between two
// of them harmless (see Commit). The README's "Redis keys" lists every key
// with its TTL or bound.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// ErrConflict means the dialog state changed between Begin and Commit:
// another instance handled the chat meanwhile. The update is then not
// acknowledged and comes again.
var ErrConflict = errors.New("state: dialog state changed concurrently")

// ErrLockLost means the chat's lock is no longer the caller's (it expired,
// or was taken over from a holder believed dead): nothing was written, and
// the caller must stop working on the chat. The update comes again.
var ErrLockLost = errors.New("state: chat lock lost")

// Settings for how long things are kept.
const (
	// DialogTTL: an abandoned conversation is forgotten after a day.
	DialogTTL = 24 * time.Hour
	// SeenTTL: Telegram keeps undelivered updates for 24 hours, so an
	// update_id cannot come again later than that.
	SeenTTL = 25 * time.Hour
	// OutboxTTL bounds how long undeliverable replies are kept: a reply
	// Telegram would not take for a day is stale, and is dropped.
	OutboxTTL = 25 * time.Hour
	// UnreachableTTL: a chat that blocked the bot is remembered for half a
	// year unless a my_chat_member update says it is back.
	UnreachableTTL = 180 * 24 * time.Hour
)

// Store is the Redis adapter. Keys are "<prefix>{c<chat>}:<kind>..." for a
// chat's own keys and "<prefix><kind>" for the shared ones.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	lockTTL time.Duration
	owner   owner
	beat    heartbeat
	// The reply lane of private chats (SetReplyLane): µs between messages
	// (0: none) and the burst.
	laneInterval int64
	laneBurst    int
}

// New returns a Store; prefix separates bots and tests sharing one Redis
// (e.g. "kabinet:123456:" with the bot's id).
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix, lockTTL: LockTTL, owner: newOwner(""), laneBurst: 1}
}

func (s *Store) convKey(c Conv, kind string) string {
	return s.prefix + "{c" + c.String() + "}:" + kind
}
func (s *Store) dialogKey(c Conv, user int64) string {
	return s.convKey(c, "dlg:"+strconv.FormatInt(user, 10))
}
func (s *Store) seenKey(c Conv, update int64) string {
	return s.convKey(c, "seen:"+strconv.FormatInt(update, 10))
}
func (s *Store) lockKey(c Conv) string   { return s.convKey(c, "lock") }
func (s *Store) sendKey(c Conv) string   { return s.convKey(c, "send") }
func (s *Store) outboxKey(c Conv) string { return s.convKey(c, "out") }
func (s *Store) parkKey(c Conv) string   { return s.convKey(c, "park") }

// unreachableKey is per chat, not per topic: a chat that blocked the bot
// is unreachable in all its conversations.
func (s *Store) unreachableKey(chat int64) string { return s.convKey(ChatConv(chat), "unreachable") }
func (s *Store) pendingKey() string               { return s.prefix + "pending" }

// Turn is everything one handled update changes.
type Turn struct {
	Conv     Conv
	User     int64
	UpdateID int64
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

// commitScript saves a turn in one round trip, only while the lock's value
// is the caller's token: the version check, the new state with its TTL, the
// outbox items and the "handled" mark, all or nothing (a Lua script runs
// without interruption).
//
// With hand-off (ARGV[8] = 1) the same step lets the turn lock go and, when
// the outbox holds something and waits for no retry, takes the send lock
// for the caller: it answers {'send', µs until the next message may go by
// the reply lane, the items queued before this turn's}; the caller knows
// its own items and need not read them back. {'busy', holder} when another
// sender holds the send lock (it sends these items too), {'ok'} when there
// is nothing to send now.
//
// KEYS: lock, dialog, outbox, seen, send, park, lane (all in the chat's
// slot). ARGV: token, save (0/1), expected version, state JSON, dialog TTL
// ms, seen TTL ms (0: a turn of no update, e.g. a timer, marks nothing),
// outbox TTL ms, hand-off (0/1), send token, lock TTL ms, now (ms, the
// clock of the retry times), lane interval µs, lane burst, then the outbox
// items.
var commitScript = redis.NewScript(laneLua + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'lost'} end
if ARGV[2] == '1' then
  local cur = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
  if cur ~= tonumber(ARGV[3]) then return {'conflict'} end
  redis.call('HSET', KEYS[2], 'v', cur + 1, 's', ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
local pushed = #ARGV - 13
if pushed > 0 then
  for i = 14, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
if ARGV[6] ~= '0' then redis.call('SET', KEYS[4], 1, 'PX', ARGV[6]) end
if ARGV[8] ~= '1' then return {'ok'} end
redis.call('DEL', KEYS[1])
local n = redis.call('LLEN', KEYS[3])
if n == 0 then return {'ok'} end
if tonumber(redis.call('HGET', KEYS[6], 'until') or '0') > tonumber(ARGV[11]) then return {'ok'} end
if not redis.call('SET', KEYS[5], ARGV[9], 'NX', 'PX', ARGV[10]) then
  return {'busy', redis.call('GET', KEYS[5]) or ''}
end
local out = {'send', paceAfter(KEYS[7], ARGV[12], ARGV[13], 0)}
if n > pushed then
  for _, v in ipairs(redis.call('LRANGE', KEYS[3], 0, n - pushed - 1)) do out[#out + 1] = v end
end
return out`)

// pendingGrace is when a chat whose replies were just saved is due for the
// background sender if nobody sends them first: the instance that saved
// them sends them at once, so this only matters after a crash.
const pendingGrace = 2 * time.Second

// Commit saves a turn atomically under the lease: state (with a fresh TTL
// and the next version), outbox items and the update's "handled" mark. It
// returns ErrLockLost, having written nothing of the turn, when the lease's
// lock is no longer held.
//
// The turn's timers and the chat's entry in the index of waiting replies
// (keys shared by all chats, so outside the script) go first in the same
// pipeline, one round trip in all: if the process dies before the turn
// itself is saved, a stray timer finds a dialog that does not expect it
// (dialogs ignore those) and a stray index entry finds an empty outbox. The
// other order could lose a timer or leave replies nobody sends.
func (s *Store) Commit(ctx context.Context, l *Lease, t Turn) error {
	_, err := s.commit(ctx, l, t, false)
	return err
}

// Handoff is what CommitAndSend leaves its caller to do.
type Handoff struct {
	// Send, when not nil, is the conversation's send lock, taken for the
	// caller: it sends Items (the outbox as it is, the turn's replies
	// last) and ends with Finish or, failing, Release.
	Send  *Lease
	Items [][]byte
	// Elsewhere: another process holds the send lock, perhaps a dead one:
	// the caller sends the usual way (TrySend), which takes a dead
	// holder's lock over. When neither is set, there is nothing to send
	// now: the outbox is empty, waits for its retry time, or another
	// sender of this process sends it.
	Elsewhere bool
}

// CommitAndSend is Commit that also lets the turn lock go and, when there
// are replies to send, takes the send lock for the caller, in the same
// round trip (see Handoff). The lease is released whatever it answers.
func (s *Store) CommitAndSend(ctx context.Context, l *Lease, t Turn) (Handoff, error) {
	return s.commit(ctx, l, t, true)
}

func (s *Store) commit(ctx context.Context, l *Lease, t Turn, handoff bool) (Handoff, error) {
	stateJSON, err := json.Marshal(t.State)
	if err != nil {
		return Handoff{}, fmt.Errorf("commit: %w", err)
	}
	save := "0"
	if t.SaveState {
		save = "1"
	}
	// A key is passed even when nothing is marked: a script's keys must all
	// be in the chat's slot, and an empty name is not.
	seen, seenTTL := s.seenKey(t.Conv, t.UpdateID), SeenTTL.Milliseconds()
	if t.UpdateID == 0 {
		seenTTL = 0
	}
	sendToken := s.owner.value()
	args := []any{l.token, save, t.Version, stateJSON, DialogTTL.Milliseconds(), seenTTL, OutboxTTL.Milliseconds(),
		flag(handoff), sendToken, s.lockTTL.Milliseconds(), time.Now().UnixMilli()}
	args = append(args, s.laneArgs(t.Conv)...)
	for _, it := range t.Outbox {
		args = append(args, it)
	}
	keys := []string{l.key, s.dialogKey(t.Conv, t.User), s.outboxKey(t.Conv), seen,
		s.sendKey(t.Conv), s.parkKey(t.Conv), s.laneKey(t.Conv)}
	var commit *redis.Cmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.addTimers(ctx, p, t.Timers)
		if len(t.Outbox) > 0 {
			due := float64(time.Now().Add(pendingGrace).UnixMilli())
			// NX: a chat parked until a later retry keeps its time.
			p.ZAddNX(ctx, s.pendingKey(), redis.Z{Score: due, Member: t.Conv.String()})
		}
		// Eval, not EvalSha: a pipeline cannot fall back on NOSCRIPT.
		commit = commitScript.Eval(ctx, p, keys, args...)
		return nil
	})
	if err != nil {
		return Handoff{}, fmt.Errorf("commit: %w", err)
	}
	res, err := commit.Slice()
	if err != nil || len(res) == 0 {
		return Handoff{}, fmt.Errorf("commit: %v %w", res, err)
	}
	status, _ := res[0].(string)
	switch status {
	case "conflict":
		return Handoff{}, ErrConflict
	case "lost":
		l.lost.Store(true)
		return Handoff{}, ErrLockLost
	}
	if len(t.Outbox) > 0 {
		l.drained = false
	}
	if !handoff {
		return Handoff{}, nil
	}
	l.letGo() // the script deleted the turn lock
	switch status {
	case "busy":
		holder, _ := res[1].(string)
		o, ok := parseOwner(holder)
		return Handoff{Elsewhere: !ok || o.boot != s.owner.boot}, nil
	case "send":
		send := s.newLease(t.Conv, s.sendKey(t.Conv), sendToken)
		wait, _ := res[1].(int64)
		send.paceAt = time.Now().Add(time.Duration(wait) * time.Microsecond)
		items := make([][]byte, 0, len(res)-2+len(t.Outbox))
		for _, v := range res[2:] {
			str, _ := v.(string)
			items = append(items, []byte(str))
		}
		return Handoff{Send: send, Items: append(items, t.Outbox...)}, nil
	}
	return Handoff{}, nil
}

// finishScript ends a send: it removes the n items done at the outbox's
// head and books k messages in the reply lane, under the caller's send
// lock; then, if the outbox is empty, it lets the lock go and forgets the
// retry, answering {0}; otherwise (a turn queued more meanwhile and left it
// to this sender) it keeps the lock and answers {items, µs until the next
// message may go, the items}. {-1}: the lock is not the caller's. KEYS:
// send, outbox, lane, park. ARGV: token, n, k, interval µs, burst.
var finishScript = redis.NewScript(laneLua + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
if tonumber(ARGV[2]) > 0 then redis.call('LTRIM', KEYS[2], ARGV[2], -1) end
local wait = paceAfter(KEYS[3], ARGV[4], ARGV[5], ARGV[3])
local left = redis.call('LRANGE', KEYS[2], 0, -1)
if #left == 0 then
  redis.call('DEL', KEYS[1], KEYS[4])
  return {0}
end
local out = {#left, wait}
for _, v in ipairs(left) do out[#out + 1] = v end
return out`)

// Finish ends sending the lease's conversation once every item it had was
// done: the items marked done (Done) leave the outbox, and when nothing
// more waits the send lock is let go and the conversation leaves the index
// of waiting replies, in one round trip. When a turn queued more
// meanwhile, the lock is kept and those items are returned, to be sent
// next; no look at the outbox after letting go is needed, as the check and
// the release are one step. The lease is released unless items are
// returned.
func (s *Store) Finish(ctx context.Context, l *Lease) ([][]byte, error) {
	c := l.conv
	var fin *redis.Cmd
	// The index entry goes first: a turn that queues replies after the
	// script ran finds the send lock free and sends them itself. When the
	// script finds more (rare: only a turn that queued while this one
	// sent), the entry is put back before anything is sent.
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.pendingKey(), c.String())
		fin = finishScript.Eval(ctx, p, []string{l.key, s.outboxKey(c), s.laneKey(c), s.parkKey(c)}, s.popArgs(l, false, false)...)
		return nil
	})
	res, resErr := fin.Slice()
	if err == nil {
		err = resErr
	}
	if err == nil && len(res) > 0 {
		if n, _ := res[0].(int64); n == 0 {
			l.letGo()
			return nil, nil
		}
	}
	// The lock is kept, lost or unknown: the items are indexed again, as
	// in Commit, before anything more is done with them.
	due := float64(time.Now().Add(pendingGrace).UnixMilli())
	if zerr := s.rdb.ZAddNX(ctx, s.pendingKey(), redis.Z{Score: due, Member: c.String()}).Err(); zerr != nil && err == nil {
		err = zerr
	}
	if err != nil {
		l.Release()
		return nil, fmt.Errorf("finish sending: %w", err)
	}
	if len(res) < 3 { // {-1}: not the caller's lock any more
		l.lost.Store(true)
		l.Release()
		return nil, ErrLockLost
	}
	l.flushed()
	wait, _ := res[1].(int64)
	l.paceAt = time.Now().Add(time.Duration(wait) * time.Microsecond)
	items := make([][]byte, 0, len(res)-2)
	for _, v := range res[2:] {
		str, _ := v.(string)
		items = append(items, []byte(str))
	}
	return items, nil
}

// Snapshot is what a turn starts from: replies a crash or a failed send
// left unsent, whether they wait for a retry, whether the update was handled
// before, and the dialog state with its version.
type Snapshot struct {
	Outbox [][]byte
	// ParkedUntil is when the chat's waiting replies are tried again (zero
	// when they are not waiting for a retry): until then the turn only adds
	// its replies behind them, so the chat reads in order.
	ParkedUntil time.Time
	Seen        bool
	State       dialogs.State
	Version     int64
}

// Begin reads everything a turn starts from in one round trip. Call it
// holding the chat's lock, so that nothing changes between it and Commit.
func (s *Store) Begin(ctx context.Context, c Conv, user, updateID int64) (Snapshot, error) {
	var (
		outbox *redis.StringSliceCmd
		seen   *redis.IntCmd
		dlg    *redis.SliceCmd
		park   *redis.StringCmd
	)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		outbox = p.LRange(ctx, s.outboxKey(c), 0, -1)
		seen = p.Exists(ctx, s.seenKey(c, updateID))
		dlg = p.HMGet(ctx, s.dialogKey(c, user), "v", "s")
		park = p.HGet(ctx, s.parkKey(c), "until")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Snapshot{}, fmt.Errorf("begin turn: %w", err)
	}
	var snap Snapshot
	for _, v := range outbox.Val() {
		snap.Outbox = append(snap.Outbox, []byte(v))
	}
	snap.Seen = updateID != 0 && seen.Val() > 0
	snap.State, snap.Version = decodeDialog(dlg.Val())
	if ms, err := strconv.ParseInt(park.Val(), 10, 64); err == nil && len(snap.Outbox) > 0 {
		snap.ParkedUntil = time.UnixMilli(ms)
	}
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

// SetReachable records whether the bot can write to a chat (false after
// "bot was blocked by the user" until a my_chat_member update says otherwise).
func (s *Store) SetReachable(ctx context.Context, chat int64, ok bool) error {
	var err error
	if ok {
		err = s.rdb.Del(ctx, s.unreachableKey(chat)).Err()
	} else {
		err = s.rdb.Set(ctx, s.unreachableKey(chat), 1, UnreachableTTL).Err()
	}
	if err != nil {
		return fmt.Errorf("set reachable: %w", err)
	}
	return nil
}

// Reachable reports whether the bot may write to a chat.
func (s *Store) Reachable(ctx context.Context, chat int64) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.unreachableKey(chat)).Result()
	if err != nil {
		return false, fmt.Errorf("reachable: %w", err)
	}
	return n == 0, nil
}
