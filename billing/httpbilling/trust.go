package httpbilling

import (
	"context"
	"net/http"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// TrustOffer is the answer of GET /accounts/{id}/trust-offer and of
// POST /accounts/{id}/trust: what a trust payment gives (or gave).
type TrustOffer struct {
	Amount    int64     `json:"amount"`
	Fee       int64     `json:"fee"`
	GrantedAt time.Time `json:"granted_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Balance   int64     `json:"balance"` // after the grant
}

func (o TrustOffer) offer(accountID int64) billing.TrustOffer {
	return billing.TrustOffer{AccountID: accountID, Amount: money.Amount(o.Amount), Fee: money.Amount(o.Fee),
		GrantedAt: o.GrantedAt, ExpiresAt: o.ExpiresAt, Balance: money.Amount(o.Balance)}
}

// OfferTrust implements dialogs.Trust. The billing applies its own rules
// (billing.CheckTrust's) at its own clock, so now and the settings are not
// sent; a refusal is a *billing.TrustRefusal.
func (c *Client) OfferTrust(ctx context.Context, accountID int64, _ time.Time, _ billing.TrustSettings) (billing.TrustOffer, error) {
	var w TrustOffer
	if err := c.do(ctx, http.MethodGet, accountPath(accountID, "/trust-offer"), billing.ChangeRequest{}, nil, &w); err != nil {
		return billing.TrustOffer{}, err
	}
	return w.offer(accountID), nil
}

// GrantTrust implements dialogs.Trust: key goes as the Idempotency-Key, so
// the same press again is answered with the same grant.
func (c *Client) GrantTrust(ctx context.Context, key string, accountID int64, _ time.Time, _ billing.TrustSettings) (billing.TrustOffer, error) {
	var w TrustOffer
	if err := c.do(ctx, http.MethodPost, accountPath(accountID, "/trust"), billing.ChangeRequest{Key: key}, nil, &w); err != nil {
		return billing.TrustOffer{}, err
	}
	return w.offer(accountID), nil
}
