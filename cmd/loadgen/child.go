package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/internal/app"
	"github.com/kabinet-bot/kabinet/sms"
)

// Each bot under test runs in a process of its own, this program started
// again with childEnv set, so that its peak RSS and CPU time are its own and
// not the emulator's or another bot's. The parent talks to it over
// stdin/stdout, one line each way:
//
//	child:  ready <http address>
//	parent: begin            child: stats <json>   (and its CPU profile starts)
//	parent: end              child: stats <json>   (and the profile stops)
//	parent closes stdin      child: stops its bot and exits
//
// Its log goes to stderr, which the parent keeps in a file.

// childEnv holds the child's childConfig as JSON.
const childEnv = "LOADGEN_CHILD"

// childConfig says which bot a child runs and where.
type childConfig struct {
	Target    string `json:"target"`    // kabinet, echo, ordered
	Transport string `json:"transport"` // polling, webhook
	APIURL    string `json:"api_url"`
	Token     string `json:"token"`
	// Env is Kabinet's environment (TELEGRAM_TOKEN, DATABASE_URL ...).
	Env map[string]string `json:"env,omitempty"`
	// CPUProfile, when set, is written with the CPU profile of the
	// measurement (from begin to end).
	CPUProfile string `json:"cpu_profile,omitempty"`
}

// childStats is what a child says about itself.
type childStats struct {
	// RedisCalls are round trips to Redis (a command, or a whole pipeline),
	// SQLQueries the statements sent to PostgreSQL (BEGIN and COMMIT
	// included): Kabinet only.
	RedisCalls int64 `json:"redis_calls"`
	SQLQueries int64 `json:"sql_queries"`
	// Errors and Warnings are log lines at those levels (Kabinet), or calls
	// of the library's error handler and failed sends (echo bots).
	Errors   int64 `json:"errors"`
	Warnings int64 `json:"warnings"`
	// CPU is user plus system time so far; MaxRSS the peak resident set.
	CPU    time.Duration `json:"cpu_ns"`
	MaxRSS int64         `json:"max_rss_bytes"`
}

// counters are a child's running counts.
type counters struct {
	redis, sql, errors, warnings atomic.Int64
}

func (c *counters) stats() childStats {
	cpu, rss := selfUsage()
	return childStats{
		RedisCalls: c.redis.Load(), SQLQueries: c.sql.Load(),
		Errors: c.errors.Load(), Warnings: c.warnings.Load(),
		CPU: cpu, MaxRSS: rss,
	}
}

// childMain runs one bot until stdin closes; its result is the exit code.
func childMain(raw string) int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen child:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &counters{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	switch cfg.Target {
	case targetKabinet:
		go func() { done <- runKabinet(ctx, cfg, c, ready) }()
	case targetEcho, targetOrdered:
		go func() { done <- runEcho(ctx, cfg, c, ready) }()
	default:
		fmt.Fprintln(os.Stderr, "loadgen child: unknown target", cfg.Target)
		return 2
	}
	select {
	case addr := <-ready:
		fmt.Printf("ready %s\n", addr)
	case err := <-done:
		fmt.Fprintln(os.Stderr, "loadgen child: the bot stopped at start:", err)
		return 1
	}

	var profile *os.File
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "begin":
			if cfg.CPUProfile != "" && profile == nil {
				f, err := os.Create(cfg.CPUProfile)
				if err == nil {
					err = pprof.StartCPUProfile(f)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "loadgen child: cpu profile:", err)
				} else {
					profile = f
				}
			}
		case "end":
			if profile != nil {
				pprof.StopCPUProfile()
				_ = profile.Close()
				profile = nil
			}
		default:
			continue
		}
		out, _ := json.Marshal(c.stats())
		fmt.Printf("stats %s\n", out)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen child:", err)
			return 1
		}
	case <-time.After(45 * time.Second):
		fmt.Fprintln(os.Stderr, "loadgen child: the bot did not stop in 45 s")
		return 1
	}
	return 0
}

// runKabinet is `kabinet serve`, with hooks that count its Redis round
// trips and SQL statements and a log that counts its errors.
func runKabinet(ctx context.Context, cfg childConfig, c *counters, ready chan<- string) error {
	hooks := &app.Hooks{
		SMS:       sms.NewMemory(),
		Listening: func(addr string) { ready <- addr },
		Redis:     redisCounter{&c.redis},
		DB:        sqlCounter{&c.sql},
	}
	return app.Run(ctx, func(k string) string { return cfg.Env[k] }, &levelCounter{w: os.Stderr, c: c}, hooks)
}

// redisCounter counts round trips: a command, or a pipeline as one.
type redisCounter struct{ n *atomic.Int64 }

func (h redisCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h redisCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// sqlCounter counts the statements pgx sends (Query, QueryRow, Exec, and
// the BEGIN and COMMIT of a transaction).
type sqlCounter struct{ n *atomic.Int64 }

func (t sqlCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.n.Add(1)
	return ctx
}

func (t sqlCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// levelCounter passes Kabinet's JSON log on and counts its ERROR and WARN
// lines (slog writes one line per Write).
type levelCounter struct {
	w io.Writer
	c *counters
}

func (l *levelCounter) Write(p []byte) (int, error) {
	l.c.errors.Add(int64(bytes.Count(p, []byte(`"level":"ERROR"`))))
	l.c.warnings.Add(int64(bytes.Count(p, []byte(`"level":"WARN"`))))
	return l.w.Write(p)
}

// listen opens the echo bot's webhook listener on a free local port.
func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// serveHTTP serves h on ln until ctx ends.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	_ = srv.Serve(ln)
}
