package emulator

import (
	"context"
	"net/http"
	"time"
)

// The network between the bot and Telegram (Options.Latency): a request
// reaches the emulator half a round trip after the bot sent it, and the
// answer reaches the bot half a round trip after the emulator wrote it. A
// load test sets it to Telegram's real round trip (tens of milliseconds
// from a data centre in Russia), so that parallelism is measured against
// waiting, not against this machine's cores.

// travel waits out the request's way to the emulator and returns the
// writer that holds the answer back for its way to the bot. With no
// Latency it returns w as it is.
func (s *Server) travel(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	half := s.opts.Latency / 2
	if half <= 0 {
		return w
	}
	sleepCtx(r.Context(), half)
	return &delayedWriter{ResponseWriter: w, ctx: r.Context(), delay: s.opts.Latency - half}
}

// delayedWriter sleeps once, before the answer's first byte or header.
type delayedWriter struct {
	http.ResponseWriter
	ctx   context.Context
	delay time.Duration
	slept bool
}

func (d *delayedWriter) wait() {
	if !d.slept {
		d.slept = true
		sleepCtx(d.ctx, d.delay)
	}
}

func (d *delayedWriter) WriteHeader(code int) {
	d.wait()
	d.ResponseWriter.WriteHeader(code)
}

func (d *delayedWriter) Write(b []byte) (int, error) {
	d.wait()
	return d.ResponseWriter.Write(b)
}

// Flush keeps http.Flusher working through the wrapper.
func (d *delayedWriter) Flush() {
	d.wait()
	if f, ok := d.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// sleepCtx sleeps d, or less when ctx ends (the bot gave up on the request).
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
