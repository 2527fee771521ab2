//go:build kabinet_crashtest

package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
)

// crashPoints, in a binary built with -tags kabinet_crashtest, wraps the
// dialogs' side effects so that KABINET_CRASH_AT=<point>:<n> makes serve
// kill itself with SIGKILL right after the n-th successful side effect of
// that kind, inside the turn, before the turn is committed: exactly the
// moment a redelivered update must still get the same answer. The points:
// "check" (a right code checked, and so consumed), "notice" (the "account
// linked" SMS sent), "grant" (a trust payment granted). The crash tests use
// it to place a kill where a random SIGKILL lands only by luck.
func crashPoints(getenv func(string) string, log *slog.Logger, c dialogs.Codes, n dialogs.Notifier, t dialogs.Trust) (dialogs.Codes, dialogs.Notifier, dialogs.Trust, error) {
	spec := getenv("KABINET_CRASH_AT")
	if spec == "" {
		return c, n, t, nil
	}
	point, count, _ := strings.Cut(spec, ":")
	after, err := strconv.Atoi(count)
	if err != nil || after < 1 || (point != "check" && point != "notice" && point != "grant") {
		return nil, nil, nil, fmt.Errorf("KABINET_CRASH_AT must be check, notice or grant, a colon and a count from 1, got %q", spec)
	}
	p := &crashPoint{point: point, after: int64(after), log: log}
	return crashCodes{c, p}, crashNotifier{n, p}, crashTrust{t, p}, nil
}

type crashPoint struct {
	point string
	after int64
	seen  atomic.Int64
	log   *slog.Logger
}

// passed counts one side effect of a kind and dies at the chosen one.
func (p *crashPoint) passed(point, key string) {
	if point != p.point || p.seen.Add(1) != p.after {
		return
	}
	p.log.Warn("crash point", "point", point, "key", key)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Hour) // never return into the turn
}

type crashCodes struct {
	dialogs.Codes
	p *crashPoint
}

func (c crashCodes) Check(ctx context.Context, key string, userID, accountID int64, code string) (dialogs.CheckResult, error) {
	res, err := c.Codes.Check(ctx, key, userID, accountID, code)
	if err == nil && res.Outcome == dialogs.CheckOK {
		c.p.passed("check", key)
	}
	return res, err
}

type crashNotifier struct {
	dialogs.Notifier
	p *crashPoint
}

func (n crashNotifier) Notify(ctx context.Context, key, phone, text string) error {
	err := n.Notifier.Notify(ctx, key, phone, text)
	if err == nil {
		n.p.passed("notice", key)
	}
	return err
}

type crashTrust struct {
	dialogs.Trust
	p *crashPoint
}

func (t crashTrust) GrantTrust(ctx context.Context, key string, accountID int64, now time.Time, set billing.TrustSettings) (billing.TrustOffer, error) {
	g, err := t.Trust.GrantTrust(ctx, key, accountID, now, set)
	if err == nil {
		t.p.passed("grant", key)
	}
	return g, err
}
