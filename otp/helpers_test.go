package otp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
)

const (
	testPhone = "+79161234567"
	testLang  = "en"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// clock is the injected time; tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sms is one SMS the service asked to send.
type sms struct{ to, text string }

// fakeSender records every attempt, failing them while err is set.
type fakeSender struct {
	mu       sync.Mutex
	attempts []sms
	err      error
	delay    time.Duration // how long a send takes, like a real gateway
}

func (f *fakeSender) Send(_ context.Context, to, text string) error {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, sms{to, text})
	return f.err
}

func (f *fakeSender) failWith(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeSender) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.attempts)
}

// lastCode is the code in the newest SMS (the text ends with it, see testText).
func (f *fakeSender) lastCode(t *testing.T) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.attempts) == 0 {
		t.Fatal("no SMS was sent")
	}
	text := f.attempts[len(f.attempts)-1].text
	return text[strings.LastIndex(text, " ")+1:]
}

func testText(lang, code string) string { return lang + ": your code is " + code }

type env struct {
	keys   atomic.Int64 // for calls that name no event
	svc    *Service
	clock  *clock
	sms    *fakeSender
	rdb    redis.UniversalClient
	prefix string
}

// newEnv makes a service on rdb (a single Redis or a cluster: see
// redistest.Each, with which every test here runs on both).
func newEnv(t *testing.T, rdb redis.UniversalClient, prefix string) *env {
	t.Helper()
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := &fakeSender{}
	return &env{
		svc:    New(rdb, f, testText, testSecret, prefix, c.Now),
		clock:  c,
		sms:    f,
		rdb:    rdb,
		prefix: prefix,
	}
}

// codes makes the service issue the given codes in order, so that a test
// can rely on two codes being different.
func (e *env) codes(list ...string) {
	var mu sync.Mutex
	e.svc.newCode = func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(list) == 0 {
			return "", fmt.Errorf("test ran out of codes")
		}
		c := list[0]
		list = list[1:]
		return c, nil
	}
}

// sendAndDeliver does what a turn and its effect do: Send, then Deliver
// the code if one was issued. key "" stands for a fresh event.
func (e *env) sendAndDeliver(key string, user, account int64, phone string) (dialogs.SendResult, error) {
	if key == "" {
		key = fmt.Sprintf("t%d", e.keys.Add(1))
	}
	ctx := context.Background()
	res, err := e.svc.Send(ctx, key, user, account, phone, testLang)
	if err != nil || !res.Sent {
		return res, err
	}
	return res, e.svc.Deliver(ctx, key, user, account, phone)
}

func (e *env) send(t *testing.T, user, account int64) dialogs.SendResult {
	t.Helper()
	res, err := e.sendAndDeliver("", user, account, testPhone)
	if err != nil {
		t.Fatalf("Send(%d, %d): %v", user, account, err)
	}
	return res
}

// sendCode sends a code that must go out now and returns it.
func (e *env) sendCode(t *testing.T, user, account int64) string {
	t.Helper()
	if res := e.send(t, user, account); !res.Sent {
		t.Fatalf("Send(%d, %d) = %+v, want sent", user, account, res)
	}
	return e.sms.lastCode(t)
}

// sendCodeWaiting sends a code, moving the clock by RetryAfter when a
// pause or cap stands in the way (a lock is a failure).
func (e *env) sendCodeWaiting(t *testing.T, user, account int64) string {
	t.Helper()
	for range 5 {
		res := e.send(t, user, account)
		if res.Sent {
			return e.sms.lastCode(t)
		}
		if res.Locked || res.RetryAfter <= 0 {
			t.Fatalf("Send(%d, %d) = %+v, want sent or a wait", user, account, res)
		}
		e.clock.Advance(res.RetryAfter)
	}
	t.Fatalf("Send(%d, %d) never went out", user, account)
	return ""
}

func (e *env) check(t *testing.T, user, account int64, code string) dialogs.CheckResult {
	t.Helper()
	res, err := e.svc.Check(context.Background(), "", user, account, code)
	if err != nil {
		t.Fatalf("Check(%d, %d): %v", user, account, err)
	}
	return res
}

// wrong returns a code that differs from code, shifted by n+1.
func wrong(t *testing.T, code string, n int) string {
	t.Helper()
	v, err := strconv.Atoi(code)
	if err != nil {
		t.Fatalf("code %q is not a number", code)
	}
	return fmt.Sprintf("%06d", (v+1+n)%1_000_000)
}

// failChecks types n wrong codes, each of which must be answered CheckWrong.
func (e *env) failChecks(t *testing.T, user, account int64, code string, n int) {
	t.Helper()
	for i := range n {
		if res := e.check(t, user, account, wrong(t, code, i)); res.Outcome != dialogs.CheckWrong {
			t.Fatalf("wrong code #%d: %+v, want CheckWrong", i+1, res)
		}
	}
}
