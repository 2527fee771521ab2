package notices

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
)

// Config is the notices' settings (README: NOTIFY_*).
type Config struct {
	// DaysBefore is the threshold of everyone who chose none
	// (NOTIFY_DAYS_BEFORE, 1-7).
	DaysBefore int
	// Quiet is NOTIFY_QUIET_HOURS, in each account's city zone.
	Quiet Quiet
	// ScanInterval is how often the low-balance scan runs (it also runs
	// once at start): NOTIFY_SCAN_INTERVAL.
	ScanInterval time.Duration
	// Senders is how many notices one instance sends at once; they all
	// wait for the one rate every instance shares, so more only hides the
	// Bot API's latency.
	Senders int
	// PageSize is how many accounts one page of the scan reads.
	PageSize int
	// Rate is the lane's rate (NOTIFY_RATE), for the time to go of a broadcast.
	Rate float64
}

// Accounts reads an account as the billing sees it now (PaidUntil filled):
// billing/postgres.Store implements it.
type Accounts interface {
	AccountByID(ctx context.Context, id int64) (billing.Account, error)
}

// lowNotices is the part of the scheduler that owns the notices table.
type lowNotices struct {
	store    *Store
	accounts Accounts
	cfg      Config
	zones    *zoneCache
}

// WithNotices makes the scheduler also run the low-balance scan, turn
// outages into notices and send the notices table, beside the payment and
// trust pushes: one machinery, one lane.
func (s *Scheduler) WithNotices(store *Store, accounts Accounts, cfg Config) *Scheduler {
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = time.Hour
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 4
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 5000
	}
	if cfg.DaysBefore < 1 || cfg.DaysBefore > 7 {
		cfg.DaysBefore = 3
	}
	s.notices = &lowNotices{store: store, accounts: accounts, cfg: cfg, zones: newZoneCache()}
	return s
}

// zoneCache loads each IANA zone once (a scan meets 16 cities a million times).
type zoneCache struct {
	mu    sync.Mutex
	zones map[string]*time.Location
}

func newZoneCache() *zoneCache { return &zoneCache{zones: map[string]*time.Location{}} }

func (z *zoneCache) get(name string) *time.Location {
	z.mu.Lock()
	defer z.mu.Unlock()
	if loc, ok := z.zones[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" {
		loc = time.UTC
	}
	z.zones[name] = loc
	return loc
}

// ScanStats is what one scan did.
type ScanStats struct {
	Scanned    int // accounts read (every page)
	Candidates int // accounts the SQL filter let through
	Created    int // new notices
	Took       time.Duration
}

// Scan finds the accounts whose money runs out within their people's
// thresholds (or ran out today, or that were just blocked), page by page in
// SQL, and writes the notices they are owed, due now or at the end of the
// quiet hours of the account's city. A notice owed already is not written
// again (the unique key), so scans may overlap and repeat.
func (s *Scheduler) Scan(ctx context.Context) (st ScanStats, err error) {
	ln := s.notices
	start := time.Now()
	now := s.now()
	var after int64
	for ctx.Err() == nil {
		last, n, err := ln.store.pageBounds(ctx, after, ln.cfg.PageSize)
		if err != nil || n == 0 {
			st.Took = time.Since(start)
			return st, err
		}
		st.Scanned += n
		cands, err := ln.store.candidates(ctx, after, last, now, ln.zones)
		if err != nil {
			return st, err
		}
		st.Candidates += len(cands)
		if len(cands) > 0 {
			made, err := ln.owe(ctx, cands, now)
			if err != nil {
				return st, err
			}
			st.Created += made
		}
		after = last
	}
	return st, ctx.Err()
}

// owe writes the notices a page's candidates are owed, one per person who
// wants them.
func (ln *lowNotices) owe(ctx context.Context, cands []candidate, now time.Time) (int, error) {
	byID := make(map[int64]*candidate, len(cands))
	ids := make([]int64, 0, len(cands))
	for i := range cands {
		byID[cands[i].acc.ID] = &cands[i]
		ids = append(ids, cands[i].acc.ID)
	}
	people, err := ln.store.recipients(ctx, ids)
	if err != nil {
		return 0, err
	}
	var owed []newNotice
	for _, r := range people {
		c := byID[r.accountID]
		if c == nil || !r.prefs.Low {
			continue
		}
		o, ok := LowOwed(c.acc, r.prefs.DaysBefore, now, c.loc)
		if !ok {
			continue
		}
		due := now
		if r.prefs.Quiet {
			due = ln.cfg.Quiet.Release(now, c.loc)
		}
		owed = append(owed, newNotice{accountID: r.accountID, kind: o.Kind, period: o.Period, threshold: o.Threshold,
			userID: r.userID, role: r.role, due: due})
	}
	return ln.store.insert(ctx, owed)
}

