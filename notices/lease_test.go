package notices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// heldWhileSending is what the database holds for others while a message is
// in flight: backends of this database with a transaction open, and locks on
// the scheduler's tables. Both must be empty: a Telegram send can wait out a
// retry_after of minutes, and nothing may stay locked that long.
func (e *schedEnv) heldWhileSending(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var held []string
	rows, err := e.pool.Query(ctx, `
SELECT format('backend %s %s: %s', pid, state, left(regexp_replace(query, '\s+', ' ', 'g'), 60))
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
UNION ALL
SELECT format('lock %s on %s by %s', l.mode, c.relname, l.pid)
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
  AND c.relname IN ('payment_notices', 'trust_payments', 'trust_reminders', 'accounts')`)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Error(err)
		}
		held = append(held, s)
	}
	if err := rows.Err(); err != nil {
		t.Error(err)
	}
	return held
}

// TestNothingHeldWhileSending: while a "payment received" push or a trust
// reminder is being sent, no transaction of this database is open and no
// lock is held on the rows the scheduler works on.
func TestNothingHeldWhileSending(t *testing.T) {
	moscow, _ := time.LoadLocation("Europe/Moscow")
	e := newSchedEnv(t, money.Rub(-800), billing.StatusBlocked)
	ctx := context.Background()
	granted := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	if _, err := e.store.GrantTrust(ctx, "", e.acc, granted, billing.DefaultTrustSettings(moscow)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Credit(ctx, "billing", "T-1", e.acc, money.Rub(300), "cash", time.Now()); err != nil {
		t.Fatal(err)
	}
	checked := 0
	m := &memMessenger{before: func(chat int64) error {
		checked++
		if held := e.heldWhileSending(t); len(held) > 0 {
			t.Errorf("while sending to chat %d the database holds:\n%s", chat, strings.Join(held, "\n"))
		}
		return nil
	}}
	now := granted.Add(48*time.Hour + time.Minute) // the reminder is due too
	if err := e.scheduler(m, func() time.Time { return now }).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := m.messages()
	var pushes, reminders int
	for _, msg := range msgs {
		switch {
		case strings.Contains(msg.text, "получен") || strings.Contains(msg.text, "received"):
			pushes++
		case strings.Contains(msg.text, "заканчивается завтра") || strings.Contains(msg.text, "ends tomorrow"):
			reminders++
		}
	}
	if pushes != 2 || reminders != 2 || checked != 4 {
		t.Errorf("%d pushes and %d reminders sent, %d sends checked; want 2, 2, 4", pushes, reminders, checked)
	}
}

// TestStopRightAfterSendRepeatsNothing: serve is stopped (SIGTERM) at the
// moment Telegram has accepted a push. The push is recorded as sent anyway,
// so the restarted scheduler does not send it again, and the notice it had
// not got to yet goes out at once, not after its lease.
func TestStopRightAfterSendRepeatsNothing(t *testing.T) {
	e := newSchedEnv(t, 0, billing.StatusActive)
	ctx := context.Background()
	if _, err := e.store.Credit(ctx, "billing", "T-1", e.acc, money.Rub(300), "cash", time.Now()); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	m := &memMessenger{}
	m.accepted = func(int64) { stop() } // the stop arrives as Telegram answers
	_ = e.scheduler(m, time.Now).RunOnce(runCtx)
	if got := len(m.messages()); got != 1 {
		t.Fatalf("%d pushes before the stop, want 1", got)
	}
	m.accepted = nil
	if err := e.scheduler(m, time.Now).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if c := perChat(m.messages()); c[101] != 1 || c[102] != 1 {
		t.Errorf("pushes per chat after the restart %v, want one each", c)
	}
}

// TestTrustReminderRetriesOnlyTheFailedRecipient: of the two people linked
// to the account, the reminder reaches one and fails for the other. The
// retry goes to the one it failed for, after a pause, and never to the one
// who already has it.
func TestTrustReminderRetriesOnlyTheFailedRecipient(t *testing.T) {
	moscow, _ := time.LoadLocation("Europe/Moscow")
	e := newSchedEnv(t, money.Rub(-800), billing.StatusBlocked)
	ctx := context.Background()
	granted := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	if _, err := e.store.GrantTrust(ctx, "", e.acc, granted, billing.DefaultTrustSettings(moscow)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	down := true // Telegram refuses chat 102 for now
	m := &memMessenger{before: func(chat int64) error {
		mu.Lock()
		defer mu.Unlock()
		if chat == 102 && down {
			return errors.New("telegram: 502 Bad Gateway")
		}
		return nil
	}}
	now := granted.Add(48*time.Hour + time.Minute)
	s := e.scheduler(m, func() time.Time { return now })
	run := func() {
		t.Helper()
		if err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if c := perChat(m.messages()); c[101] != 1 || c[102] != 0 {
		t.Fatalf("first round %v, want chat 101 only", c)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	now = now.Add(time.Minute)
	run()
	if c := perChat(m.messages()); c[101] != 1 || c[102] != 0 {
		t.Fatalf("retried before the pause: %v", c)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE trust_reminders SET next_attempt_at = now() WHERE sent_at IS NULL`); err != nil { // the pause passes
		t.Fatal(err)
	}
	run()
	run()
	msgs := m.messages()
	if c := perChat(msgs); c[101] != 1 || c[102] != 1 {
		t.Fatalf("after the retry %v, want one reminder each", c)
	}
	if !strings.Contains(msgs[1].text, "ends tomorrow") || msgs[1].buttons[0][0].Data != fmt.Sprintf("payn:%d", e.acc) {
		t.Errorf("the retried reminder: %q %+v", msgs[1].text, msgs[1].buttons)
	}
}

// TestTwoSchedulersNeverSendTheSameRow: two `serve` processes work through
// a hundred notices at once; every person gets every push exactly once.
func TestTwoSchedulersNeverSendTheSameRow(t *testing.T) {
	e := newSchedEnv(t, 0, billing.StatusActive)
	ctx := context.Background()
	const payments = 50
	for i := 1; i <= payments; i++ {
		if _, err := e.store.Credit(ctx, "billing", fmt.Sprintf("T-%d", i), e.acc, money.Rub(int64(i)), "cash", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	slow := func(int64) error { time.Sleep(2 * time.Millisecond); return nil }
	a, b := &memMessenger{before: slow}, &memMessenger{before: slow}
	stopA, stopB := e.start(a), e.start(b)
	deadline := time.Now().Add(30 * time.Second)
	for len(a.messages())+len(b.messages()) < 2*payments && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
	stopA()
	stopB()
	seen := map[string]int{}
	for _, msg := range append(a.messages(), b.messages()...) {
		seen[fmt.Sprintf("%d %s", msg.chat, strings.SplitN(msg.text, ",", 2)[0])]++
	}
	if len(seen) != 2*payments {
		t.Errorf("%d different pushes, want %d", len(seen), 2*payments)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("push %q sent %d times", k, n)
		}
	}
	t.Logf("shared: %d pushes by one scheduler, %d by the other", len(a.messages()), len(b.messages()))
}
