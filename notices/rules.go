// Package notices pushes to subscribers what they did not ask for but want
// to hear: the money runs out in a few days, today, the access is suspended;
// an outage in their city and its end; a payment received; a trust payment
// ending. A notice is owed once per (account, kind, period, threshold) and
// person: a row in PostgreSQL under that unique key, written by a scan and
// claimed with a lease by whichever instance sends it, checked again right
// before it is sent, held through the quiet hours of the account's city, and
// sent through the bot's bulk lane, whose rate every instance shares.
//
// The rules (which notice an account is owed, quiet hours) are plain
// functions in this file; store.go holds the SQL; texts.go renders every
// text in one place.
package notices

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
)

// Kind is what a notice is about. Its value is stored (notices.kind) and is
// the switch a person turns off ("Не присылать такие") through its Topic.
type Kind string

// The kinds of the notices table. Payment received and the trust reminder
// keep their own tables (payment_notices, trust_reminders: a trigger on the
// ledger writes the first) and go through the same sender.
const (
	KindLow       Kind = "low"        // the money runs out in N days
	KindLastDay   Kind = "lastday"    // today is the last day the money pays
	KindBlocked   Kind = "blocked"    // the access was suspended for debt
	KindOutage    Kind = "outage"     // an outage in the city
	KindOutageEnd Kind = "outage_end" // "Связь восстановлена"
)

// Topic is a switch of the settings screen: one per thing a person can turn
// off for an account.
type Topic string

// The topics, as the settings screen lists them and the buttons name them.
const (
	TopicLow     Topic = "low"     // low balance, the last day, blocked
	TopicPayment Topic = "payment" // payment received
	TopicOutage  Topic = "outage"  // outages and their end
	TopicTrust   Topic = "trust"   // the trust payment ends tomorrow
)

// Topics in the settings screen's order.
var Topics = []Topic{TopicLow, TopicPayment, TopicOutage, TopicTrust}

// TopicOf is the switch that turns a kind off.
func TopicOf(k Kind) Topic {
	switch k {
	case KindOutage, KindOutageEnd:
		return TopicOutage
	}
	return TopicLow
}

// Owed is a low-balance notice an account is owed now: its key without the
// person.
type Owed struct {
	Kind      Kind
	Period    string
	Threshold int
}

// BlockedRecent is how long after a block the "access suspended" notice is
// still worth sending: a scan after an outage of the bot sends it late, but
// a subscriber blocked months ago (or before Kabinet ran) is not told now.
const BlockedRecent = 48 * time.Hour

// LowOwed says which low-balance notice an account is owed at now for a
// person whose threshold is days (1-7 days before the money runs out): none,
// "N days left" under threshold days, "today is the last day", or "blocked".
// The account's PaidUntil is the billing's; loc is its city's zone.
func LowOwed(acc billing.Account, days int, now time.Time, loc *time.Location) (Owed, bool) {
	switch acc.Status {
	case billing.StatusBlocked:
		if acc.BlockedAt.IsZero() || now.Sub(acc.BlockedAt) > BlockedRecent || acc.BlockedAt.After(now) {
			return Owed{}, false
		}
		return Owed{Kind: KindBlocked, Period: acc.BlockedAt.In(loc).Format(time.DateOnly)}, true
	case billing.StatusActive:
	default:
		return Owed{}, false
	}
	f := acc.Forecast(now, loc)
	if f.Unlimited {
		return Owed{}, false
	}
	period := f.BlockOn.Format(time.DateOnly)
	switch {
	case f.DaysLeft == 0:
		return Owed{Kind: KindLastDay, Period: period}, true
	case f.DaysLeft <= days:
		return Owed{Kind: KindLow, Period: period, Threshold: days}, true
	}
	return Owed{}, false
}

// StillOwed is the check right before sending: the notice made for (kind,
// period, threshold) is still true of the account as it is now. A payment or
// a trust payment in between moves the last day (a new period) or lifts the
// block, and the notice is canceled.
func StillOwed(acc billing.Account, kind Kind, period string, threshold int, now time.Time, loc *time.Location) bool {
	o, ok := LowOwed(acc, max(threshold, 1), now, loc)
	if !ok || o.Kind != kind || o.Period != period {
		return false
	}
	return true
}

// Quiet is the subscriber's night, in local wall-clock time: notices made
// within it wait for its end. From == To means none.
type Quiet struct {
	From, To time.Duration // since local midnight
}

// ParseQuiet reads "22:00-09:00" (NOTIFY_QUIET_HOURS); "" is no quiet hours.
func ParseQuiet(s string) (Quiet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Quiet{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Quiet{}, fmt.Errorf("%q is not HH:MM-HH:MM", s)
	}
	from, err := clock(a)
	if err != nil {
		return Quiet{}, err
	}
	to, err := clock(b)
	if err != nil {
		return Quiet{}, err
	}
	if from == to {
		return Quiet{}, fmt.Errorf("%q starts and ends at the same time", s)
	}
	return Quiet{From: from, To: to}, nil
}

func clock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day like 22:00", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// None reports that there are no quiet hours.
func (q Quiet) None() bool { return q.From == q.To }

// String writes it back as NOTIFY_QUIET_HOURS does.
func (q Quiet) String() string {
	if q.None() {
		return ""
	}
	f := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return f(q.From) + "-" + f(q.To)
}

// Release is when a notice made at t may go in zone loc: t itself outside
// the quiet hours, else their end (09:00 local the same or the next
// morning). Wall-clock times are taken in loc, so a DST change moves them
// with the clock.
func (q Quiet) Release(t time.Time, loc *time.Location) time.Time {
	if q.None() {
		return t
	}
	l := t.In(loc)
	midnight := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	since := l.Sub(midnight)
	at := func(day int, d time.Duration) time.Time {
		return time.Date(l.Year(), l.Month(), l.Day()+day, int(d.Hours()), int(d.Minutes())%60, 0, 0, loc)
	}
	if q.From > q.To { // over midnight: 22:00-09:00
		switch {
		case since >= q.From:
			return at(1, q.To)
		case since < q.To:
			return at(0, q.To)
		}
		return t
	}
	if since >= q.From && since < q.To { // within one day: 01:00-06:00
		return at(0, q.To)
	}
	return t
}
