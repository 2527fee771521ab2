package notices

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/billing"
)

// Why not River: every piece of scheduled work here is already a row with a
// due time in the billing tables (a notice or a trust reminder without
// sent_at, a trust payment without ended_at), and a notice must exist for a
// payment that another program inserted, which only a trigger on the ledger
// can guarantee. A job queue would duplicate that state in its own tables
// and need the trigger to write into them. So the scheduler claims due rows
// with a lease (a short statement, FOR UPDATE SKIP LOCKED inside, so several
// `serve` processes share the work and never take the same row; state
// survives restarts because it is the data itself), sends with no
// transaction open, records each outcome in a second short statement, and
// LISTEN/NOTIFY wakes it the moment a payment arrives.

// ScheduleStore is the scheduler's view of billing; billing/postgres
// implements it. Every method is one short transaction that never waits
// for the scheduler: claims lease rows to owner for a while, the scheduler
// sends with nothing held, then reports each claimed row as sent or failed.
// A report returns billing.ErrLeaseLost when owner's lease ran out and
// another instance claimed the row since.
type ScheduleStore interface {
	ClaimPaymentNotices(ctx context.Context, owner string, lease time.Duration, limit int) ([]billing.PaymentNotice, error)
	PaymentNoticeSent(ctx context.Context, owner string, n billing.PaymentNotice) error
	PaymentNoticeFailed(ctx context.Context, owner string, n billing.PaymentNotice) error
	ListenPaymentNotices(ctx context.Context, wake chan<- struct{}) error

	ClaimTrustReminders(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]billing.TrustReminder, error)
	TrustReminderSent(ctx context.Context, owner string, r billing.TrustReminder) error
	TrustReminderFailed(ctx context.Context, owner string, r billing.TrustReminder) error
	ExpireTrust(ctx context.Context, now time.Time, limit int) ([]billing.TrustPayment, error)

	// ReleaseClaims gives back what owner claimed and has not reported.
	ReleaseClaims(ctx context.Context, owner string) error
}

// Scheduler sends the "payment received" pushes and runs the trust
// payments' reminders and expiries.
type Scheduler struct {
	store ScheduleStore
	msg   Messenger
	text  Texts
	poll  time.Duration
	loc   *time.Location
	now   func() time.Time
	log   *slog.Logger

	// owner names this scheduler in the rows it claims; lease is how long
	// a claim keeps other instances off a row (see defaultLease).
	owner string
	lease time.Duration
	slot  string // INSTANCE_ID, when set (SetInstance)

	// notices is the notices table's part (WithNotices); nil: only the
	// payment and trust pushes.
	notices *lowNotices
	// outcomes counts notices by kind and result (RegisterMetrics).
	outcomes *prometheus.CounterVec
}

// defaultLease is how long a claimed row is kept from other instances. A
// round of sends stops leaseMargin before its lease ends (a 429 may ask to
// wait longer) and gives the rest back, so no instance sends a row whose
// lease has run out; a lease left by an instance that died keeps that
// instance's claimed rows waiting this long before another sends them.
const (
	defaultLease = time.Minute
	leaseMargin  = 10 * time.Second
)

// reportTimeout bounds recording an outcome. The recording runs even when
// the scheduler is being stopped: a message Telegram accepted must be
// marked sent, or the restarted scheduler sends it again.
const reportTimeout = 10 * time.Second

// NewScheduler returns a scheduler. poll is how often it looks for due work
// without being woken (a few seconds); loc is the provider's time zone, for
// accounts whose city has none; now is the clock.
func NewScheduler(store ScheduleStore, msg Messenger, text Texts, poll time.Duration, loc *time.Location, now func() time.Time, log *slog.Logger) *Scheduler {
	if poll <= 0 {
		poll = 2 * time.Second
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Scheduler{store: store, msg: msg, text: text, poll: poll, loc: loc, now: now, log: log,
		owner: instanceName(), lease: defaultLease}
}

// instanceName is this scheduler's name in the rows it claims: the host and
// process, for an operator reading the table, and random bytes, because two
// schedulers in one process (or a pid reused after a restart) must not pass
// for each other.
func instanceName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// SetInstance names the deployment slot this scheduler runs in
// (INSTANCE_ID): its claims are named after it, and at start it takes over
// at once what an earlier process of the same slot claimed and did not
// finish (it was killed), instead of waiting for those leases to run out.
func (s *Scheduler) SetInstance(id string) {
	if id == "" || strings.Contains(id, "/") {
		return
	}
	s.slot = id
	s.owner = id + "/" + s.owner
}

// Run works until ctx ends. Failures are logged and retried at the next
// round: the state is in the database, so nothing is lost.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.slot != "" && s.notices != nil {
		if n, err := s.notices.store.takeOver(ctx, s.slot, s.owner); err != nil {
			s.log.Warn("notices: a predecessor's claims not taken over; their leases run out instead", "event", "takeover_failed", "err", err)
		} else if n > 0 {
			s.log.Info("notices: took over a predecessor's claims", "event", "takeover", "rows", n)
		}
	}
	wake := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			if err := s.store.ListenPaymentNotices(ctx, wake); err != nil && ctx.Err() == nil {
				s.log.Warn("payments scheduler: listen failed, polling meanwhile", "event", "listen_failed", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(s.poll):
				}
			}
		}
	}()
	if s.notices != nil {
		go s.runScans(ctx)
		go s.runProgress(ctx, progressEvery)
	}
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	for {
		if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("payments scheduler", "event", "scheduler_error", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-tick.C:
		}
	}
}

// batch bounds one claim, so that trust work is not starved by a burst of
// pushes and a round's sends fit well inside its lease (a push is paced at
// 25 a second).
const batch = 100

