package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Outbox returns the chat's unsent items, oldest first.
func (s *Store) Outbox(ctx context.Context, c Conv) ([][]byte, error) {
	vals, err := s.rdb.LRange(ctx, s.outboxKey(c), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

// Waiting returns a chat's unsent items and, if they wait for a retry,
// until when (zero otherwise), in one round trip.
func (s *Store) Waiting(ctx context.Context, c Conv) ([][]byte, time.Time, error) {
	var items *redis.StringSliceCmd
	var park *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		items = p.LRange(ctx, s.outboxKey(c), 0, -1)
		park = p.HGet(ctx, s.parkKey(c), "until")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, time.Time{}, fmt.Errorf("read outbox: %w", err)
	}
	out := make([][]byte, len(items.Val()))
	for i, v := range items.Val() {
		out[i] = []byte(v)
	}
	var until time.Time
	if ms, err := strconv.ParseInt(park.Val(), 10, 64); err == nil {
		until = time.UnixMilli(ms)
	}
	return out, until, nil
}

// laneLua books messages of a conversation's reply lane: GCRA over the
// theoretical arrival time in key (µs, Redis's clock), interval µs between
// messages, burst at once. paceAfter books n messages (0: only reads) and
// answers how long until the next message may go. Only the conversation's
// sender books (under its send lock), and it books every message before it
// sends the next counted one (Store.Pace), so that booking once a message
// is sent is booking before the next one.
const laneLua = `
local function paceAfter(key, interval, burst, n)
  interval, burst, n = tonumber(interval), tonumber(burst), tonumber(n)
  if interval <= 0 then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  if n > 0 then
    tat = tat + n * interval
    redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
  end
  local wait = tat - (burst - 1) * interval - now
  if wait < 0 then wait = 0 end
  return wait
end
`

// popScript removes the n oldest items of the outbox, only under the
// caller's lock, books k messages in the reply lane, and answers {items
// left (-1: the lock is not the caller's), µs until the next message may
// go}. KEYS: lock, outbox, lane. ARGV: token, n, k, interval µs, burst.
var popScript = redis.NewScript(laneLua + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1, 0} end
if tonumber(ARGV[2]) > 0 then redis.call('LTRIM', KEYS[2], ARGV[2], -1) end
local wait = paceAfter(KEYS[3], ARGV[4], ARGV[5], ARGV[3])
return {redis.call('LLEN', KEYS[2]), wait}`)

// popArgs are popScript's ARGV for the items the lease marked done (Done)
// and, with head, the outbox head too, sent telling that it was a message.
func (s *Store) popArgs(l *Lease, head, sent bool) []any {
	n, k := l.unpopped, l.unbooked
	if head {
		n++
	}
	if sent {
		k++
	}
	return append([]any{l.token, n, k}, s.laneArgs(l.conv)...)
}

// Done marks the outbox head as done without a round trip: it leaves the
// outbox with the lease's next write (Pop, ReplaceHead, Park, Finish), and
// sent (a message of the reply lane) is booked then. Only for an item
// whose repetition is harmless (a button's answer, an edit, a reaction):
// a crash before that write makes it go once more. A new message must be
// removed with Pop as soon as Telegram took it, or a crash would send it
// twice.
func (l *Lease) Done(sent bool) {
	l.unpopped++
	if sent {
		l.unbooked++
	}
}

// flushed is what a write that removed the items marked done does to the
// lease.
func (l *Lease) flushed() { l.unpopped, l.unbooked = 0, 0 }

// Pop removes the oldest outbox item of a conversation once it is done,
// under the lease: a holder that lost the lock removes nothing
// (ErrLockLost), so the item is neither dropped nor sent twice by two
// holders. sent tells that the item was a message Telegram counts toward
// the conversation's reply lane (see SetReplyLane). Once the outbox is
// empty the conversation leaves the index of waiting replies.
//
// The items marked done before it (Done) go in the same step.
func (s *Store) Pop(ctx context.Context, l *Lease, sent bool) error {
	res, err := popScript.Run(ctx, s.rdb, []string{l.key, s.outboxKey(l.conv), s.laneKey(l.conv)}, s.popArgs(l, true, sent)...).Int64Slice()
	if err != nil {
		return fmt.Errorf("pop outbox: %w", err)
	}
	return l.popped(res)
}

// Pace is how long the lease's conversation must wait before its next
// message, by its reply lane. Messages marked done but not yet booked are
// booked first (one round trip), so that the lane counts them; otherwise
// it is known from the last write or from when the lock was taken.
func (s *Store) Pace(ctx context.Context, l *Lease) (time.Duration, error) {
	if l.unbooked == 0 || s.laneArgs(l.conv)[0] == int64(0) {
		return l.Pace(), nil
	}
	res, err := popScript.Run(ctx, s.rdb, []string{l.key, s.outboxKey(l.conv), s.laneKey(l.conv)}, s.popArgs(l, false, false)...).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("pop outbox: %w", err)
	}
	if err := l.popped(res); err != nil {
		return 0, err
	}
	return l.Pace(), nil
}

// popped applies a pop's answer to the lease.
func (l *Lease) popped(res []int64) error {
	if len(res) != 2 {
		return fmt.Errorf("pop outbox: the script answered %v", res)
	}
	if res[0] < 0 {
		l.lost.Store(true)
		return ErrLockLost
	}
	l.flushed()
	// The last one sent: the conversation leaves the index when the lock
	// is released, in the same round trip.
	l.drained = res[0] == 0
	l.paceAt = time.Now().Add(time.Duration(res[1]) * time.Microsecond)
	return nil
}

// SetReplyLane paces the messages to one private chat: perSecond a second
// on average, up to burst at once (Telegram's "about one message a second
// per chat, short bursts allowed"). The pace is kept in Redis, so it holds
// whichever instance sends. 0 turns it off (the default). Groups and
// topics have a budget of their own, shared by the group (bot.SetGroupLane).
func (s *Store) SetReplyLane(perSecond float64, burst int) {
	s.laneInterval, s.laneBurst = 0, max(burst, 1)
	if perSecond > 0 {
		s.laneInterval = int64(1e6 / perSecond)
	}
}

func (s *Store) laneKey(c Conv) string { return s.convKey(c, "rate") }

// laneArgs are the lane's interval (µs; 0: no lane) and burst for c: only
// private chats (positive ids, no topic) have one.
func (s *Store) laneArgs(c Conv) []any {
	interval := s.laneInterval
	if c.Chat < 0 || c.Thread != 0 {
		interval = 0
	}
	return []any{interval, s.laneBurst}
}

// paceScript answers how long until c's next message may go, booking
// nothing. KEYS: lane. ARGV: interval µs, burst.
var paceScript = redis.NewScript(laneLua + `return paceAfter(KEYS[1], ARGV[1], ARGV[2], 0)`)

// Pace is how long the lease's conversation must wait before its next
// message, by its reply lane: known from the last message this lease
// removed, or read at TrySend.
func (l *Lease) Pace() time.Duration { return max(time.Until(l.paceAt), 0) }

// clearScript drops a chat's outbox and its retry, under the caller's lock.
var clearScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[2], KEYS[3])
return 1`)

