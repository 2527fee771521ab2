package ratelimit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/internal/redistest"
)

// instances returns n Limiters as n bot instances would hold them: each
// with its own Redis client, all on the same Redis and prefix.
func instances(t *testing.T, n int, limit Limit) ([]*Limiter, *redis.Client, string) {
	t.Helper()
	rdb, prefix := redistest.New(t)
	out := []*Limiter{New(rdb, prefix, limit)}
	for len(out) < n {
		other := redis.NewClient(rdb.Options())
		t.Cleanup(func() { _ = other.Close() })
		out = append(out, New(other, prefix, limit))
	}
	return out, rdb, prefix
}

func wait(t *testing.T, l *Limiter, key string) time.Time {
	t.Helper()
	if err := l.Wait(context.Background(), key); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return time.Now()
}

// within is a context that ends after d: a Wait under it fails with
// ErrDeadline unless its slot comes sooner.
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// A burst goes at once after a quiet spell, and the one after it must wait
// a whole interval.
func TestWaitGivesTheBurstAtOnce(t *testing.T) {
	ls, _, _ := instances(t, 1, Limit{Rate: 2, Burst: 4})
	l := ls[0]
	for i := 0; i < 4; i++ {
		if err := l.Wait(within(t, 250*time.Millisecond), "push"); err != nil {
			t.Fatalf("event %d of a burst of 4: %v", i+1, err)
		}
	}
	if err := l.Wait(within(t, 250*time.Millisecond), "push"); !errors.Is(err, ErrDeadline) {
		t.Errorf("a fifth event at once: %v, want ErrDeadline (the next slot is 500 ms away)", err)
	}
}

// Past the burst the events keep to the rate: the n-th comes no sooner than
// n intervals after the first (a waiter woken late may come closer to the
// next one, never ahead of its slot).
func TestWaitKeepsToTheRate(t *testing.T) {
	ls, _, _ := instances(t, 1, Limit{Rate: 20, Burst: 1})
	l := ls[0]
	first := wait(t, l, "push")
	for i := 1; i <= 6; i++ {
		// 5 ms for rounding between Redis's clock and Go's.
		if at := wait(t, l, "push").Sub(first); at < time.Duration(i)*50*time.Millisecond-5*time.Millisecond {
			t.Errorf("event %d came %v after the first, want ≥ %v", i+1, at, time.Duration(i)*50*time.Millisecond)
		}
	}
}

// Keys are budgets of their own.
func TestKeysAreSeparate(t *testing.T) {
	ls, _, _ := instances(t, 1, Limit{Rate: 1, Burst: 1})
	wait(t, ls[0], "a")
	if err := ls[0].Wait(within(t, 500*time.Millisecond), "b"); err != nil {
		t.Errorf("key b waits for key a's budget: %v", err)
	}
}

