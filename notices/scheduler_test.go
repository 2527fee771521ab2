package notices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/money"
)

type sentMessage struct {
	chat    int64
	text    string
	buttons [][]Button
	at      time.Time
}

// memMessenger records what would go to Telegram; fail makes sends fail.
// before, when set, runs first, outside the lock, while the message is "in
// flight" (an error fails the send); accepted runs once Telegram has
// accepted it.
type memMessenger struct {
	mu       sync.Mutex
	sent     []sentMessage
	fail     bool
	before   func(chat int64) error
	accepted func(chat int64)
}

func (m *memMessenger) Send(_ context.Context, chat int64, text string, buttons [][]Button) error {
	if m.before != nil {
		if err := m.before(chat); err != nil {
			return err
		}
	}
	m.mu.Lock()
	if m.fail {
		m.mu.Unlock()
		return errors.New("telegram: 502 Bad Gateway")
	}
	m.sent = append(m.sent, sentMessage{chat, text, buttons, time.Now()})
	m.mu.Unlock()
	if m.accepted != nil {
		m.accepted(chat)
	}
	return nil
}

func (m *memMessenger) messages() []sentMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sentMessage(nil), m.sent...)
}

func (m *memMessenger) waitFor(t *testing.T, n int, within time.Duration) []sentMessage {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got := m.messages(); len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d messages after %v, want %d", len(m.messages()), within, n)
	return nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type schedEnv struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	acc   int64
}

