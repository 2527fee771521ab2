package sms

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/metrics"
)

// The results of kabinet_sms_sent_total.
const (
	ResultOK      = "ok"      // the provider took the text
	ResultInvalid = "invalid" // refused before sending: not an E.164 number, or no text
	ResultTimeout = "timeout" // the provider did not answer in time
	ResultError   = "error"   // the provider refused it or could not be reached
)

// measured is a Sender that counts what another sends.
type measured struct {
	next     Sender
	sent     *prometheus.CounterVec
	duration prometheus.Histogram
}

// Measure wraps s so that every text it is given is counted by result
// (kabinet_sms_sent_total) and timed (kabinet_sms_send_duration_seconds).
// Neither the number nor the text is in a label.
func Measure(s Sender, reg prometheus.Registerer) Sender {
	m := &measured{
		next: s,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace,
			Name:      "sms_sent_total",
			Help:      "SMS texts (codes, notices) handed to the provider, by result: ok, invalid (refused before sending), timeout, error.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace,
			Name:      "sms_send_duration_seconds",
			Help:      "Time the SMS provider took to take or refuse one text.",
			Buckets:   metrics.CallBuckets,
		}),
	}
	reg.MustRegister(m.sent, m.duration)
	for _, r := range []string{ResultOK, ResultInvalid, ResultTimeout, ResultError} {
		m.sent.WithLabelValues(r)
	}
	return m
}

// Send implements Sender.
func (m *measured) Send(ctx context.Context, to, text string) error {
	start := time.Now()
	err := m.next.Send(ctx, to, text)
	m.duration.Observe(time.Since(start).Seconds())
	m.sent.WithLabelValues(Result(err)).Inc()
	return err
}

// Result is the label of a Send's error.
func Result(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrBadNumber) || errors.Is(err, ErrEmptyText):
		return ResultInvalid
	case metrics.IsTimeout(err):
		return ResultTimeout
	default:
		return ResultError
	}
}
