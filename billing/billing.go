// Package billing holds the subscriber domain: accounts, tariffs, services,
// balances and payments, as the dialogs see them. It has no storage code of its
// own: billing/postgres is the PostgreSQL adapter, and a provider with another
// billing system replaces that adapter and keeps these types.
package billing

import (
	"errors"
	"time"

	"github.com/kabinet-bot/kabinet/money"
)

// Status is the state of an account's service.
type Status string

// The statuses a subscriber can see. They match the values stored in the database.
const (
	StatusActive  Status = "active"  // service is on
	StatusBlocked Status = "blocked" // blocked for debt
	StatusFrozen  Status = "frozen"  // voluntary block at the subscriber's request
	StatusClosed  Status = "closed"  // contract terminated
)

// Errors the adapters return; dialogs turn them into polite texts.
var (
	// ErrNotFound: no account with that number (or no link of that user).
	ErrNotFound = errors.New("billing: not found")
	// ErrLinkLimit: the Telegram user already has the maximum number of linked accounts.
	ErrLinkLimit = errors.New("billing: too many linked accounts")
	// ErrLeaseLost: the scheduler's claim on a piece of work is no longer
	// its own (the lease ran out and another instance claimed it since, or
	// it was given back or reported already), so the outcome was not
	// recorded.
	ErrLeaseLost = errors.New("billing: lease lost to another instance")
)

// Account is one contract's personal account ("лицевой счёт").
type Account struct {
	ID     int64  // internal id, never shown
	Number string // account number as printed on the contract, ASCII digits
	// Phone is the phone on the contract in E.164 (+79161234567). It is
	// personal data: show it only through MaskPhone, never log it.
	Phone      string
	City       string // city name as in the offices directory (Russian)
	CityEN     string // the same city's English name, for the English interface
	Status     Status
	Balance    money.Amount
	Tariff     Tariff
	Services   []Service
	ChargeDay  int       // day of month the monthly fee is charged (1..31; a shorter month's last day stands for the days it lacks)
	BlockedAt  time.Time // when the account was blocked for debt (zero if not)
	OpenedAt   time.Time
	TimeZone   string // IANA zone of the account's city, for dates shown to the subscriber
	LastChange time.Time
	// Trust is the trust payment running on the account, nil if none. Its
	// sum is part of Balance until it ends and is taken back.
	Trust *ActiveTrust
	// PaidUntil is the instant the service stops without a payment, as the
	// billing computes it (billing/postgres: PaidUntil below, at the moment
	// the account was read); zero when nothing is charged. The balance
	// screen and the low-balance notices both read it, so they never
	// disagree.
	PaidUntil time.Time
	// FrozenUntil is the day a running freeze ends (midnight in TimeZone),
	// zero when none runs.
	FrozenUntil time.Time
}

// ActiveTrust is a trust payment that has been granted and not yet ended.
type ActiveTrust struct {
	Amount    money.Amount
	ExpiresAt time.Time
}

// Tariff is the plan an account is on.
type Tariff struct {
	Name       string
	MonthlyFee money.Amount
}

// Service is an optional paid service (static IP, TV package, antivirus).
type Service struct {
	Name       string
	MonthlyFee money.Amount
}

// Payment is one credit to an account, from any channel.
type Payment struct {
	ID       int64
	Amount   money.Amount
	Channel  string // "card", "sberbank", "terminal", "cash", "autopay", "trust", "yookassa", ...
	PaidAt   time.Time
	Provider string // who reported it ("billing", "yookassa", ...)
}

// MonthlyCharge is everything the account pays per month: tariff plus services.
func (a Account) MonthlyCharge() money.Amount {
	total := a.Tariff.MonthlyFee
	for _, s := range a.Services {
		total += s.MonthlyFee
	}
	return total
}

// OwnBalance is the money that stays on the account when a running trust
// payment is taken back: the balance less the trust payment's sum.
func (a Account) OwnBalance() money.Amount {
	if a.Trust == nil {
		return a.Balance
	}
	return a.Balance - a.Trust.Amount
}

// Forecast is until when an account's money keeps its service on, and what
// to pay to keep it on after that: what the balance screen and every other
// date of blocking say.
type Forecast struct {
	// Unlimited: nothing is charged, the money lasts indefinitely.
	Unlimited bool
	// DaysLeft is how many days after today the service stays on without a
	// payment: 0 when today is its last day.
	DaysLeft int
	// BlockOn is the last day the service is on without a payment (its
	// midnight, in the zone passed to Forecast): "хватит до 4 декабря".
	BlockOn time.Time
	// TrustEnds tells that BlockOn is the end of a running trust payment:
	// its sum is taken back that day and what stays does not pay on.
	TrustEnds bool
	// Need is what to pay before BlockOn to keep the service on for a month
	// after it (the monthly charge less the money that stays); 0 when the
	// money that stays covers the month.
	Need money.Amount
}

