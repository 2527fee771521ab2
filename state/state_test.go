package state_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/state"
)

// commit saves a turn under a lock taken for it.
func commit(t *testing.T, s *state.Store, turn state.Turn) error {
	t.Helper()
	l, err := s.Lock(context.Background(), turn.Conv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	return s.Commit(context.Background(), l, turn)
}

func newStore(t *testing.T, rdb redis.UniversalClient, prefix string) (*state.Store, redis.UniversalClient, string) {
	s := state.New(rdb, prefix)
	t.Cleanup(s.Close)
	return s, rdb, prefix
}

func TestCommitSavesStateOutboxAndSeenTogether(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, _, _ := newStore(t, rdb, prefix)
		ctx := context.Background()

		snap, err := s.Begin(ctx, state.ChatConv(10), 20, 5)
		if err != nil || snap.Version != 0 || snap.State.Step != "" || snap.Seen {
			t.Fatalf("fresh begin: %+v %v", snap, err)
		}
		err = commit(t, s, state.Turn{Conv: state.ChatConv(10), User: 20, UpdateID: 5, Version: snap.Version, SaveState: true,
			State: dialogs.State{Step: dialogs.StepLinkCode, Account: 7}, Outbox: [][]byte{[]byte("a"), []byte("b")}})
		if err != nil {
			t.Fatal(err)
		}
		snap, _ = s.Begin(ctx, state.ChatConv(10), 20, 5)
		if snap.State.Step != dialogs.StepLinkCode || snap.State.Account != 7 || snap.Version != 1 {
			t.Fatalf("after commit: %+v", snap)
		}
		if !snap.Seen {
			t.Error("update 5 not marked handled")
		}
		if other, _ := s.Begin(ctx, state.ChatConv(10), 20, 6); other.Seen {
			t.Error("update 6 marked handled")
		}
		out, _ := s.Outbox(ctx, state.ChatConv(10))
		if len(out) != 2 || string(out[0]) != "a" {
			t.Fatalf("outbox %q", out)
		}
		if chats, _ := s.PendingChats(ctx); len(chats) != 1 || chats[0] != state.ChatConv(10) {
			t.Fatalf("pending %v", chats)
		}
		l, _ := s.Lock(ctx, state.ChatConv(10))
		_ = s.Pop(ctx, l, true)
		_ = s.Pop(ctx, l, true)
		l.Release()
		if chats, _ := s.PendingChats(ctx); len(chats) != 0 {
			t.Fatalf("pending after draining: %v", chats)
		}
	})
}

// A commit made with a stale version is refused and changes nothing: the
// update is delivered again instead of overwriting a newer state.
func TestCommitRefusesAStaleVersion(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, _, _ := newStore(t, rdb, prefix)
		ctx := context.Background()
		if err := commit(t, s, state.Turn{Conv: state.ChatConv(1), User: 1, UpdateID: 1, SaveState: true, State: dialogs.State{Step: dialogs.StepLinkNumber}}); err != nil {
			t.Fatal(err)
		}
		err := commit(t, s, state.Turn{Conv: state.ChatConv(1), User: 1, UpdateID: 2, Version: 0, SaveState: true, State: dialogs.State{Step: dialogs.StepIdle}, Outbox: [][]byte{[]byte("x")}})
		if !errors.Is(err, state.ErrConflict) {
			t.Fatalf("stale commit: %v", err)
		}
		if snap, _ := s.Begin(ctx, state.ChatConv(1), 1, 2); snap.Seen {
			t.Error("refused update marked handled")
		}
		if out, _ := s.Outbox(ctx, state.ChatConv(1)); len(out) != 0 {
			t.Error("refused update left replies")
		}
		if snap, _ := s.Begin(ctx, state.ChatConv(1), 1, 0); snap.State.Step != dialogs.StepLinkNumber {
			t.Errorf("state overwritten: %+v", snap.State)
		}
	})
}

