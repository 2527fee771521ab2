package support

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/metrics"
)

var requestsDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "", "support_requests"),
	"Support requests by status, for the whole bot (read from PostgreSQL at each scrape): a queue an operator can watch.", []string{"status"}, nil)

// statuses are the values of kabinet_support_requests' status label.
var statuses = []string{"new", "work", "waiting", "solved", "closed"}

// RegisterMetrics exposes how many requests stand in each status
// (kabinet_support_requests), counted at each scrape.
func (s *Store) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(&requestsCollector{store: s})
}

type requestsCollector struct{ store *Store }

func (c *requestsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- requestsDesc }

func (c *requestsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	counts := map[string]int64{}
	rows, err := c.store.pool.Query(ctx, `SELECT status, count(*) FROM support_requests GROUP BY status`)
	if err == nil {
		for rows.Next() {
			var status string
			var n int64
			if err = rows.Scan(&status, &n); err != nil {
				break
			}
			counts[status] = n
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(requestsDesc, err)
		return
	}
	for _, st := range statuses {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}
