package bot

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-telegram/bot/models"
)

// MaxWebhookBody is the largest update the webhook accepts. Real updates
// are a few kilobytes; the cap keeps a stranger from making us read
// arbitrarily large bodies.
const MaxWebhookBody = 1 << 20

// webhookHandleTimeout bounds the handling of one webhook update. It is
// generous because Telegram may give up on the connection early, and the
// handling must still finish and save its effects; what Telegram then
// delivers again is dropped by the processor's de-duplication.
const webhookHandleTimeout = 2 * time.Minute

// secretHeader is where Telegram puts the secret_token given to setWebhook.
const secretHeader = "X-Telegram-Bot-Api-Secret-Token"

// WebhookHandler receives updates that Telegram posts to the bot's webhook.
// It answers 200 only after the update has been handled and its effects
// saved, so that Telegram's own redelivery covers every failure: 500 when
// the processor failed (delivered again), 503 while shutting down. A request
// without the right secret (compared in constant time) gets 401 and is not
// handled; with an empty secret every request is refused, since a webhook
// anyone can post to would let strangers act as any subscriber. A panic in
// the processor is answered 200: the person has had a polite error, and
// Telegram delivering the same poison update again would loop.
func WebhookHandler(seq *Sequencer, secret string, logger *slog.Logger) http.Handler {
	// Comparing fixed-length digests keeps even the secret's length from
	// leaking through timing.
	want := sha256.Sum256([]byte(secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		got := sha256.Sum256([]byte(r.Header.Get(secretHeader)))
		if secret == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			logger.Warn("webhook request with a wrong secret", "remote", r.RemoteAddr)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}

		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				logger.Warn("webhook body too large", "limit", MaxWebhookBody)
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			logger.Warn("webhook body unreadable", "err", err)
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		var upd models.Update
		if err := json.Unmarshal(body, &upd); err != nil || upd.ID <= 0 {
			logger.Warn("webhook body is not an update", "err", err)
			http.Error(w, "body is not an update", http.StatusBadRequest)
			return
		}

		// Telegram closing the connection must not cut the handling
		// short: a half-done update (a reply sent, its state not saved)
		// is worse than an answer nobody reads.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), webhookHandleTimeout)
		defer cancel()
		var handleErr error
		select {
		case handleErr = <-seq.Submit(ctx, &upd):
		case <-ctx.Done():
			handleErr = ctx.Err()
		}

		switch {
		case handleErr == nil:
			w.WriteHeader(http.StatusOK)
		case IsPanic(handleErr):
			// Already logged with its stack by the sequencer.
			w.WriteHeader(http.StatusOK)
		case errors.Is(handleErr, ErrSequencerClosed):
			logger.Info("webhook update refused while shutting down", "update_id", upd.ID)
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		default:
			logger.Warn("webhook update not handled, Telegram will deliver it again",
				"update_id", upd.ID, "err", handleErr)
			http.Error(w, "update not handled", http.StatusInternalServerError)
		}
	})
}