// A holder whose lock expired and went to another holder writes nothing:
// not the turn, not a pop of the outbox. Its replies are neither sent twice
// (by it and by the new holder) nor dropped.
func TestALostLockFencesEveryWrite(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, rdb, prefix := newStore(t, rdb, prefix)
		ctx := context.Background()
		if err := commit(t, s, state.Turn{Conv: state.ChatConv(5), User: 5, UpdateID: 1, SaveState: true, Outbox: [][]byte{[]byte("r1")}}); err != nil {
			t.Fatal(err)
		}
		old, err := s.Lock(ctx, state.ChatConv(5))
		if err != nil {
			t.Fatal(err)
		}
		// The TTL runs out (forced) and another instance takes the chat.
		if err := rdb.Del(ctx, prefix+"{c5}:lock").Err(); err != nil {
			t.Fatal(err)
		}
		other := state.New(rdb, prefix)
		defer other.Close()
		newer, err := other.Lock(ctx, state.ChatConv(5))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, old, state.Turn{Conv: state.ChatConv(5), User: 5, UpdateID: 2, SaveState: true, State: dialogs.State{Step: dialogs.StepLinkCode}, Outbox: [][]byte{[]byte("stale")}}); !errors.Is(err, state.ErrLockLost) {
			t.Fatalf("commit under a lost lock: %v", err)
		}
		if err := s.Pop(ctx, old, true); !errors.Is(err, state.ErrLockLost) {
			t.Fatalf("pop under a lost lock: %v", err)
		}
		if !old.Lost() {
			t.Error("the old lease does not know it is lost")
		}
		old.Release() // must not free the new holder's lock
		snap, _ := s.Begin(ctx, state.ChatConv(5), 5, 2)
		if snap.Seen || snap.State.Step != "" || len(snap.Outbox) != 1 || string(snap.Outbox[0]) != "r1" {
			t.Fatalf("the lost holder changed the chat: %+v", snap)
		}
		if err := other.Pop(ctx, newer, true); err != nil {
			t.Fatalf("the new holder cannot pop: %v", err)
		}
		newer.Release()
	})
}

func TestLockIsExclusivePerChat(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, _, _ := newStore(t, rdb, prefix)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var inside, maxInside atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := s.Lock(ctx, state.ChatConv(42))
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				if n > maxInside.Load() {
					maxInside.Store(n)
				}
				time.Sleep(2 * time.Millisecond)
				inside.Add(-1)
				l.Release()
			}()
		}
		wg.Wait()
		if maxInside.Load() != 1 {
			t.Fatalf("%d holders at once", maxInside.Load())
		}
		// Another chat is not blocked by this one.
		l, _ := s.Lock(ctx, state.ChatConv(42))
		defer l.Release()
		short, cancel2 := context.WithTimeout(ctx, time.Second)
		defer cancel2()
		l2, err := s.Lock(short, state.ChatConv(43))
		if err != nil {
			t.Fatalf("chat 43 blocked by chat 42: %v", err)
		}
		l2.Release()
	})
}

// A process that starts under the name of one that died takes its chats
// over at once; a holder without a heartbeat is taken over within the
// heartbeat's TTL; a live holder under another name is never taken over.
func TestLocksOfADeadHolderAreTakenOver(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()

		dead := state.New(rdb, prefix)
		dead.SetInstance("pod-1")
		if _, err := dead.Lock(ctx, state.ChatConv(1)); err != nil { // never released: the process "dies"
			t.Fatal(err)
		}
		dead.Close() // its heartbeat stops with it

		successor := state.New(rdb, prefix)
		successor.SetInstance("pod-1")
		defer successor.Close()
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		l, err := successor.Lock(short, state.ChatConv(1))
		if err != nil {
			t.Fatalf("the successor waits for its predecessor's lock: %v", err)
		}
		l.Release()

		// Another name: taken over once the heartbeat has expired, not before.
		other := state.New(rdb, prefix)
		other.SetInstance("pod-2")
		if _, err := other.Lock(ctx, state.ChatConv(2)); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := successor.TryLock(ctx, state.ChatConv(2)); err != nil || ok {
			t.Fatalf("a live holder's lock was taken (%v)", err)
		}
		other.Close()
		start := time.Now()
		waitCtx, cancel2 := context.WithTimeout(ctx, 3*state.HeartbeatTTL)
		defer cancel2()
		l2, err := successor.Lock(waitCtx, state.ChatConv(2))
		if err != nil {
			t.Fatalf("a dead holder's lock was never taken over: %v", err)
		}
		l2.Release()
		if waited := time.Since(start); waited > state.HeartbeatTTL+time.Second {
			t.Errorf("took %v to take over a dead holder's chat; its heartbeat lives %v", waited, state.HeartbeatTTL)
		}
	})
}