// runScans runs the scan at start and every ScanInterval.
func (s *Scheduler) runScans(ctx context.Context) {
	for {
		st, err := s.Scan(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("notices scan", "event", "scan_failed", "err", err)
		case err == nil:
			s.log.Info("notices scan", "event", "scan_done", "accounts", st.Scanned, "candidates", st.Candidates,
				"created", st.Created, "took_ms", st.Took.Milliseconds())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.notices.cfg.ScanInterval):
		}
	}
}

// sendDue claims the notices due now in batches and sends them, Senders at
// once; it returns how many it finished (batch or more: maybe more to do).
func (s *Scheduler) sendDue(ctx context.Context) (int, error) {
	ln := s.notices
	if _, err := ln.store.pushOutages(ctx, s.now(), ln.cfg.Quiet, ln.zones); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(s.lease - leaseMargin)
	rows, err := ln.store.claim(ctx, s.owner, s.now(), s.lease, batch)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	work := make(chan claimed)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		done    int
		lastErr error
		cut     bool
	)
	for range min(ln.cfg.Senders, len(rows)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if ctx.Err() != nil || !time.Now().Before(deadline) {
					mu.Lock()
					cut = true
					mu.Unlock()
					continue
				}
				sendCtx, cancel := context.WithDeadline(ctx, deadline)
				err := s.deliver(sendCtx, ctx, c)
				cancel()
				mu.Lock()
				switch {
				case errors.Is(err, errCut):
					cut = true
				case errors.Is(err, billing.ErrLeaseLost):
					s.log.Warn("notices: lease ran out during a send; the message may go out twice", "event", "lease_lost")
					done++
				case err != nil:
					lastErr = err
				default:
					done++
				}
				mu.Unlock()
			}
		}()
	}
	for _, c := range rows {
		work <- c
	}
	close(work)
	wg.Wait()
	if cut {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
		if err := ln.store.release(rctx, s.owner); err != nil {
			s.log.Warn("notices: claims not given back", "event", "release_failed", "err", err)
		}
		cancel()
	}
	return done, lastErr
}

// errCut is a send cut short by a stop or the lease's end: not the
// notice's fault, it is given back with no attempt counted.
var errCut = errors.New("send cut short")

// maxAttempts is how many failed sends a notice gets before it is given up
// (with the growing pause, about four hours of trying).
const maxAttempts = 8

// deliver checks a claimed notice once more, sends it, and records the
// outcome (with parent's context: it is recorded even during a stop).
func (s *Scheduler) deliver(ctx, parent context.Context, c claimed) error {
	ln := s.notices
	now := s.now()
	loc := ln.zones.get(c.zone)
	record := func(status string) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(parent), reportTimeout)
		defer cancel()
		s.count(string(c.kind), status)
		return ln.store.finish(rctx, s.owner, c.id, status)
	}
	later := func(due time.Time, attempt bool) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(parent), reportTimeout)
		defer cancel()
		if attempt {
			s.count(string(c.kind), "retry")
		}
		return ln.store.later(rctx, s.owner, c.id, due, attempt)
	}

	prefs, ok, err := ln.store.recipientNow(ctx, c.userID, c.accountID, c.role)
	if err != nil {
		return err
	}
	topic := TopicOf(c.kind)
	if !ok || (topic == TopicLow && !prefs.Low) || (topic == TopicOutage && !prefs.Outage) {
		return record("canceled")
	}
	if prefs.Quiet {
		if at := ln.cfg.Quiet.Release(now, loc); at.After(now) {
			return later(at, false) // it became night while it waited: morning then
		}
	}

	var m Message
	switch c.kind {
	case KindOutage, KindOutageEnd:
		id, _ := strconv.ParseInt(c.period, 10, 64)
		o, err := ln.store.outage(ctx, id)
		if err != nil {
			return err
		}
		if c.kind == KindOutage && o.Ended {
			return record("canceled") // over before it could be told
		}
		m = OutageMessage(s.text, c.lang, c.kind, o, c.accountID, loc)
	default:
		acc, err := ln.accounts.AccountByID(ctx, c.accountID)
		if errors.Is(err, billing.ErrNotFound) {
			return record("canceled")
		}
		if err != nil {
			return err
		}
		// A payment or a trust payment since the notice was made moves the
		// last day or lifts the block: the notice is no longer true.
		if !StillOwed(acc, c.kind, c.period, c.threshold, now, loc) {
			return record("canceled")
		}
		m = LowMessage(s.text, c.lang, c.kind, acc, c.role == "trusted", now, loc)
	}

	err = s.msg.Send(ctx, c.userID, m.Text, m.Buttons)
	switch {
	case err == nil:
		return record("sent")
	case errors.Is(err, ErrUnreachable):
		return record("blocked")
	case ctx.Err() != nil:
		return errCut
	case c.attempts+1 >= maxAttempts:
		s.log.Warn("notice given up", "event", "notice_given_up", "notice", c.id, "kind", string(c.kind), "err", err)
		return record("failed")
	default:
		pause := min(time.Hour, time.Duration(1<<min(c.attempts+1, 12))*time.Second)
		return later(now.Add(pause), true)
	}
}
