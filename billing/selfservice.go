package billing

import (
	"time"

	"github.com/kabinet-bot/kabinet/money"
)

// The subscriber's self-service (freeze, tariff, services, usage, the
// statement): what a billing system knows of them, and the provider's
// rules as plain functions over facts, so that every billing adapter
// applies the same rules and a table test covers each.

// TariffPlan is a tariff an account is on or may move to.
type TariffPlan struct {
	ID         int64
	Name       string
	Kind       string // "home" or "business": a plan is offered only to accounts of its kind
	SpeedMbps  int
	MonthlyFee money.Amount
	TV         bool // the plan includes a TV package
}

// TariffChange is a change of tariff asked for and not yet made: it takes
// effect at the start of the next billing period (From).
type TariffChange struct {
	To   TariffPlan
	From time.Time
}

// Tariffs is an account's tariff screen: the plan it is on, the plans it
// may move to (its city's, of its kind), and a change waiting for the next
// period, if any.
type Tariffs struct {
	Current   TariffPlan
	Available []TariffPlan
	Pending   *TariffChange
}

// ServiceOption is an optional service (static IP, a TV package,
// antivirus...) an account has or may connect.
type ServiceOption struct {
	ID         int64
	Name       string
	Kind       string // "tv" for TV packages, "extra" for the rest
	MonthlyFee money.Amount
	Connected  bool
}

// Freeze is a voluntary block ("добровольная блокировка") of an account,
// from the start of Start's day to the start of End's day, in the
// account's time zone.
type Freeze struct {
	ID    int64
	Start time.Time
	End   time.Time
	// Active: the account is frozen now; otherwise the freeze is scheduled.
	Active bool
}

// Days is the freeze's length in calendar days.
func (f Freeze) Days() int { return CalendarDays(f.Start, f.End) }

// UsageDay is one day of an account's traffic.
type UsageDay struct {
	Day             time.Time // midnight of the day, in the account's zone
	BytesIn         int64
	BytesOut        int64
	Sessions        int
	SessionsSeconds int64 // the sessions' length together
}

// OperationKind names what an operation of the statement was.
type OperationKind string

// The operations a statement lists.
const (
	OpPayment OperationKind = "payment" // money paid in
	OpTrust   OperationKind = "trust"   // a trust payment credited
	OpCharge  OperationKind = "charge"  // the monthly charge, a service's first part, the freeze fee
	OpFreeze  OperationKind = "freeze"  // a freeze began
	OpThaw    OperationKind = "thaw"    // a freeze ended
	OpTariff  OperationKind = "tariff"  // the tariff changed
)

// Operation is one line of an account's statement. Amount is signed: a
// payment adds, a charge takes away (negative); 0 for events without money.
type Operation struct {
	At     time.Time
	Kind   OperationKind
	Amount money.Amount
	// What names the operation for a person: the channel of a payment,
	// the tariff or service of a charge, the new tariff.
	What string
}

// FreezeRules are the provider's rules for freezes; config reads them from
// the environment.
type FreezeRules struct {
	MinDays, MaxDays int
	// PerYear is how many freezes may begin in one calendar year.
	PerYear int
	// Fee is charged on a charge day within a freeze, instead of the
	// tariff and services (0 at the seed provider).
	Fee money.Amount
	// AheadDays is how many days ahead a freeze may be asked to begin
	// (0: only today).
	AheadDays int
}

// DefaultFreezeRules are the seed provider's: 7 to 90 days, twice a year,
// free, beginning within 30 days.
func DefaultFreezeRules() FreezeRules {
	return FreezeRules{MinDays: 7, MaxDays: 90, PerYear: 2, AheadDays: 30}
}

// FreezeFacts is what the freeze rules look at.
type FreezeFacts struct {
	Status  Status
	Balance money.Amount
	// Today is the account's today (midnight in its zone), Start the asked
	// first day.
	Today, Start time.Time
	Days         int
	// FreezesThisYear is how many freezes began (or are to begin) in
	// Start's calendar year.
	FreezesThisYear int
	// Planned: a freeze is running or scheduled already.
	Planned bool
}

// FreezeReason names why a freeze is refused; each has its own text.
type FreezeReason string

// The reasons a freeze is refused.
const (
	FreezeNotActive FreezeReason = "not_active" // blocked for debt or closed: nothing to freeze
	FreezePlanned   FreezeReason = "planned"    // frozen already, or one is scheduled
	FreezeTooShort  FreezeReason = "too_short"
	FreezeTooLong   FreezeReason = "too_long"
	FreezeYearLimit FreezeReason = "year_limit" // PerYear freezes this year already
	FreezeStartPast FreezeReason = "start_past"
	FreezeStartFar  FreezeReason = "start_far" // more than AheadDays ahead
	FreezeNoMoney   FreezeReason = "no_money"  // the freeze fee is more than the balance
)

