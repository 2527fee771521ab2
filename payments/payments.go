// Package payments takes money for Kabinet: it makes the link a subscriber
// pays by (the provider's own signed payment page, or a payment created at
// YooKassa), receives YooKassa's notifications and credits them exactly once,
// and runs the scheduled work around payments: the "payment received" push
// and the trust payment's reminder and expiry.
//
// It holds no SQL: the stores it needs are small interfaces declared here and
// implemented by billing/postgres.
package payments

import (
	"context"
	"errors"

	"github.com/kabinet-bot/kabinet/money"
)

// Request is what a subscriber asked to pay: the account and the sum.
type Request struct {
	AccountID     int64
	AccountNumber string // as printed on the contract; it is what the payment page shows
	Amount        money.Amount
	// Key is the business key of this payment intent (for example the user,
	// the account, the sum and the message whose button was pressed). A
	// double tap or a retry after a network failure carries the same key and
	// must not create a second payment.
	Key string
}

// Provider makes the URL a subscriber opens to pay. LinkProvider and
// YooKassaProvider implement it; the configuration chooses one.
type Provider interface {
	PayURL(ctx context.Context, r Request) (string, error)
}

// ErrBadRequest: the request cannot be paid (no account, a sum that is not
// positive). It is a programming error upstream: the dialogs parse sums with
// money.Parse first.
var ErrBadRequest = errors.New("payments: bad request")

func checkRequest(r Request) error {
	if r.AccountID <= 0 || r.AccountNumber == "" || r.Amount <= 0 {
		return ErrBadRequest
	}
	return nil
}
