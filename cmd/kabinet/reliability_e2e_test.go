package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

var (
	buildsMu sync.Mutex
	builds   = map[string]string{} // build tags -> binary
)

// kabinetBinary builds the kabinet command once per test run, for tests that must
// kill a real process.
func kabinetBinary(t testing.TB) string { return buildKabinet(t, "") }

// buildKabinet builds the kabinet command with these build tags, once per
// test run and tags.
func buildKabinet(t testing.TB, tags string) string {
	t.Helper()
	buildsMu.Lock()
	defer buildsMu.Unlock()
	if bin, ok := builds[tags]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "kabinet-bin")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kabinet")
	if out, err := exec.Command("go", "build", "-tags", tags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build kabinet (tags %q): %v\n%s", tags, err, out)
	}
	builds[tags] = bin
	return bin
}

// withFreshAddr is env with an HTTP_ADDR picked just now (and the webhook
// URL moved there): a port picked when the test began may have been taken
// by another test while the binary was built or the last process died.
// The webhook is set again at every start, so Telegram follows.
func withFreshAddr(t testing.TB, env map[string]string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	out["HTTP_ADDR"] = freeAddr(t)
	if u := env["WEBHOOK_URL"]; u != "" {
		out["WEBHOOK_URL"] = withHost(t, u, out["HTTP_ADDR"])
	}
	return out
}

// process is serve running as a separate program.
type process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

func startProcess(t testing.TB, env map[string]string, logs *syncBuffer) *process {
	t.Helper()
	cmd := exec.Command(kabinetBinary(t), "serve")
	cmd.Env = os.Environ()
	for k, v := range withFreshAddr(t, env) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logs, line)
			if strings.Contains(line, `"msg":"serving"`) {
				once.Do(func() { close(serving) })
			}
		}
	}()
	select {
	case <-serving:
	case <-exited:
		_ = cmd.Wait()
		t.Fatalf("kabinet stopped at start:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("kabinet did not start:\n%s", logs.String())
	}
	return &process{cmd: cmd, logs: logs}
}

func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// helpCount counts the help texts in a chat: one per /help sent.
func helpCount(emu *emulator.Server, chat int64) int {
	n := 0
	for _, m := range emu.BotMessages(chat) {
		if strings.Contains(m.Text, "Что я умею") {
			n++
		}
	}
	return n
}

// TestCrashLosesAndRepeatsNothing kills serve with SIGKILL while updates
// are flowing, starts it again, and checks what a person would see: every
// update got its reply (nothing lost), and no update was handled twice.
//
// The one thing no bot can promise is that a reply in flight at the very
// instant of the kill is not sent twice: the Bot API has no idempotency
// key, so a message Telegram accepted just before the kill, whose answer
// never reached us, is sent again. The test counts those and checks they
// are no more than the replies that were in flight (at most one per
// worker); see "Delivery guarantees" in the README.
func TestCrashLosesAndRepeatsNothing(t *testing.T) {
	for _, m := range []mode{polling, webhook} {
		t.Run(string(m), func(t *testing.T) {
			s := prepareStack(t, m, nil) // serve runs as a real process here
			// A request the kill cuts off half-way reaches the emulator broken.
			s.tolerate = []string{"can't read the request body"}
			env := map[string]string{}
			for k, v := range s.env {
				env[k] = v
			}
			env["SMS_PROVIDER"] = "log"
			logs := s.logs // checked for the token and personal data at the end
			proc := startProcess(t, env, logs)

			const users, each = 20, 15
			var wg sync.WaitGroup
			us := make([]emulator.User, users)
			for i := range us {
				us[i] = newUser("ru")
				wg.Add(1)
				go func(u emulator.User) {
					defer wg.Done()
					for j := 0; j < each; j++ {
						s.emu.SendCommand(u, "/help")
						time.Sleep(time.Duration(5+rand.IntN(30)) * time.Millisecond)
					}
				}(us[i])
			}
			time.Sleep(time.Duration(150+rand.IntN(200)) * time.Millisecond)
			proc.kill()
			handled := 0
			for _, u := range us {
				handled += helpCount(s.emu, u.ID)
			}
			t.Logf("killed with %d of %d replies sent", handled, users*each)
			time.Sleep(100 * time.Millisecond)
			proc = startProcess(t, env, logs)
			defer proc.stop()
			wg.Wait()

			deadline := time.Now().Add(60 * time.Second)
			for {
				done := true
				for _, u := range us {
					if helpCount(s.emu, u.ID) < each {
						done = false
					}
				}
				if done || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(time.Second) // anything repeated would arrive by now
			repeated := 0
			for _, u := range us {
				got := helpCount(s.emu, u.ID)
				if got < each {
					t.Errorf("chat %d: %d replies to %d updates: a reply was lost", u.ID, got, each)
				}
				repeated += max(0, got-each)
			}
			t.Logf("replies repeated because they were in flight at the kill: %d (of %d)", repeated, users*each)
			if workers, _ := strconv.Atoi(env["WORKERS"]); repeated > workers {
				t.Errorf("%d replies repeated, more than the %d that can be in flight", repeated, workers)
			}
			// Each update was handled once: the dialog handled each
			// update_id once, whatever was resent.
			if n := strings.Count(s.logs.String(), `"msg":"duplicate update"`); n > 0 {
				t.Logf("%d redelivered updates recognised and dropped", n)
			}
		})
	}
}

// cycle is a conversation whose replies show their order: each input has
// its own first reply ("xyz" has two).
var cycle = []struct{ in, out string }{
	{"/help", "Что я умею"},
	{"/language", "Выберите язык"},
	{"/menu", "Чтобы видеть баланс"},
	{"xyz", "Извините, я не понял"},
}

// expected lists the start of each reply for n inputs of the cycle.
func expected(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		c := cycle[i%len(cycle)]
		out = append(out, c.out)
		if c.in == "xyz" {
			out = append(out, "Чтобы видеть баланс")
		}
	}
	return out
}

