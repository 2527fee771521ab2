package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/internal/logtest"
)

// syncBuffer collects a log written from several goroutines.
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

// TestRedisLogIsJSON: with serve's logger routed, a dial that fails
// during an outage is one JSON line at warn level with msg "redis client"
// and go-redis's text in "detail"; the Redis password never appears.
// Not parallel: go-redis's logger belongs to the whole process, and
// parallel tests' serves would take it over.
func TestRedisLogIsJSON(t *testing.T) {
	logs := &syncBuffer{}
	routeRedisLog(newLogger(config.Config{LogLevel: slog.LevelInfo, LogFormat: "json"}, logs), "pa55word-x")
	addr := closedPort(t)
	opts, err := redisOptions("redis://:pa55word-x@"+addr+"/0", 4)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping of a stopped Redis succeeded")
	}
	redisLog.Printf(context.Background(), "redis: AUTH %s refused", "pa55word-x")

	lines := logtest.JSONLines(t, logs.String())
	dials := logtest.DialLines(lines, addr)
	if len(dials) == 0 {
		t.Fatalf("no failed dial to %s in the log:\n%s", addr, logs.String())
	}
	for _, m := range dials {
		if m["msg"] != "redis client" || m["level"] != "WARN" {
			t.Errorf("failed dial logged as %v; want msg \"redis client\" at WARN", m)
		}
		if d := m["detail"].(string); strings.HasPrefix(d, "redis:") {
			t.Errorf("detail %q repeats go-redis's prefix", d)
		}
	}
	if last := lines[len(lines)-1]; last["detail"] != "AUTH <redacted> refused" {
		t.Errorf("a message quoting the password logged as %v", last)
	}
	if strings.Contains(logs.String(), "pa55word-x") {
		t.Error("the Redis password is in the log")
	}
}
