package main

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// cutProxy is a TCP proxy in front of a service that a test can cut, as a
// server that stops answering: while cut, every connection is reset and new
// ones are closed at once.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// cut drops every connection and refuses new ones until restore.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// hostOf is the host:port of a URL.
func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// withHost is raw with its host:port replaced.
func withHost(t testing.TB, raw, host string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host
	return u.String()
}

// TestRedisOutage: with Redis gone for 10 s the bot stays up, sends no SMS,
// and answers a button at once with a toast that it is unavailable; when
// Redis is back, every update held meanwhile gets its reply exactly once.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	s := prepareStack(t, polling, map[string]string{"LOG_LEVEL": "info"})
	redisProxy := newCutProxy(t, hostOf(t, s.env["REDIS_URL"]))
	s.env["REDIS_URL"] = withHost(t, s.env["REDIS_URL"], redisProxy.addr())
	s.tolerate = []string{"query is too old"} // the held button's second answer, after recovery
	s.start()
	u := newUser("ru")
	s.emu.SendCommand(u, "/start")
	s.next(u, "привяжите лицевой счёт")

	redisProxy.cut()
	smsBefore := len(s.sms.Messages("+79000000004"))
	s.emu.SendCommand(u, "/help")
	s.emu.SendText(u, "1000000004") // would send a code: it must not while Redis is down
	pressed := time.Now()
	_, _ = s.press(u, "Помощь")
	s.waitFor("the unavailable toast", func() bool { return hasPrefix(s.toasts(), "Бот временно недоступен") })
	if took := time.Since(pressed); took > 5*time.Second {
		t.Errorf("the button was answered after %v", took)
	}
	time.Sleep(10 * time.Second)
	if n := len(s.sms.Messages("+79000000004")); n != smsBefore {
		t.Errorf("%d SMS sent while Redis was down", n-smsBefore)
	}
	redisProxy.restore()

	s.waitFor("the held replies", func() bool {
		return helpCount(s.emu, u.ID) >= 2 && len(s.sms.Messages("+79000000004")) > smsBefore
	})
	time.Sleep(time.Second) // a repeat would come now
	if n := helpCount(s.emu, u.ID); n != 2 {
		t.Errorf("%d help texts after recovery, want 2 (the /help and the button, once each)", n)
	}
	if n := len(s.sms.Messages("+79000000004")) - smsBefore; n != 1 {
		t.Errorf("%d code SMS after recovery, want 1", n)
	}
	s.next(u, "+7 *** ***-**-04")
}

// TestPostgresOutage: with PostgreSQL gone for 10 s the bot stays up and
// answers politely at once (a button gets the answer as a toast too);
// nothing is half-done, and after recovery the same request works.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	s := prepareStack(t, polling, map[string]string{"LOG_LEVEL": "info"})
	pgProxy := newCutProxy(t, hostOf(t, s.dbURL))
	s.env["DATABASE_URL"] = withHost(t, s.env["DATABASE_URL"], pgProxy.addr())
	s.start()
	u := newUser("ru")
	s.link(u, "1000000004", "+79000000004")

	pgProxy.cut()
	pressed := time.Now()
	s.press(u, "Обновить")
	s.waitFor("the temporary-failure toast", func() bool { return hasPrefix(s.toasts(), "Извините, сейчас не получается") })
	if took := time.Since(pressed); took > 5*time.Second {
		t.Errorf("the button was answered after %v", took)
	}
	s.emu.SendCommand(u, "/balance")
	s.next(u, "Извините, сейчас не получается выполнить запрос")
	time.Sleep(10 * time.Second)
	pgProxy.restore()

	s.emu.SendCommand(u, "/balance")
	s.next(u, "Лицевой счёт 1000000004\nТариф")
}
