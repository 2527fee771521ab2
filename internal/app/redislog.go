package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// go-redis prints its own messages (a dial that failed during an outage, a
// pool problem) with the standard log package to stderr, as lines like
// "redis: 2026/01/02 10:00:00 pool.go:770: redis: connection pool: failed to
// dial ...", which break a JSON log. routeRedisLog sends them through the
// bot's logger instead: one line each, at warn level, msg "redis client"
// and the text in "detail". go-redis has one logger per process, so the
// serve that started last gets them; in production that is the only one.
//
// go-redis's messages hold addresses, counts and error texts, never a
// command's arguments, so no key and no personal data; the Redis password
// is removed all the same, should an error ever quote it.

type redisLogTarget struct {
	log     *slog.Logger
	secrets []string
}

type redisLogger struct {
	target atomic.Pointer[redisLogTarget]
}

var (
	redisLog        redisLogger
	redisLogInstall sync.Once
)

// routeRedisLog makes go-redis log to log from now on, with each of the
// non-empty secrets replaced by "<redacted>".
func routeRedisLog(log *slog.Logger, secrets ...string) {
	t := &redisLogTarget{log: log}
	for _, s := range secrets {
		if s != "" {
			t.secrets = append(t.secrets, s)
		}
	}
	redisLog.target.Store(t)
	redisLogInstall.Do(func() { redis.SetLogger(&redisLog) })
}

// Printf implements go-redis's internal.Logging.
func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	t := l.target.Load()
	if t == nil {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	detail := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	for _, s := range t.secrets {
		detail = strings.ReplaceAll(detail, s, "<redacted>")
	}
	t.log.WarnContext(ctx, "redis client", "detail", detail)
}

// redisPassword is REDIS_URL's password, or "" (also for a URL that does
// not parse: openRedis reports that).
func redisPassword(redisURL string) string {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return ""
	}
	return opts.Password
}
