package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/emulator"
)

// result is one target's measurement.
type result struct {
	Target, Transport string
	Latency           time.Duration
	Updates           int // played
	Answered          int
	PerSecond         float64
	P50, P95, P99     time.Duration
	Reorderings       int
	Errors            int
	Refusals          map[string]int // the Bot API calls the emulator refused
	Warnings          int64
	MaxRSS            int64
	CPUPerUpdate      time.Duration
	RedisPerUpdate    float64
	SQLPerUpdate      float64
	// HarnessCPUPerUpdate is what the emulator and the tool itself, in
	// this process, spent beside the bot on the same cores.
	HarnessCPUPerUpdate time.Duration
	Log                 string // the bot's log file
	Note                string // printed under the table
	// Database and RedisPrefix are what the run kept its data under; both
	// are gone when runAll returns.
	Database, RedisPrefix string
}

// runAll measures every combination and prints the table.
func runAll(ctx context.Context, o options, stdout, stderr io.Writer) ([]result, error) {
	say := func(format string, args ...any) {
		if o.verbose {
			fmt.Fprintf(stderr, "loadgen: "+format+"\n", args...)
		}
	}
	ropts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("Redis at %s: %w", ropts.Addr, err) //lint:ignore ST1005 the service's name
	}

	users := make([]emulator.User, o.chats)
	base := randomID(5_000_000_000)
	for i := range users {
		users[i] = emulator.User{ID: base + int64(i), FirstName: "Абонент", LanguageCode: "ru", Username: fmt.Sprintf("load%d", i)}
	}
	say("creating a database, loading the demo data and linking %d subscribers", o.chats)
	db, err := newDatabase(ctx, o.dbURL, users)
	if err != nil {
		return nil, fmt.Errorf("prepare PostgreSQL: %w", err)
	}
	defer func() {
		if err := db.drop(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintln(stderr, "loadgen: could not drop the database:", err)
		}
	}()

	// Kabinet's pool opens WORKERS + 5 connections at most; on a server
	// shared with other work there may be fewer left, and an update that
	// finds none fails.
	if _, set := o.env["DATABASE_MAX_CONNS"]; !set {
		workers := 64
		if w, err := strconv.Atoi(o.env["WORKERS"]); err == nil {
			workers = w
		}
		if spare := db.free - 10; spare < workers+5 {
			o.env = maps.Clone(o.env)
			o.env["DATABASE_MAX_CONNS"] = strconv.Itoa(max(spare, 8))
			o.notes = append(o.notes, fmt.Sprintf("Kabinet ran with DATABASE_MAX_CONNS=%s instead of WORKERS + 5: PostgreSQL had only %d connections left.", o.env["DATABASE_MAX_CONNS"], db.free))
		}
	}
	loadBefore := loadAverage()

	logs, keepLogs := o.logs, o.logs != ""
	if logs == "" {
		if logs, err = os.MkdirTemp("", "loadgen-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	if o.profiles != "" {
		if err := os.MkdirAll(o.profiles, 0o755); err != nil {
			return nil, err
		}
	}

	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var results []result
	for _, lat := range o.latencies {
		for _, tr := range o.transports {
			for _, target := range o.targets {
				say("%s over %s at %s", targetNames[target], tr, rtt(lat))
				r, err := runOne(ctx, o, exe, db, rdb, users, target, tr, lat, logs)
				if err != nil {
					return results, fmt.Errorf("%s over %s at %s: %w (its log: %s)", target, tr, rtt(lat), err, r.Log)
				}
				if r.Errors > 0 || r.Answered < r.Updates {
					keepLogs = true
				}
				results = append(results, r)
			}
		}
	}
	if l := loadAverage(); l != "" {
		o.notes = append(o.notes, fmt.Sprintf("Load average (1 min) %s before the runs, %s after.", loadBefore, l))
	}
	printTable(stdout, o, results, db.version, redisVersion(ctx, rdb))
	if keepLogs {
		fmt.Fprintf(stdout, "\nThe bots' logs: %s\n", logs)
	} else {
		_ = os.RemoveAll(logs)
	}
	return results, nil
}