// Two instances share one budget: 40 events from two at 100/s, burst 1,
// take at least 390 ms (each on its own would take 200 ms).
func TestInstancesShareTheBudget(t *testing.T) {
	ls, _, _ := instances(t, 2, Limit{Rate: 100, Burst: 1})
	start := time.Now()
	var wg sync.WaitGroup
	for _, l := range ls {
		for g := 0; g < 4; g++ { // several senders in each instance
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					if err := l.Wait(context.Background(), "push"); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	took := time.Since(start)
	if took < 390*time.Millisecond {
		t.Errorf("40 events at 100/s took %v: the instances did not share the budget", took)
	}
	t.Logf("40 events from 2 instances × 4 senders at 100/s: %v", took)
}

// A pause set by one instance holds every instance, including one already
// waiting for a booked slot; a shorter pause does not shorten it.
func TestPauseHoldsEveryInstance(t *testing.T) {
	ls, _, _ := instances(t, 2, Limit{Rate: 2, Burst: 1})
	a, b := ls[0], ls[1]
	ctx := context.Background()
	wait(t, a, "push") // the next slot is 500 ms away

	started := time.Now()
	done := make(chan time.Time, 1)
	go func() { done <- wait(t, b, "push") }()
	time.Sleep(100 * time.Millisecond) // b now sleeps towards its slot
	if err := a.Pause(ctx, "push", 800*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a.Pause(ctx, "push", 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if left, err := b.Paused(ctx, "push"); err != nil || left < 700*time.Millisecond {
		t.Errorf("paused for %v more (%v), want about 800ms: a shorter pause shortened it", left, err)
	}
	got := (<-done).Sub(started)
	if got < 900*time.Millisecond {
		t.Errorf("instance b went after %v, inside the 800 ms pause set at 100 ms", got)
	}
	if left, err := a.Paused(ctx, "push"); err != nil || left != 0 {
		t.Errorf("still paused for %v (%v) after the pause", left, err)
	}
}

// A pause closes even a lane with its budget full.
func TestPauseClosesAnIdleLane(t *testing.T) {
	ls, _, _ := instances(t, 2, Limit{Rate: 100, Burst: 10})
	start := time.Now()
	if err := ls[0].Pause(context.Background(), "push", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, ls[1], "push").Sub(start); got < 300*time.Millisecond {
		t.Errorf("the other instance went %v after a 300 ms pause began", got)
	}
}

// A stall: every waiter of an instance sleeps through its slot and wakes
// at the same instant. Those woken far past their slots book new ones
// instead of all going at once, so the instance resumes at the rate, not
// with its whole backlog in one burst.
func TestWaitersWokenLateDoNotBurst(t *testing.T) {
	ls, _, _ := instances(t, 1, Limit{Rate: 20, Burst: 1}) // 50 ms apart; 250 ms of slack
	l := ls[0]
	wait(t, l, "push") // the lane is busy from now on
	resume := time.Now().Add(700 * time.Millisecond)
	l.sleep = func(ctx context.Context, d time.Duration) error {
		until := time.Now().Add(d)
		if until.Before(resume) {
			until = resume // stalled until the instance resumes
		}
		return sleep(ctx, time.Until(until))
	}
	const waiters = 10 // slots at 50 ... 500 ms, all slept through
	times := make(chan time.Time, waiters)
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Wait(context.Background(), "push"); err != nil {
				t.Error(err)
			}
			times <- time.Now()
		}()
	}
	wg.Wait()
	close(times)
	atOnce := 0
	for at := range times {
		if at.Sub(resume) < 25*time.Millisecond {
			atOnce++
		}
	}
	// Those within 250 ms of their slot (450, 500 ms) go, and one new
	// slot opens at the instant itself; the rest follow 50 ms apart.
	if atOnce > 4 {
		t.Errorf("%d of %d stalled waiters went within 25 ms of resuming, want at most 4", atOnce, waiters)
	}
}

// A slot after the context's deadline is refused at once, and not booked:
// the next caller is not pushed back by it.
func TestDeadlineBooksNothing(t *testing.T) {
	ls, _, _ := instances(t, 1, Limit{Rate: 1, Burst: 1})
	l := ls[0]
	first := wait(t, l, "push") // the next slot is a second away
	start := time.Now()
	err := l.Wait(within(t, 300*time.Millisecond), "push")
	if !errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past the deadline: %v", err)
	}
	if took := time.Since(start); took >= 300*time.Millisecond {
		t.Errorf("refused after %v, at the deadline instead of at once", took)
	}
	if next := wait(t, l, "push").Sub(first); next > 1700*time.Millisecond {
		t.Errorf("the next caller went %v after the first, want about 1s: the refused call booked a slot", next)
	}

	cancelled, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	if err := l.Wait(cancelled, "push"); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context: %v", err)
	}
}

// Both keys of a lane carry the same hash tag (one Cluster slot, so the
// script may touch both), start with the prefix, and expire.
func TestKeysHaveOneHashTagAndATTL(t *testing.T) {
	ls, rdb, prefix := instances(t, 1, Limit{Rate: 10, Burst: 1})
	ctx := context.Background()
	wait(t, ls[0], "push")
	if err := ls[0].Pause(ctx, "push", time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys %v, want the TAT and the pause", keys)
	}
	for _, k := range keys {
		if tag := hashTag(k); tag != "push" {
			t.Errorf("key %q hashes on %q, want the lane's tag {push}", k, tag)
		}
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("key %q has TTL %v (%v), want one", k, ttl, err)
		}
	}
}

// hashTag is what Redis Cluster hashes a key on: the text inside the first
// {...} when it is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func TestNewRefusesAZeroRate(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with rate 0 did not panic")
		}
	}()
	New(nil, "x:", Limit{Rate: 0})
}

// The budget and its pause work on a Redis Cluster: each script's keys
// share the lane's hash tag, so they land in one slot.
func TestTheBudgetRunsOnACluster(t *testing.T) {
	rdb, prefix := redistest.NewCluster(t)
	l := New(rdb, prefix, Limit{Rate: 2, Burst: 2})
	for i := 0; i < 2; i++ {
		if err := l.Wait(within(t, 250*time.Millisecond), "push"); err != nil {
			t.Fatalf("event %d of a burst of 2 on the cluster: %v", i+1, err)
		}
	}
	if err := l.Wait(within(t, 100*time.Millisecond), "push"); !errors.Is(err, ErrDeadline) {
		t.Errorf("a third event at once: %v, want ErrDeadline", err)
	}
	if err := l.Pause(context.Background(), "push", time.Second); err != nil {
		t.Fatalf("pause on the cluster: %v", err)
	}
	if d, err := l.Paused(context.Background(), "push"); err != nil || d <= 0 {
		t.Errorf("paused %v, %v; want a pause", d, err)
	}
}
