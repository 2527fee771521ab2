package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/httpbilling"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/dialogs"
)

// selfServiceBilling is the billing the self-service asks: a provider's
// over HTTP when SELFSERVICE_BILLING_URL is set, else the demo billing.
func selfServiceBilling(cfg config.Config, demo *postgres.Store) dialogs.SelfService {
	if cfg.SelfServiceBillingURL == "" {
		return demo
	}
	return httpbilling.New(cfg.SelfServiceBillingURL, cfg.SelfServiceBillingToken, nil)
}

// freezeRules are the provider's freeze rules from the settings.
func freezeRules(cfg config.Config) billing.FreezeRules {
	return billing.FreezeRules{MinDays: cfg.FreezeMinDays, MaxDays: cfg.FreezeMaxDays, PerYear: cfg.FreezePerYear,
		Fee: cfg.FreezeFee, AheadDays: cfg.FreezeAheadDays}
}

// runBillingCycle runs the demo billing's day every interval until ctx
// ends, at the clock's time: a test moves the clock and the cycle follows.
// Every instance runs it; a charge is unique per account and charge day,
// so two at once charge once. A failure is logged and tried at the next tick.
func runBillingCycle(ctx context.Context, store *postgres.Store, every time.Duration, now func() time.Time, rules billing.FreezeRules, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		n, err := store.RunCycle(ctx, now(), rules)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("billing cycle failed, retrying", "err", err)
		case n > 0:
			log.Info("billing cycle charged", "charges", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