// newSchedEnv: account 1000234567 (Moscow, tariff 500 ₽) with the given
// balance and status, linked to Telegram users 101 (Russian) and 102 (English).
func newSchedEnv(t *testing.T, balance money.Amount, status billing.Status) *schedEnv {
	t.Helper()
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	var id int64
	if err := pool.QueryRow(ctx, `
WITH t AS (INSERT INTO tariffs (name, monthly_fee) VALUES ('Тест', 50000) RETURNING id)
INSERT INTO accounts (number, phone, city_id, tariff_id, balance, status)
SELECT '1000234567', '+79990000001', (SELECT id FROM cities WHERE name = 'Москва'), t.id, $1, $2 FROM t
RETURNING id`, int64(balance), string(status)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO telegram_users (id, language) VALUES (101, NULL), (102, 'en')`,
		`INSERT INTO telegram_links (telegram_user_id, account_id) VALUES (101, $1), (102, $1)`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, id)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	return &schedEnv{pool: pool, store: postgres.New(pool), acc: id}
}

func (e *schedEnv) scheduler(m Messenger, now func() time.Time) *Scheduler {
	return NewScheduler(e.store, m, locales.MustLoad(), 500*time.Millisecond, time.UTC, now, quiet)
}

// start runs a scheduler (a `serve` process) until the returned stop is called.
func (e *schedEnv) start(m Messenger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.scheduler(m, time.Now).Run(ctx) }()
	return func() { cancel(); <-done }
}

func perChat(msgs []sentMessage) map[int64]int {
	out := map[int64]int{}
	for _, m := range msgs {
		out[m.chat]++
	}
	return out
}

// TestPaymentPushOncePerUserAcrossRestarts: a payment inserted by another
// program while no `serve` runs is pushed to both linked users when one
// starts; a restart and two processes at once push nothing twice; a payment
// while they run arrives within seconds (the delay is printed).
func TestPaymentPushOncePerUserAcrossRestarts(t *testing.T) {
	e := newSchedEnv(t, money.Rub(120), billing.StatusActive)
	ctx := context.Background()
	// The provider's billing: its own ledger row and balance update.
	if _, err := e.pool.Exec(ctx, `
WITH p AS (INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
           VALUES ($1, 50000, 'terminal', 'billing', 'T-1', now()) RETURNING 1)
UPDATE accounts SET balance = balance + 50000 WHERE id = $1`, e.acc); err != nil {
		t.Fatal(err)
	}
	m := &memMessenger{}
	stop := e.start(m)
	got := m.waitFor(t, 2, 5*time.Second)
	stop()
	if c := perChat(got); c[101] != 1 || c[102] != 1 {
		t.Fatalf("pushes per chat %v", c)
	}
	for _, msg := range got {
		want := "Платёж 500,00\u00a0₽ получен, баланс 620,00\u00a0₽"
		if msg.chat == 102 {
			want = "Payment of 500.00\u00a0₽ received, balance 620.00\u00a0₽"
		}
		if !strings.HasPrefix(msg.text, want) {
			t.Errorf("chat %d got %q, want %q", msg.chat, msg.text, want)
		}
	}

	// Restarted, twice over: two processes at once.
	stop1, stop2 := e.start(m), e.start(m)
	defer stop1()
	defer stop2()
	time.Sleep(300 * time.Millisecond) // let both start listening
	paid := time.Now()
	if ok, err := e.store.Credit(ctx, "yookassa", "yk-9", e.acc, money.Rub(100), "yookassa", paid); err != nil || !ok {
		t.Fatal(ok, err)
	}
	all := m.waitFor(t, 4, 5*time.Second)
	var last time.Time
	for _, msg := range all[2:] {
		if msg.at.After(last) {
			last = msg.at
		}
	}
	t.Logf("payment-received push delay: %v", last.Sub(paid))
	time.Sleep(time.Second) // anything duplicated would arrive now
	if c := perChat(m.messages()); c[101] != 2 || c[102] != 2 {
		t.Errorf("pushes per chat %v, want 2 each (one per payment)", c)
	}
}

func TestPaymentPushRetriedAfterFailure(t *testing.T) {
	e := newSchedEnv(t, 0, billing.StatusActive)
	ctx := context.Background()
	e.store.Credit(ctx, "billing", "T-1", e.acc, money.Rub(300), "cash", time.Now())
	m := &memMessenger{fail: true}
	s := e.scheduler(m, time.Now)
	if err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	m.fail = false
	if err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(m.messages()) != 0 {
		t.Fatal("retried before the pause")
	}
	e.pool.Exec(ctx, `UPDATE payment_notices SET next_attempt_at = now()`) // the pause passes
	s.RunOnce(ctx)
	s.RunOnce(ctx)
	if c := perChat(m.messages()); c[101] != 1 || c[102] != 1 {
		t.Errorf("after retry: %v", c)
	}
}

func TestTrustPaymentPushesNothing(t *testing.T) {
	e := newSchedEnv(t, 0, billing.StatusActive)
	ctx := context.Background()
	if _, err := e.store.GrantTrust(ctx, "", e.acc, time.Now(), billing.DefaultTrustSettings(time.UTC)); err != nil {
		t.Fatal(err)
	}
	m := &memMessenger{}
	e.scheduler(m, time.Now).RunOnce(ctx)
	if len(m.messages()) != 0 {
		t.Errorf("a trust payment was announced as a payment: %+v", m.messages())
	}
}

// TestTrustReminderAndExpiry follows a trust payment with a clock the test
// moves: no reminder early, one reminder (with a Pay button) a day before the
// end, never a second, and at the end the amount is taken back and the
// account blocked again because its balance is below zero.
func TestTrustReminderAndExpiry(t *testing.T) {
	moscow, _ := time.LoadLocation("Europe/Moscow")
	e := newSchedEnv(t, money.Rub(-800), billing.StatusBlocked)
	ctx := context.Background()
	granted := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	if _, err := e.store.GrantTrust(ctx, "", e.acc, granted, billing.DefaultTrustSettings(moscow)); err != nil {
		t.Fatal(err)
	}
	now := granted
	m := &memMessenger{}
	s := e.scheduler(m, func() time.Time { return now })
	step := func(to time.Time) {
		now = to
		if err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	status := func() (money.Amount, billing.Status) {
		var b money.Amount
		var st billing.Status
		e.pool.QueryRow(ctx, `SELECT balance, status FROM accounts WHERE id = $1`, e.acc).Scan(&b, &st)
		return b, st
	}
	step(granted.Add(47 * time.Hour))
	if len(m.messages()) != 0 {
		t.Fatalf("reminded two days early: %+v", m.messages())
	}
	if b, st := status(); b != money.Rub(-300) || st != billing.StatusActive {
		t.Fatalf("during the trust payment: %d %s", b, st)
	}
	step(granted.Add(48*time.Hour + time.Minute))
	step(granted.Add(60 * time.Hour))
	msgs := m.messages()
	if c := perChat(msgs); len(msgs) != 2 || c[101] != 1 || c[102] != 1 {
		t.Fatalf("reminders %v", c)
	}
	for _, msg := range msgs {
		if msg.chat == 101 && !strings.Contains(msg.text, "заканчивается завтра, 28 ноября, в 14:00") {
			t.Errorf("reminder %q", msg.text)
		}
		if len(msg.buttons) != 2 || msg.buttons[0][0].Data != fmt.Sprintf("payn:%d", e.acc) || msg.buttons[1][0].Data != fmt.Sprintf("nx:trust:%d", e.acc) {
			t.Errorf("reminder buttons %+v", msg.buttons)
		}
	}
	step(granted.Add(72*time.Hour - time.Second))
	if b, _ := status(); b != money.Rub(-300) {
		t.Errorf("taken back a second early: %d", b)
	}
	step(granted.Add(72 * time.Hour))
	if b, st := status(); b != money.Rub(-800) || st != billing.StatusBlocked {
		t.Errorf("after the end: %d %s, want −800 ₽ blocked", b, st)
	}
	step(granted.Add(100 * time.Hour))
	if b, _ := status(); b != money.Rub(-800) {
		t.Errorf("taken back twice: %d", b)
	}
	if len(m.messages()) != 2 {
		t.Errorf("%d messages in all, want the 2 reminders", len(m.messages()))
	}
}

// TestTrustExpiryKeepsServiceWhenPaid: a subscriber who paid meanwhile stays
// active when the trust amount is taken back.
func TestTrustExpiryKeepsServiceWhenPaid(t *testing.T) {
	e := newSchedEnv(t, money.Rub(100), billing.StatusActive)
	ctx := context.Background()
	granted := time.Date(2025, 11, 25, 14, 0, 0, 0, time.UTC)
	e.store.GrantTrust(ctx, "", e.acc, granted, billing.DefaultTrustSettings(time.UTC))
	e.store.Credit(ctx, "billing", "T-2", e.acc, money.Rub(600), "card", granted.Add(time.Hour))
	now := granted.Add(73 * time.Hour)
	e.scheduler(&memMessenger{}, func() time.Time { return now }).RunOnce(ctx)
	var b money.Amount
	var st billing.Status
	e.pool.QueryRow(ctx, `SELECT balance, status FROM accounts WHERE id = $1`, e.acc).Scan(&b, &st)
	if b != money.Rub(700) || st != billing.StatusActive {
		t.Errorf("after the end: %d %s, want 700 ₽ active", b, st)
	}
}
