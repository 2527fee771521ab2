package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/locales"
)

// The crash test of issue 9: serve is killed while subscribers type their SMS
// codes and while they confirm trust payments, and after the restart each of
// them must be linked or granted exactly once, and told so. A random SIGKILL
// lands between a side effect and the commit of its turn only by luck, so
// the test also uses a build of kabinet (-tags kabinet_crashtest, see
// internal/app/crash_on.go) that kills itself at a chosen point: right after the n-th
// right code was checked, the n-th "account linked" SMS sent or the n-th
// trust payment granted, before that turn is committed. Those kills are
// certain to hit the window, and the test checks that they did.

// crashBinary is kabinet built with its crash points.
func crashBinary(t *testing.T) string { return buildKabinet(t, "kabinet_crashtest") }

// server is serve of the crash-test build running as a process of its own.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has ended and was reaped
}

func startServer(t *testing.T, env map[string]string, logs *syncBuffer) *server {
	t.Helper()
	cmd := exec.Command(crashBinary(t), "serve")
	cmd.Env = os.Environ()
	for k, v := range withFreshAddr(t, env) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	srv := &server{cmd: cmd, exited: make(chan struct{})}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logs, line)
			if strings.Contains(line, `"msg":"serving"`) {
				once.Do(func() { close(serving) })
			}
		}
		_ = cmd.Wait() // after the last read: Wait closes the pipe
		close(srv.exited)
	}()
	t.Cleanup(srv.kill) // never leave one running
	select {
	case <-serving:
	case <-srv.exited:
		t.Fatalf("kabinet stopped at start:\n%s", tail(logs.String()))
	case <-time.After(60 * time.Second):
		t.Fatalf("kabinet did not start:\n%s", tail(logs.String()))
	}
	return srv
}

func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
}

// crashedByItself waits until the process has died by its own SIGKILL (a
// crash point); the test sends it none.
func (s *server) crashedByItself(t *testing.T, logs *syncBuffer) {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the crash point was never reached:\n%s", tail(logs.String()))
	}
	ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("kabinet ended with %v, not killed at its crash point:\n%s", s.cmd.ProcessState, tail(logs.String()))
	}
}

func tail(logs string) string {
	if len(logs) > 4000 {
		return "…" + logs[len(logs)-4000:]
	}
	return logs
}

// crashAt is where a process killed itself, from its last log line.
type crashAt struct {
	point, key string
	user       int64 // from the key, or 0 (a code check's key is only the update)
	update     int64
}

