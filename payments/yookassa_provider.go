package payments

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// ProviderYooKassa names YooKassa in the ledger (payments.provider) and in
// created_payments.
const ProviderYooKassa = "yookassa"

// CreatedStore records the payments the bot creates at YooKassa before it
// calls the API; billing/postgres implements it. Declared here, where it is
// used, so the provider needs nothing else of the billing store.
type CreatedStore interface {
	// StartPayment records the intent under its idempotence key, or returns
	// the one already recorded under it.
	StartPayment(ctx context.Context, provider, idempotenceKey string, accountID int64, amount money.Amount) (billing.CreatedPayment, error)
	// SetProviderPayment stores YooKassa's id and confirmation URL.
	SetProviderPayment(ctx context.Context, idempotenceKey, providerPaymentID, confirmationURL string) error
}

// YooKassaProvider creates a payment at YooKassa for each pay request and
// answers with its confirmation URL.
type YooKassaProvider struct {
	client    *YooKassa
	store     CreatedStore
	returnURL string
	// attempts and pause govern repeating a create whose answer was lost.
	attempts int
	pause    time.Duration
}

// NewYooKassaProvider returns the provider. returnURL is where YooKassa's
// page sends the payer back, usually the bot's https://t.me/<name> link.
func NewYooKassaProvider(client *YooKassa, store CreatedStore, returnURL string) *YooKassaProvider {
	return &YooKassaProvider{client: client, store: store, returnURL: returnURL, attempts: 3, pause: 300 * time.Millisecond}
}

// PayURL records the intent, then creates the payment with an
// Idempotence-Key derived from r.Key. A network failure or a 5xx is repeated
// with the same key; YooKassa answers a repeat with the payment the first
// request created, so there is never a second one. A repeated request (a
// double tap) that finds the confirmation URL already stored answers with it
// without calling YooKassa at all.
func (p *YooKassaProvider) PayURL(ctx context.Context, r Request) (_ string, err error) {
	defer wrapErr(&err, "payments: yookassa pay url")
	if err := checkRequest(r); err != nil || r.Key == "" {
		return "", ErrBadRequest
	}
	key := IdempotenceKey(r.Key)
	created, err := p.store.StartPayment(ctx, ProviderYooKassa, key, r.AccountID, r.Amount)
	if err != nil {
		return "", err
	}
	if created.ConfirmationURL != "" {
		return created.ConfirmationURL, nil
	}
	np := NewPayment{
		Amount:         created.Amount,
		Description:    fmt.Sprintf("Лицевой счёт %s", created.AccountNumber),
		ReturnURL:      p.returnURL,
		Account:        created.AccountNumber,
		IdempotenceKey: key,
	}
	var yp YooPayment
	for attempt := 1; ; attempt++ {
		yp, err = p.client.Create(ctx, np)
		if err == nil || attempt >= p.attempts || !temporary(err) {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(attempt) * p.pause):
		}
	}
	if err != nil {
		return "", err
	}
	if yp.ConfirmationURL == "" {
		return "", errors.New("payment created without a confirmation URL")
	}
	if err := p.store.SetProviderPayment(ctx, key, yp.ID, yp.ConfirmationURL); err != nil {
		return "", err
	}
	return yp.ConfirmationURL, nil
}

// temporary: worth repeating with the same idempotence key.
func temporary(err error) bool {
	var ye *YooKassaError
	if errors.As(err, &ye) {
		return ye.Temporary()
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// A connection closed without an answer surfaces as io.EOF or
	// io.ErrUnexpectedEOF inside *url.Error's cause; everything that is not
	// an API answer is a transport failure here.
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
