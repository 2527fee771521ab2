package postgres

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var selfServiceDesc = prometheus.NewDesc("kabinet_selfservice_changes_total",
	"Changes subscribers made through the bot's self-service, by action, read from the audit trail at each scrape.",
	[]string{"action"}, nil)

// selfServiceActions are the audit trail's actions, each always reported.
var selfServiceActions = []string{"freeze", "unfreeze", "tariff", "tariff_cancel", "service_on", "service_off"}

// RegisterSelfServiceMetrics exposes the self-service's changes by action
// (kabinet_selfservice_changes_total), counted from selfservice_audit at
// each scrape, so that every instance reports the same totals.
func (s *Store) RegisterSelfServiceMetrics(reg prometheus.Registerer) {
	reg.MustRegister(&selfServiceCollector{store: s})
}

type selfServiceCollector struct{ store *Store }

func (c *selfServiceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- selfServiceDesc }

func (c *selfServiceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	counts := map[string]int64{}
	rows, err := c.store.pool.Query(ctx, `SELECT action, count(*) FROM selfservice_audit GROUP BY action`)
	if err == nil {
		for rows.Next() {
			var action string
			var n int64
			if err = rows.Scan(&action, &n); err != nil {
				break
			}
			counts[action] = n
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(selfServiceDesc, err)
		return
	}
	for _, a := range selfServiceActions {
		ch <- prometheus.MustNewConstMetric(selfServiceDesc, prometheus.CounterValue, float64(counts[a]), a)
	}
}
