package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

// The test binary is also the bots' process: runAll starts it again with
// childEnv set, as it starts loadgen itself.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(childMain(cfg))
	}
	os.Exit(m.Run())
}

// A tiny load (3 chats, 6 updates each, a 5 ms round trip) through Kabinet
// and the ordered echo bot over both transports: every update is answered,
// in its chat's order, with no error; Kabinet's Redis and SQL counts
// arrive; the table has a row per run; and the run leaves neither its
// database nor Redis keys behind. Timing is printed, never checked.
func TestATinyLoadRunCompletes(t *testing.T) {
	o, err := parseFlags([]string{
		"-chats", "3", "-messages", "6", "-latency", "5ms",
		"-targets", "kabinet,ordered", "-transports", "polling,webhook",
		"-db", pgtest.AdminURL(), "-redis", redistest.URL(),
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out, stderr bytes.Buffer
	results, err := runAll(ctx, o, &out, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	t.Logf("\n%s", out.String())
	if len(results) != 4 {
		t.Fatalf("%d results, want 4 (2 targets × 2 transports)", len(results))
	}
	for _, r := range results {
		name := r.Target + " over " + r.Transport
		if r.Updates != 18 || r.Answered != r.Updates {
			t.Errorf("%s: %d of %d updates answered, want all 18", name, r.Answered, r.Updates)
		}
		if r.Reorderings != 0 || r.Errors != 0 {
			t.Errorf("%s: %d reorderings, %d errors (%v); want none (log: %s)", name, r.Reorderings, r.Errors, r.Refusals, r.Log)
		}
		if r.PerSecond <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.MaxRSS <= 0 {
			t.Errorf("%s: %.0f updates/s, p50 %v, p99 %v, RSS %d: a figure is missing", name, r.PerSecond, r.P50, r.P99, r.MaxRSS)
		}
		if r.Target == targetKabinet && (r.RedisPerUpdate < 1 || r.SQLPerUpdate <= 0) {
			t.Errorf("%s: %.1f Redis round trips and %.1f SQL statements an update: the hooks did not count", name, r.RedisPerUpdate, r.SQLPerUpdate)
		}
		if !strings.Contains(out.String(), "| "+targetNames[r.Target]+" | "+r.Transport+" | 5 ms |") {
			t.Errorf("no table row for %s", name)
		}
	}

	rdb := redis.NewClient(mustRedisOptions(t))
	defer rdb.Close()
	for _, r := range results {
		if r.RedisPrefix == "" {
			continue
		}
		if keys, err := rdb.Keys(ctx, r.RedisPrefix+"*").Result(); err != nil || len(keys) > 0 {
			t.Errorf("%s over %s left %d Redis keys (%v)", r.Target, r.Transport, len(keys), err)
		}
	}
	conn, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", results[0].Database).Scan(&left); err != nil || left {
		t.Errorf("the database %s is still there (%v)", results[0].Database, err)
	}
}

func mustRedisOptions(t *testing.T) *redis.Options {
	t.Helper()
	opts, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// Wrong flags are refused with a word on which.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-targets", "kabinet,nginx"}, {"-transports", "carrier-pigeon"}, {"-latency", "soon"}, {"-chats", "0"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	o, err := parseFlags([]string{"-latency", "0, 20ms", "-set", "WORKERS=128"}, io.Discard)
	if err != nil || len(o.latencies) != 2 || o.latencies[1].Milliseconds() != 20 || o.env["WORKERS"] != "128" || len(o.targets) != 3 || len(o.transports) != 2 {
		t.Errorf("defaults and lists: %+v, %v", o, err)
	}
}

// The recorder pairs replies with updates by their look and by the button
// press's id, and counts a reply that overtakes an earlier update of its
// chat: otherwise "0 reorderings" above would prove nothing.
func TestRecorderCountsReorderings(t *testing.T) {
	rec := newRecorder()
	now := time.Now()
	msg := func(text string) emulator.Call {
		return emulator.Call{Method: "sendMessage", OK: true, Time: now, Params: map[string]any{"chat_id": int64(42), "text": text}}
	}
	ch := &chatState{}
	// Learned from another balance: the digits do not count.
	ch.sigs[kindBalance], ch.sigs[kindOffices] = signature(msg("Лицевой счёт 1000000001\nТариф")), signature(msg("Офисы\nТомск"))
	rec.chats[42] = ch
	done := rec.startMeasuring(3)
	rec.sending(ch, kindBalance)
	rec.sending(ch, kindOffices)
	press := rec.sending(ch, kindRefresh)
	rec.pressed(press, "q1")
	rec.observe(msg("Офисы\nМосква"))                                                                                                 // overtakes the balance
	rec.observe(msg("Главное меню"))                                                                                                  // a second reply: matches nothing
	rec.observe(emulator.Call{Method: "answerCallbackQuery", OK: true, Time: now, Params: map[string]any{"callback_query_id": "q1"}}) // overtakes it too
	rec.observe(msg("Лицевой счёт 1000000004\nТариф"))
	rec.observe(emulator.Call{Method: "editMessageText", OK: false, Description: "Bad Request: message is not modified"})
	rec.observe(emulator.Call{Method: "sendMessage", OK: false, Description: "Bad Request: message text is empty"})
	select {
	case <-done:
	default:
		t.Fatalf("%d of 3 answered", rec.answered)
	}
	if rec.reorders != 2 || rec.refused != 1 || len(rec.latencies) != 3 || len(ch.pending) != 0 {
		t.Errorf("%d reorderings (want 2), %d refused (want 1, the empty text), %d latencies, %d pending", rec.reorders, rec.refused, len(rec.latencies), len(ch.pending))
	}
}