// FreezeRefusal is the error CanFreeze returns when the rules say no.
type FreezeRefusal struct {
	Reason FreezeReason
}

func (r *FreezeRefusal) Error() string { return "freeze refused: " + string(r.Reason) }

// CanFreeze says whether a freeze of f.Days from f.Start is allowed by the
// rules; a refusal is a *FreezeRefusal.
func CanFreeze(f FreezeFacts, r FreezeRules) error {
	refuse := func(reason FreezeReason) error { return &FreezeRefusal{Reason: reason} }
	switch {
	case f.Status == StatusFrozen || f.Planned:
		return refuse(FreezePlanned)
	case f.Status != StatusActive:
		return refuse(FreezeNotActive)
	case f.Days < r.MinDays:
		return refuse(FreezeTooShort)
	case r.MaxDays > 0 && f.Days > r.MaxDays:
		return refuse(FreezeTooLong)
	case f.Start.Before(f.Today):
		return refuse(FreezeStartPast)
	case CalendarDays(f.Today, f.Start) > r.AheadDays:
		return refuse(FreezeStartFar)
	case r.PerYear > 0 && f.FreezesThisYear >= r.PerYear:
		return refuse(FreezeYearLimit)
	case r.Fee > 0 && f.Balance < r.Fee:
		return refuse(FreezeNoMoney)
	}
	return nil
}

// TariffFacts is what the tariff-change rules look at.
type TariffFacts struct {
	Status  Status
	Balance money.Amount
	Current TariffPlan
	Target  TariffPlan
	// Offered: the target is among the plans of the account's city and kind.
	Offered bool
	// Services is the monthly fee of the account's services, which stay.
	Services money.Amount
}

// TariffReason names why a tariff change is refused.
type TariffReason string

// The reasons a tariff change is refused.
const (
	TariffSame       TariffReason = "same"        // the account is on it already
	TariffNotOffered TariffReason = "not_offered" // not for this city or kind
	TariffClosed     TariffReason = "closed"      // contract terminated
)

// TariffRefusal is the error CheckTariffChange returns when the rules say no.
type TariffRefusal struct {
	Reason TariffReason
}

func (r *TariffRefusal) Error() string { return "tariff change refused: " + string(r.Reason) }

// TariffVerdict is what a subscriber must know before confirming a change.
type TariffVerdict struct {
	// FirstMonth is what the first month on the new plan costs, services included.
	FirstMonth money.Amount
	// Short is how much the balance lacks to pay that first month (0 when
	// it is enough): said before the confirmation, not a refusal, since a
	// payment before the period starts pays it.
	Short money.Amount
	// Difference is the new monthly charge less the current one.
	Difference money.Amount
}

// CheckTariffChange applies the tariff rules; a refusal is a *TariffRefusal.
func CheckTariffChange(f TariffFacts) (TariffVerdict, error) {
	switch {
	case f.Status == StatusClosed:
		return TariffVerdict{}, &TariffRefusal{Reason: TariffClosed}
	case f.Target.ID == f.Current.ID:
		return TariffVerdict{}, &TariffRefusal{Reason: TariffSame}
	case !f.Offered:
		return TariffVerdict{}, &TariffRefusal{Reason: TariffNotOffered}
	}
	v := TariffVerdict{
		FirstMonth: f.Target.MonthlyFee + f.Services,
		Difference: f.Target.MonthlyFee - f.Current.MonthlyFee,
	}
	if f.Balance < v.FirstMonth {
		v.Short = v.FirstMonth - f.Balance
	}
	return v, nil
}

// ServiceFirstPart is what connecting a service costs at once: its fee for
// the days left until the next charge day, of the period's days (a whole
// fee when the period starts today). From the next charge day it is part
// of the monthly charge.
func ServiceFirstPart(fee money.Amount, today, nextCharge time.Time) money.Amount {
	periodStart := nextCharge.AddDate(0, -1, 0)
	period := CalendarDays(periodStart, nextCharge)
	left := CalendarDays(today, nextCharge)
	if period <= 0 || left <= 0 {
		return 0
	}
	if left > period {
		left = period
	}
	return money.Amount(int64(fee) * int64(left) / int64(period))
}

// ChargeFor is what an account pays on a charge day: the monthly charge,
// or the freeze fee when the day falls within a freeze.
func ChargeFor(monthly money.Amount, frozen bool, r FreezeRules) money.Amount {
	if frozen {
		return r.Fee
	}
	return monthly
}

// ChangeRequest names a change a subscriber asked for, for the audit trail
// and the idempotency of the billing call.
type ChangeRequest struct {
	// Key is the asking event's key: the same request delivered again is
	// answered as it was, never changed twice.
	Key    string
	UserID int64 // the Telegram user who asked
}
