package notices

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/metrics"
)

// metricKinds and metricResults are the values of kabinet_notices_total's
// labels: every kind of notice, and what became of one.
var (
	metricKinds   = []string{string(KindLow), string(KindLastDay), string(KindBlocked), string(KindOutage), string(KindOutageEnd), "payment", "trust"}
	metricResults = []string{"sent", "blocked", "canceled", "failed", "retry"}
)

// RegisterMetrics counts this instance's notices by kind and outcome
// (kabinet_notices_total): sent, blocked (the chat blocked the bot),
// canceled (no longer true, or no longer wanted), failed (given up), retry
// (a send failed and is tried again later). Sum it over the instances.
func (s *Scheduler) RegisterMetrics(reg prometheus.Registerer) {
	s.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "notices_total",
		Help: "Notices this instance finished, by kind and outcome (sent, blocked, canceled, failed, retry).",
	}, []string{"kind", "result"})
	for _, k := range metricKinds {
		for _, r := range metricResults {
			s.outcomes.WithLabelValues(k, r)
		}
	}
	reg.MustRegister(s.outcomes)
}

// count records one outcome, when metrics are on.
func (s *Scheduler) count(kind, result string) {
	if s.outcomes != nil {
		s.outcomes.WithLabelValues(kind, result).Inc()
	}
}
