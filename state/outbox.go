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

// popScript removes the outbox head, only under the caller's lock, and
// says how many items remain (-1: the lock is not the caller's).
// KEYS: lock, outbox. ARGV: token.
var popScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('LPOP', KEYS[2])
return redis.call('LLEN', KEYS[2])`)

// Pop removes the oldest outbox item of a chat after it was sent, under the
// lease: a holder that lost the lock removes nothing (ErrLockLost), so the
// item is neither dropped nor sent twice by two holders. Once the outbox is
// empty the chat leaves the index of waiting replies.
func (s *Store) Pop(ctx context.Context, l *Lease) error {
	left, err := popScript.Run(ctx, s.rdb, []string{l.key, s.outboxKey(l.conv)}, l.token).Int()
	if err != nil {
		return fmt.Errorf("pop outbox: %w", err)
	}
	if left < 0 {
		l.lost.Store(true)
		return ErrLockLost
	}
	// The last one sent: the chat leaves the index when the lock is
	// released, in the same round trip.
	l.drained = left == 0
	return nil
}

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
	return s.unpark(ctx, l.conv)
}

// Park makes a chat's waiting replies wait until until: its sends failed
// (Telegram answered 5xx or 429, or did not answer). attempts counts the
// failures in a row, for the next backoff. The chat's later updates are
// still handled and their replies queued behind; the background sender
// (DuePending) tries again at until, and no other chat waits for it.
func (s *Store) Park(ctx context.Context, l *Lease, until time.Time, attempts int) error {
	c := l.conv
	l.drained = false
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.parkKey(c), "until", until.UnixMilli(), "attempts", attempts)
		p.PExpire(ctx, s.parkKey(c), OutboxTTL)
		p.ZAdd(ctx, s.pendingKey(), redis.Z{Score: float64(until.UnixMilli()), Member: c.String()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("park chat: %w", err)
	}
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

// replaceScript replaces the outbox head by zero or more items, only under
// the caller's lock, and says how many items there are then (-1: the lock
// is not the caller's). KEYS: lock, outbox. ARGV: token, outbox TTL ms,
// then the items in order.
var replaceScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('LPOP', KEYS[2])
for i = #ARGV, 3, -1 do redis.call('LPUSH', KEYS[2], ARGV[i]) end
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return redis.call('LLEN', KEYS[2])`)

// ReplaceHead puts items in the place of the outbox head, under the lease,
// in one step: an effect's replies take the effect's place, a sent
// message's receipt takes the message's. A crash before it leaves the head
// as it was, to be done again; after it, the new items are there instead.
func (s *Store) ReplaceHead(ctx context.Context, l *Lease, items [][]byte) error {
	args := []any{l.token, OutboxTTL.Milliseconds()}
	for _, it := range items {
		args = append(args, it)
	}
	left, err := replaceScript.Run(ctx, s.rdb, []string{l.key, s.outboxKey(l.conv)}, args...).Int()
	if err != nil {
		return fmt.Errorf("replace outbox head: %w", err)
	}
	if left < 0 {
		l.lost.Store(true)
		return ErrLockLost
	}
	l.drained = left == 0
	return nil
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
