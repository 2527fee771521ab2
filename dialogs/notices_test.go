package dialogs_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/money"
	"github.com/kabinet-bot/kabinet/notices"
	"github.com/kabinet-bot/kabinet/payments"
)

// noticesHarness is the pay harness (real billing in PostgreSQL) with the
// notices feature on the real notices store.
func noticesHarness(t *testing.T) (*payHarness, *notices.Store) {
	h := newPayHarness(t, linkProvider(t))
	ns := notices.NewStore(h.pool, 3)
	h.eng.WithNotices(ns, payments.NewPayer(linkProvider(t), autopayURL), dialogs.NoticesConfig{BotUsername: "kabinet_bot"})
	return h, ns
}

// A button names the value it sets: pressed twice (an update delivered
// again after a crash), it sets the same, never toggles back.
func TestNoticeSettingsButtonsSetAValue(t *testing.T) {
	h, ns := noticesHarness(t)
	ctx := context.Background()
	data := "ns:" + itoa(h.acc) + ":toutage=0"
	for range 2 {
		mustContain(t, h.press(data), "Уведомления по счёту 1000234567")
	}
	p, err := ns.NoticePrefs(ctx, user, h.acc)
	if err != nil || p.Outage || !p.Low || !p.Payment || !p.Trust {
		t.Errorf("after outages off twice: %+v %v", p, err)
	}
	h.press("ns:" + itoa(h.acc) + ":d=5")
	h.press("ns:" + itoa(h.acc) + ":q=0")
	if p, _ := ns.NoticePrefs(ctx, user, h.acc); p.DaysBefore != 5 || p.Quiet {
		t.Errorf("days and quiet: %+v", p)
	}
	res := h.press("nx:low:" + itoa(h.acc))
	mustContain(t, res, "Больше не пришлём «Деньги заканчиваются»", "Включить снова")
	if p, _ := ns.NoticePrefs(ctx, user, h.acc); p.Low {
		t.Error("Не присылать такие left the low-balance notices on")
	}
	h.press("ns:" + itoa(h.acc) + ":tlow=1")
	if p, _ := ns.NoticePrefs(ctx, user, h.acc); !p.Low {
		t.Error("the way back did not turn them on")
	}
}

// Forged buttons: an account the person is neither linked to nor a
// trusted person of changes nothing and gives no pay link.
func TestNoticeButtonsOfSomeoneElsesAccount(t *testing.T) {
	h, ns := noticesHarness(t)
	other := h.addAccount("1000234599", billing.StatusActive, money.Rub(10))
	for _, data := range []string{"nx:low:" + itoa(other), "ns:" + itoa(other) + ":tlow=0", "ntp:" + itoa(other), "nti:" + itoa(other), "ntx:" + itoa(other) + ":5"} {
		res := h.press(data)
		if !strings.Contains(res.Toast, "не привязан") && !strings.Contains(all(res), "не привязан") {
			t.Errorf("%s answered %q / %q", data, res.Toast, all(res))
		}
	}
	if p, _ := ns.NoticePrefs(context.Background(), user, other); !p.Low {
		t.Error("a forged button turned someone else's notices off")
	}
	res := h.press("tpa:" + itoa(other) + ":50000")
	if urlButton(res) != "" {
		t.Errorf("a pay link for an account the person is not trusted with: %s", urlButton(res))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
