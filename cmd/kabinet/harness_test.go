package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/app"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/sms"
)

// The end-to-end tests run the real `serve` wiring (run's code path, with
// its environment passed in) against the Bot API emulator, a fresh
// PostgreSQL database with the demo data and the real Redis.

// syncBuffer collects the logs of a whole run, to search them for personal data.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a test clock that starts at the real time and moves on demand.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// Set moves the clock to t, from where it goes on at the real pace.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = time.Until(t)
}

// stack is one running bot with everything around it.
type stack struct {
	t      testing.TB
	emu    *emulator.Server
	sms    *sms.Memory
	logs   *syncBuffer
	clock  *clock
	dbURL  string
	env    map[string]string
	secret string
	addr   string
	stop   func()
	seen   map[int64]int   // per chat: bot messages already looked at
	used   map[string]bool // chat:message:text already returned by next
	// tolerate lists emulator errors a test expects (e.g. requests cut off
	// by a SIGKILL), which the cleanup check then passes over.
	tolerate []string
	mu       sync.Mutex
}

type mode string

const (
	polling mode = "polling"
	webhook mode = "webhook"
)

func randomID() int64 {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<40))
	return n.Int64() + 1_000_000
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newStack starts an emulator, a database with demo data and the bot.
func newStack(t testing.TB, m mode, extra map[string]string) *stack {
	t.Helper()
	s := prepareStack(t, m, extra)
	s.start()
	return s
}

// prepareStack is newStack without starting the bot.
func prepareStack(t testing.TB, m mode, extra map[string]string) *stack {
	t.Helper()
	pool, dbURL := pgtest.New(t)
	if err := postgres.LoadDemo(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	// A bot id of its own gives this test its own Redis keys ("kabinet:<id>:").
	emu := emulator.New(emulator.Options{BotUser: emulator.User{ID: randomID()}, RetryInitial: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	t.Cleanup(emu.Close)
	rdb, _ := redistest.New(t)
	prefix := fmt.Sprintf("kabinet:%d:", emu.Bot().ID)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	var sec [32]byte
	_, _ = rand.Read(sec[:])
	s := &stack{
		t: t, emu: emu, sms: sms.NewMemory(), logs: &syncBuffer{}, clock: &clock{}, dbURL: dbURL,
		secret: hex.EncodeToString(sec[:4]), seen: map[int64]int{}, used: map[string]bool{},
		env: map[string]string{
			"TELEGRAM_TOKEN":   emu.Token(),
			"TELEGRAM_API_URL": emu.URL(),
			"DATABASE_URL":     dbURL,
			"REDIS_URL":        redistest.URL(),
			"HTTP_ADDR":        freeAddr(t),
			"CODE_SECRET":      hex.EncodeToString(sec[:]),
			"PAY_LINK_SECRET":  randomHex(32),
			"SMS_PROVIDER":     "memory",
			"LOG_LEVEL":        "debug",
			"WORKERS":          "16",
			// The demo billing's monthly charges run only where a test asks
			// (BILLING_CYCLE), so that a clock moved across a charge day
			// changes no other test's balances.
			"BILLING_CYCLE": "0",
		},
	}
	s.addr = s.env["HTTP_ADDR"]
	if m == webhook {
		s.env["WEBHOOK_URL"] = "http://" + s.addr + "/telegram/webhook"
		s.env["WEBHOOK_SECRET"] = "s3cret-" + s.secret
	}
	for k, v := range extra {
		s.env[k] = v
	}
	s.stop = func() {}
	t.Cleanup(func() {
		s.stop()
		s.checkLogs()
		for _, c := range s.emu.Errors() {
			// A refresh with nothing new is answered so by Telegram and is
			// fine; so is the long poll cut off by the poller's last confirming
			// getUpdates at shutdown.
			if !strings.Contains(c.Description, "message is not modified") && !strings.Contains(c.Description, "terminated by other getUpdates") && !s.tolerated(c.Description) {
				t.Errorf("the emulator refused a Bot API call: %s %d %s", c.Method, c.ErrorCode, c.Description)
			}
		}
	})
	return s
}

func (s *stack) tolerated(desc string) bool {
	for _, t := range s.tolerate {
		if strings.Contains(desc, t) {
			return true
		}
	}
	return false
}

// withLatency puts a network delay in front of the emulator, as between a
// data centre in Russia and Telegram's servers, so that measurements of
// parallelism are not dominated by this machine's two cores.
func (s *stack) withLatency(d time.Duration) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(d)
		s.emu.ServeHTTP(w, r)
	}))
	s.t.Cleanup(proxy.Close)
	s.env["TELEGRAM_API_URL"] = proxy.URL
}

// start runs serve in this process until stop is called.
func (s *stack) start() {
	s.stop = s.launch(s.env)
}

// launch runs one more serve process (in this process) with env and
// returns the function that stops it; a second instance shares the
// emulator, database and Redis, as behind one load balancer.
func (s *stack) launch(env map[string]string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	// Listening here, before serve starts, keeps the port this instance's
	// own: a parallel test picking a free port cannot take it meanwhile.
	ln, err := net.Listen("tcp", env["HTTP_ADDR"])
	if err != nil {
		s.t.Fatalf("HTTP_ADDR %s: %v", env["HTTP_ADDR"], err)
	}
	hooks := &app.Hooks{SMS: s.sms, Now: s.clock.Now, Listening: func(string) { close(ready) }, Listener: ln}
	// Instances in one test process share a host name, the default
	// INSTANCE_ID; each needs its own, as two pods would have.
	instance := env["INSTANCE_ID"]
	if instance == "" {
		instance = "test-" + randomHex(4)
	}
	go func() {
		done <- app.Run(ctx, func(k string) string {
			if k == "INSTANCE_ID" {
				return instance
			}
			return env[k]
		}, s.logs, hooks)
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		ln.Close() // serve may have stopped before it took the listener
		s.t.Fatalf("serve stopped at start: %v\n%s", err, s.logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		s.t.Fatalf("serve did not start\n%s", s.logs.String())
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				s.t.Errorf("serve: %v", err)
			}
		})
	}
}

// checkLogs: nothing personal or secret ever reaches the logs.
func (s *stack) checkLogs() {
	logs := s.logs.String()
	if strings.Contains(logs, s.env["TELEGRAM_TOKEN"]) || strings.Contains(logs, strings.Split(s.env["TELEGRAM_TOKEN"], ":")[1]) {
		s.t.Error("the bot token is in the logs")
	}
	if strings.Contains(logs, s.env["CODE_SECRET"]) {
		s.t.Error("CODE_SECRET is in the logs")
	}
	for _, m := range s.sms.All() {
		if strings.Contains(logs, m.To) || strings.Contains(logs, strings.TrimPrefix(m.To, "+")) {
			s.t.Errorf("a full phone number is in the logs")
		}
		if code := codeIn(m.Text); code != "" && strings.Contains(logs, code) {
			s.t.Errorf("an SMS code is in the logs")
		}
	}
	if !strings.Contains(logs, `"msg"`) {
		s.t.Error("no logs captured: the check above proved nothing")
	}
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

func codeIn(text string) string { return sixDigits.FindString(text) }

// user makes a new Telegram user.
func newUser(lang string) emulator.User {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return emulator.User{ID: randomID(), FirstName: "Тест", LanguageCode: lang, Username: fmt.Sprintf("u%d", binary.BigEndian.Uint16(b[:]))}
}

func (s *stack) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// next waits for a bot message in the user's chat that contains want: a
// new one, or an older one edited in place since it was last looked at.
func (s *stack) next(u emulator.User, want string) emulator.ChatMessage {
	s.t.Helper()
	ctx, cancel := s.ctx()
	defer cancel()
	var found emulator.ChatMessage
	err := s.emu.Wait(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		msgs := s.emu.BotMessages(u.ID)
		for i, m := range msgs {
			key := fmt.Sprintf("%d:%d:%s", u.ID, m.ID, m.Text)
			if (i < s.seen[u.ID] && !m.Edited) || s.used[key] || !strings.Contains(m.Text, want) {
				continue
			}
			found, s.used[key] = m, true
			if i+1 > s.seen[u.ID] {
				s.seen[u.ID] = i + 1
			}
			return true
		}
		return false
	})
	if err != nil {
		var texts []string
		for _, m := range s.emu.BotMessages(u.ID) {
			texts = append(texts, m.Text)
		}
		s.t.Fatalf("no bot message with %q; the chat:\n%s", want, strings.Join(texts, "\n---\n"))
	}
	return found
}

