// Package metrics is Kabinet's Prometheus side: the registry one process
// exposes on GET /metrics, and the instruments of what every feature goes
// through (Redis, PostgreSQL). A feature measures itself in its own package
// (bot for updates and Bot API calls, sms for texts sent), registering its
// instruments in the prometheus.Registerer it is given, under Namespace.
//
// Each serve has a registry of its own, never the prometheus default one:
// the end-to-end tests run several serve in one process, and a metric of
// one must not count another's work.
//
// Labels stay low-cardinality and impersonal: a method, a command, a kind,
// a result; never a chat, a user, an account or a phone.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace starts the name of every Kabinet metric: kabinet_updates_total.
const Namespace = "kabinet"

// CallBuckets are the latency buckets, in seconds, of one call to a
// dependency (a Redis command, a PostgreSQL query, a Bot API request):
// from a fraction of a millisecond, which is what a Redis call on the same
// network takes, to the 10 s past which every such call of Kabinet's has
// given up.
var CallBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewRegistry is a fresh registry with the Go runtime's and the process's
// own metrics (go_*, process_*) already in it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves g's metrics in Prometheus's text format (or OpenMetrics,
// when the scraper asks for it). A collector that fails (Redis down for the
// outbox gauges) leaves out its own series and is logged; the rest are
// still served, so an outage does not blank the dashboard that shows it.
func Handler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          errorLog{log},
		EnableOpenMetrics: true,
	})
}

// errorLog lets promhttp write into the JSON log.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Println(v ...any) {
	if e.log != nil {
		e.log.Warn("metrics", "detail", slog.AnyValue(v).String())
	}
}

// IsTimeout reports whether err is a call that ran out of time, as opposed
// to one that was refused or failed otherwise: a deadline of its context,
// or a network timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