// lastCrash finds the newest "crash point" line of the logs.
func lastCrash(t *testing.T, logs string) crashAt {
	t.Helper()
	var c crashAt
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"msg":"crash point"`) {
			continue
		}
		var v struct{ Point, Key string }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("crash line %q: %v", line, err)
		}
		c = crashAt{point: v.Point, key: v.Key}
	}
	if c.key == "" {
		t.Fatal("no crash point in the logs")
	}
	// "u<update>" or "<what>:<user>:<account>:u<update>"
	parts := strings.Split(c.key, ":")
	c.update, _ = strconv.ParseInt(strings.TrimPrefix(parts[len(parts)-1], "u"), 10, 64)
	if len(parts) == 4 {
		c.user, _ = strconv.ParseInt(parts[1], 10, 64)
	}
	if c.update == 0 {
		t.Fatalf("crash key %q names no update", c.key)
	}
	return c
}

// subscriber is a person of the test with an account of their own.
type subscriber struct {
	u       emulator.User
	account int64
	number  string
	phone   string
	code    string
	codeUpd int64 // the update that carried the code
}

// addAccounts makes n accounts of the demo's «Домашний 100» (500 ₽) in
// Москва, numbers from first on, each on a phone of its own (from phone on).
func addAccounts(t *testing.T, pool *pgxpool.Pool, first, phone int64, n int, status string, balance int64) []subscriber {
	t.Helper()
	var out []subscriber
	for i := range int64(n) {
		s := subscriber{u: newUser("ru"), number: strconv.FormatInt(first+i, 10), phone: fmt.Sprintf("+7%010d", phone+i)}
		if err := pool.QueryRow(context.Background(), `
INSERT INTO accounts (number, phone, city_id, tariff_id, status, balance, blocked_at)
VALUES ($1, $2, (SELECT id FROM cities WHERE name = 'Москва'), (SELECT id FROM tariffs WHERE name = 'Домашний 100'), $3, $4,
        CASE WHEN $3 = 'blocked' THEN now() - interval '1 day' END)
RETURNING id`, s.number, s.phone, status, balance).Scan(&s.account); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// count is how many of the bot's messages in a chat contain text.
func count(emu *emulator.Server, chat int64, text string) int {
	n := 0
	for _, m := range emu.BotMessages(chat) {
		if strings.Contains(m.Text, text) {
			n++
		}
	}
	return n
}

// smsSink is an SMS gateway (SMS_PROVIDER=http) that puts every message
// into the stack's memory, where the test reads the codes and the notices
// and the log check looks for them.
func smsSink(t *testing.T, s *stack) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ To, Text string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.sms.Send(r.Context(), m.To, m.Text); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCrashWhileCodesAreTypedAndTrustIsTaken: 20 subscribers at the code
// step type their codes at once and 10 confirm a trust payment at once,
// over polling and over the webhook, while serve is killed five times: at
// the 7th right code (after the check, before its turn's commit), at the 3rd
// "account linked" SMS, at random, at the 4th trust payment granted, and at
// random again. Afterwards every one of them is linked or granted exactly
// once and told so; nobody hears that the code is no longer valid, that the
// trust payment is refused, or an error. The kills at the crash points are
// checked to have landed inside a turn: the update was still unconfirmed,
// its side effect done, and its subscriber not yet told.
// notHandled tells that an update is not done: Telegram still has it
// (the webhook's, or one the poller has not kept yet), or it is kept in
// the poller's intake in Redis, confirmed to Telegram but not handled.
func notHandled(ctx context.Context, s *stack, rdb redis.UniversalClient, prefix string, update int64) bool {
	if s.emu.UpdateStatus(update) == emulator.UpdatePending {
		return true
	}
	return rdb.HExists(ctx, prefix+"intake", strconv.FormatInt(update, 10)).Val()
}

func TestCrashWhileCodesAreTypedAndTrustIsTaken(t *testing.T) {
	for _, m := range []mode{polling, webhook} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			crashWhileCodesAndTrust(t, m)
		})
	}
}

func crashWhileCodesAndTrust(t *testing.T, m mode) {
	s := prepareStack(t, m, nil)
	// A request a kill cuts off half-way reaches the emulator broken.
	// An answer to a button in flight at a kill is sent again, and Telegram
	// refuses a second answer to one query (the bot takes that as fine).
	s.tolerate = []string{"can't read the request body", "query is too old"}
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	env["SMS_PROVIDER"] = "http"
	env["SMS_HTTP_URL"] = smsSink(t, s)
	// Each restart is the same deployment slot: it takes over the chats the
	// killed process held at once.
	env["INSTANCE_ID"] = "redelivery-" + string(m)
	with := func(k, v string) map[string]string {
		e := map[string]string{k: v}
		for k, v := range env {
			if _, set := e[k]; !set {
				e[k] = v
			}
		}
		return e
	}
	pool := s.db()
	store := dialogs.NewAccounts(postgres.New(pool), kabinetdb.NewLinks(pool))
	ctx := context.Background()
	rdb, _ := redistest.New(t)
	prefix := fmt.Sprintf("kabinet:%d:", s.emu.Bot().ID)
	workers, _ := strconv.Atoi(env["WORKERS"])
	text := locales.MustLoad()

	randomKill := func(srv *server, subs []subscriber, done string) {
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		srv.kill()
		n := 0
		for _, sub := range subs {
			if count(s.emu, sub.u.ID, done) > 0 {
				n++
			}
		}
		t.Logf("killed at random with %d of %d told %q", n, len(subs), done)
	}

	linkers := addAccounts(t, pool, 3000000001, 9500000001, 20, "active", 100000)
	trusters := addAccounts(t, pool, 3100000001, 9510000001, 10, "blocked", -3500)
	for _, tr := range trusters {
		if err := store.Link(ctx, tr.u.ID, tr.account, 5); err != nil {
			t.Fatal(err)
		}
		// Linked earlier, so they have talked to the bot: the notices
		// about their accounts may reach them.
		s.emu.OpenChat(tr.u)
	}
	byUpdate := map[int64]*subscriber{}

	// --- 20 subscribers at the code step, then a crash after the 7th right code.
	srv := startServer(t, with("KABINET_CRASH_AT", "check:7"), s.logs)
	for _, l := range linkers {
		s.emu.SendText(l.u, l.number) // all at once: sending only queues the update
	}
	for i := range linkers {
		l := &linkers[i]
		s.next(l.u, "+7 *** ***-**-"+l.phone[len(l.phone)-2:])
		l.code = s.lastCode(l.phone)
	}
	for i := range linkers {
		l := &linkers[i]
		l.codeUpd = s.emu.SendText(l.u, l.code)
		byUpdate[l.codeUpd] = l
	}
	srv.crashedByItself(t, s.logs)
	c := lastCrash(t, s.logs.String())
	who := byUpdate[c.update]
	if c.point != "check" || who == nil {
		t.Fatalf("crashed at %+v, want after a code typed by one of the subscribers", c)
	}
	// The kill landed inside that turn: the code was checked (its verdict
	// is stored), the update not confirmed, nothing told.
	if n := rdb.Exists(ctx, fmt.Sprintf("%sotp:{u:%d}:check:%d:%s", prefix, who.u.ID, who.account, c.key)).Val(); n != 1 {
		t.Errorf("no verdict stored for the code of the crash")
	}
	if !notHandled(ctx, s, rdb, prefix, c.update) {
		t.Errorf("the update of the crash is %v and not in the intake, want it waiting to be handled", s.emu.UpdateStatus(c.update))
	}
	if count(s.emu, who.u.ID, "привязан") != 0 {
		t.Errorf("the subscriber of the crash was told before the commit")
	}

	// --- Restart; a crash right after the 3rd "account linked" SMS.
	srv = startServer(t, with("KABINET_CRASH_AT", "notice:3"), s.logs)
	srv.crashedByItself(t, s.logs)
	c = lastCrash(t, s.logs.String())
	var noticed *subscriber
	for i := range linkers {
		if linkers[i].u.ID == c.user {
			noticed = &linkers[i]
		}
	}
	if c.point != "notice" || noticed == nil {
		t.Fatalf("crashed at %+v, want after the notice to one of the subscribers", c)
	}
	if !notHandled(ctx, s, rdb, prefix, c.update) {
		t.Errorf("the update of the notice crash is %v and not in the intake, want it waiting to be handled", s.emu.UpdateStatus(c.update))
	}
	if linkedSMS(s, noticed.phone) == 0 {
		t.Errorf("the notice of the crash was not sent before it")
	}
	// The notice is an effect that follows the answer in the outbox: the
	// turn was saved and the answer sent before it, once.
	if n := count(s.emu, noticed.u.ID, "привязан"); n != 1 {
		t.Errorf("the subscriber of the notice crash was told %d times before it, want once: the notice follows the answer", n)
	}

	// --- Restart and a kill at random while the rest goes on.
	srv = startServer(t, env, s.logs)
	randomKill(srv, linkers, "привязан")

	// --- Restart; everyone is linked. Then 10 confirm a trust payment and
	// the process dies right after the 4th grant.
	srv = startServer(t, with("KABINET_CRASH_AT", "grant:4"), s.logs)
	// Linked, or told something else for good: the checks below say what.
	never := []string{
		text.T("ru", "code_expired", nil), "Неверный код",
		text.T("ru", "error_temporary", nil), text.T("ru", "error_internal", nil),
		"в этом месяце он уже был", "сейчас не нужен", "после пополнения счёта", "доверительный платёж недоступен",
	}
	answered := func(chat int64, want string) func() bool {
		return func() bool {
			for _, bad := range never {
				if count(s.emu, chat, bad) > 0 {
					return true
				}
			}
			return count(s.emu, chat, want) > 0
		}
	}
	for _, l := range linkers {
		s.waitFor(l.number+" linked", answered(l.u.ID, "Лицевой счёт "+l.number+" привязан"))
	}
	confirms := make([]struct {
		msg  int
		data string
	}, len(trusters))
	for i, tr := range trusters {
		s.emu.SendCommand(tr.u, "/menu")
		s.next(tr.u, "Главное меню")
		s.press(tr.u, "Доверительный платёж")
		offer := s.next(tr.u, rub(500)+" на 3 дня")
		confirms[i].msg, confirms[i].data = offer.ID, callbackOf(t, offer, "Подтвердить")
	}
	for i, tr := range trusters {
		s.emu.PressButton(tr.u, confirms[i].msg, confirms[i].data)
	}
	srv.crashedByItself(t, s.logs)
	c = lastCrash(t, s.logs.String())
	var granted *subscriber
	for i := range trusters {
		if trusters[i].u.ID == c.user {
			granted = &trusters[i]
		}
	}
	if c.point != "grant" || granted == nil {
		t.Fatalf("crashed at %+v, want after a trust payment of one of the subscribers", c)
	}
	var keyed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM trust_payments WHERE grant_key = $1 AND account_id = $2`, c.key, granted.account).Scan(&keyed); err != nil || keyed != 1 {
		t.Errorf("the trust payment of the crash is not in the database (%d, %v)", keyed, err)
	}
	if !notHandled(ctx, s, rdb, prefix, c.update) {
		t.Errorf("the update of the grant crash is %v and not in the intake, want it waiting to be handled", s.emu.UpdateStatus(c.update))
	}
	if count(s.emu, granted.u.ID, "подключён") != 0 {
		t.Errorf("the subscriber of the grant crash was told before the commit")
	}

	// --- Restart, a kill at random, and the last restart.
	srv = startServer(t, env, s.logs)
	randomKill(srv, trusters, "подключён")
	srv = startServer(t, env, s.logs)
	defer srv.stop()
	for _, tr := range trusters {
		s.waitFor(tr.number+" granted", answered(tr.u.ID, "Доверительный платёж подключён"))
	}
	time.Sleep(time.Second) // anything repeated would arrive by now

	// What each of them sees, and what the databases hold.
	repeated, repeatedNotices := 0, 0
	for _, l := range linkers {
		for _, bad := range never {
			if n := count(s.emu, l.u.ID, bad); n > 0 {
				t.Errorf("%s was told %q", l.number, bad)
			}
		}
		told := count(s.emu, l.u.ID, "Лицевой счёт "+l.number+" привязан")
		if told == 0 {
			t.Errorf("%s was never told it is linked", l.number)
		}
		repeated += max(told-1, 0)
		if _, err := store.LinkedAccount(ctx, l.u.ID, l.account); err != nil {
			t.Errorf("%s is not linked: %v", l.number, err)
		}
		// The notice is never lost; like a reply, it goes twice only when
		// a kill lands between the gateway taking it and its mark.
		n := linkedSMS(s, l.phone)
		if n == 0 {
			t.Errorf("%s: no 'account linked' SMS", l.number)
		}
		repeatedNotices += max(n-1, 0)
	}
	// The notice of the crash point was sent and marked before the kill:
	// the update delivered again must not send it again.
	if n := linkedSMS(s, noticed.phone); n != 1 {
		t.Errorf("the notice of the crash point went out %d times, want once", n)
	}
	for _, tr := range trusters {
		for _, bad := range never {
			if n := count(s.emu, tr.u.ID, bad); n > 0 {
				t.Errorf("%s was told %q", tr.number, bad)
			}
		}
		var payments int
		var after int64
		if err := pool.QueryRow(ctx, `SELECT count(*), coalesce(min(balance_after), 0) FROM trust_payments WHERE account_id = $1`, tr.account).Scan(&payments, &after); err != nil {
			t.Fatal(err)
		}
		if payments != 1 || after != 46500 {
			t.Errorf("%s: %d trust payments leaving %d kopecks, want one leaving 465 ₽", tr.number, payments, after)
		}
		told := count(s.emu, tr.u.ID, "Доверительный платёж подключён: "+rub(500))
		if told == 0 {
			t.Errorf("%s was never told the trust payment is granted", tr.number)
		}
		if told != count(s.emu, tr.u.ID, "Баланс: "+rub(465)) {
			t.Errorf("%s was told a grant with another balance", tr.number)
		}
		repeated += max(told-1, 0)
	}
	t.Logf("in flight at a kill and so repeated: %d 'linked' or 'granted' replies, %d 'account linked' SMS", repeated, repeatedNotices)
	if repeated+repeatedNotices > 5*workers {
		t.Errorf("%d replies and SMS repeated, more than the %d that can be in flight at five kills", repeated+repeatedNotices, 5*workers)
	}
}

// linkedSMS counts the "account linked" SMS to phone.
func linkedSMS(s *stack, phone string) int {
	n := 0
	for _, m := range s.sms.Messages(phone) {
		if strings.Contains(m.Text, "привязан аккаунт Telegram") {
			n++
		}
	}
	return n
}