// runOne measures one target over one transport at one round trip, with an
// emulator, a process and (for Kabinet) Redis keys of its own.
func runOne(ctx context.Context, o options, exe string, db *database, rdb *redis.Client, users []emulator.User,
	target, transport string, lat time.Duration, logs string) (res result, err error) {
	res = result{Target: target, Transport: transport, Latency: lat, Updates: len(users) * o.messages, Database: db.name}
	name := fmt.Sprintf("%s-%s-%dms", target, transport, lat.Milliseconds())
	res.Log = filepath.Join(logs, name+".log")

	rec := newRecorder()
	emu := emulator.New(emulator.Options{
		BotUser: emulator.User{ID: randomID(7_000_000_000), FirstName: "Kabinet", Username: "kabinet_load_bot"},
		Latency: lat,
		OnCall:  rec.observe,
	})
	defer emu.Close()

	cfg := childConfig{Target: target, Transport: transport, APIURL: emu.URL(), Token: emu.Token()}
	if o.profiles != "" && target == targetKabinet {
		cfg.CPUProfile = filepath.Join(o.profiles, name+".pprof")
	}
	prefix := fmt.Sprintf("kabinet:%d:", emu.Bot().ID)
	if target == targetKabinet {
		res.RedisPrefix = prefix
		cfg.Env = kabinetEnv(o, emu, db, transport)
		defer func() {
			if err := deleteKeys(context.WithoutCancel(ctx), rdb, prefix); err != nil {
				fmt.Fprintln(os.Stderr, "loadgen: could not delete the run's Redis keys:", err)
			}
		}()
	}
	if target == targetKabinet && o.dialogs > 0 {
		used, err := fillDialogs(ctx, rdb, prefix, o.dialogs)
		if err != nil {
			return res, err
		}
		res.Note = fmt.Sprintf("Kabinet over %s at %d ms ran with %d more live dialogs in Redis (%.0f MB of Redis memory).",
			transport, lat.Milliseconds(), o.dialogs, float64(used)/(1<<20))
	}
	child, err := startChild(ctx, exe, cfg, res.Log)
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := child.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	if target == targetKabinet && transport == transportWebhook {
		// Kabinet registered WEBHOOK_URL before it knew its port.
		addr := child.addr
		emu.SetWebhookTarget(func(string) string { return "http://" + addr + "/telegram/webhook" })
	}

	chats := make([]*chatState, len(users))
	rec.mu.Lock()
	for i, u := range users {
		chats[i] = &chatState{user: u, learning: true}
		rec.chats[u.ID] = chats[i]
	}
	rec.mu.Unlock()
	if err := learnAll(ctx, emu, rec, chats); err != nil {
		return res, err
	}

	steps := script(chats, o.messages, o.seed)
	before, err := child.command("begin")
	if err != nil {
		return res, err
	}
	stopProfile := func() {}
	if o.profiles != "" {
		// The emulator's and this tool's share, to tell it from the bot's.
		if f, err := os.Create(filepath.Join(o.profiles, "loadgen-"+name+".pprof")); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				stopProfile = sync.OnceFunc(func() { pprof.StopCPUProfile(); _ = f.Close() })
			} else {
				_ = f.Close()
			}
		}
	}
	defer stopProfile()
	harnessBefore, _ := selfUsage()
	done := rec.startMeasuring(len(steps))
	play(ctx, emu, rec, steps, o.spread)
	select {
	case <-done:
	case <-time.After(o.timeout + o.spread):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	after, err := child.command("end")
	if err != nil {
		return res, err
	}
	harnessAfter, _ := selfUsage()
	stopProfile()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	res.Answered = rec.answered
	if rec.answered > 0 {
		res.PerSecond = float64(rec.answered) / rec.last.Sub(rec.first).Seconds()
	}
	lats := slices.Clone(rec.latencies)
	slices.Sort(lats)
	res.P50, res.P95, res.P99 = percentile(lats, 0.50), percentile(lats, 0.95), percentile(lats, 0.99)
	res.Reorderings = rec.reorders
	res.Refusals = rec.refusals
	res.Errors = rec.refused + (res.Updates - rec.answered) + int(after.Errors-before.Errors)
	res.Warnings = after.Warnings - before.Warnings
	res.MaxRSS = after.MaxRSS
	n := float64(res.Updates)
	res.CPUPerUpdate = time.Duration(float64(after.CPU-before.CPU) / n)
	res.RedisPerUpdate = float64(after.RedisCalls-before.RedisCalls) / n
	res.SQLPerUpdate = float64(after.SQLQueries-before.SQLQueries) / n
	res.HarnessCPUPerUpdate = time.Duration(float64(harnessAfter-harnessBefore) / n)
	return res, nil
}

