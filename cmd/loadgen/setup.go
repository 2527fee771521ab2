package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/app"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/notices"
)

// database is the run's own PostgreSQL database: migrated, with the demo
// data of `kabinet demo-data`, and the subscribers linked, as if each had
// linked an account earlier. Drop removes it.
type database struct {
	url     string // the database's URL, for Kabinet
	admin   string // the server's maintenance database, to drop it
	name    string
	version string
	// free is how many more connections the server took at the start.
	free int
}

// newDatabase creates the database on the server of serverURL (a URL whose
// database name is replaced) and links users to the demo accounts that are
// not closed, in turn.
func newDatabase(ctx context.Context, serverURL string, users []emulator.User) (_ *database, err error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	db := &database{name: "loadgen_" + randomHex(6)}
	u.Path = "/postgres"
	db.admin = u.String()
	u.Path = "/" + db.name
	db.url = u.String()

	pool, err := app.OpenDB(ctx, db.url, 8) // creates the database
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	defer func() {
		if err != nil {
			pool.Close()
			_ = db.drop(context.WithoutCancel(ctx))
		}
	}()
	if err := app.LoadDemo(ctx, pool); err != nil {
		return nil, err
	}
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&db.version); err != nil {
		return nil, err
	}
	if err := pool.QueryRow(ctx, `
SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
       - (SELECT count(*) FROM pg_stat_activity)`).Scan(&db.free); err != nil {
		return nil, err
	}
	store := dialogs.NewAccounts(postgres.New(pool), kabinetdb.NewLinks(pool))
	var accounts []int64
	for n := 1000000001; n <= 1000000099; n++ {
		acc, err := store.AccountByNumber(ctx, fmt.Sprint(n))
		if errors.Is(err, billing.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		if acc.Status != billing.StatusClosed {
			accounts = append(accounts, acc.ID)
		}
	}
	if len(accounts) == 0 {
		return nil, errors.New("the demo data has no open accounts")
	}
	// A subscriber's low-balance notice (1000000002's money lasts 3 days)
	// would be a bot message in the chat that answers no update of the
	// load: they are off, as a person may turn them off in 🔔 Уведомления.
	prefs := notices.NewStore(pool, 0)
	for i, user := range users {
		acc := accounts[i%len(accounts)]
		if err := store.Link(ctx, user.ID, acc, 5); err != nil {
			return nil, fmt.Errorf("link a subscriber: %w", err)
		}
		p, err := prefs.NoticePrefs(ctx, user.ID, acc)
		if err == nil {
			p.Low = false
			err = prefs.SetNoticePrefs(ctx, user.ID, acc, p)
		}
		if err != nil {
			return nil, fmt.Errorf("a subscriber's notices: %w", err)
		}
	}
	return db, nil
}

// drop removes the database, even with a connection still open to it.
func (db *database) drop(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, db.admin)
	if err != nil {
		return fmt.Errorf("drop %s: %w", db.name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.name}.Sanitize()+" WITH (FORCE)")
	return err
}

// fillDialogs writes n dialogs of subscribers who are not part of the run
// (a linked account in hand, in Russian), as Kabinet keeps them (hash
// "v", "s" with a day's TTL), and returns the Redis memory they took.
func fillDialogs(ctx context.Context, rdb *redis.Client, prefix string, n int) (int64, error) {
	before := usedMemory(ctx, rdb)
	const batch = 1000
	for start := 0; start < n; start += batch {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+batch, n); i++ {
				chat := 9_000_000_000 + int64(i)
				key := fmt.Sprintf("%s{c%d}:dlg:%d", prefix, chat, chat)
				p.HSet(ctx, key, "v", 3, "s", fmt.Sprintf(`{"lang":"ru","lang_loaded":true,"account":%d}`, 1000000+i%700000))
				p.Expire(ctx, key, 24*time.Hour)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("write %d dialogs: %w", n, err)
		}
	}
	return usedMemory(ctx, rdb) - before, nil
}

// usedMemory is the server's used_memory, in bytes.
func usedMemory(ctx context.Context, rdb *redis.Client) int64 {
	info, _ := rdb.Info(ctx, "memory").Result()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// deleteKeys removes every key under prefix: a Kabinet run's Redis state.
func deleteKeys(ctx context.Context, rdb *redis.Client, prefix string) error {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) > 0 {
		return rdb.Unlink(ctx, keys...).Err()
	}
	return nil
}

// redisVersion is the server's redis_version.
func redisVersion(ctx context.Context, rdb *redis.Client) string {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}

// loadAverage is the system's load over the last minute, "" where unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// machine names the CPU this runs on.
func machine() string {
	model := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d × %s, %s %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// randomID is a random positive id below 2^40, plus offset.
func randomID(offset int64) int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>24) + offset
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
