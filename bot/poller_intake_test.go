package bot

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
)

// memIntake is an Intake in memory.
type memIntake struct {
	mu   sync.Mutex
	kept map[int64][]byte
	fail atomic.Bool // Keep refuses, as Redis down would
}

func newMemIntake() *memIntake { return &memIntake{kept: map[int64][]byte{}} }

func (m *memIntake) Keep(_ context.Context, updates map[int64][]byte) error {
	if m.fail.Load() {
		return context.DeadlineExceeded
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, raw := range updates {
		m.kept[id] = slices.Clone(raw)
	}
	return nil
}

func (m *memIntake) Drop(_ context.Context, ids []int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		delete(m.kept, id)
	}
	return nil
}

func (m *memIntake) Kept(context.Context) (map[int64][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.kept), nil
}

func (m *memIntake) ids() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.kept))
}

// orderRecorder records the updates handled per chat.
type orderRecorder struct {
	mu     sync.Mutex
	byChat map[int64][]int64
	n      int
}

func (o *orderRecorder) process(ctx context.Context, upd *models.Update) error {
	time.Sleep(time.Duration(upd.ID%3) * time.Millisecond)
	o.mu.Lock()
	defer o.mu.Unlock()
	c := ConvKey(upd).Chat
	o.byChat[c] = append(o.byChat[c], upd.ID)
	o.n++
	return nil
}

func (o *orderRecorder) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// With an intake, many chats' updates sent at once are each handled once,
// in their chat's order, and the intake is empty at the end.
func TestPollerWithAnIntakeKeepsEachChatsOrder(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	rec := &orderRecorder{byChat: map[int64][]int64{}}
	poller, _, _ := newTestPoller(t, f, processFunc(rec.process))
	intake := newMemIntake()
	poller.cfg.Intake = intake
	const chats, each = 20, 30
	id := int64(0)
	for range each {
		for c := range int64(chats) {
			id++
			f.add(chatUpdate(id, c+1, "x"))
		}
	}
	run := startPoller(poller)
	eventually(t, "every update handled", func() bool { return rec.count() >= chats*each })
	time.Sleep(50 * time.Millisecond)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.n != chats*each {
		t.Errorf("%d updates handled, want %d", rec.n, chats*each)
	}
	for c, ids := range rec.byChat {
		if !slices.IsSorted(ids) || len(ids) != each {
			t.Errorf("chat %d handled %v: out of order or not once each", c, ids)
		}
	}
	if left := intake.ids(); len(left) != 0 {
		t.Errorf("the intake still keeps %v", left)
	}
	if below := f.confirmedBelow(); below != id+1 {
		t.Errorf("offset %d at the end, want %d", below, id+1)
	}
}