// A parked chat is due for the background sender at its retry time, and
// its later turns queue behind the waiting replies.
func TestParkedChatsComeDueAtTheirRetry(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, _, _ := newStore(t, rdb, prefix)
		ctx := context.Background()
		if err := commit(t, s, state.Turn{Conv: state.ChatConv(9), User: 9, UpdateID: 1, SaveState: true, Outbox: [][]byte{[]byte("r1")}}); err != nil {
			t.Fatal(err)
		}
		l, _ := s.Lock(ctx, state.ChatConv(9))
		until := time.Now().Add(time.Minute)
		if err := s.Park(ctx, l, until, 3); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, l, state.Turn{Conv: state.ChatConv(9), User: 9, UpdateID: 2, Version: 1, SaveState: true, Outbox: [][]byte{[]byte("r2")}}); err != nil {
			t.Fatal(err)
		}
		l.Release()
		snap, _ := s.Begin(ctx, state.ChatConv(9), 9, 3)
		if snap.ParkedUntil.UnixMilli() != until.UnixMilli() || len(snap.Outbox) != 2 || string(snap.Outbox[1]) != "r2" {
			t.Fatalf("parked snapshot: %+v", snap)
		}
		if n, _ := s.ParkAttempts(ctx, state.ChatConv(9)); n != 3 {
			t.Errorf("attempts %d, want 3", n)
		}
		if due, _ := s.DuePending(ctx, time.Now(), 10); len(due) != 0 {
			t.Fatalf("due before its retry: %v", due)
		}
		if n, _ := s.ParkedChats(ctx, time.Now()); n != 1 {
			t.Errorf("%d parked chats, want 1", n)
		}
		if due, _ := s.DuePending(ctx, until, 10); len(due) != 1 || due[0] != state.ChatConv(9) {
			t.Fatalf("due at its retry: %v", due)
		}
		l, _ = s.Lock(ctx, state.ChatConv(9))
		_ = s.Pop(ctx, l, true)
		_ = s.Pop(ctx, l, true)
		l.Release()
		if snap, _ := s.Begin(ctx, state.ChatConv(9), 9, 3); !snap.ParkedUntil.IsZero() {
			t.Errorf("still parked after the outbox was sent: %+v", snap)
		}
		if chats, _ := s.PendingChats(ctx); len(chats) != 0 {
			t.Errorf("pending after sending: %v", chats)
		}
	})
}

func TestReachable(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, _, _ := newStore(t, rdb, prefix)
		ctx := context.Background()
		if ok, _ := s.Reachable(ctx, 5); !ok {
			t.Fatal("new chat unreachable")
		}
		_ = s.SetReachable(ctx, 5, false)
		if ok, _ := s.Reachable(ctx, 5); ok {
			t.Fatal("blocked chat reachable")
		}
		_ = s.SetReachable(ctx, 5, true)
		if ok, _ := s.Reachable(ctx, 5); !ok {
			t.Fatal("unblocked chat unreachable")
		}
	})
}

func TestTimersAreClaimedOnceWhenDue(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, _, _ := newStore(t, rdb, prefix)
		ctx := context.Background()
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		err := commit(t, s, state.Turn{Conv: state.ChatConv(1), User: 1, UpdateID: 9, SaveState: true, Timers: []state.TimerEntry{
			{Due: now.Add(time.Minute), Payload: []byte("a")},
			{Due: now.Add(2 * time.Minute), Payload: []byte("b")},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if due, _ := s.DueTimers(ctx, now, 10); len(due) != 0 {
			t.Fatalf("timers due early: %q", due)
		}
		// Several instances asking at once: each timer goes to exactly one.
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		at := now.Add(90 * time.Second)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				due, err := s.DueTimers(ctx, at, 10)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				for _, d := range due {
					got = append(got, string(d))
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(got) != 1 || got[0] != "a" {
			t.Fatalf("claimed %q, want [a] once", got)
		}
		// Its claimer died without Ack: after the lease, another instance gets it.
		if due, _ := s.DueTimers(ctx, at.Add(state.TimerLease/2), 10); len(due) != 0 {
			t.Fatalf("leased timer handed out again early: %q", due)
		}
		// A claimer still at work extends its lease.
		if err := s.ExtendTimer(ctx, []byte("a"), at.Add(state.TimerLease/2)); err != nil {
			t.Fatal(err)
		}
		if due, _ := s.DueTimers(ctx, at.Add(state.TimerLease+time.Second), 10); len(due) != 1 || string(due[0]) != "b" {
			t.Fatalf("an extended lease was handed out, or b is missing: %q", due)
		}
		again, _ := s.DueTimers(ctx, at.Add(2*state.TimerLease+2*time.Second), 10)
		if len(again) != 2 { // "a" from its lapsed lease, "b" again from its own
			t.Fatalf("after the leases: %q", again)
		}
		for _, d := range again {
			_ = s.Ack(ctx, d)
		}
		if due, _ := s.DueTimers(ctx, at.Add(10*time.Minute), 10); len(due) != 0 {
			t.Fatalf("acknowledged timers came back: %q", due)
		}
		// A failed one goes back to the queue at the time given, as its next try.
		_ = commit(t, s, state.Turn{Conv: state.ChatConv(1), User: 1, Timers: []state.TimerEntry{{Due: now, Payload: []byte("c")}}})
		c, _ := s.DueTimers(ctx, now, 10)
		_ = s.Reschedule(ctx, c[0], []byte("c2"), now.Add(time.Hour))
		if due, _ := s.DueTimers(ctx, now.Add(time.Hour), 10); len(due) != 1 || string(due[0]) != "c2" {
			t.Fatalf("rescheduled: %q", due)
		}
	})
}

// A live holder keeps its chat past the lock's TTL (it may be waiting out a
// long retry_after); a holder that stops extending loses it within the TTL.
func TestLockOutlivesItsTTLWhileHeld(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, rdb, prefix := newStore(t, rdb, prefix)
		s.SetLockTTL(300 * time.Millisecond)
		ctx := context.Background()
		l, err := s.Lock(ctx, state.ChatConv(7))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // three TTLs
		other := state.New(rdb, prefix)
		defer other.Close()
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if _, err := other.Lock(short, state.ChatConv(7)); err == nil {
			t.Fatal("a second holder got the chat while the first still held it")
		}
		if l.Lost() {
			t.Fatal("a held lock reads lost")
		}
		l.Release()
		l2, err := other.Lock(ctx, state.ChatConv(7))
		if err != nil {
			t.Fatalf("after unlock: %v", err)
		}
		l2.Release()
	})
}