// Clear drops a chat's outbox (the person blocked the bot).
func (s *Store) Clear(ctx context.Context, l *Lease) error {
	n, err := clearScript.Run(ctx, s.rdb, []string{l.key, s.outboxKey(l.conv), s.parkKey(l.conv)}, l.token).Int()
	if err != nil {
		return fmt.Errorf("clear outbox: %w", err)
	}
	if n < 0 {
		l.lost.Store(true)
		return ErrLockLost
	}
	l.flushed()
	return s.unpark(ctx, l.conv)
}

// Park makes a chat's waiting replies wait until until: its sends failed
// (Telegram answered 5xx or 429, or did not answer). attempts counts the
// failures in a row, for the next backoff. The chat's later updates are
// still handled and their replies queued behind; the background sender
// (DuePending) tries again at until, and no other chat waits for it.
//
// The items marked done (Done) leave the outbox in the same round trip.
func (s *Store) Park(ctx context.Context, l *Lease, until time.Time, attempts int) error {
	c := l.conv
	l.drained = false
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if l.unpopped > 0 {
			popScript.Eval(ctx, p, []string{l.key, s.outboxKey(c), s.laneKey(c)}, s.popArgs(l, false, false)...)
		}
		p.HSet(ctx, s.parkKey(c), "until", until.UnixMilli(), "attempts", attempts)
		p.PExpire(ctx, s.parkKey(c), OutboxTTL)
		p.ZAdd(ctx, s.pendingKey(), redis.Z{Score: float64(until.UnixMilli()), Member: c.String()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("park chat: %w", err)
	}
	l.flushed()
	return nil
}

// ParkAttempts is how many sends to the chat failed in a row (0 if none).
func (s *Store) ParkAttempts(ctx context.Context, c Conv) (int, error) {
	n, err := s.rdb.HGet(ctx, s.parkKey(c), "attempts").Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("park attempts: %w", err)
	}
	return n, nil
}

// Unpark forgets the retry of the lease's chat, whose outbox is empty.
func (s *Store) Unpark(ctx context.Context, l *Lease) error { return s.unpark(ctx, l.conv) }

// unpark forgets a chat's retry once its outbox is empty. The caller holds
// the chat's lock, so no turn of the chat adds replies meanwhile.
func (s *Store) unpark(ctx context.Context, c Conv) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.unparkIn(ctx, p, c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("unpark chat: %w", err)
	}
	return nil
}

