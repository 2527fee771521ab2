// Command loadgen measures Kabinet under load beside the bare go-telegram/bot
// echo bot, in one run, against the in-process Bot API emulator with the
// real PostgreSQL and Redis (issue 12):
//
//	go run ./cmd/loadgen
//	go run ./cmd/loadgen -chats 200 -messages 20 -latency 0,20ms -targets kabinet,ordered -transports polling
//
// Each target (Kabinet wired exactly as `kabinet serve`; the echo bot with
// the library's default goroutine per update; the echo bot ordered per chat
// with 32 workers) runs in a process of its own at each Bot API round trip
// and over each transport. The subscribers are linked first, directly in a
// database of the run's own; each chat then does every kind of thing once
// (not measured) and finally plays its share of the mix. It prints one row
// per run: updates/s, update-to-reply latency, reorderings within a chat,
// errors, peak RSS, CPU per update, and Redis round trips and SQL
// statements per update for Kabinet. The figures are measurements, never
// pass or fail.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(childMain(cfg))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		_, err = runAll(ctx, opts, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// The targets and transports.
const (
	targetKabinet    = "kabinet"
	targetEcho       = "echo"
	targetOrdered    = "ordered"
	transportPolling = "polling"
	transportWebhook = "webhook"
)

var targetNames = map[string]string{
	targetKabinet: "Kabinet",
	targetEcho:    "echo, async",
	targetOrdered: "echo, ordered",
}

// options are the flags.
type options struct {
	chats      int
	messages   int
	latencies  []time.Duration
	targets    []string
	transports []string
	spread     time.Duration
	timeout    time.Duration
	seed       uint64
	dbURL      string
	redisURL   string
	env        map[string]string // Kabinet's settings beyond the tool's own
	profiles   string            // where Kabinet's CPU profiles go
	logs       string            // where the bots' logs go
	verbose    bool
	dialogs    int      // live dialogs written into Kabinet's Redis before it starts
	notes      []string // printed under the table
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{env: map[string]string{}}
	fs.IntVar(&o.chats, "chats", 200, "subscribers writing at the same time, each in a chat of their own")
	fs.IntVar(&o.messages, "messages", 20, "updates each chat sends during the measurement")
	latency := fs.String("latency", "0,20ms", "Bot API round trips to measure at, comma-separated (each request of the bot waits this long for its answer)")
	targets := fs.String("targets", "kabinet,echo,ordered", "what to measure: kabinet (serve's wiring), echo (the bare go-telegram/bot echo bot, a goroutine per update), ordered (the echo bot ordered per chat, 32 workers)")
	transports := fs.String("transports", "polling,webhook", "how updates reach the bot: polling, webhook")
	fs.DurationVar(&o.spread, "duration", 0, "spread each target's updates evenly over this long (a steady rate: chats × messages / duration); 0 sends them all at once, which measures the most updates/s")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long one target may take to answer everything")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the mix and of the order the chats write in; the same for every target")
	fs.StringVar(&o.dbURL, "db", "postgres://postgres@localhost:5432/postgres?sslmode=disable", "PostgreSQL server; the run creates a database of its own there and drops it at the end")
	fs.StringVar(&o.redisURL, "redis", "redis://localhost:6379/0", "Redis; Kabinet's keys get a random prefix, deleted after each run")
	fs.Func("set", "a Kabinet setting, KEY=VALUE (e.g. WORKERS=128); repeatable", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return errors.New("want KEY=VALUE")
		}
		o.env[k] = v
		return nil
	})
	fs.StringVar(&o.profiles, "cpuprofile", "", "a directory for the CPU profiles of each measurement: Kabinet's (go tool pprof -top DIR/kabinet-polling-0ms.pprof) and the emulator's with this tool's (DIR/loadgen-kabinet-polling-0ms.pprof)")
	fs.StringVar(&o.logs, "logs", "", "a directory to keep the bots' logs in (default: a temporary one, kept only when a run had errors)")
	fs.BoolVar(&o.verbose, "v", false, "say what is being done")
	fs.IntVar(&o.dialogs, "dialogs", 0, "live dialogs of other subscribers to write into Kabinet's Redis before it starts (e.g. 100000), to see that its memory does not grow with them")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.chats < 1 || o.messages < 1 {
		return o, errors.New("-chats and -messages must be at least 1")
	}
	for _, s := range splitList(*latency) {
		if s == "0" {
			s = "0s"
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return o, fmt.Errorf("-latency: %q is not a duration like 20ms", s)
		}
		o.latencies = append(o.latencies, d)
	}
	for _, t := range splitList(*targets) {
		if targetNames[t] == "" {
			return o, fmt.Errorf("-targets: unknown target %q (kabinet, echo, ordered)", t)
		}
		o.targets = append(o.targets, t)
	}
	for _, t := range splitList(*transports) {
		if t != transportPolling && t != transportWebhook {
			return o, fmt.Errorf("-transports: unknown transport %q (polling, webhook)", t)
		}
		o.transports = append(o.transports, t)
	}
	if len(o.latencies) == 0 || len(o.targets) == 0 || len(o.transports) == 0 {
		return o, errors.New("-latency, -targets and -transports need at least one value each")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
