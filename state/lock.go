package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// LockTTL bounds how long a holder that stopped extending its lock keeps a
// chat. A live holder extends it every third of the TTL; a holder that died
// is noticed much sooner through its heartbeat (HeartbeatTTL), or at once by
// its successor under the same instance name.
const LockTTL = 15 * time.Second

// HeartbeatTTL is how long a process counts as alive after its last
// heartbeat. A lock whose holder has no heartbeat is taken over.
const HeartbeatTTL = 2 * time.Second

// owner is who holds a lock: the instance name (stable across restarts of
// one deployment slot, e.g. the host name; may be empty) and the boot, new
// for every process.
type owner struct {
	instance, boot string
}

func newOwner(instance string) owner {
	return owner{instance: strings.ReplaceAll(instance, "|", "_"), boot: randomHex(8)}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// value is a lock's value: "<instance>|<boot>|<nonce>". The whole value is
// the fencing token that Commit and Pop compare.
func (o owner) value() string { return o.instance + "|" + o.boot + "|" + randomHex(6) }

func parseOwner(v string) (owner, bool) {
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		return owner{}, false
	}
	return owner{instance: parts[0], boot: parts[1]}, true
}

// SetInstance names this process's deployment slot (a host or pod name). A
// process that starts under the name of one that died takes over the chats
// its predecessor held at once, instead of waiting for their locks to expire.
// Two processes running at the same time must have different names.
func (s *Store) SetInstance(name string) { s.owner = newOwner(name) }

// SetLockTTL changes how long a lock outlives a holder that stops extending
// it (tests).
func (s *Store) SetLockTTL(d time.Duration) { s.lockTTL = d }

// DropLock deletes a chat's lock whoever holds it, as its TTL running out
// would: for fault tests, and for an operator freeing a chat by hand.
func (s *Store) DropLock(ctx context.Context, c Conv) error {
	if err := s.rdb.Del(ctx, s.lockKey(c)).Err(); err != nil {
		return fmt.Errorf("drop lock: %w", err)
	}
	return nil
}

// Lease is a held lock of a chat: its turn lock (Lock, TryLock), which
// fences the turn's commit, or its send lock (TrySend), which fences the
// outbox's pops, parks and clears. Two locks, so that a turn is never held
// up by a Bot API call in progress and no Bot API call is made under the
// turn's lock.
type Lease struct {
	store *Store
	conv  Conv
	key   string
	token string
	lost  atomic.Bool
	// drained: Pop sent the last item; Release takes the chat out of the
	// index of waiting replies.
	drained bool
	// paceAt is when the conversation's next message may go (reply lane).
	paceAt time.Time
	// unpopped items at the outbox's head are done (Done) and leave it
	// with the next write, unbooked of them messages for the reply lane.
	unpopped, unbooked int
	stop               chan struct{}
	done               chan struct{}
	once               sync.Once
}

// Lost reports that the lock is known to be gone (an extension or a fenced
// write found another value): stop working on the chat.
func (l *Lease) Lost() bool { return l.lost.Load() }

// Release gives the lock up if it is still ours.
func (l *Lease) Release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		s := l.store
		ctx := context.Background()
		_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			if l.drained && !l.lost.Load() {
				s.unparkIn(ctx, p, l.conv)
			}
			unlockScript.Eval(ctx, p, []string{l.key}, l.token)
			return nil
		})
	})
}

// letGo stops extending a lock that a script already deleted (Commit
// handing the turn over, Finish): Release then does nothing more.
func (l *Lease) letGo() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
	})
}

// unlockScript deletes the lock only if we still hold it.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// extendScript extends the lock only if we still hold it.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// stealScript takes a lock over from a holder believed dead, only if the
// lock still has the value that was judged.
var stealScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)