func TestBeginReadsATurnsStartInOneGo(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, _, _ := newStore(t, rdb, prefix)
		ctx := context.Background()
		snap, err := s.Begin(ctx, state.ChatConv(3), 4, 77)
		if err != nil || snap.Seen || snap.Version != 0 || len(snap.Outbox) != 0 {
			t.Fatalf("empty begin: %+v %v", snap, err)
		}
		if err := commit(t, s, state.Turn{Conv: state.ChatConv(3), User: 4, UpdateID: 77, SaveState: true, State: dialogs.State{Step: dialogs.StepLinkNumber}, Outbox: [][]byte{[]byte("r1")}}); err != nil {
			t.Fatal(err)
		}
		snap, _ = s.Begin(ctx, state.ChatConv(3), 4, 77)
		if !snap.Seen || snap.Version != 1 || snap.State.Step != dialogs.StepLinkNumber || len(snap.Outbox) != 1 || string(snap.Outbox[0]) != "r1" {
			t.Fatalf("after commit: %+v", snap)
		}
		if snap, _ := s.Begin(ctx, state.ChatConv(3), 4, 0); snap.Seen {
			t.Error("update id 0 (a timer) reported seen")
		}
	})
}

// Every key a chat's turn writes has a TTL, and each script's keys share the
// chat's hash tag; the only keys without a TTL are the documented shared
// indexes, bounded by the number of chats with something waiting.
func TestEveryKeyHasATTLOrIsABoundedIndex(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, rdb, prefix := newStore(t, rdb, prefix)
		ctx := context.Background()
		_ = commit(t, s, state.Turn{Conv: state.ChatConv(11), User: 12, UpdateID: 13, SaveState: true, Outbox: [][]byte{[]byte("r")},
			Timers: []state.TimerEntry{{Due: time.Now().Add(time.Hour), Payload: []byte("t")}}})
		_ = s.SetReachable(ctx, 11, false)
		l, _ := s.Lock(ctx, state.ChatConv(11))
		_ = s.Park(ctx, l, time.Now().Add(time.Minute), 1)
		bounded := map[string]bool{prefix + "pending": true, prefix + "{timers}": true}
		keys := redistest.Keys(t, rdb, prefix)
		if len(keys) < 7 {
			t.Fatalf("only %d keys written: %v", len(keys), keys)
		}
		for _, k := range keys {
			if bounded[k] {
				continue
			}
			if !strings.Contains(k, "{c11}") && !strings.HasPrefix(k, prefix+"alive:") {
				t.Errorf("key %q carries no chat hash tag", k)
			}
			if ttl := rdb.PTTL(ctx, k).Val(); ttl < 0 {
				t.Errorf("key %q has no TTL", k)
			}
		}
		l.Release()
	})
}

// The intake keeps updates as they came until they are dropped, and its
// key is gone once the last is: it holds nothing but the updates in hand.
func TestTheIntakeKeepsUpdatesUntilDropped(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s, _, _ := newStore(t, rdb, prefix)
		ctx := context.Background()
		if err := s.Keep(ctx, map[int64][]byte{5: []byte(`{"update_id":5}`), 6: []byte(`{"update_id":6}`)}); err != nil {
			t.Fatal(err)
		}
		kept, err := s.Kept(ctx)
		if err != nil || len(kept) != 2 || string(kept[5]) != `{"update_id":5}` {
			t.Fatalf("kept %d updates (%v)", len(kept), err)
		}
		if err := s.Drop(ctx, []int64{5, 6}); err != nil {
			t.Fatal(err)
		}
		if kept, _ := s.Kept(ctx); len(kept) != 0 {
			t.Errorf("still kept after the drop: %d", len(kept))
		}
		if n, _ := rdb.Exists(ctx, prefix+"intake").Result(); n != 0 {
			t.Error("the intake's key is left behind empty")
		}
	})
}
