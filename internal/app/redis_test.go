package app

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/internal/redistest"
)

// TestRedisURLOverridesLimits: openRedis's limits apply where REDIS_URL says
// nothing, and the URL's query parameters win where it does.
func TestRedisURLOverridesLimits(t *testing.T) {
	opts, err := redisOptions("redis://localhost:6379/0", 64)
	if err != nil {
		t.Fatal(err)
	}
	if opts.DialTimeout != redisDialTimeout || opts.ReadTimeout != redisReadTimeout || opts.WriteTimeout != redisWriteTimeout ||
		opts.PoolTimeout != redisPoolTimeout || opts.MaxRetries != redisMaxRetries || opts.DialerRetries != 1 ||
		opts.PoolSize != max(128, 10*runtime.GOMAXPROCS(0)) || opts.PipelinePoolSize != -1 {
		t.Errorf("defaults: dial %v read %v write %v pool %v retries %d dialer retries %d pool size %d pipeline pool size %d",
			opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout, opts.MaxRetries, opts.DialerRetries, opts.PoolSize, opts.PipelinePoolSize)
	}
	opts, err = redisOptions("redis://localhost:6379/2?dial_timeout=3s&read_timeout=4s&write_timeout=5s&pool_timeout=6s&max_retries=7&pool_size=8&pipeline_pool_size=9", 64)
	if err != nil {
		t.Fatal(err)
	}
	if opts.DialTimeout != 3*time.Second || opts.ReadTimeout != 4*time.Second || opts.WriteTimeout != 5*time.Second ||
		opts.PoolTimeout != 6*time.Second || opts.MaxRetries != 7 || opts.PoolSize != 8 || opts.PipelinePoolSize != 9 || opts.DB != 2 {
		t.Errorf("overridden: dial %v read %v write %v pool %v retries %d pool size %d pipeline pool size %d db %d",
			opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout, opts.MaxRetries, opts.PoolSize, opts.PipelinePoolSize, opts.DB)
	}
	// -1 is go-redis's "no retries": passed through, not replaced.
	if opts, err := redisOptions("redis://localhost:6379/0?max_retries=-1", 64); err != nil || opts.MaxRetries != -1 {
		t.Errorf("max_retries=-1: %v, %v", opts, err)
	}
	if opts, err := redisOptions("redis://localhost:6379/0", 100000); err != nil || opts.PoolSize != redisMaxPoolSize {
		t.Errorf("WORKERS=100000: pool size %v, %v; want %d", opts.PoolSize, err, redisMaxPoolSize)
	}
	if _, err := redisOptions("redis://localhost:6379/0?read_timeout=soon", 64); err == nil {
		t.Error("a bad read_timeout was accepted")
	}
}

// silentListener accepts connections and never answers: a Redis host that
// hangs, or a firewall that swallows the traffic.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

// freezingProxy forwards to the test Redis until freeze is called; from
// then on it forwards nothing and answers nothing, on the connections the
// client already pooled and on new ones: Redis hanging mid-life.
func freezingProxy(t *testing.T) (addr string, freeze func()) {
	t.Helper()
	target, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frozen, stopped := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var conns []net.Conn
	keep := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		once.Do(func() { close(frozen) })
		close(stopped)
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			select {
			case <-frozen:
				<-stopped // swallowed
				return
			default:
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			keep(c)
			select {
			case <-frozen:
				continue // accepted, never answered
			default:
			}
			up, err := net.Dial("tcp", target.Addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			keep(up)
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return ln.Addr().String(), func() { once.Do(func() { close(frozen) }) }
}

// closedPort is an address where nothing listens: Redis stopped.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

var failFastScript = redis.NewScript(`return redis.call('GET', KEYS[1])`)

// TestRedisFailsFastWhenDown: with openRedis's options, every kind of call
// a turn makes (a command, a script, a pipeline), one at a time and 64 at
// once (WORKERS' default), returns an error within 3 s when Redis is
// stopped, when it accepts and never answers, and when it hangs after the
// client has pooled connections.
func TestRedisFailsFastWhenDown(t *testing.T) {
	const limit = 3 * time.Second
	calls := map[string]func(context.Context, *redis.Client) error{
		"command": func(ctx context.Context, rdb *redis.Client) error {
			return rdb.SetNX(ctx, "kabinet:failfast:lock", "x", time.Second).Err()
		},
		"script": func(ctx context.Context, rdb *redis.Client) error {
			return failFastScript.Run(ctx, rdb, []string{"kabinet:failfast:k"}).Err()
		},
		"pipeline": func(ctx context.Context, rdb *redis.Client) error {
			_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.LRange(ctx, "kabinet:failfast:l", 0, -1)
				p.Exists(ctx, "kabinet:failfast:k")
				return nil
			})
			return err
		},
	}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T) (addr string, down func(*redis.Client))
	}{
		{"stopped", func(t *testing.T) (string, func(*redis.Client)) { return closedPort(t), nil }},
		{"silent", func(t *testing.T) (string, func(*redis.Client)) { return silentListener(t), nil }},
		{"hangs with pooled connections", func(t *testing.T) (string, func(*redis.Client)) {
			addr, freeze := freezingProxy(t)
			return addr, func(rdb *redis.Client) {
				// Fill the pool while Redis answers, then freeze.
				var wg sync.WaitGroup
				for range 64 {
					wg.Go(func() {
						if err := rdb.Ping(context.Background()).Err(); err != nil {
							t.Errorf("ping through the proxy before the freeze: %v", err)
						}
					})
				}
				wg.Wait()
				freeze()
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr, down := c.setup(t)
			opts, err := redisOptions("redis://"+addr+"/0", 64)
			if err != nil {
				t.Fatal(err)
			}
			rdb := redis.NewClient(opts)
			t.Cleanup(func() { _ = rdb.Close() })
			if down != nil {
				down(rdb)
			}
			ctx := context.Background()
			for _, name := range []string{"command", "script", "pipeline"} {
				for i := range 2 {
					start := time.Now()
					err := calls[name](ctx, rdb)
					d := time.Since(start)
					if err == nil || d > limit {
						t.Errorf("%s #%d: %v after %v; want an error within %v", name, i+1, err, d, limit)
					}
					t.Logf("%s #%d: %v: %v", name, i+1, d.Round(time.Millisecond), err)
				}
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				slowest time.Duration
				errs    []error
			)
			for i := range 64 {
				wg.Go(func() {
					start := time.Now()
					err := calls[[]string{"command", "script", "pipeline"}[i%3]](ctx, rdb)
					d := time.Since(start)
					mu.Lock()
					defer mu.Unlock()
					slowest = max(slowest, d)
					if err == nil {
						errs = append(errs, errors.New("a call succeeded"))
					}
				})
			}
			wg.Wait()
			if len(errs) > 0 || slowest > limit {
				t.Errorf("64 calls at once: %d succeeded, the slowest took %v; want all to fail within %v", len(errs), slowest, limit)
			}
			t.Logf("64 calls at once: the slowest failed after %v", slowest.Round(time.Millisecond))
		})
	}
}