// With an intake the offset moves past an update once it is kept, while it
// is still being handled: Telegram is asked for more at once, and the slow
// update holds nothing back. Once handled it leaves the intake.
func TestPollerConfirmsKeptUpdatesBeforeTheyAreHandled(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	release := make(chan struct{})
	var handled atomic.Int64
	poller, _, _ := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		if upd.ID == 1 {
			<-release
		}
		handled.Add(1)
		return nil
	}))
	intake := newMemIntake()
	poller.cfg.Intake = intake
	f.add(chatUpdate(1, 1, "slow"), chatUpdate(2, 2, "a"))
	run := startPoller(poller)
	eventually(t, "offset past both updates, the slow one still in hand", func() bool { return f.confirmedBelow() == 3 })
	if handled.Load() > 1 {
		t.Fatal("update 1 was handled before it was released")
	}
	if ids := intake.ids(); !slices.Contains(ids, 1) {
		t.Fatalf("the intake keeps %v: update 1, confirmed to Telegram and not handled, must be there", ids)
	}
	close(release)
	eventually(t, "both handled and gone from the intake", func() bool { return handled.Load() == 2 && len(intake.ids()) == 0 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
}

// A process that starts hands on what the intake keeps (confirmed to
// Telegram by a process that died before handling them), in order, before
// what it fetches; then the intake is empty.
func TestPollerHandsOnWhatTheIntakeKeptAtStart(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	rec := &orderRecorder{byChat: map[int64][]int64{}}
	poller, _, _ := newTestPoller(t, f, processFunc(rec.process))
	intake := newMemIntake()
	poller.cfg.Intake = intake
	keep := map[int64][]byte{}
	for _, upd := range []*models.Update{chatUpdate(7, 1, "a"), chatUpdate(8, 1, "b"), chatUpdate(9, 2, "c")} {
		raw, _ := json.Marshal(upd)
		keep[upd.ID] = raw
	}
	if err := intake.Keep(context.Background(), keep); err != nil {
		t.Fatal(err)
	}
	f.add(chatUpdate(10, 1, "d")) // fetched after: behind 7 and 8 in chat 1
	run := startPoller(poller)
	eventually(t, "every update handled", func() bool { return rec.count() == 4 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.byChat[1]; !slices.Equal(got, []int64{7, 8, 10}) {
		t.Errorf("chat 1 handled %v, want [7 8 10]", got)
	}
	if got := rec.byChat[2]; !slices.Equal(got, []int64{9}) {
		t.Errorf("chat 2 handled %v, want [9]", got)
	}
	if ids := intake.ids(); len(ids) != 0 {
		t.Errorf("the intake still keeps %v", ids)
	}
}

// A kept update that fails (Redis down for the processor) is handed on
// again from the intake after the pause, Telegram no longer having it, and
// the later update of its chat waits for it.
func TestPollerRetriesAFailedKeptUpdateFromTheIntake(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	var (
		mu     sync.Mutex
		calls  []int64
		failed bool
	)
	poller, _, sleeps := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, upd.ID)
		if upd.ID == 1 && !failed {
			failed = true
			return errors.New("redis: i/o timeout")
		}
		return nil
	}))
	intake := newMemIntake()
	poller.cfg.Intake = intake
	f.add(chatUpdate(1, 1, "a"), chatUpdate(2, 1, "b"), chatUpdate(3, 2, "c"))
	run := startPoller(poller)
	eventually(t, "update 2 handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(calls, 2)
	})
	eventually(t, "the intake emptied", func() bool { return len(intake.ids()) == 0 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if i, j := slices.Index(calls, 1), slices.Index(calls, 2); count(calls, 1) != 2 || count(calls, 2) != 1 || slices.Index(calls[i+1:], 1) > j-i-1 {
		t.Errorf("calls %v: want update 1 twice (failed, then again) and update 2 once, after the second", calls)
	}
	if len(sleeps.list()) == 0 {
		t.Error("no pause before the failed update was handed on again")
	}
	if below := f.confirmedBelow(); below != 4 {
		t.Errorf("offset %d, want 4", below)
	}
}

// When Redis refuses to keep the updates, the poller works as without an
// intake: the offset stops at the first update not done.
func TestPollerWithoutAWorkingIntakeConfirmsOnlyHandledUpdates(t *testing.T) {
	f := newFakeGetUpdatesServer(t)
	release := make(chan struct{})
	var handled atomic.Int64
	poller, _, _ := newTestPoller(t, f, processFunc(func(ctx context.Context, upd *models.Update) error {
		if upd.ID == 1 {
			<-release
		}
		handled.Add(1)
		return nil
	}))
	intake := newMemIntake()
	intake.fail.Store(true)
	poller.cfg.Intake = intake
	f.add(chatUpdate(1, 1, "slow"), chatUpdate(2, 2, "a"))
	run := startPoller(poller)
	eventually(t, "update 2 handled", func() bool { return handled.Load() == 1 })
	time.Sleep(100 * time.Millisecond) // a few more calls, which must not confirm update 1
	if below := f.confirmedBelow(); below > 1 {
		t.Fatalf("offset %d told while update 1, not kept, was in hand", below)
	}
	close(release)
	eventually(t, "offset past both", func() bool { return f.confirmedBelow() == 3 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
}
