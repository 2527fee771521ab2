package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

// /readyz is 200 only when PostgreSQL and Redis both answer and the bot is
// not draining; each 503 says why, within about readyTimeout.
func TestReadyAnswersForEachDependency(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	rdb, _ := redistest.New(t)
	deadPool, err := pgxpool.New(context.Background(), "postgres://postgres@"+closedPort(t)+"/kabinet?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPool.Close)
	deadRedis := redis.NewClient(&redis.Options{Addr: closedPort(t), DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { deadRedis.Close() })
	var live, draining atomic.Bool
	draining.Store(true)

	for _, c := range []struct {
		name     string
		handler  http.Handler
		code     int
		wantBody string
	}{
		{"both answer", ready(pool, rdb, &live), http.StatusOK, "ready"},
		{"redis at a closed port", ready(pool, deadRedis, &live), http.StatusServiceUnavailable, "redis unavailable"},
		{"postgres at a closed port", ready(deadPool, rdb, &live), http.StatusServiceUnavailable, "postgres unavailable"},
		{"draining", ready(pool, rdb, &draining), http.StatusServiceUnavailable, "draining"},
	} {
		start := time.Now()
		w := httptest.NewRecorder()
		c.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if took := time.Since(start); took > readyTimeout+time.Second {
			t.Errorf("%s: answered after %v", c.name, took)
		}
		if w.Code != c.code || strings.TrimSpace(w.Body.String()) != c.wantBody {
			t.Errorf("%s: %d %q, want %d %q", c.name, w.Code, w.Body.String(), c.code, c.wantBody)
		}
	}
}
