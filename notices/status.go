package notices

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Counts is how many notices of one kind are in each state.
type Counts struct {
	Queued, Sent, Failed, Blocked, Canceled int
}

// Status is `kabinet notify status`: the notices per kind and state, and the
// rate the lane achieved over the last minute (every instance's sends).
type Status struct {
	Kinds map[string]Counts
	// PerSecond is what was sent in the last 60 s, per second.
	PerSecond float64
}

// Status reads the counts. Payment received and the trust reminder are in
// their own tables: queued or sent (a 403 counts as sent there).
func (s *Store) Status(ctx context.Context) (st Status, err error) {
	defer wrap(&err, "status")
	st.Kinds = map[string]Counts{}
	rows, _ := s.pool.Query(ctx, `
SELECT kind, status, count(*) FROM notices GROUP BY kind, status
UNION ALL
SELECT 'payment', CASE WHEN sent_at IS NULL THEN 'queued' ELSE 'sent' END, count(*) FROM payment_notices GROUP BY 2
UNION ALL
SELECT 'trust', CASE WHEN sent_at IS NULL THEN 'queued' ELSE 'sent' END, count(*) FROM trust_reminders GROUP BY 2`)
	type row struct {
		kind, status string
		n            int
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.kind, &x.status, &x.n)
	})
	if err != nil {
		return st, err
	}
	for _, x := range all {
		c := st.Kinds[x.kind]
		switch x.status {
		case "queued":
			c.Queued += x.n
		case "sent":
			c.Sent += x.n
		case "failed":
			c.Failed += x.n
		case "blocked":
			c.Blocked += x.n
		case "canceled":
			c.Canceled += x.n
		}
		st.Kinds[x.kind] = c
	}
	var recent int
	err = s.pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM notices WHERE status IN ('sent', 'blocked') AND done_at > now() - interval '60 seconds')
     + (SELECT count(*) FROM payment_notices WHERE sent_at > now() - interval '60 seconds')
     + (SELECT count(*) FROM trust_reminders WHERE sent_at > now() - interval '60 seconds')`).Scan(&recent)
	st.PerSecond = float64(recent) / 60
	return st, err
}

// Write prints a Status as `kabinet notify status` shows it.
func (st Status) Write(w io.Writer) {
	kinds := make([]string, 0, len(st.Kinds))
	for k := range st.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "%-11s %8s %8s %8s %8s %8s\n", "kind", "queued", "sent", "failed", "blocked", "canceled")
	for _, k := range kinds {
		c := st.Kinds[k]
		fmt.Fprintf(w, "%-11s %8d %8d %8d %8d %8d\n", k, c.Queued, c.Sent, c.Failed, c.Blocked, c.Canceled)
	}
	fmt.Fprintf(w, "send rate: %.1f a second (last minute, every instance)\n", st.PerSecond)
}

// Broadcast is the progress of one outage's notices (start or end).
type Broadcast struct {
	Outage                      int64
	Kind                        Kind
	Sent, Failed, Blocked, Left int
}

// Broadcasts lists the outage broadcasts that still have notices to send.
func (s *Store) Broadcasts(ctx context.Context) (_ []Broadcast, err error) {
	defer wrap(&err, "broadcasts")
	rows, _ := s.pool.Query(ctx, `
SELECT period::bigint, kind,
       count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'blocked'), count(*) FILTER (WHERE status = 'queued')
FROM notices WHERE kind IN ('outage', 'outage_end')
  AND period IN (SELECT period FROM notices WHERE kind IN ('outage', 'outage_end') AND status = 'queued')
GROUP BY 1, 2 ORDER BY 1, 2`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Broadcast, error) {
		var b Broadcast
		return b, r.Scan(&b.Outage, &b.Kind, &b.Sent, &b.Failed, &b.Blocked, &b.Left)
	})
}

// Line is a broadcast's progress line: sent, failed, blocked, left and the
// time to go at rate a second.
func (b Broadcast) Line(rate float64) string {
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(b.Left)/rate*float64(time.Second)) / time.Second * time.Second).String()
	}
	return fmt.Sprintf("outage %d %s: sent %d, failed %d, blocked %d, left %d, about %s to go",
		b.Outage, strings.ReplaceAll(string(b.Kind), "_", " "), b.Sent, b.Failed, b.Blocked, b.Left, eta)
}

// progressEvery is how often a running broadcast's progress is logged.
const progressEvery = 5 * time.Second

// runProgress logs every running broadcast's progress line while one runs.
func (s *Scheduler) runProgress(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		bs, err := s.notices.store.Broadcasts(ctx)
		if err != nil {
			continue
		}
		for _, b := range bs {
			s.log.Info(b.Line(s.notices.cfg.Rate), "event", "broadcast_progress", "outage", b.Outage, "kind", string(b.Kind),
				"sent", b.Sent, "failed", b.Failed, "blocked", b.Blocked, "left", b.Left)
		}
	}
}
