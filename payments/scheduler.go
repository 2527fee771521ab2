package payments

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
)

// Why not River: every piece of scheduled work here is already a row with a
// due time in the billing tables (a notice without sent_at, a trust payment
// without reminded_at or ended_at), and a notice must exist for a payment
// that another program inserted, which only a trigger on the ledger can
// guarantee. A job queue would duplicate that state in its own tables and
// need the trigger to write into them. So the scheduler takes due rows with
// SELECT ... FOR UPDATE SKIP LOCKED (several `serve` processes share the work
// and never take the same row; state survives restarts because it is the
// data itself) and LISTEN/NOTIFY wakes it the moment a payment arrives.

// Button is an inline button on a message the scheduler sends: a callback
// (Data) or a link (URL).
type Button struct {
	Text string
	Data string
	URL  string
}

// Messenger sends a Telegram message to a private chat (whose id is the
// user's id). The bot package implements it with its sender; an error means
// the message did not go out and the notice is tried again later.
type Messenger interface {
	Send(ctx context.Context, chatID int64, text string, buttons [][]Button) error
}

// Texts renders a message of the locales catalog; *locales.Catalog implements it.
type Texts interface {
	T(lang, id string, data map[string]any) string
}

// ScheduleStore is the scheduler's view of billing; billing/postgres implements it.
type ScheduleStore interface {
	SendPaymentNotices(ctx context.Context, limit int, send func(context.Context, billing.PaymentNotice) error) (int, error)
	ListenPaymentNotices(ctx context.Context, wake chan<- struct{}) error
	RemindTrust(ctx context.Context, now time.Time, limit int, send func(context.Context, billing.TrustPayment) error) (int, error)
	ExpireTrust(ctx context.Context, now time.Time, limit int) ([]billing.TrustPayment, error)
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
}

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
	return &Scheduler{store: store, msg: msg, text: text, poll: poll, loc: loc, now: now, log: log}
}

// Run works until ctx ends. Failures are logged and retried at the next
// round: the state is in the database, so nothing is lost.
func (s *Scheduler) Run(ctx context.Context) error {
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

// batch bounds one round so that trust work is not starved by a burst of pushes.
const batch = 100

// RunOnce does all the work due now: pushes, expiries, then reminders (an
// expired trust payment needs no reminder).
func (s *Scheduler) RunOnce(ctx context.Context) error {
	for {
		n, err := s.store.SendPaymentNotices(ctx, batch, s.sendNotice)
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
	_, err = s.store.RemindTrust(ctx, now, batch, s.sendReminder)
	return err
}

func (s *Scheduler) sendNotice(ctx context.Context, n billing.PaymentNotice) error {
	lang := langOr(n.Language)
	text := s.text.T(lang, "payment_received", map[string]any{
		"Amount":  n.Amount.Format(lang),
		"Balance": n.Balance.Format(lang),
		"Number":  n.AccountNumber,
	})
	if err := s.msg.Send(ctx, n.TelegramUserID, text, nil); err != nil {
		s.log.Warn("payment notice not sent", "event", "notice_failed", "payment", n.PaymentID, "attempts", n.Attempts+1, "err", err)
		return err
	}
	return nil
}

func (s *Scheduler) sendReminder(ctx context.Context, tp billing.TrustPayment) error {
	loc := s.loc
	if l, err := time.LoadLocation(tp.TimeZone); err == nil && tp.TimeZone != "" {
		loc = l
	}
	end := tp.ExpiresAt.In(loc)
	for _, r := range tp.Recipients {
		lang := langOr(r.Language)
		date := s.text.T(lang, "date_day_month", map[string]any{"Day": end.Day(), "Month": s.text.T(lang, fmt.Sprintf("month_%d", int(end.Month())), nil)})
		text := s.text.T(lang, "trust_reminder", map[string]any{
			"Amount": tp.Amount.Format(lang),
			"Number": tp.AccountNumber,
			"Date":   date,
			"Time":   end.Format("15:04"),
		})
		buttons := [][]Button{{{Text: s.text.T(lang, "btn_pay", nil), Data: fmt.Sprintf("payn:%d", tp.AccountID)}}}
		if err := s.msg.Send(ctx, r.UserID, text, buttons); err != nil {
			s.log.Warn("trust reminder not sent", "event", "reminder_failed", "trust", tp.ID, "err", err)
			return err
		}
	}
	return nil
}

func langOr(lang string) string {
	if lang == "" {
		return "ru"
	}
	return lang
}
