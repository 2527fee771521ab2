package bot

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/metrics"
)

// pipelineMetrics are what only the processor sees: updates dropped as
// duplicates, conversations parked and why, how long a turn waited for its
// conversation's lock, and the effects run. Nil instruments (no
// SetMetrics) count nothing.
type pipelineMetrics struct {
	duplicates prometheus.Counter
	parks      *prometheus.CounterVec
	lockWait   prometheus.Histogram
	effects    *prometheus.CounterVec
}

// The reasons of kabinet_parks_total.
const (
	parkRetryAfter = "retry_after" // a 429: exactly its retry_after
	parkFailure    = "failure"     // a 5xx, no answer, an effect or receipt failing: a growing pause
	parkLane       = "lane"        // the chat's or the group's budget: no failure
)

// SetMetrics registers the processor's own metrics with reg.
func (p *UpdateProcessor) SetMetrics(reg prometheus.Registerer) {
	m := pipelineMetrics{
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "duplicate_updates_total",
			Help: "Updates seen before (delivered again after a crash or a lost answer) and dropped."}),
		parks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "parks_total",
			Help: "Times a conversation's outbox was put aside to be tried later, by reason."}, []string{"reason"}),
		lockWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: metrics.Namespace, Name: "lock_wait_seconds",
			Help: "How long a turn waited for its conversation's lock.", Buckets: metrics.CallBuckets}),
		effects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "effects_total",
			Help: "Effects run after their turn (an SMS gateway, a payment provider), by verb and result."}, []string{"verb", "result"}),
	}
	for _, r := range []string{parkRetryAfter, parkFailure, parkLane} {
		m.parks.WithLabelValues(r)
	}
	reg.MustRegister(m.duplicates, m.parks, m.lockWait, m.effects)
	p.metrics = m
}

func (m pipelineMetrics) duplicate() {
	if m.duplicates != nil {
		m.duplicates.Inc()
	}
}

func (m pipelineMetrics) parked(reason string) {
	if m.parks != nil {
		m.parks.WithLabelValues(reason).Inc()
	}
}

func (m pipelineMetrics) waited(d time.Duration) {
	if m.lockWait != nil {
		m.lockWait.Observe(d.Seconds())
	}
}

func (m pipelineMetrics) effect(verb string, err error) {
	if m.effects == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "retry"
	}
	m.effects.WithLabelValues(verb, result).Inc()
}
