package payments

import (
	"context"
	"net/url"
	"strings"

	"github.com/kabinet-bot/kabinet/money"
)

// Payer is what the dialogs call to pay (it implements dialogs.Payments):
// the configured provider for payment links, and the autopay page.
type Payer struct {
	provider Provider
	autopay  string
}

// NewPayer wraps the configured provider. autopayTemplate is the provider's
// autopay set-up page with {account} where the account number goes, e.g.
// "https://pay.example.ru/autopay?account={account}".
func NewPayer(p Provider, autopayTemplate string) *Payer {
	return &Payer{provider: p, autopay: autopayTemplate}
}

// PayURL returns the payment page URL for the sum (see Provider).
func (p *Payer) PayURL(ctx context.Context, accountID int64, accountNumber string, amount money.Amount, key string) (string, error) {
	return p.provider.PayURL(ctx, Request{AccountID: accountID, AccountNumber: accountNumber, Amount: amount, Key: key})
}

// AutopayURL fills the account number into the autopay page template.
func (p *Payer) AutopayURL(accountNumber string) string {
	return strings.ReplaceAll(p.autopay, "{account}", url.QueryEscape(accountNumber))
}
