package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// YooKassaNetworks are the addresses YooKassa sends notifications from, as
// published in its documentation. YOOKASSA_ALLOWED_IPS replaces them.
const YooKassaNetworks = "185.71.76.0/27,185.71.77.0/27,77.75.153.0/25,77.75.156.11,77.75.156.35,77.75.154.128/25,2a02:5180::/32"

// ParseNetworks reads a comma-separated list of CIDR ranges and single
// addresses ("185.71.76.0/27,77.75.156.11").
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("payments: network %q: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("payments: address %q: %w", f, err)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 {
		return nil, errors.New("payments: no networks")
	}
	return out, nil
}

// PaymentFetcher reads a payment back from YooKassa; *YooKassa implements it.
type PaymentFetcher interface {
	Get(ctx context.Context, id string) (YooPayment, error)
}

// WebhookStore is what the webhook needs from billing; billing/postgres
// implements it.
type WebhookStore interface {
	// CreatedPayment finds what the bot created (billing.ErrNotFound if it did not).
	CreatedPayment(ctx context.Context, provider, providerPaymentID string) (billing.CreatedPayment, error)
	// Credit records and credits a payment once (see billing/postgres.Store.Credit).
	Credit(ctx context.Context, provider, providerPaymentID string, accountID int64, amount money.Amount, channel string, paidAt time.Time) (bool, error)
	// CancelPayment marks a created payment canceled.
	CancelPayment(ctx context.Context, provider, providerPaymentID string) error
}

// WebhookHandler receives YooKassa's HTTP notifications. A notification is
// only a hint: it is accepted only from the allowed networks, and then the
// payment is read back from YooKassa and credited only if YooKassa says it
// succeeded with exactly the amount, the currency and the account the bot
// created it with. It answers 200 only after the credit is committed, so
// YooKassa repeats a notification whose handling failed; one that can never
// succeed (unknown or mismatching payment) is answered 200 and logged, so it
// is not repeated for a day.
//
// The client address is the TCP peer's: put the endpoint behind no proxy,
// or one that keeps the peer address (PROXY protocol).
func WebhookHandler(fetch PaymentFetcher, store WebhookStore, allowed []netip.Prefix, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ip, ok := peerAddr(r)
		if !ok || !inNetworks(ip, allowed) {
			log.Warn("yookassa webhook: refused address", "event", "webhook_forbidden", "ip", ip.String())
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		var n struct {
			Type   string `json:"type"`
			Event  string `json:"event"`
			Object struct {
				ID string `json:"id"`
			} `json:"object"`
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || json.Unmarshal(body, &n) != nil || n.Type != "notification" || n.Object.ID == "" {
			http.Error(w, "bad notification", http.StatusBadRequest)
			return
		}
		outcome, err := handleNotification(r.Context(), fetch, store, n.Object.ID)
		if err != nil {
			log.Error("yookassa webhook: failed", "event", "webhook_error", "payment", n.Object.ID, "err", err)
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		level := slog.LevelInfo
		if outcome == "mismatch" || outcome == "unknown_payment" {
			// Someone may be probing with forged or altered payments.
			level = slog.LevelWarn
		}
		log.Log(r.Context(), level, "yookassa webhook", "event", "webhook_"+outcome, "notification", n.Event, "payment", n.Object.ID)
		w.WriteHeader(http.StatusOK)
	})
}

// handleNotification re-fetches and credits; outcome names what happened,
// for the log.
func handleNotification(ctx context.Context, fetch PaymentFetcher, store WebhookStore, id string) (outcome string, err error) {
	created, err := store.CreatedPayment(ctx, ProviderYooKassa, id)
	if errors.Is(err, billing.ErrNotFound) {
		// Not created by the bot (another shop's integration, or forged):
		// nothing to compare with, so nothing is credited.
		return "unknown_payment", nil
	}
	if err != nil {
		return "", err
	}
	p, err := fetch.Get(ctx, id)
	if err != nil {
		return "", err
	}
	switch p.Status {
	case "succeeded":
	case "canceled":
		return "canceled", store.CancelPayment(ctx, ProviderYooKassa, id)
	default:
		return "not_succeeded", nil
	}
	if p.ID != id || p.Amount != created.Amount || p.Currency != "RUB" || p.Metadata[MetadataAccount] != created.AccountNumber {
		return "mismatch", nil
	}
	paidAt := p.CapturedAt
	if paidAt.IsZero() {
		paidAt = time.Now()
	}
	credited, err := store.Credit(ctx, ProviderYooKassa, id, created.AccountID, created.Amount, "yookassa", paidAt)
	if err != nil {
		return "", err
	}
	if !credited {
		return "duplicate", nil
	}
	return "credited", nil
}

func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func inNetworks(a netip.Addr, nets []netip.Prefix) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