func (s *Store) unparkIn(ctx context.Context, p redis.Pipeliner, c Conv) {
	p.Del(ctx, s.parkKey(c))
	p.ZRem(ctx, s.pendingKey(), c.String())
}

// DuePending lists up to max chats whose waiting replies are due at now:
// parked chats whose retry time came, and replies a crash left unsent.
func (s *Store) DuePending(ctx context.Context, now time.Time, max int) ([]Conv, error) {
	vals, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.pendingKey(), Start: "-inf", Stop: strconv.FormatInt(now.UnixMilli(), 10), ByScore: true, Count: int64(max)}).Result()
	if err != nil {
		return nil, fmt.Errorf("due pending: %w", err)
	}
	return parseConvs(vals), nil
}

// PendingChats lists every chat with replies waiting, due or not.
func (s *Store) PendingChats(ctx context.Context) ([]Conv, error) {
	vals, err := s.rdb.ZRange(ctx, s.pendingKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("pending chats: %w", err)
	}
	return parseConvs(vals), nil
}

// ParkedChats counts the chats whose replies wait for a retry later than now.
func (s *Store) ParkedChats(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.rdb.ZCount(ctx, s.pendingKey(), "("+strconv.FormatInt(now.UnixMilli(), 10), "+inf").Result()
	if err != nil {
		return 0, fmt.Errorf("parked chats: %w", err)
	}
	return n, nil
}

func parseConvs(vals []string) []Conv {
	out := make([]Conv, 0, len(vals))
	for _, v := range vals {
		if c, ok := ParseConv(v); ok {
			out = append(out, c)
		}
	}
	return out
}

// replaceScript replaces the outbox head (and the n-1 items done before
// it) by zero or more items, only under the caller's lock, books k
// messages in the reply lane, and answers like popScript. KEYS: lock,
// outbox, lane. ARGV: token, n, k, interval µs, burst, outbox TTL ms, then
// the items in order.
var replaceScript = redis.NewScript(laneLua + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1, 0} end
redis.call('LTRIM', KEYS[2], ARGV[2], -1)
for i = #ARGV, 7, -1 do redis.call('LPUSH', KEYS[2], ARGV[i]) end
if #ARGV > 6 then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
local wait = paceAfter(KEYS[3], ARGV[4], ARGV[5], ARGV[3])
return {redis.call('LLEN', KEYS[2]), wait}`)

// ReplaceHead puts items in the place of the outbox head, under the lease,
// in one step: an effect's replies take the effect's place, a sent
// message's receipt takes the message's (sent: it counts toward the reply
// lane, as in Pop). A crash before it leaves the head as it was, to be
// done again; after it, the new items are there instead.
func (s *Store) ReplaceHead(ctx context.Context, l *Lease, items [][]byte, sent bool) error {
	args := append(s.popArgs(l, true, sent), OutboxTTL.Milliseconds())
	for _, it := range items {
		args = append(args, it)
	}
	res, err := replaceScript.Run(ctx, s.rdb, []string{l.key, s.outboxKey(l.conv), s.laneKey(l.conv)}, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("replace outbox head: %w", err)
	}
	return l.popped(res)
}

// transferScript appends an item that another conversation's turn queued
// for this one, unless an item of that id came before. KEYS: outbox, mark
// of the id. ARGV: item, outbox TTL ms, mark TTL ms. Returns 1 if appended.
var transferScript = redis.NewScript(`
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[3]) == false then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)

// Transfer appends item to the outbox of conversation to, once per id:
// a turn's message to another conversation (an operators' topic, a
// subscriber's chat) is saved in its own conversation's outbox with the
// turn, and its sender moves it here. The two outboxes are in different
// Cluster slots, so no one script can do both: the id (kept as long as
// an update can come again) makes a move repeated after a crash a no-op,
// and the item leaves the source only after this. It needs no lock of to:
// appending is one atomic step, and to's own sender sends it in turn.
func (s *Store) Transfer(ctx context.Context, to Conv, id string, item []byte) error {
	due := float64(time.Now().Add(pendingGrace).UnixMilli())
	// The index first, as in Commit: a crash between the two leaves an
	// index entry for an outbox that holds nothing new, never the reverse.
	if err := s.rdb.ZAddNX(ctx, s.pendingKey(), redis.Z{Score: due, Member: to.String()}).Err(); err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	err := transferScript.Run(ctx, s.rdb, []string{s.outboxKey(to), s.convKey(to, "moved:"+id)}, item, OutboxTTL.Milliseconds(), SeenTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	return nil
}

// PendingCount is how many conversations have replies waiting, due or
// not: one ZCARD, for the metrics.
func (s *Store) PendingCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.pendingKey()).Result()
	if err != nil {
		return 0, fmt.Errorf("pending count: %w", err)
	}
	return n, nil
}