// inOrder checks that a chat's bot messages are exactly the expected replies.
func inOrder(emu *emulator.Server, chat int64, want []string) (bool, string) {
	msgs := emu.BotMessages(chat)
	if len(msgs) != len(want) {
		return false, fmt.Sprintf("%d replies, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if !strings.Contains(m.Text, want[i]) {
			return false, fmt.Sprintf("reply %d is %.40q, want %q", i, m.Text, want[i])
		}
	}
	return true, ""
}

// runChats sends n inputs of the cycle from each user at once and waits
// until every chat has all its replies; it returns how long that took.
func runChats(t *testing.T, s *stack, users []emulator.User, n int) time.Duration {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func(u emulator.User) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				s.emu.SendText(u, cycle[i%len(cycle)].in)
			}
		}(u)
	}
	wg.Wait()
	want := len(expected(n))
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		done := true
		for _, u := range users {
			if len(s.emu.BotMessages(u.ID)) < want {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	time.Sleep(300 * time.Millisecond)
	for _, u := range users {
		if ok, why := inOrder(s.emu, u.ID, expected(n)); !ok {
			t.Errorf("chat %d: %s", u.ID, why)
		}
	}
	return took
}

// TestOrderWithinChatsParallelAcross: 100 chats send 20 messages each at
// once; every chat gets its replies in order, and handling chats in
// parallel takes far less time than one by one (both times printed). Each
// Bot API call costs 10 ms of network, as it would in production; without
// it, both runs would only measure this machine's two cores.
func TestOrderWithinChatsParallelAcross(t *testing.T) {
	const chats, each = 100, 20
	var times [2]time.Duration
	for i, workers := range []string{"64", "1"} {
		s := prepareStack(t, polling, map[string]string{"WORKERS": workers, "LOG_LEVEL": "info"})
		s.withLatency(10 * time.Millisecond)
		s.start()
		users := make([]emulator.User, chats)
		for j := range users {
			users[j] = newUser("ru")
		}
		times[i] = runChats(t, s, users, each)
		s.stop()
	}
	t.Logf("%d chats x %d messages: %v with 64 chats in parallel, %v one by one (%.1fx)",
		chats, each, times[0].Round(time.Millisecond), times[1].Round(time.Millisecond), float64(times[1])/float64(times[0]))
}

// TestTwoInstancesBehindALoadBalancer runs two serve processes in webhook
// mode on one Redis and PostgreSQL; every update goes to either at random,
// and a failed delivery may come again to the other. Each chat still reads
// in order and every update is handled once.
func TestTwoInstancesBehindALoadBalancer(t *testing.T) {
	s := newStack(t, webhook, nil)
	second := map[string]string{}
	for k, v := range s.env {
		second[k] = v
	}
	second["HTTP_ADDR"] = freeAddr(t)
	second["WEBHOOK_URL"] = "http://" + second["HTTP_ADDR"] + "/telegram/webhook"
	stopSecond := s.launch(second)
	defer stopSecond()
	targets := []string{s.env["WEBHOOK_URL"], second["WEBHOOK_URL"]}
	var mu sync.Mutex
	hits := map[string]int{}
	s.emu.SetWebhookTarget(func(string) string {
		mu.Lock()
		defer mu.Unlock()
		u := targets[rand.IntN(2)]
		hits[u]++
		return u
	})
	users := make([]emulator.User, 30)
	for i := range users {
		users[i] = newUser("ru")
	}
	took := runChats(t, s, users, 12)
	mu.Lock()
	t.Logf("30 chats x 12 messages over two instances in %v; deliveries per instance: %v", took.Round(time.Millisecond), hits)
	if len(hits) != 2 {
		t.Errorf("the load balancer used %d instances", len(hits))
	}
	mu.Unlock()
}