// Lock takes the chat's lock, waiting while a live holder has it. Updates of
// one chat are handled one at a time even when a load balancer spreads them
// over several instances. While held, the lock is extended every third of
// its TTL; an extension that finds the lock gone marks the lease lost.
func (s *Store) Lock(ctx context.Context, c Conv) (*Lease, error) {
	wait := 2 * time.Millisecond
	for {
		l, ok, err := s.TryLock(ctx, c)
		if err != nil || ok {
			return l, err
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
}

// TryLock takes the chat's lock if it is free or its holder is dead, and
// reports false at once if a live holder has it.
func (s *Store) TryLock(ctx context.Context, c Conv) (*Lease, bool, error) {
	return s.tryLease(ctx, c, s.lockKey(c))
}

// TrySend takes the chat's send lock, the right to send its outbox, if it
// is free or its holder is dead; false means another sender is at it and
// will send what was just queued too (see bot's send loop).
func (s *Store) TrySend(ctx context.Context, c Conv) (*Lease, bool, error) {
	l, ok, err := s.tryLease(ctx, c, s.sendKey(c))
	if err != nil || !ok || s.laneArgs(c)[0] == int64(0) {
		return l, ok, err
	}
	wait, err := paceScript.Run(ctx, s.rdb, []string{s.laneKey(c)}, s.laneArgs(c)...).Int64()
	if err != nil {
		l.Release()
		return nil, false, fmt.Errorf("read the reply lane: %w", err)
	}
	l.paceAt = time.Now().Add(time.Duration(wait) * time.Microsecond)
	return l, true, nil
}

func (s *Store) tryLease(ctx context.Context, c Conv, key string) (*Lease, bool, error) {
	s.beat.start(s)
	token := s.owner.value()
	ok, err := s.rdb.SetNX(ctx, key, token, s.lockTTL).Result()
	if err == nil && !ok {
		ok, err = s.takeOver(ctx, key, token)
	}
	if err != nil || !ok {
		if err != nil {
			return nil, false, fmt.Errorf("lock chat: %w", err)
		}
		return nil, false, nil
	}
	return s.newLease(c, key, token), true, nil
}

// newLease is a lock just taken with token, extended from now on.
func (s *Store) newLease(c Conv, key, token string) *Lease {
	l := &Lease{store: s, conv: c, key: key, token: token, stop: make(chan struct{}), done: make(chan struct{})}
	go l.extend()
	return l
}

// lockBeginScript takes a conversation's turn lock if it is free and, in
// the same step, reads what the turn starts from: whether the update was
// handled (ARGV[3] = 1 asks) and the dialog state with its version.
// Answers {0} when the lock is taken, else {1, seen, version, state}.
// KEYS: lock, dialog, seen. ARGV: token, TTL ms, ask seen.
var lockBeginScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
local seen = 0
if ARGV[3] == '1' then seen = redis.call('EXISTS', KEYS[3]) end
local d = redis.call('HMGET', KEYS[2], 'v', 's')
return {1, seen, d[1], d[2]}`)

// LockTurn is Lock and Begin in one round trip when the lock is free: it
// takes the conversation's turn lock, waiting while a live holder has it,
// and reads whether updateID (0: none) was handled and user's dialog state.
// The snapshot holds neither the outbox nor its retry time, which a turn
// does not need. A lock taken over from a dead holder costs the round
// trips of TryLock and Begin.
func (s *Store) LockTurn(ctx context.Context, c Conv, user, updateID int64) (*Lease, Snapshot, error) {
	s.beat.start(s)
	key := s.lockKey(c)
	wait := 2 * time.Millisecond
	for {
		token := s.owner.value()
		res, err := lockBeginScript.Run(ctx, s.rdb, []string{key, s.dialogKey(c, user), s.seenKey(c, updateID)},
			token, s.lockTTL.Milliseconds(), flag(updateID != 0)).Slice()
		if err != nil {
			return nil, Snapshot{}, fmt.Errorf("lock chat: %w", err)
		}
		if n, _ := res[0].(int64); n == 1 && len(res) == 4 {
			var snap Snapshot
			seen, _ := res[1].(int64)
			snap.Seen = seen == 1
			snap.State, snap.Version = decodeDialog(res[2:])
			return s.newLease(c, key, token), snap, nil
		}
		ok, err := s.takeOver(ctx, key, token)
		if err != nil {
			return nil, Snapshot{}, fmt.Errorf("lock chat: %w", err)
		}
		if ok {
			l := s.newLease(c, key, token)
			snap, err := s.Begin(ctx, c, user, updateID)
			if err != nil {
				l.Release()
				return nil, Snapshot{}, err
			}
			return l, snap, nil
		}
		select {
		case <-ctx.Done():
			return nil, Snapshot{}, fmt.Errorf("lock chat: %w", ctx.Err())
		case <-time.After(wait):
		}
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// takeOver takes the lock from its holder if that holder is this process's
// predecessor (same instance name, another boot) or has no heartbeat.
func (s *Store) takeOver(ctx context.Context, key, token string) (bool, error) {
	held, err := s.rdb.Get(ctx, key).Result()
	if err == redis.Nil {
		return false, nil // released meanwhile: the next try takes it
	}
	if err != nil {
		return false, err
	}
	holder, ok := parseOwner(held)
	if !ok {
		return false, nil // an old-style lock: it expires by its TTL
	}
	if holder.boot == s.owner.boot {
		return false, nil // ours, held by another goroutine
	}
	predecessor := s.owner.instance != "" && holder.instance == s.owner.instance
	if !predecessor {
		alive, err := s.rdb.Exists(ctx, s.aliveKey(holder.boot)).Result()
		if err != nil || alive > 0 {
			return false, err
		}
	}
	n, err := stealScript.Run(ctx, s.rdb, []string{key}, held, token, s.lockTTL.Milliseconds()).Int()
	return n == 1, err
}

func (l *Lease) extend() {
	defer close(l.done)
	s := l.store
	tick := time.NewTicker(s.lockTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			n, err := extendScript.Run(context.Background(), s.rdb, []string{l.key}, l.token, s.lockTTL.Milliseconds()).Int()
			if err == nil && n == 0 {
				l.lost.Store(true)
				return
			}
		}
	}
}

func (s *Store) aliveKey(boot string) string { return s.prefix + "alive:" + boot }

// heartbeat keeps "<prefix>alive:<boot>" from the process's first lock on,
// so that others can tell a dead holder from a slow one within HeartbeatTTL.
type heartbeat struct {
	once sync.Once
	stop chan struct{}
	done chan struct{}
}

// start writes the first beat before the first lock is tried, so that a new
// holder is never taken for dead, and keeps beating until Close.
func (h *heartbeat) start(s *Store) {
	h.once.Do(func() {
		_ = s.rdb.Set(context.Background(), s.aliveKey(s.owner.boot), 1, HeartbeatTTL).Err()
		h.stop, h.done = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(h.done)
			tick := time.NewTicker(HeartbeatTTL / 4)
			defer tick.Stop()
			for {
				select {
				case <-h.stop:
					return
				case <-tick.C:
					_ = s.rdb.Set(context.Background(), s.aliveKey(s.owner.boot), 1, HeartbeatTTL).Err()
				}
			}
		}()
	})
}

// Close stops the heartbeat: call it when the process stops taking chats.
// Locks still held then are taken over by others within HeartbeatTTL.
func (s *Store) Close() {
	s.beat.once.Do(func() {}) // a heartbeat never started cannot start now
	if s.beat.stop != nil {
		close(s.beat.stop)
		<-s.beat.done
		s.beat.stop = nil
	}
}
