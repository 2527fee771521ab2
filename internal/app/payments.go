package app

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/payments"
)

// yooKassaWebhookPath is where YooKassa posts its notifications, on
// HTTP_ADDR: set https://<public host>/yookassa/webhook as the notification
// URL in YooKassa's cabinet.
const yooKassaWebhookPath = "/yookassa/webhook"

// newPayments builds what the Pay button needs: the configured provider
// behind a Payer, and the YooKassa client when YooKassa credentials are set
// (nil otherwise). The client is returned even with PAY_PROVIDER=link, so
// that payments created before a switch from YooKassa are still credited
// when their notifications arrive.
func newPayments(cfg config.Config, store *postgres.Store, botUsername string, now func() time.Time) (*payments.Payer, *payments.YooKassa, error) {
	var yk *payments.YooKassa
	if cfg.YooKassaShopID != "" {
		yk = payments.NewYooKassa(cfg.YooKassaAPIURL, cfg.YooKassaShopID, cfg.YooKassaSecretKey, &http.Client{Timeout: 30 * time.Second})
	}
	var provider payments.Provider
	switch cfg.PayProvider {
	case config.PayProviderYooKassa:
		returnURL := cfg.YooKassaReturnURL
		if returnURL == "" {
			// After paying, the person lands back in the chat.
			returnURL = "https://t.me/" + botUsername
		}
		provider = payments.NewYooKassaProvider(yk, store, returnURL)
	default:
		p, err := payments.NewLinkProvider(cfg.PayLinkTemplate, cfg.PayLinkSecret, cfg.PayLinkTTL, now)
		if err != nil {
			return nil, nil, fmt.Errorf("PAY_LINK_TEMPLATE: %w", err)
		}
		provider = p
	}
	return payments.NewPayer(provider, cfg.AutopayURLTemplate), yk, nil
}

// trustSettings are the provider's trust-payment rules from the configuration.
func trustSettings(cfg config.Config) billing.TrustSettings {
	return billing.TrustSettings{
		Days:           cfg.TrustDays,
		Amount:         cfg.TrustAmount,
		Fee:            cfg.TrustFee,
		RequirePayment: cfg.TrustRequirePayment,
		Location:       cfg.TimeZone,
	}
}