// learnAll runs learn in every chat, 64 chats at a time.
func learnAll(ctx context.Context, emu *emulator.Server, rec *recorder, chats []*chatState) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	slots := make(chan struct{}, 64)
	for _, ch := range chats {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := learn(ctx, emu, rec, ch); err != nil {
				mu.Lock()
				defer mu.Unlock()
				if first == nil {
					first = err
					cancel()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// kabinetEnv is serve's environment for a run: the emulator, the run's
// database, Redis, fresh secrets, no reply pacing (REPLY_RATE=0: Kabinet
// paces a real chat at about a message a second, which would measure the
// pacing), and what -set adds.
func kabinetEnv(o options, emu *emulator.Server, db *database, transport string) map[string]string {
	env := map[string]string{
		"TELEGRAM_TOKEN":   emu.Token(),
		"TELEGRAM_API_URL": emu.URL(),
		"DATABASE_URL":     db.url,
		"REDIS_URL":        o.redisURL,
		"HTTP_ADDR":        "127.0.0.1:0",
		"CODE_SECRET":      randomHex(32),
		"PAY_LINK_SECRET":  randomHex(32),
		"SMS_PROVIDER":     "memory",
		"INSTANCE_ID":      "loadgen-" + randomHex(4),
		"REPLY_RATE":       "0",
	}
	if transport == transportWebhook {
		// The port is not known yet: the emulator is routed to it once
		// the child says where it listens.
		env["WEBHOOK_URL"] = "http://127.0.0.1:9/telegram/webhook"
		env["WEBHOOK_SECRET"] = randomHex(16)
	}
	for k, v := range o.env {
		env[k] = v
	}
	return env
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

// childProc is a running child and its two pipes.
type childProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	addr  string
	log   *os.File
	once  sync.Once
	err   error
}

// startChild starts this program again as a bot and waits until it is ready.
func startChild(ctx context.Context, exe string, cfg childConfig, logPath string) (*childProc, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	cmd.Stderr = logFile
	in, err := cmd.StdinPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	c := &childProc{cmd: cmd, in: in, lines: make(chan string, 16), log: logFile}
	go func() {
		defer close(c.lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.lines <- s.Text()
		}
	}()
	line, err := c.read(ctx, 2*time.Minute)
	if err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("the bot did not start: %w", err)
	}
	addr, ok := strings.CutPrefix(line, "ready ")
	if !ok && line != "ready" {
		_ = c.stop()
		return nil, fmt.Errorf("the bot said %q at start", line)
	}
	c.addr = strings.TrimSpace(addr)
	return c, nil
}

func (c *childProc) read(ctx context.Context, within time.Duration) (string, error) {
	select {
	case line, ok := <-c.lines:
		if !ok {
			return "", errors.New("the bot exited")
		}
		return line, nil
	case <-time.After(within):
		return "", fmt.Errorf("no answer in %v", within)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// command sends begin or end and reads the stats that answer it.
func (c *childProc) command(cmd string) (childStats, error) {
	var st childStats
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return st, fmt.Errorf("%s: %w", cmd, err)
	}
	line, err := c.read(context.Background(), time.Minute)
	if err != nil {
		return st, fmt.Errorf("%s: %w", cmd, err)
	}
	raw, ok := strings.CutPrefix(line, "stats ")
	if !ok {
		return st, fmt.Errorf("%s: the bot said %q", cmd, line)
	}
	return st, json.Unmarshal([]byte(raw), &st)
}

// stop closes the child's stdin, which makes it stop its bot and exit.
func (c *childProc) stop() error {
	c.once.Do(func() {
		_ = c.in.Close()
		done := make(chan error, 1)
		go func() { done <- c.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				c.err = fmt.Errorf("the bot exited: %w", err)
			}
		case <-time.After(time.Minute):
			_ = c.cmd.Process.Kill()
			<-done
			c.err = errors.New("the bot did not stop within a minute")
		}
		_ = c.log.Close()
	})
	return c.err
}

// printTable writes the results as a Markdown table, with what they were
// measured on and how.
func printTable(w io.Writer, o options, results []result, pgVersion, redisVer string) {
	fmt.Fprintf(w, "Machine: %s; PostgreSQL %s, Redis %s, all on this machine.\n", machine(), pgVersion, redisVer)
	how := "all at once"
	if o.spread > 0 {
		how = fmt.Sprintf("spread over %v (%.0f updates/s offered)", o.spread, float64(o.chats*o.messages)/o.spread.Seconds())
	}
	var parts []string
	for k, w := range mix {
		parts = append(parts, fmt.Sprintf("%s %d%%", kindNames[k], w))
	}
	fmt.Fprintf(w, "Load: %d linked subscribers × %d updates, %s; mix: %s.\n", o.chats, o.messages, how, strings.Join(parts, ", "))
	fmt.Fprintln(w, "Kabinet runs with REPLY_RATE=0: by default it paces a private chat at about one message a second (Telegram's limit), which this load would measure instead of Kabinet. The round trip is added to every Bot API request; webhook deliveries are not delayed.")
	fmt.Fprintln(w, "Latency: from the update's creation to its first reply reaching the emulator. Redis: round trips (a pipeline is one); SQL: statements, BEGIN and COMMIT included; both include the background loops (outbox, timers, heartbeat, scheduler).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | updates via | Bot API RTT | updates/s | p50 | p95 | p99 | reorderings | errors | peak RSS | CPU/update | Redis/update | SQL/update |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		redisCol, sqlCol := "—", "—"
		if r.Target == targetKabinet {
			redisCol, sqlCol = strconv.FormatFloat(r.RedisPerUpdate, 'f', 1, 64), strconv.FormatFloat(r.SQLPerUpdate, 'f', 1, 64)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %s | %s | %d | %d | %.0f MB | %s | %s | %s |\n",
			targetNames[r.Target], r.Transport, rtt(r.Latency), r.PerSecond, ms(r.P50), ms(r.P95), ms(r.P99),
			r.Reorderings, r.Errors, float64(r.MaxRSS)/(1<<20), ms(r.CPUPerUpdate), redisCol, sqlCol)
	}
	// Kabinet against the ordered echo bot under the same conditions.
	for _, r := range results {
		if r.Target != targetKabinet {
			continue
		}
		for _, e := range results {
			if e.Target == targetOrdered && e.Transport == r.Transport && e.Latency == r.Latency && e.PerSecond > 0 {
				fmt.Fprintf(w, "\nKabinet / ordered echo, %s at %s: %.0f%%", r.Transport, rtt(r.Latency), 100*r.PerSecond/e.PerSecond)
			}
		}
	}
	fmt.Fprintln(w)
	var harness []string
	for _, r := range results {
		harness = append(harness, ms(r.HarnessCPUPerUpdate))
	}
	for _, n := range o.notes {
		fmt.Fprintln(w, n)
	}
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintln(w, r.Note)
		}
	}
	fmt.Fprintf(w, "Beside each bot, the emulator and this tool (one process) used %s of CPU per update, in the order of the rows.\n", strings.Join(harness, ", "))
	for _, r := range results {
		if r.Answered < r.Updates {
			fmt.Fprintf(w, "%s over %s at %s: %d of %d updates got no reply in time\n", targetNames[r.Target], r.Transport, rtt(r.Latency), r.Updates-r.Answered, r.Updates)
		}
		for what, n := range r.Refusals {
			fmt.Fprintf(w, "%s over %s at %s: %d × refused: %s\n", targetNames[r.Target], r.Transport, rtt(r.Latency), n, what)
		}
		if r.Warnings > 0 {
			fmt.Fprintf(w, "%s over %s at %s: %d warnings in its log\n", targetNames[r.Target], r.Transport, rtt(r.Latency), r.Warnings)
		}
		if r.Target == targetKabinet && r.Reorderings > 0 {
			fmt.Fprintf(w, "Kabinet over %s at %s answered %d updates out of their chat's order: it must never\n", r.Transport, rtt(r.Latency), r.Reorderings)
		}
	}
}

// ms writes a duration in milliseconds, with a precision that suits it.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

// rtt writes a round trip as people say it: "0 ms", "20 ms".
func rtt(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }
