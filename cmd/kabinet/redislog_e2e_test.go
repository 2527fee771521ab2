package main

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/internal/logtest"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

// switchableRedis forwards to the test Redis while up; down closes the
// listener and every connection (Redis stopped), up listens again on the
// same address (Redis back).
type switchableRedis struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newSwitchableRedis(t *testing.T) *switchableRedis {
	target, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	r := &switchableRedis{t: t, target: target.Addr}
	r.addr = "127.0.0.1:0"
	r.up()
	t.Cleanup(r.down)
	return r
}

func (r *switchableRedis) up() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.ln, r.addr = ln, ln.Addr().String()
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", r.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c, up)
			r.mu.Unlock()
			go pump(up, c)
			go pump(c, up)
		}
	}()
}

func pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			_ = dst.Close()
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			_ = src.Close()
			return
		}
	}
}

func (r *switchableRedis) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		_ = r.ln.Close()
		r.ln = nil
	}
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}

// TestRedisOutageLogIsJSON runs serve and stops its Redis under it: the
// failed dials come out as JSON lines of serve's log like everything else,
// and once Redis is back the bot answers the message sent meanwhile.
// Redis goes down before the first update, while no chat holds a lock (a
// lock whose release failed in the outage holds its chat until its TTL).
// Not parallel, for the reason TestRedisLogIsJSON gives.
func TestRedisOutageLogIsJSON(t *testing.T) {
	redisSrv := newSwitchableRedis(t)
	s := prepareStack(t, polling, map[string]string{"REDIS_URL": "redis://" + redisSrv.addr + "/0"})
	s.start()
	u := newUser("ru")

	redisSrv.down()
	s.emu.SendCommand(u, "/start")
	deadline := time.Now().Add(20 * time.Second)
	for len(logtest.DialLines(logtest.JSONLines(t, s.logs.String()), redisSrv.addr)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed dial to %s in serve's log:\n%s", redisSrv.addr, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	redisSrv.up()
	s.next(u, "Здравствуйте")

	lines := logtest.JSONLines(t, s.logs.String())
	for _, m := range logtest.DialLines(lines, redisSrv.addr) {
		if m["msg"] != "redis client" || m["level"] != "WARN" {
			t.Errorf("failed dial logged as %v; want msg \"redis client\" at WARN", m)
		}
	}
}
