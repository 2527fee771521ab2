package dialogs

import (
	"context"
	"errors"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Accounts is what the dialogs need to know about a person's accounts. It
// is declared here, where it is used. Two parts answer it: what a billing
// system holds (BillingAccounts) and what Kabinet keeps for itself, which
// accounts a Telegram user linked and which is current (Links);
// NewAccounts composes them, and tests may fake the whole.
//
// Every method that takes a userID and an accountID answers only for an
// account linked to that Telegram user (billing.ErrNotFound otherwise): that
// is the authorisation check for every button that names an account, made
// in one place (NewAccounts' LinkedAccount).
type Accounts interface {
	// AccountByNumber finds an account by its number (ASCII digits).
	AccountByNumber(ctx context.Context, number string) (billing.Account, error)
	// AccountsByPhone lists the open (not closed) accounts whose contract phone is phone (E.164).
	AccountsByPhone(ctx context.Context, phone string) ([]billing.Account, error)
	// LinkedAccounts lists the accounts linked to a Telegram user, oldest link first.
	LinkedAccounts(ctx context.Context, userID int64) ([]billing.Account, error)
	// LinkedAccount returns one account if it is linked to the user.
	LinkedAccount(ctx context.Context, userID, accountID int64) (billing.Account, error)
	// Link links an account to a Telegram user and makes it the current one.
	// Linking an already linked account is not an error. It returns
	// billing.ErrLinkLimit when the user already has max other accounts.
	Link(ctx context.Context, userID, accountID int64, max int) error
	// Unlink removes the link; the current account moves to another linked one.
	Unlink(ctx context.Context, userID, accountID int64) error
	// CurrentAccount returns the user's current account (billing.ErrNotFound if none is linked).
	CurrentAccount(ctx context.Context, userID int64) (billing.Account, error)
	// SetCurrent makes a linked account the current one.
	SetCurrent(ctx context.Context, userID, accountID int64) error
	// RecentPayments lists the last n payments to an account, newest first.
	RecentPayments(ctx context.Context, accountID int64, n int) ([]billing.Payment, error)
	// Language returns the language the user chose with /language ("" if never chosen).
	Language(ctx context.Context, userID int64) (string, error)
	// SetLanguage stores the user's language choice.
	SetLanguage(ctx context.Context, userID int64, lang string) error
}

// BillingAccounts is what a billing system answers about accounts and
// their payments: a provider with another billing implements exactly this
// (billing/postgres is the demo's). It knows nothing of Telegram users.
type BillingAccounts interface {
	// AccountByNumber finds an account by its number (ASCII digits), whatever its status.
	AccountByNumber(ctx context.Context, number string) (billing.Account, error)
	// AccountByID finds an account by the billing's id (billing.ErrNotFound if there is none).
	AccountByID(ctx context.Context, id int64) (billing.Account, error)
	// AccountsByPhone lists the open (not closed) accounts whose contract phone is phone (E.164), oldest first.
	AccountsByPhone(ctx context.Context, phone string) ([]billing.Account, error)
	// RecentPayments lists the last n payments to an account, newest first.
	RecentPayments(ctx context.Context, accountID int64, n int) ([]billing.Payment, error)
}

// Links is Kabinet's own record of a Telegram user's accounts, by the
// billing's ids: which are linked, which is current, and the language the
// user chose. kabinetdb.Links implements it in PostgreSQL.
type Links interface {
	// LinkedIDs lists the linked accounts' ids, oldest link first.
	LinkedIDs(ctx context.Context, userID int64) ([]int64, error)
	// IsLinked says whether the account is linked to the user.
	IsLinked(ctx context.Context, userID, accountID int64) (bool, error)
	// CurrentID is the current account's id (billing.ErrNotFound if none is linked).
	CurrentID(ctx context.Context, userID int64) (int64, error)
	// Link links an account (found in the billing) and makes it current;
	// billing.ErrLinkLimit when the user already has max other accounts.
	Link(ctx context.Context, userID, accountID int64, max int) error
	// Unlink removes the link (billing.ErrNotFound if there is none).
	Unlink(ctx context.Context, userID, accountID int64) error
	// SetCurrent makes a linked account current (billing.ErrNotFound if not linked).
	SetCurrent(ctx context.Context, userID, accountID int64) error
	// Language returns the language the user chose with /language ("" if never chosen).
	Language(ctx context.Context, userID int64) (string, error)
	// SetLanguage stores the user's language choice.
	SetLanguage(ctx context.Context, userID int64, lang string) error
}

// Codes issues and checks the one-time codes that prove a person holds the
// phone on a contract. otp.Service implements it on Redis. Every limit of the
// design (resend pause, hourly and daily caps, checks per code, the growing
// lock) is enforced behind this interface; dialogs only explain the outcome.
//
// Send and Check take the Key of the event that asks (Event.Key): a call
// with a key seen before gives the answer that call gave, and sends,
// consumes and counts nothing again. That is what lets an update delivered
// again after a crash between the side effect and the turn's commit get the
// same answer: the right code it carried is still right ("" keys nothing).
type Codes interface {
	// AllowLookup records that userID looked up an account number and reports
	// whether the user is still within the daily number of distinct numbers.
	// Looking up a number counted before is free, so it needs no key.
	AllowLookup(ctx context.Context, userID int64, accountNumber string) (bool, error)
	// Send issues a new code bound to (userID, accountID), to go by SMS to
	// phone when Deliver is called with the same key; Send itself calls no
	// gateway, so a turn never waits for one. Only the newest code of that
	// pair is valid afterwards. A key seen before answers the same
	// SendResult (or error) and issues nothing again.
	// An empty phone is a decoy, for an account number that does not exist:
	// every limit is counted and a code is stored exactly as for a real send,
	// but no SMS goes out, so the answer gives nothing away.
	Send(ctx context.Context, key string, userID, accountID int64, phone string, lang string) (SendResult, error)
	// Check checks a typed code for (userID, accountID). A successful check
	// consumes the code. A key seen before gets the verdict it got then
	// (CheckOK again for the right code), taking no check and counting no
	// failure again.
	Check(ctx context.Context, key string, userID, accountID int64, code string) (CheckResult, error)
	// Deliver sends the SMS of the code that Send issued under key (phone
	// "" for a decoy: nothing is sent, but it takes about as long). It is
	// called after the turn that called Send was saved, outside the
	// conversation's lock, and again if the process died before its answer
	// was saved: a code delivered before is not sent again. It answers
	// ErrCodeUndelivered when the gateway refused the SMS or the code is no
	// longer the one to send (expired, replaced): the code is then withdrawn
	// and the resend pause given back. Other errors pass: call again.
	Deliver(ctx context.Context, key string, userID, accountID int64, phone string) error
}

// ErrCodeUndelivered is Deliver's answer for a code that will not reach
// the person.
var ErrCodeUndelivered = errors.New("the code's SMS was not delivered")

// SendResult tells whether a code went out and, if not, until when the person must wait.
type SendResult struct {
	Sent       bool
	RetryAfter time.Duration // how long until a code may be requested again (when !Sent)
	Locked     bool          // the pair is locked after too many failures
}

// CheckOutcome is the verdict on a typed code.
type CheckOutcome int

// The verdicts on a typed code.
const (
	CheckOK      CheckOutcome = iota // right code: the account may be linked
	CheckWrong                       // wrong code; TriesLeft says how many checks remain
	CheckExpired                     // no valid code: expired, used, replaced, or out of checks
	CheckLocked                      // too many failures: locked until RetryAfter passes
)

// CheckResult is the verdict with the numbers a person needs to hear.
type CheckResult struct {
	Outcome    CheckOutcome
	TriesLeft  int
	RetryAfter time.Duration
}

// Notifier sends one-off SMS texts that are not codes (the "a Telegram account
// was linked" notice), once per key: the turn that links an account may run
// again when its update is delivered again after a crash, and the notice
// must go out once, not twice and not never. otp.Service implements it (a
// mark in Redis, claimed before the gateway is called and set when it
// answered; it is sent twice only when the process dies between those
// two). An implementation must not hold a lock or a transaction while it
// calls the gateway. "" keys nothing.
type Notifier interface {
	Notify(ctx context.Context, key, phone, text string) error
}

// SelfService is what Kabinet needs from a billing system for a
// subscriber's self-service: read the tariffs an account may move to, its
// services, usage and operations; ask for a freeze or its end, a tariff
// change or its cancellation, a service connected or disconnected. It is
// declared here, where it is used, so that any billing (the demo one in
// billing/postgres, a provider's over HTTP) implements exactly this.
//
// The caller has authorised the account (Accounts.LinkedAccount). Each
// change takes a billing.ChangeRequest whose Key names the asking event:
// the same key again answers as the first call did (changed true again)
// and changes nothing twice; another key asking for the state the account
// is in already (a second tap) changes nothing and answers changed false.
// A change the provider's rules refuse is a *billing.FreezeRefusal or a
// *billing.TariffRefusal: the adapter applies billing.CanFreeze and
// billing.CheckTariffChange under its own lock to the facts it holds.
type SelfService interface {
	// Tariffs is the account's plan, the plans of its city and kind it may
	// move to, and a change waiting for the next period.
	Tariffs(ctx context.Context, accountID int64) (billing.Tariffs, error)
	// Services lists every service with whether the account has it.
	Services(ctx context.Context, accountID int64) ([]billing.ServiceOption, error)
	// Usage is the traffic of the days from from's date up to to's date.
	Usage(ctx context.Context, accountID int64, from, to time.Time) ([]billing.UsageDay, error)
	// Operations are the payments, charges, freezes and tariff changes
	// between from and to, oldest first.
	Operations(ctx context.Context, accountID int64, from, to time.Time) ([]billing.Operation, error)
	// FreezeState is the freeze running or scheduled (nil if none) and
	// how many freezes began or are to begin in year.
	FreezeState(ctx context.Context, accountID int64, year int) (*billing.Freeze, int, error)
	// Freeze freezes the account for days from start's date.
	Freeze(ctx context.Context, req billing.ChangeRequest, accountID int64, start time.Time, days int, now time.Time, rules billing.FreezeRules) (billing.Freeze, bool, error)
	// Unfreeze ends a running freeze early or cancels a scheduled one.
	Unfreeze(ctx context.Context, req billing.ChangeRequest, accountID int64, now time.Time) (bool, error)
	// ChangeTariff moves the account to tariffID from its next charge day.
	ChangeTariff(ctx context.Context, req billing.ChangeRequest, accountID, tariffID int64, now time.Time) (billing.TariffChange, bool, error)
	// CancelTariffChange withdraws the change waiting for the next period.
	CancelTariffChange(ctx context.Context, req billing.ChangeRequest, accountID int64, now time.Time) (bool, error)
	// SetService connects (on) or disconnects a service; connecting
	// returns what it charged at once.
	SetService(ctx context.Context, req billing.ChangeRequest, accountID, serviceID int64, on bool, now time.Time) (money.Amount, bool, error)
}

// Charts draws the pictures the self-service sends; charts.Drawer
// implements it with gonum/plot. It is declared here so that dialogs stay
// free of drawing code and a test can count what was drawn.
type Charts interface {
	// UsageChart draws one bar a day and returns a PNG picture.
	UsageChart(c UsageChart) ([]byte, error)
}

// UsageChart is a month's traffic as a chart shows it: one bar a day.
type UsageChart struct {
	Title  string
	XLabel string
	YLabel string
	Days   []int     // the day of the month of each bar
	Values []float64 // gigabytes received that day
}

// NoticePrefs is what one person wants to hear about one account: which
// kinds of notice (low balance, payment received, outages, the trust
// payment ending), how many days before the money runs out (1-7), and
// whether quiet hours hold notices at night. The notices package
// implements the store of them (Notices).
type NoticePrefs struct {
	Low, Payment, Outage, Trust bool
	DaysBefore                  int
	Quiet                       bool
}

// TrustedPerson is someone the holder of an account invited to get its
// low-balance notices.
type TrustedPerson struct {
	UserID int64
	Name   string // the first name Telegram gave when they accepted
	Since  time.Time
}

// TrustedAccount is an account a person gets low-balance notices of as a
// trusted person; they see its number and nothing else.
type TrustedAccount struct {
	AccountID int64
	Number    string
}

// ErrInviteInvalid is AcceptInvite's answer for a link that was used, has
// expired or never existed: the person is told so, whichever it was.
var ErrInviteInvalid = errors.New("the invitation is not valid")

// Notices stores the notification settings and the trusted persons; the
// notices package implements it in PostgreSQL. Every write is idempotent, so
// a turn run again after a crash changes nothing more.
type Notices interface {
	// NoticePrefs are a person's settings for an account (the defaults
	// until they change one).
	NoticePrefs(ctx context.Context, userID, accountID int64) (NoticePrefs, error)
	// SetNoticePrefs stores them.
	SetNoticePrefs(ctx context.Context, userID, accountID int64, p NoticePrefs) error
	// CreateInvite records an invitation by the holder, under key (the
	// press that asked), valid until expires; the token is only in the
	// link, tokenHash its SHA-256. The same key again is the same
	// invitation.
	CreateInvite(ctx context.Context, key string, accountID, holderID int64, tokenHash []byte, now, expires time.Time) error
	// AcceptInvite makes userID a trusted person of the invitation's
	// account, once: the invitation is used up (ErrInviteInvalid for one
	// used, expired or unknown; the same user accepting again is told it
	// worked). It returns the account.
	AcceptInvite(ctx context.Context, tokenHash []byte, userID int64, name string, now time.Time) (TrustedAccount, error)
	// TrustedPersons lists who gets an account's notices as a trusted person.
	TrustedPersons(ctx context.Context, accountID int64) ([]TrustedPerson, error)
	// TrustedAccounts lists the accounts a person is a trusted person of.
	TrustedAccounts(ctx context.Context, userID int64) ([]TrustedAccount, error)
	// EndTrusted ends userID's trusted subscription to an account (either
	// side may); ending one that is over is not an error.
	EndTrusted(ctx context.Context, accountID, userID int64) error
}
