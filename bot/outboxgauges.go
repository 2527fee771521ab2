package bot

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/metrics"
	"github.com/kabinet-bot/kabinet/state"
)

// outboxStore is what the outbox gauges read; *state.Store has it.
type outboxStore interface {
	PendingCount(ctx context.Context) (int64, error)
	ParkedChats(ctx context.Context, now time.Time) (int64, error)
}

var _ outboxStore = (*state.Store)(nil)

var (
	outboxPendingDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "", "outbox_pending_chats"),
		"Conversations (chats, forum topics) with replies waiting in their outbox, due or parked, for the whole bot (every instance reads the same Redis).", nil, nil)
	outboxParkedDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "", "outbox_parked_chats"),
		"Chats whose waiting replies are parked for a retry later (after a 429, a 5xx or no answer), for the whole bot.", nil, nil)
)

// outboxGaugeTimeout bounds the Redis calls of one scrape, which must not
// hang when Redis does.
const outboxGaugeTimeout = time.Second

// RegisterOutboxGauges exposes, at each scrape, how many chats have
// replies waiting (kabinet_outbox_pending_chats) and how many of them are
// parked (kabinet_outbox_parked_chats), read from store. The numbers are
// the bot's, not this instance's: aggregate them with max, not sum. While
// Redis does not answer, the two are left out of the scrape, and the error
// is in the log.
func RegisterOutboxGauges(reg prometheus.Registerer, store outboxStore) {
	reg.MustRegister(&outboxCollector{store: store})
}

type outboxCollector struct{ store outboxStore }

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxPendingDesc
	ch <- outboxParkedDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), outboxGaugeTimeout)
	defer cancel()
	if n, err := c.store.PendingCount(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(outboxPendingDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(n))
	}
	if n, err := c.store.ParkedChats(ctx, time.Now()); err != nil {
		ch <- prometheus.NewInvalidMetric(outboxParkedDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(outboxParkedDesc, prometheus.GaugeValue, float64(n))
	}
}
