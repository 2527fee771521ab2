package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/internal/metricstest"
)

// scrape reads the running bot's GET /metrics.
func (s *stack) scrape() metricstest.Families {
	s.t.Helper()
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		s.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	return metricstest.Parse(s.t, resp.Body)
}

// waitMetrics scrapes until cond holds of what /metrics shows, and returns
// that scrape.
func (s *stack) waitMetrics(what string, cond func(m metricstest.Families) bool) metricstest.Families {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := s.scrape()
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for the metrics to show %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get answers a GET on the bot's HTTP_ADDR: the status and the body.
func (s *stack) get(path string) (int, string) {
	s.t.Helper()
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// okCalls counts the emulator's answers to method with error code code (0:
// accepted).
func (s *stack) okCalls(method string, code int) float64 {
	n := 0
	for _, c := range s.emu.CallsTo(method) {
		if (code == 0 && c.OK) || (code != 0 && c.ErrorCode == code) {
			n++
		}
	}
	return float64(n)
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestMetricsCountWhatASubscriberDid: a subscriber starts the bot, presses
// a button, links an account by SMS code, asks for help while Telegram
// answers a 429, and blocks the bot; GET /metrics then shows exactly those
// updates by kind, every Bot API call the emulator answered by method and
// result, the 429's retry_after, the chat parked while it waited and
// nothing waiting after, the two SMS, Redis and PostgreSQL at work, and no
// label carrying the person, the phone or the token.
func TestMetricsCountWhatASubscriberDid(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, nil)
	s.tolerate = []string{"Too Many Requests"} // the 429 planned below
	u := newUser("ru")

	before := s.scrape()
	for _, kind := range []string{"message", "callback", "other"} {
		for _, outcome := range []string{"handled", "failed"} {
			l := labels("kind", kind, "outcome", outcome)
			if !before.Has("kabinet_updates_total", l) || before.Value("kabinet_updates_total", l) != 0 {
				t.Errorf("before any update, kabinet_updates_total%v is %v (present: %v), want a 0", l, before.Value("kabinet_updates_total", l), before.Has("kabinet_updates_total", l))
			}
		}
	}

	s.emu.SendCommand(u, "/start") // message 1
	s.next(u, "Здравствуйте")
	s.next(u, "привяжите лицевой счёт")
	s.press(u, "Привязать лицевой счёт") // callback 1
	s.next(u, "номер лицевого счёта")
	s.emu.SendText(u, "1000000004") // message 2
	s.next(u, "+7 *** ***-**-04")
	s.emu.SendText(u, s.lastCode("+79000000004")) // message 3
	s.next(u, "Лицевой счёт 1000000004 привязан")
	s.next(u, "Лицевой счёт 1000000004\nТариф")
	s.waitFor("the linked notice", func() bool { return len(s.sms.Messages("+79000000004")) == 2 })

	// Telegram refuses the help's reply once with a 429: the chat is
	// parked for exactly retry_after, then the reply goes out.
	const retryAfter = 3
	s.emu.FailNext("sendMessage", 1, http.StatusTooManyRequests, "", retryAfter)
	s.emu.SendCommand(u, "/help") // message 4
	parked := s.waitMetrics("the chat parked after the 429", func(m metricstest.Families) bool {
		return m.Value("kabinet_outbox_parked_chats", nil) == 1
	})
	if got := parked.Value("kabinet_outbox_pending_chats", nil); got != 1 {
		t.Errorf("while parked, %v chats have replies waiting, want 1", got)
	}
	s.next(u, "Что я умею")
	s.emu.BlockBot(u) // my_chat_member: other 1

	want := map[string]float64{"message": 4, "callback": 1, "other": 1}
	m := s.waitMetrics("every update counted and nothing waiting", func(m metricstest.Families) bool {
		for kind, n := range want {
			if m.Value("kabinet_updates_total", labels("kind", kind, "outcome", "handled")) < n {
				return false
			}
		}
		return m.Value("kabinet_outbox_pending_chats", nil) == 0 &&
			m.Value("kabinet_telegram_requests_total", labels("method", "sendMessage", "result", "ok")) == s.okCalls("sendMessage", 0)
	})
	for kind, n := range want {
		if got := m.Value("kabinet_updates_total", labels("kind", kind, "outcome", "handled")); got != n {
			t.Errorf("%s updates handled: %v, want %v", kind, got, n)
		}
		if got := m.Value("kabinet_updates_total", labels("kind", kind, "outcome", "failed")); got != 0 {
			t.Errorf("%s updates failed: %v, want 0", kind, got)
		}
		if got := m.Value("kabinet_update_duration_seconds", labels("kind", kind)); got != n {
			t.Errorf("%s updates timed: %v, want %v", kind, got, n)
		}
	}

	// Every call the emulator answered is counted under its method and result.
	for _, c := range []struct {
		method string
		code   int
		result string
	}{
		{"sendMessage", 0, "ok"},
		{"sendMessage", http.StatusTooManyRequests, "429"},
		{"answerCallbackQuery", 0, "ok"},
		{"getMe", 0, "ok"},
		{"setMyCommands", 0, "ok"},
	} {
		calls := s.okCalls(c.method, c.code)
		if got := m.Value("kabinet_telegram_requests_total", labels("method", c.method, "result", c.result)); got != calls || calls == 0 {
			t.Errorf("%s %s: %v counted, the emulator answered %v", c.method, c.result, got, calls)
		}
	}
	if got := m.Value("kabinet_telegram_requests_total", labels("method", "sendMessage", "result", "429")); got != 1 {
		t.Errorf("%v 429s counted, want the 1 planned", got)
	}
	if got := m.Value("kabinet_telegram_requests_total", labels("method", "getUpdates", "result", "ok")); got < 1 {
		t.Errorf("no getUpdates counted: the poller's client is not measured")
	}
	if n, sum := m.Value("kabinet_telegram_retry_after_seconds", labels("method", "sendMessage")), m.Sum("kabinet_telegram_retry_after_seconds", nil); n != 1 || sum != retryAfter {
		t.Errorf("retry_after: %v observations summing to %v s, want one of %d s", n, sum, retryAfter)
	}
	if got := m.Value("kabinet_outbox_parked_chats", nil); got != 0 {
		t.Errorf("%v chats parked after the reply went out", got)
	}

	// The code and the "linked" notice.
	if got, sent := m.Value("kabinet_sms_sent_total", labels("result", "ok")), float64(len(s.sms.All())); got != sent || sent != 2 {
		t.Errorf("SMS sent: %v counted, %v in the phone", got, sent)
	}

	// Redis and PostgreSQL worked for it, through pools of the configured size.
	if got := m.Value("kabinet_redis_command_duration_seconds", labels("result", "ok")); got < 20 {
		t.Errorf("%v Redis calls measured for a whole linking", got)
	}
	if got := m.Value("kabinet_redis_command_duration_seconds", labels("result", "error")) + m.Value("kabinet_redis_command_duration_seconds", labels("result", "timeout")); got != 0 {
		t.Errorf("%v Redis calls failed in a healthy run", got)
	}
	if got := m.Value("kabinet_postgres_query_duration_seconds", labels("statement", "select", "result", "ok")); got < 1 {
		t.Errorf("no PostgreSQL select measured: the account was looked up")
	}
	if got := m.Value("kabinet_postgres_pool_max_connections", nil); got != 16+5 {
		t.Errorf("PostgreSQL pool of %v connections, want WORKERS (16) + 5", got)
	}
	if got := m.Value("kabinet_redis_pool_connections", nil); got < 1 {
		t.Errorf("the Redis pool has %v connections", got)
	}
	if !m.Has("go_goroutines", nil) || !m.Has("process_cpu_seconds_total", nil) {
		t.Error("the Go runtime's and the process's metrics are missing")
	}

	// The README lists exactly the metrics served.
	documented := readmeMetrics(t)
	for name := range m {
		if strings.HasPrefix(name, "kabinet_") && !documented[name] {
			t.Errorf("%s is served but not in the README's Metrics section", name)
		}
	}
	for name := range documented {
		if _, ok := m[name]; !ok {
			t.Errorf("the README lists %s, which /metrics does not serve", name)
		}
	}

	// Nothing personal or secret in any label.
	secret := []string{strconv.FormatInt(u.ID, 10), "9000000004", "1000000004", s.env["TELEGRAM_TOKEN"], strings.Split(s.env["TELEGRAM_TOKEN"], ":")[1]}
	for name, fam := range m {
		for _, series := range fam.Metric {
			for _, l := range series.Label {
				for _, bad := range secret {
					if strings.Contains(l.GetValue(), bad) {
						t.Errorf("%s{%s=%q} holds personal data or the token", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
}

// gate holds the Bot API calls of one method until it is opened, as a
// Telegram that is slow to answer.
type gate struct {
	method string
	open   chan struct{}
	once   sync.Once
	held   chan struct{} // closed when the first call is held
	heldMu sync.Once
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// TestReadyz: /readyz is 200 while PostgreSQL and Redis answer, 503 while
// Redis does not (and 200 again once it does), and 503 "draining" from the
// moment a shutdown begins, while the update in hand is still finished;
// /healthz and /metrics answer meanwhile.
func TestReadyz(t *testing.T) {
	t.Parallel()
	s := prepareStack(t, polling, nil)
	redisProxy := newCutProxy(t, hostOf(t, s.env["REDIS_URL"]))
	s.env["REDIS_URL"] = withHost(t, s.env["REDIS_URL"], redisProxy.addr())
	g := &gate{method: "/sendMessage", open: make(chan struct{}), held: make(chan struct{})}
	gated := false
	var gatedMu sync.Mutex
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatedMu.Lock()
		hold := gated && strings.HasSuffix(r.URL.Path, g.method)
		gatedMu.Unlock()
		if hold {
			g.heldMu.Do(func() { close(g.held) })
			<-g.open
		}
		s.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Cleanup(g.release)
	s.env["TELEGRAM_API_URL"] = proxy.URL
	s.start()

	if code, body := s.get("/readyz"); code != http.StatusOK || body != "ready" {
		t.Errorf("/readyz of a healthy bot: %d %q", code, body)
	}

	redisProxy.cut()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := s.get("/readyz")
		if code == http.StatusServiceUnavailable && body == "redis unavailable" {
			break
		}
		if code != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("/readyz with Redis cut: %d %q, want 503 redis unavailable", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := s.get("/metrics"); code != http.StatusOK {
		t.Errorf("/metrics with Redis cut: %d; a dashboard must still see the outage", code)
	}
	redisProxy.restore()
	s.waitFor("/readyz 200 again", func() bool { code, _ := s.get("/readyz"); return code == http.StatusOK })

	// An update in hand at shutdown: its reply is held by a slow Telegram.
	gatedMu.Lock()
	gated = true
	gatedMu.Unlock()
	u := newUser("ru")
	s.emu.SendCommand(u, "/help")
	select {
	case <-g.held:
	case <-time.After(20 * time.Second):
		t.Fatal("the reply never reached the Bot API")
	}
	stopped := make(chan struct{})
	go func() { s.stop(); close(stopped) }()
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, body := s.get("/readyz")
		if code == http.StatusServiceUnavailable && body == "draining" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz during the shutdown: %d %q, want 503 draining", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := s.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining: %d; the process is alive", code)
	}
	select {
	case <-stopped:
		t.Fatal("serve stopped with the update still in hand")
	default:
	}
	g.release()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after the reply went out")
	}
	s.next(u, "Что я умею") // the update in hand was finished, not dropped
}

// TestPprofOnItsOwnListener: with PPROF_ADDR set, the profiles are served
// there and only there, never on HTTP_ADDR.
func TestPprofOnItsOwnListener(t *testing.T) {
	t.Parallel()
	pprofAddr := freeAddr(t)
	s := newStack(t, polling, map[string]string{"PPROF_ADDR": pprofAddr})
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", pprofAddr))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("PPROF_ADDR's goroutine profile: %d %.200s", resp.StatusCode, body)
	}
	if code, _ := s.get("/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("HTTP_ADDR serves /debug/pprof/: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=1", pprofAddr), nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n == 0 {
		t.Errorf("a 1 s CPU profile: %d, %d bytes", resp.StatusCode, n)
	}
}
