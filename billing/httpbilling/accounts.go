package httpbilling

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Account is an account as the API answers it (GET /accounts/{id}).
type Account struct {
	ID        int64         `json:"id"`
	Number    string        `json:"number"`
	Phone     string        `json:"phone"` // E.164; personal data
	City      string        `json:"city"`
	CityEN    string        `json:"city_en,omitempty"`
	TimeZone  string        `json:"time_zone"`
	Status    string        `json:"status"`
	Balance   int64         `json:"balance"`
	Tariff    Charge        `json:"tariff"`
	Services  []Charge      `json:"services"`
	ChargeDay int           `json:"charge_day"`
	BlockedAt *time.Time    `json:"blocked_at,omitempty"`
	OpenedAt  time.Time     `json:"opened_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Trust     *AccountTrust `json:"trust,omitempty"`
	// PaidUntil is the instant the service stops without a payment, as the
	// billing computes it; absent when nothing is charged.
	PaidUntil   *time.Time `json:"paid_until,omitempty"`
	FrozenUntil string     `json:"frozen_until,omitempty"` // the day a running freeze ends
}

// Charge is a tariff or a service with its monthly fee.
type Charge struct {
	Name       string `json:"name"`
	MonthlyFee int64  `json:"monthly_fee"`
}

// AccountTrust is the trust payment running on an account.
type AccountTrust struct {
	Amount    int64     `json:"amount"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Lookup is the body of POST /accounts/lookup: one of the two. A POST, so
// that a phone is never in a URL (and an access log).
type Lookup struct {
	Number string `json:"number,omitempty"`
	Phone  string `json:"phone,omitempty"`
}

// Accounts is the answer of POST /accounts/lookup.
type Accounts struct {
	Accounts []Account `json:"accounts"`
}

// Payment is one payment to an account.
type Payment struct {
	ID       int64     `json:"id"`
	Amount   int64     `json:"amount"`
	Channel  string    `json:"channel"`
	PaidAt   time.Time `json:"paid_at"`
	Provider string    `json:"provider"`
}

func (w Account) account() (billing.Account, error) {
	a := billing.Account{
		ID: w.ID, Number: w.Number, Phone: w.Phone, City: w.City, CityEN: w.CityEN, TimeZone: w.TimeZone,
		Status: billing.Status(w.Status), Balance: money.Amount(w.Balance), ChargeDay: w.ChargeDay,
		Tariff:   billing.Tariff{Name: w.Tariff.Name, MonthlyFee: money.Amount(w.Tariff.MonthlyFee)},
		OpenedAt: w.OpenedAt, LastChange: w.UpdatedAt,
	}
	for _, s := range w.Services {
		a.Services = append(a.Services, billing.Service{Name: s.Name, MonthlyFee: money.Amount(s.MonthlyFee)})
	}
	if w.BlockedAt != nil {
		a.BlockedAt = *w.BlockedAt
	}
	if w.Trust != nil {
		a.Trust = &billing.ActiveTrust{Amount: money.Amount(w.Trust.Amount), ExpiresAt: w.Trust.ExpiresAt}
	}
	if w.PaidUntil != nil {
		a.PaidUntil = *w.PaidUntil
	}
	if w.FrozenUntil != "" {
		end, err := day(w.FrozenUntil, zone(w.TimeZone))
		if err != nil {
			return billing.Account{}, fmt.Errorf("httpbilling: account: frozen_until: %w", err)
		}
		a.FrozenUntil = end
	}
	return a, nil
}

// AccountByID implements dialogs.BillingAccounts.
func (c *Client) AccountByID(ctx context.Context, id int64) (billing.Account, error) {
	var w Account
	if err := c.do(ctx, http.MethodGet, accountPath(id, ""), billing.ChangeRequest{}, nil, &w); err != nil {
		return billing.Account{}, err
	}
	return w.account()
}

func (c *Client) lookup(ctx context.Context, l Lookup) ([]billing.Account, error) {
	var w Accounts
	if err := c.do(ctx, http.MethodPost, "/accounts/lookup", billing.ChangeRequest{}, l, &w); err != nil {
		return nil, err
	}
	out := make([]billing.Account, 0, len(w.Accounts))
	for _, wa := range w.Accounts {
		a, err := wa.account()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// AccountByNumber implements dialogs.BillingAccounts: whatever its status.
func (c *Client) AccountByNumber(ctx context.Context, number string) (billing.Account, error) {
	found, err := c.lookup(ctx, Lookup{Number: number})
	if err != nil {
		return billing.Account{}, err
	}
	if len(found) == 0 {
		return billing.Account{}, billing.ErrNotFound
	}
	return found[0], nil
}

// AccountsByPhone implements dialogs.BillingAccounts: the open accounts,
// oldest contract first (the billing leaves the closed ones out).
func (c *Client) AccountsByPhone(ctx context.Context, phone string) ([]billing.Account, error) {
	return c.lookup(ctx, Lookup{Phone: phone})
}

// RecentPayments implements dialogs.BillingAccounts.
func (c *Client) RecentPayments(ctx context.Context, accountID int64, n int) ([]billing.Payment, error) {
	if n <= 0 {
		return nil, nil
	}
	var w []Payment
	if err := c.do(ctx, http.MethodGet, accountPath(accountID, "/payments?limit="+strconv.Itoa(n)), billing.ChangeRequest{}, nil, &w); err != nil {
		return nil, err
	}
	out := make([]billing.Payment, 0, len(w))
	for _, p := range w {
		out = append(out, billing.Payment{ID: p.ID, Amount: money.Amount(p.Amount), Channel: p.Channel, PaidAt: p.PaidAt, Provider: p.Provider})
	}
	return out, nil
}
