//go:build !kabinet_crashtest

package app

import (
	"log/slog"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// crashPoints hands the dialogs' side effects back unchanged. Only a binary
// built with -tags kabinet_crashtest (the crash tests, see crash_on.go) can
// be told to die at a chosen point; a production build has no such switch.
func crashPoints(_ func(string) string, _ *slog.Logger, c dialogs.Codes, n dialogs.Notifier, t dialogs.Trust) (dialogs.Codes, dialogs.Notifier, dialogs.Trust, error) {
	return c, n, t, nil
}
