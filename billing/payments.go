package billing

import (
	"fmt"
	"time"

	"github.com/kabinet-bot/kabinet/money"
)

// TrustSettings are the provider's rules for trust payments. The defaults
// (DefaultTrustSettings) follow the seed provider: 3 days, the monthly fee,
// free, and not again before a real payment.
type TrustSettings struct {
	// Days the trust payment lasts.
	Days int
	// Amount credited; 0 means the account's monthly charge (tariff and services).
	Amount money.Amount
	// Fee taken for the service (0 at the seed provider).
	Fee money.Amount
	// RequirePayment refuses a new trust payment until a real payment has
	// arrived since the last one, so that trust payments cannot chain.
	RequirePayment bool
	// Location is the provider's time zone: "once per calendar month" is
	// judged by its calendar.
	Location *time.Location
}

// DefaultTrustSettings returns the seed provider's rules in loc.
func DefaultTrustSettings(loc *time.Location) TrustSettings {
	return TrustSettings{Days: 3, RequirePayment: true, Location: loc}
}

// TrustReason names why a trust payment is refused; each has its own text.
type TrustReason string

// The reasons a trust payment is refused.
const (
	TrustBalanceEnough TrustReason = "balance_enough" // the balance covers the monthly charge and the account is not blocked
	TrustFrozen        TrustReason = "frozen"         // voluntary block: nothing is charged, nothing to trust
	TrustClosed        TrustReason = "closed"         // contract terminated
	TrustUsedThisMonth TrustReason = "used_month"     // already taken this calendar month; From is the 1st of the next
	TrustNoPayment     TrustReason = "no_payment"     // no real payment since the last trust payment
)

// TrustRefusal is the error GrantTrust and OfferTrust return when the rules
// say no. From, when not zero, is the moment from which it becomes possible
// (midnight of the 1st of next month in the provider's time zone).
type TrustRefusal struct {
	Reason TrustReason
	From   time.Time
}

func (r *TrustRefusal) Error() string {
	if r.From.IsZero() {
		return fmt.Sprintf("trust payment refused: %s", r.Reason)
	}
	return fmt.Sprintf("trust payment refused: %s until %s", r.Reason, r.From.Format(time.DateOnly))
}

// TrustOffer is what a subscriber gets from a trust payment: the amount,
// the fee and until when, shown before "Confirm" and returned by the grant.
type TrustOffer struct {
	AccountID int64
	Amount    money.Amount
	Fee       money.Amount
	GrantedAt time.Time
	ExpiresAt time.Time
	// Balance is the balance after the grant (only from GrantTrust).
	Balance money.Amount
}

// TrustPayment is a granted trust payment as the scheduler sees it.
type TrustPayment struct {
	ID            int64
	AccountID     int64
	AccountNumber string
	Amount        money.Amount
	ExpiresAt     time.Time
	TimeZone      string       // the account's city's zone, for the date in the reminder
	Balance       money.Amount // the balance now
}

// TrustReminder is the "your trust payment ends tomorrow" message due to one
// Telegram user linked to the account. Each recipient has a reminder of its
// own, so that a send that fails for one is retried for that one alone.
type TrustReminder struct {
	TrustPayment // ID is the trust payment's
	Recipient    Recipient
	Attempts     int // failed sends so far
}

// Recipient is a Telegram user a notice goes to, with the language chosen
// with /language ("" if none: the provider's default).
type Recipient struct {
	UserID   int64
	Language string
}

// CreatedPayment is a payment the bot created at an acquirer, as recorded
// before the API call: what the webhook compares a re-fetched payment with.
type CreatedPayment struct {
	Provider          string
	IdempotenceKey    string
	AccountID         int64
	AccountNumber     string
	Amount            money.Amount
	ProviderPaymentID string // "" until the acquirer answered
	ConfirmationURL   string
	Status            string // new, pending, succeeded, canceled
}

// PaymentNotice is one "payment received" message due to one Telegram user.
type PaymentNotice struct {
	PaymentID      int64
	TelegramUserID int64
	Language       string // the user's /language choice, "" if none
	AccountID      int64
	AccountNumber  string
	Amount         money.Amount
	Balance        money.Amount // the account's balance when the notice is sent
	Channel        string
	PaidAt         time.Time
	Attempts       int // failed sends so far
}

// TrustFacts is what the trust-payment rules look at, as a billing knows it
// at the moment of the request.
type TrustFacts struct {
	Status  Status
	Balance money.Amount
	// MonthlyCharge is the tariff's and the services' monthly fees.
	MonthlyCharge money.Amount
	// UsedThisMonth: a trust payment was granted in the calendar month of
	// the request (TrustMonth).
	UsedThisMonth bool
	// TrustedBefore: any trust payment was ever granted to the account.
	TrustedBefore bool
	// PaidSinceTrust: a real payment (not a trust payment) arrived after
	// the last trust payment was granted.
	PaidSinceTrust bool
}

// TrustMonth is the first day of now's calendar month in the provider's
// time zone: "once per calendar month" is judged by it.
func TrustMonth(now time.Time, set TrustSettings) time.Time {
	loc := set.Location
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	return time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
}

// CheckTrust applies the trust-payment rules to the facts, in the order a
// subscriber understands them: the account's state, then the balance, then
// the month, then the payment since the last trust payment. It returns what
// a grant at now gives (AccountID left for the caller), or a *TrustRefusal.
// Every billing adapter calls it with the facts it holds, under its own
// lock when it grants.
func CheckTrust(f TrustFacts, now time.Time, set TrustSettings) (TrustOffer, error) {
	switch {
	case f.Status == StatusFrozen:
		return TrustOffer{}, &TrustRefusal{Reason: TrustFrozen}
	case f.Status == StatusClosed:
		return TrustOffer{}, &TrustRefusal{Reason: TrustClosed}
	case f.Status != StatusBlocked && f.Balance >= f.MonthlyCharge:
		return TrustOffer{}, &TrustRefusal{Reason: TrustBalanceEnough}
	case f.UsedThisMonth:
		return TrustOffer{}, &TrustRefusal{Reason: TrustUsedThisMonth, From: TrustMonth(now, set).AddDate(0, 1, 0)}
	case set.RequirePayment && f.TrustedBefore && !f.PaidSinceTrust:
		return TrustOffer{}, &TrustRefusal{Reason: TrustNoPayment}
	}
	amount := set.Amount
	if amount <= 0 {
		amount = f.MonthlyCharge
	}
	if amount <= 0 {
		// Nothing is charged on this tariff: nothing to trust.
		return TrustOffer{}, &TrustRefusal{Reason: TrustBalanceEnough}
	}
	days := set.Days
	if days <= 0 {
		days = 3
	}
	return TrustOffer{
		Amount:    amount,
		Fee:       set.Fee,
		GrantedAt: now,
		ExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour),
		Balance:   f.Balance + amount - set.Fee,
	}, nil
}
