package bot

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/ratelimit"
)

// startChats makes n people start the bot, ids from first, so that it may
// write to them.
func startChats(emu *emulator.Server, first int64, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = first + int64(i)
		emu.SendCommand(emulator.User{ID: ids[i], FirstName: "Абонент"}, "/start")
	}
	return ids
}

// sendAll pushes one message to each chat from `senders` goroutines of one
// instance, as a scheduler working through a batch would with several
// workers; it returns the first error.
func sendAll(ctx context.Context, n *Notifier, chats []int64, senders int) error {
	work := make(chan int64)
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chat := range work {
				if err := n.Send(ctx, chat, fmt.Sprintf("Платёж получен, чат %d", chat), nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, c := range chats {
		select {
		case work <- c:
		case err := <-errs:
			close(work)
			wg.Wait()
			return err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// sentTimes are the emulator's times of the accepted sendMessage calls, in
// order.
func sentTimes(emu *emulator.Server) []time.Time {
	var out []time.Time
	for _, c := range emu.CallsTo("sendMessage") {
		if c.OK {
			out = append(out, c.Time)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// bulkRun is what two instances sharing the bulk budget did.
type bulkRun struct {
	sent     int           // pushes Telegram accepted
	limited  int           // pushes answered 429
	achieved float64       // pushes a second as Telegram saw them, first to last
	span     time.Duration // first to last accepted push
	wall     time.Duration // from the first Wait to the last answer
	// fromStart is the pushes a second from the moment the budget opened
	// to the last accepted push: the slots are 1/rate apart from that
	// moment and a push never goes before its slot, so this can never
	// exceed rate·n/(n-1), however busy the machine.
	fromStart float64
}

// runTwoInstances sends `each` pushes to distinct chats from each of two
// instances (their own Bot API clients, Redis connections and limiters, one
// Redis and key prefix), each with `senders` goroutines, at `rate` pushes a
// second for the bot, against an emulator whose bot-wide limit is that rate
// with a burst of 10: a sender any faster gets 429s.
func runTwoInstances(tb testing.TB, rate float64, each, senders int) (bulkRun, *emulator.Server) {
	tb.Helper()
	emu := emulator.New(emulator.Options{RateLimits: &emulator.RateLimits{Global: emulator.PerSecond(int(rate), 10)}})
	tb.Cleanup(emu.Close)
	rdb, prefix := redistest.New(tb)
	log, logs := captureLogs()
	a := newInstance(tb, emu, rdb, prefix, rate, log)
	b := newInstance(tb, emu, rdb, prefix, rate, log)
	chats := startChats(emu, 100000, 2*each)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i, n := range []*Notifier{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sendAll(ctx, n, chats[i*each:(i+1)*each], senders); err != nil {
				tb.Errorf("instance %d: %v", i+1, err)
			}
		}()
	}
	wg.Wait()
	run := bulkRun{wall: time.Since(start), limited: len(emu.TooManyRequests())}
	for _, c := range chats {
		if got := len(emu.BotMessages(c)); got != 1 {
			tb.Fatalf("chat %d got %d pushes, want 1\nlog:\n%s", c, got, logs)
		}
	}
	times := sentTimes(emu)
	run.sent = len(times)
	run.span = times[len(times)-1].Sub(times[0])
	run.achieved = float64(len(times)-1) / run.span.Seconds()
	run.fromStart = float64(len(times)) / times[len(times)-1].Sub(start).Seconds()
	return run, emu
}

func (r bulkRun) String() string {
	return fmt.Sprintf("%d pushes, %d answered 429: %.1f/s as Telegram saw them (first to last %v), %.1f/s from the start (%v in all)",
		r.sent, r.limited, r.achieved, r.span.Round(time.Millisecond), r.fromStart, r.wall.Round(time.Millisecond))
}

// Two instances share the bulk budget against an emulator that enforces
// Telegram's limits: zero 429s, and together no faster than the one rate
// configured (two budgets of their own would go twice as fast, which the
// emulator answers with 429s, as the end of the test shows). The issue's
// full figure, 2,000 pushes at 100/s reaching at least 95% of the rate, is
// BenchmarkTwoInstancesShareTheBulkBudget: under -race on 2 busy cores the
// achieved rate depends on the machine, and the guide keeps speed out of
// tests.
func TestTwoInstancesShareTheBulkBudget(t *testing.T) {
	// Two senders in each instance: a stall between a push's slot and
	// Telegram (the HTTP client, the emulator) can bunch at most one push
	// per sender, four, well inside the emulator's burst of 10.
	const rate, each, senders = 100, 200, 2
	run, emu := runTwoInstances(t, rate, each, senders)
	t.Logf("2 instances × %d senders at %d/s: %v", senders, rate, run)
	if run.limited != 0 {
		l := emu.TooManyRequests()[0]
		t.Errorf("%d pushes answered 429 (the first: %s, by the %s limit)", run.limited, l.Description, l.Limit)
	}
	n := float64(run.sent)
	if ceiling := 1.01 * rate * n / (n - 1); run.fromStart > ceiling {
		t.Errorf("the two instances sent %.1f pushes a second together, above the budget's %d", run.fromStart, rate)
	}

	// The emulator would have caught a faster sender: two instances each
	// with a budget of its own, as pacing in each process was before
	// issue 9, send 200 a second together and get 429s.
	rdb, prefix := redistest.New(t)
	log, _ := captureLogs()
	c := newInstance(t, emu, rdb, prefix+"c:", rate, log)
	d := newInstance(t, emu, rdb, prefix+"d:", rate, log)
	more := startChats(emu, 200000, 300)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = sendAll(ctx, c, more[:150], 4) }()
	go func() { defer wg.Done(); _ = sendAll(ctx, d, more[150:], 4) }()
	wg.Wait()
	if len(emu.TooManyRequests()) == 0 {
		t.Errorf("two instances with budgets of their own got no 429 from a limit of %d a second", rate)
	}
}

// BenchmarkTwoInstancesShareTheBulkBudget is the figure: two
// instances sharing the bulk budget, 2,000 pushes at 100 a second against
// an emulator enforcing that rate; it reports the achieved rate and the
// 429s (the issue asks for zero, and at least 95% of the rate). Run it with
//
//	go test -race -run '^$' -bench TwoInstances -benchtime 1x ./bot/
func BenchmarkTwoInstancesShareTheBulkBudget(b *testing.B) {
	const rate, each, senders = 100, 1000, 4
	for range b.N {
		run, _ := runTwoInstances(b, rate, each, senders)
		b.Logf("2 instances × %d senders at %d/s: %v (%.1f%% of the rate)", senders, rate, run, 100*run.achieved/rate)
		b.ReportMetric(run.achieved, "pushes/s")
		b.ReportMetric(100*run.achieved/rate, "%of-rate")
		b.ReportMetric(float64(run.limited), "429s")
	}
}

// A 429 with retry_after received by one instance pauses the other: after
// the refused call, the emulator sees no push from either instance until
// retry_after has passed.
func TestA429PausesEveryInstance(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	t.Cleanup(emu.Close)
	rdb, prefix := redistest.New(t)
	log, _ := captureLogs()
	a := newInstance(t, emu, rdb, prefix, 100, log)
	b := newInstance(t, emu, rdb, prefix, 100, log)
	lane := ratelimit.New(rdb, prefix, ratelimit.Limit{Rate: 100, Burst: 1})
	chats := startChats(emu, 300000, 6)
	const retryAfter = 2
	emu.FailNext("sendMessage", 1, http.StatusTooManyRequests, "", retryAfter)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	aDone := make(chan error, 1)
	go func() { aDone <- a.Send(ctx, chats[0], "Платёж получен", nil) }()

	// Instance a got the 429 and paused the lane; b starts pushing now.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if left, err := lane.Paused(ctx, PushLane); err != nil {
			t.Fatal(err)
		} else if left > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 429 paused no lane")
		}
		time.Sleep(time.Millisecond)
	}
	limited := emu.TooManyRequests()
	if len(limited) != 1 {
		t.Fatalf("%d 429s, want the planned one", len(limited))
	}
	refused := limited[0].Time
	bStarted := time.Now()
	if err := sendAll(ctx, b, chats[1:], 3); err != nil {
		t.Fatal(err)
	}
	if err := <-aDone; err != nil {
		t.Fatalf("instance a gave the push back: %v", err)
	}

	if held := bStarted.Sub(refused); held > time.Second {
		t.Fatalf("instance b started %v after the 429, too late to show anything", held)
	}
	var after []time.Duration
	for _, c := range emu.CallsTo("sendMessage") {
		if c.OK {
			after = append(after, c.Time.Sub(refused))
		}
	}
	if len(after) != len(chats) {
		t.Fatalf("%d pushes delivered, want %d", len(after), len(chats))
	}
	for _, d := range after {
		if d < retryAfter*time.Second {
			t.Errorf("a push went %v after the 429, inside its retry_after of %d s", d, retryAfter)
		}
	}
	sort.Slice(after, func(i, j int) bool { return after[i] < after[j] })
	t.Logf("instance b asked %v after the 429; the pushes went %v after it", bStarted.Sub(refused).Round(time.Millisecond), after)
}

// With NOTIFY_PAID_BROADCAST the pushes carry allow_paid_broadcast, and
// Telegram's 30 a second no longer holds them.
func TestNotifierPaidBroadcast(t *testing.T) {
	emu := emulator.New(emulator.Options{RateLimits: &emulator.RateLimits{Global: emulator.PerSecond(1, 1)}})
	t.Cleanup(emu.Close)
	rdb, prefix := redistest.New(t)
	n := newInstance(t, emu, rdb, prefix, 1000, slog.New(slog.DiscardHandler))
	n.SetPaidBroadcast(true)
	chats := startChats(emu, 400000, 20)
	if err := sendAll(context.Background(), n, chats, 4); err != nil {
		t.Fatal(err)
	}
	if limited := emu.TooManyRequests(); len(limited) != 0 {
		t.Errorf("%d paid pushes answered 429", len(limited))
	}
	for _, c := range emu.CallsTo("sendMessage") {
		if c.Params["allow_paid_broadcast"] != true {
			t.Fatalf("a push without allow_paid_broadcast: %v", c.Params)
		}
	}

	// Without it the same pushes go at the free rate and the emulator says so.
	free := newInstance(t, emu, rdb, prefix+"free:", 1000, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = free.Send(ctx, chats[0], "x", nil)
	_ = free.Send(ctx, chats[1], "y", nil)
	if len(emu.TooManyRequests()) == 0 {
		t.Error("two free pushes at once passed a limit of 1 a second")
	}
}
