package state_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/state"
)

func TestCommitSavesStateOutboxAndSeenTogether(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := state.New(rdb, prefix)
	ctx := context.Background()

	snap, err := s.Begin(ctx, 10, 20, 5)
	if err != nil || snap.Version != 0 || snap.State.Step != "" || snap.Seen {
		t.Fatalf("fresh begin: %+v %v", snap, err)
	}
	err = s.Commit(ctx, state.Turn{Chat: 10, User: 20, UpdateID: 5, Version: snap.Version, SaveState: true,
		State: dialogs.State{Step: dialogs.StepLinkCode, Account: 7}, Outbox: [][]byte{[]byte("a"), []byte("b")}})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ = s.Begin(ctx, 10, 20, 5)
	if snap.State.Step != dialogs.StepLinkCode || snap.State.Account != 7 || snap.Version != 1 {
		t.Fatalf("after commit: %+v", snap)
	}
	if !snap.Seen {
		t.Error("update 5 not marked handled")
	}
	if other, _ := s.Begin(ctx, 10, 20, 6); other.Seen {
		t.Error("update 6 marked handled")
	}
	out, _ := s.Outbox(ctx, 10)
	if len(out) != 2 || string(out[0]) != "a" {
		t.Fatalf("outbox %q", out)
	}
	if chats, _ := s.PendingChats(ctx); len(chats) != 1 || chats[0] != 10 {
		t.Fatalf("pending %v", chats)
	}
	_ = s.Pop(ctx, 10)
	_ = s.Pop(ctx, 10)
	if chats, _ := s.PendingChats(ctx); len(chats) != 0 {
		t.Fatalf("pending after draining: %v", chats)
	}
}

// A commit made with a stale version is refused and changes nothing: the
// update is delivered again instead of overwriting a newer state.
func TestCommitRefusesAStaleVersion(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := state.New(rdb, prefix)
	ctx := context.Background()
	if err := s.Commit(ctx, state.Turn{Chat: 1, User: 1, UpdateID: 1, SaveState: true, State: dialogs.State{Step: dialogs.StepLinkNumber}}); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, state.Turn{Chat: 1, User: 1, UpdateID: 2, Version: 0, SaveState: true, State: dialogs.State{Step: dialogs.StepIdle}, Outbox: [][]byte{[]byte("x")}})
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	if snap, _ := s.Begin(ctx, 1, 1, 2); snap.Seen {
		t.Error("refused update marked handled")
	}
	if out, _ := s.Outbox(ctx, 1); len(out) != 0 {
		t.Error("refused update left replies")
	}
	if snap, _ := s.Begin(ctx, 1, 1, 0); snap.State.Step != dialogs.StepLinkNumber {
		t.Errorf("state overwritten: %+v", snap.State)
	}
}

func TestLockIsExclusivePerChat(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := state.New(rdb, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := s.Lock(ctx, 42)
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
			unlock()
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once", maxInside.Load())
	}
	// Another chat is not blocked by this one.
	unlock, _ := s.Lock(ctx, 42)
	defer unlock()
	short, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	unlock2, err := s.Lock(short, 43)
	if err != nil {
		t.Fatalf("chat 43 blocked by chat 42: %v", err)
	}
	unlock2()
}

func TestReachable(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := state.New(rdb, prefix)
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
}

func TestTimersAreClaimedOnceWhenDue(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := state.New(rdb, prefix)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	err := s.Commit(ctx, state.Turn{Chat: 1, User: 1, UpdateID: 9, SaveState: true, Timers: []state.TimerEntry{
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
	again, _ := s.DueTimers(ctx, at.Add(state.TimerLease+time.Second), 10)
	if len(again) != 2 { // "a" from its lapsed lease, "b" now due
		t.Fatalf("after the lease: %q", again)
	}
	for _, d := range again {
		_ = s.Ack(ctx, d)
	}
	if due, _ := s.DueTimers(ctx, at.Add(10*time.Minute), 10); len(due) != 0 {
		t.Fatalf("acknowledged timers came back: %q", due)
	}
	// A failed one goes back to the queue at the time given.
	_ = s.Commit(ctx, state.Turn{Chat: 1, User: 1, Timers: []state.TimerEntry{{Due: now, Payload: []byte("c")}}})
	c, _ := s.DueTimers(ctx, now, 10)
	_ = s.Reschedule(ctx, c[0], now.Add(time.Hour))
	if due, _ := s.DueTimers(ctx, now.Add(time.Hour), 10); len(due) != 1 || string(due[0]) != "c" {
		t.Fatalf("rescheduled: %q", due)
	}
}

// A live holder keeps its chat past the lock's TTL (it may be waiting out a
// long retry_after); a holder that stops extending loses it within the TTL.
func TestLockOutlivesItsTTLWhileHeld(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := state.New(rdb, prefix)
	s.SetLockTTL(300 * time.Millisecond)
	ctx := context.Background()
	unlock, err := s.Lock(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // three TTLs
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, 7); err == nil {
		t.Fatal("a second holder got the chat while the first still held it")
	}
	unlock()
	u2, err := s.Lock(ctx, 7)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	u2()
	// A crashed holder: its key is left without anyone extending it.
	if err := rdb.Set(ctx, prefix+"lock:8", "dead", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	u3, err := s.Lock(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	u3()
	t.Logf("took a crashed holder's chat after %v", time.Since(start).Round(time.Millisecond))
}

func TestBeginReadsATurnsStartInOneGo(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := state.New(rdb, prefix)
	ctx := context.Background()
	snap, err := s.Begin(ctx, 3, 4, 77)
	if err != nil || snap.Seen || snap.Version != 0 || len(snap.Outbox) != 0 {
		t.Fatalf("empty begin: %+v %v", snap, err)
	}
	if err := s.Commit(ctx, state.Turn{Chat: 3, User: 4, UpdateID: 77, SaveState: true, State: dialogs.State{Step: dialogs.StepLinkNumber}, Outbox: [][]byte{[]byte("r1")}}); err != nil {
		t.Fatal(err)
	}
	snap, _ = s.Begin(ctx, 3, 4, 77)
	if !snap.Seen || snap.Version != 1 || snap.State.Step != dialogs.StepLinkNumber || len(snap.Outbox) != 1 || string(snap.Outbox[0]) != "r1" {
		t.Fatalf("after commit: %+v", snap)
	}
	if snap, _ := s.Begin(ctx, 3, 4, 0); snap.Seen {
		t.Error("update id 0 (a timer) reported seen")
	}
}