// Forecast is, at now, how long the service stays on: from PaidUntil when
// the adapter filled it, else computed here with the same rule (StopsAt).
// Only the money that stays counts: a trust payment's sum is taken back when
// it ends, so while one runs the service lasts until its end at the earliest
// and past it only as far as the account's own money pays.
func (a Account) Forecast(now time.Time, loc *time.Location) Forecast {
	charge := a.MonthlyCharge()
	if charge <= 0 {
		return Forecast{Unlimited: true}
	}
	until := a.PaidUntil
	if until.IsZero() {
		until = a.StopsAt(now, loc)
	}
	f := Forecast{BlockOn: LastDay(until, now, loc)}
	f.DaysLeft = CalendarDays(now.In(loc), f.BlockOn)
	if a.Trust != nil && !a.Trust.ExpiresAt.Before(until) {
		f.TrustEnds = true
	}
	if own := a.OwnBalance(); own < charge {
		f.Need = charge - own
	}
	return f
}

// StopsAt is PaidUntil for this account at now: the billing's rule
// applied to its balance, charge day and running trust payment.
func (a Account) StopsAt(now time.Time, loc *time.Location) time.Time {
	charge := a.MonthlyCharge()
	if charge <= 0 {
		return time.Time{}
	}
	return PaidUntil(a.Balance, charge, a.NextChargeDate(now, loc), a.ChargeDay, a.Trust, now, loc)
}

// LastDay is the last calendar day (in loc) on which the service is still
// on when it stops at until: the day before a stop at midnight, the day
// itself for a stop during it (a trust payment's end). Never before now's
// day.
func LastDay(until, now time.Time, loc *time.Location) time.Time {
	d := until.Add(-time.Nanosecond).In(loc)
	d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	n := now.In(loc)
	if today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc); d.Before(today) {
		return today
	}
	return d
}

// PaidUntil is the billing's rule for when the money runs out, the one
// billing/postgres's cycle applies (RunCycle): the monthly charge (tariff
// and services) is taken on the charge day, at its start in loc, for the
// month ahead, and an account left below zero is blocked, unless a trust
// payment runs: that keeps the service on to its end, when its sum is
// taken back and a balance below zero blocks the account. balance
// includes a running trust payment's sum; next is the next charge day. The
// answer is the instant of the first of those events that leaves the
// balance below zero: the service stops then.
func PaidUntil(balance, charge money.Amount, next time.Time, chargeDay int, trust *ActiveTrust, now time.Time, loc *time.Location) time.Time {
	var trustEnd time.Time
	if trust != nil {
		trustEnd = trust.ExpiresAt
		if trustEnd.Before(now) {
			trustEnd = now // over, and not yet taken back
		}
	}
	// Twenty years of charges at most: beyond that the date means nothing.
	for range 240 {
		if !trustEnd.IsZero() && !trustEnd.After(next) {
			balance -= trust.Amount
			if balance < 0 {
				return trustEnd
			}
			trustEnd = time.Time{}
			continue
		}
		balance -= charge
		// A trust payment keeps the service on until its end, whatever
		// a charge meanwhile leaves: its end judges the balance then.
		if balance < 0 && trustEnd.IsZero() {
			return next
		}
		next = Account{ChargeDay: chargeDay}.NextChargeDate(next, loc)
	}
	return next
}

// CalendarDays counts the midnights between two instants of one zone: the
// days between two dates as a calendar shows them.
func CalendarDays(from, to time.Time) int {
	y1, m1, d1 := from.Date()
	y2, m2, d2 := to.Date()
	a := time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC)
	b := time.Date(y2, m2, d2, 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Hours() / 24)
}

// NextChargeDate is the next date (in loc) after now when the monthly fee
// is charged. A charge day past the end of a shorter month (the 31st in
// April, the 29th in February) falls on that month's last day, as
// billings charge a contract signed on the 31st.
func (a Account) NextChargeDate(now time.Time, loc *time.Location) time.Time {
	day := a.ChargeDay
	if day < 1 || day > 31 {
		day = 1
	}
	n := now.In(loc)
	d := chargeDateIn(n.Year(), n.Month(), day, loc)
	if !d.After(n) {
		d = chargeDateIn(n.Year(), n.Month()+1, day, loc)
	}
	return d
}

// chargeDateIn is the charge day's date in a month (time.Date normalises
// a month of 13 to January of the next year).
func chargeDateIn(year int, month time.Month, day int, loc *time.Location) time.Time {
	last := time.Date(year, month+1, 0, 0, 0, 0, 0, loc).Day()
	return time.Date(year, month, min(day, last), 0, 0, 0, 0, loc)
}

// MaskPhone hides all but the last two digits of a Russian phone number:
// "+79161234512" becomes "+7 *** ***-**-12". Anything that is not a +7 number
// with ten digits after the country code keeps only its last two digits.
func MaskPhone(phone string) string {
	digits := make([]byte, 0, len(phone))
	for i := 0; i < len(phone); i++ {
		if phone[i] >= '0' && phone[i] <= '9' {
			digits = append(digits, phone[i])
		}
	}
	if len(digits) < 2 {
		return "***"
	}
	last := string(digits[len(digits)-2:])
	if len(digits) == 11 && (digits[0] == '7' || digits[0] == '8') {
		return "+7 *** ***-**-" + last
	}
	return "*** " + last
}

// MaskNumber hides the middle of an account number so that a person who holds
// several accounts on one phone can tell them apart, while a stranger learns
// little: "1000234567" becomes "10*****567".
func MaskNumber(number string) string {
	if len(number) <= 5 {
		return number[:1] + "***"
	}
	masked := []byte(number)
	for i := 2; i < len(masked)-3; i++ {
		masked[i] = '*'
	}
	return string(masked)
}