// RunOnce does all the work due now: pushes, expiries, then reminders (an
// expired trust payment needs no reminder).
func (s *Scheduler) RunOnce(ctx context.Context) error {
	for {
		n, err := s.pushNotices(ctx)
		if err != nil {
			return err
		}
		if n < batch {
			break
		}
	}
	now := s.now()
	ended, err := s.store.ExpireTrust(ctx, now, batch)
	for _, tp := range ended {
		s.log.Info("trust payment ended", "event", "trust_ended", "trust", tp.ID, "account", tp.AccountID)
	}
	if err != nil {
		return err
	}
	for {
		n, err := s.remindTrust(ctx, now)
		if err != nil {
			return err
		}
		if n < batch {
			break
		}
	}
	for s.notices != nil {
		n, err := s.sendDue(ctx)
		if err != nil || n < batch || ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// pushNotices claims a batch of due notices, sends them and records each
// outcome; it returns how many outcomes it recorded (batch when there may
// be more to do at once).
func (s *Scheduler) pushNotices(ctx context.Context) (int, error) {
	deadline := time.Now().Add(s.lease - leaseMargin) // measured before the claim: never later than the lease
	notices, err := s.store.ClaimPaymentNotices(ctx, s.owner, s.lease, batch)
	if err != nil {
		return 0, err
	}
	return runClaimed(ctx, s, deadline, notices, s.sendNotice, s.store.PaymentNoticeSent, s.store.PaymentNoticeFailed)
}

// remindTrust is pushNotices for the trust reminders due at now.
func (s *Scheduler) remindTrust(ctx context.Context, now time.Time) (int, error) {
	deadline := time.Now().Add(s.lease - leaseMargin)
	reminders, err := s.store.ClaimTrustReminders(ctx, s.owner, now, s.lease, batch)
	if err != nil {
		return 0, err
	}
	return runClaimed(ctx, s, deadline, reminders, s.sendReminder, s.store.TrustReminderSent, s.store.TrustReminderFailed)
}

// runClaimed sends claimed rows one by one, with no transaction open, and
// records each outcome. A send is given until deadline, which falls before
// the lease runs out; a send cut short by that deadline or by a stop, and
// every row not tried yet, is given back at once and counts no attempt. It
// returns how many outcomes it recorded.
func runClaimed[T any](ctx context.Context, s *Scheduler, deadline time.Time, claimed []T,
	send func(context.Context, T) error, sent, failed func(context.Context, string, T) error) (done int, err error) {
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
		defer cancel()
		if err := s.store.ReleaseClaims(rctx, s.owner); err != nil {
			// Their lease runs out and they are claimed again then.
			s.log.Warn("payments scheduler: claims not given back", "event", "release_failed", "err", err)
		}
	}
	for _, row := range claimed {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			release()
			break
		}
		sendCtx, cancel := context.WithDeadline(ctx, deadline)
		sendErr := send(sendCtx, row)
		cut := sendErr != nil && sendCtx.Err() != nil
		cancel()
		if cut {
			// Stopped, or out of lease: not the message's fault, so no
			// attempt is counted. Telegram may have it already; if so,
			// it goes out twice (at least once is all a send promises).
			release()
			break
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
		if sendErr == nil {
			err = sent(rctx, s.owner, row)
		} else {
			err = failed(rctx, s.owner, row)
		}
		cancel()
		switch {
		case errors.Is(err, billing.ErrLeaseLost):
			s.log.Warn("payments scheduler: lease ran out during a send; the message may go out twice",
				"event", "lease_lost", "lease", s.lease.String())
		case err != nil:
			// Not given back: this row may have reached Telegram. It and
			// the rest keep their lease and are claimed again when it ends.
			return done, err
		}
		done++
	}
	return done, nil
}

func (s *Scheduler) sendNotice(ctx context.Context, n billing.PaymentNotice) error {
	if ok, err := s.wanted(ctx, n.TelegramUserID, n.AccountID, TopicPayment); err != nil || !ok {
		return err // nil: turned off, which counts as done
	}
	m := PaymentMessage(s.text, n)
	err := s.msg.Send(ctx, n.TelegramUserID, m.Text, m.Buttons)
	switch {
	case errors.Is(err, ErrUnreachable):
		s.count("payment", "blocked")
	case err != nil:
		s.count("payment", "retry")
		s.log.Warn("payment notice not sent", "event", "notice_failed", "payment", n.PaymentID, "attempts", n.Attempts+1, "err", err)
		return err
	default:
		s.count("payment", "sent")
	}
	return nil
}

func (s *Scheduler) sendReminder(ctx context.Context, r billing.TrustReminder) error {
	if ok, err := s.wanted(ctx, r.Recipient.UserID, r.AccountID, TopicTrust); err != nil || !ok {
		return err
	}
	loc := s.loc
	if l, err := time.LoadLocation(r.TimeZone); err == nil && r.TimeZone != "" {
		loc = l
	}
	m := ReminderMessage(s.text, r, loc)
	err := s.msg.Send(ctx, r.Recipient.UserID, m.Text, m.Buttons)
	switch {
	case errors.Is(err, ErrUnreachable):
		s.count("trust", "blocked")
	case err != nil:
		s.count("trust", "retry")
		s.log.Warn("trust reminder not sent", "event", "reminder_failed", "trust", r.ID, "attempts", r.Attempts+1, "err", err)
		return err
	default:
		s.count("trust", "sent")
	}
	return nil
}

// wanted asks the notices' settings whether the person wants this topic of
// the account (yes when the scheduler runs without them).
func (s *Scheduler) wanted(ctx context.Context, userID, accountID int64, topic Topic) (bool, error) {
	if s.notices == nil {
		return true, nil
	}
	return s.notices.store.wants(ctx, userID, accountID, topic)
}
