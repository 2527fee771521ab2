package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// readyTimeout bounds /readyz's pings: a load balancer asks often and
// wants an answer, not a hang, from an instance whose Redis hangs.
const readyTimeout = time.Second

// ready answers 200 when this instance should get traffic: not draining
// (serve's shutdown has begun: it finishes the updates in hand and takes no
// new ones), and PostgreSQL and Redis both answer within readyTimeout.
// Otherwise 503, with the reason as the body. /healthz stays the liveness
// check.
func ready(pool *pgxpool.Pool, rdb redis.UniversalClient, draining *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			http.Error(w, "postgres unavailable", http.StatusServiceUnavailable)
			return
		}
		if err := rdb.Ping(ctx).Err(); err != nil {
			http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

// servePprof serves net/http/pprof's profiles at addr (PPROF_ADDR) on a
// listener of its own, never on HTTP_ADDR, which may face the internet for
// the webhook: the profiles have no login. It returns the address it
// listens on and the function that stops it.
func servePprof(addr string, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("PPROF_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No WriteTimeout: a CPU profile or a trace streams for as long as its
	// ?seconds= asks.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Warn("pprof server stopped", "err", err)
		}
	}()
	log.Info("serving profiles", "pprof_addr", ln.Addr().String())
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