// waitFor waits until cond holds.
func (s *stack) waitFor(what string, cond func() bool) {
	s.t.Helper()
	ctx, cancel := s.ctx()
	defer cancel()
	// cond may be about something the emulator does not hear of (an SMS,
	// a row), and the bot need not call the emulator after it (a polled
	// update is confirmed before its replies): it is looked at every 10 ms.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			s.t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// press finds the newest bot message with a button whose text contains
// label, and presses it.
func (s *stack) press(u emulator.User, label string) (msgID int, data string) {
	s.t.Helper()
	msgs := s.emu.BotMessages(u.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, row := range msgs[i].InlineKeyboard {
			for _, b := range row {
				if strings.Contains(b.Text, label) && b.CallbackData != "" {
					s.emu.PressButton(u, msgs[i].ID, b.CallbackData)
					return msgs[i].ID, b.CallbackData
				}
			}
		}
	}
	var dump []string
	for _, m := range msgs {
		var b []string
		for _, row := range m.InlineKeyboard {
			for _, btn := range row {
				b = append(b, "["+btn.Text+"]")
			}
		}
		dump = append(dump, m.Text+"\n"+strings.Join(b, " "))
	}
	s.t.Fatalf("no button %q in the chat:\n%s", label, strings.Join(dump, "\n---\n"))
	return 0, ""
}

// lastCode is the code in the newest SMS to phone.
func (s *stack) lastCode(phone string) string {
	s.t.Helper()
	var code string
	s.waitFor("an SMS to "+phone, func() bool {
		m, ok := s.sms.Last(phone)
		if ok {
			code = codeIn(m.Text)
		}
		return code != ""
	})
	return code
}

func (s *stack) toasts() []string {
	var out []string
	for _, c := range s.emu.CallsTo("answerCallbackQuery") {
		if t, ok := c.Params["text"].(string); ok {
			out = append(out, t)
		}
	}
	return out
}

func ownContact(u emulator.User, phone string) models.Contact {
	return models.Contact{PhoneNumber: phone, FirstName: u.FirstName, UserID: u.ID}
}

// randomHex is n random bytes in hex, for the secrets serve requires.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// db opens the stack's database, as the provider's own billing would.
func (s *stack) db() *pgxpool.Pool {
	s.t.Helper()
	pool, err := pgxpool.New(context.Background(), s.dbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(pool.Close)
	return pool
}

// linkAccount links an account to u the way a person does: the number,
// then the code from the SMS to the phone on the contract.
func (s *stack) linkAccount(u emulator.User, number, phone string) {
	s.t.Helper()
	before := len(s.sms.Messages(phone))
	s.emu.SendText(u, number)
	s.next(u, "+7 *** ***-**-"+phone[len(phone)-2:])
	var code string
	s.waitFor("the code SMS to "+phone, func() bool {
		for _, m := range s.sms.Messages(phone)[before:] {
			if c := codeIn(m.Text); c != "" {
				code = c
			}
		}
		return code != ""
	})
	s.emu.SendText(u, code)
	s.next(u, "Лицевой счёт "+number+" привязан")
	s.next(u, "Лицевой счёт "+number+"\nТариф")
}

// moscow is the provider's time zone.
func moscow(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
