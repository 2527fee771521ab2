package bot

import (
	"context"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/metrics"
)

// The update kinds of the updates' metrics. Telegram has more kinds; the
// bot asks for message, edited_message, callback_query and my_chat_member
// (serve's allowedUpdates), of which the last two count as other.
const (
	KindMessage  = "message"
	KindCallback = "callback"
	KindOther    = "other"
)

// UpdateKind is upd's kind for the metrics: message, callback or other.
func UpdateKind(upd *models.Update) string {
	switch {
	case upd.Message != nil:
		return KindMessage
	case upd.CallbackQuery != nil:
		return KindCallback
	default:
		return KindOther
	}
}

// The outcomes of kabinet_updates_total.
const (
	OutcomeHandled = "handled" // Process returned nil: the update may be acknowledged
	OutcomeFailed  = "failed"  // an error or a panic: Telegram delivers it again
)

// measuredProcessor is a Processor that measures another.
type measuredProcessor struct {
	next     Processor
	duration *prometheus.HistogramVec
	updates  *prometheus.CounterVec
}

// UpdateBuckets are the buckets, in seconds, of an update's handling:
// from a few milliseconds (a duplicate, a turn without replies) to the
// 10 s one Bot API call may take and beyond.
var UpdateBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// MeasureProcessor wraps p so that every update it handles is counted by
// kind and outcome (kabinet_updates_total) and timed by kind
// (kabinet_update_duration_seconds). The time runs from the moment a worker
// hands the update to p to the moment p returns, that is until the turn is
// saved and its replies sent, or parked when Telegram cannot take them
// now: the update-to-reply time the bot itself adds. The wait in the
// sequencer's queue behind the chat's earlier updates is not in it.
func MeasureProcessor(p Processor, reg prometheus.Registerer) Processor {
	m := &measuredProcessor{
		next: p,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace,
			Name:      "update_duration_seconds",
			Help:      "Time from a worker taking an update to its turn saved and its replies sent or parked, by kind (message, callback, other).",
			Buckets:   UpdateBuckets,
		}, []string{"kind"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace,
			Name:      "updates_total",
			Help:      "Updates processed, by kind (message, callback, other) and outcome (handled: may be acknowledged; failed: delivered again). A duplicate dropped by de-duplication counts as handled.",
		}, []string{"kind", "outcome"}),
	}
	reg.MustRegister(m.duration, m.updates)
	// Every series exists from the start, at 0, so that a rate over the
	// first failure is not lost for want of an earlier sample.
	for _, k := range []string{KindMessage, KindCallback, KindOther} {
		m.duration.WithLabelValues(k)
		for _, o := range []string{OutcomeHandled, OutcomeFailed} {
			m.updates.WithLabelValues(k, o)
		}
	}
	return m
}

// Process implements Processor. A panic in next is counted as failed and
// goes on up to the sequencer, which recovers it.
func (m *measuredProcessor) Process(ctx context.Context, upd *models.Update) (err error) {
	kind := UpdateKind(upd)
	start := time.Now()
	returned := false
	defer func() {
		outcome := OutcomeHandled
		if err != nil || !returned {
			outcome = OutcomeFailed
		}
		m.updates.WithLabelValues(kind, outcome).Inc()
		m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	}()
	err = m.next.Process(ctx, upd)
	returned = true
	return err
}
