package dialogs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/payments"
	"github.com/kabinet-bot/kabinet/payments/yookassatest"
)

// Telegram delivers an update again when the bot died before committing its
// turn. The turn then runs again from the same state with the same event
// (the same Key), after its side effects already happened once: it must
// give the same answer, and the side effects must not happen twice.

// twice handles ev from st two times, as the first delivery and the one
// after a crash, and fails unless both results are the same. The effects
// of each are run too, as the sender does: a crash can come after them as
// well, and they must answer the same again.
func twice(t *testing.T, eng *dialogs.Engine, st dialogs.State, ev dialogs.Event) dialogs.Result {
	t.Helper()
	ev.UserID, ev.ChatID, ev.LanguageCode = user, user, "ru"
	first, err := eng.Handle(context.Background(), st, ev)
	if err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	first.Replies = runEffects(t, eng, first.Replies)
	again, err := eng.Handle(context.Background(), st, ev)
	if err != nil {
		t.Fatalf("the same update again: %v", err)
	}
	again.Replies = runEffects(t, eng, again.Replies)
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("the same update again answered differently:\nfirst:\n%s\nagain:\n%s\nstates %+v and %+v", all(first), all(again), first.State, again.State)
	}
	return first
}

func TestTheSameUpdateAgainGetsTheSameAnswer(t *testing.T) {
	codeStep := func(h *harness) { h.cmd("start"); h.text("1000000001") }
	for _, tc := range []struct {
		name  string
		setup func(h *harness)
		ev    dialogs.Event
		want  string
		check func(t *testing.T, h *harness)
	}{
		{
			name: "the right code", setup: codeStep,
			ev:   dialogs.Event{Key: "u10", Kind: dialogs.KindText, Text: "123456"},
			want: "Лицевой счёт <b>1000000001</b> привязан",
			check: func(t *testing.T, h *harness) {
				if n := h.codes.checks; n != 1 {
					t.Errorf("%d code checks made, want 1", n)
				}
				if got := h.sms.sent["+79000000001"]; len(got) != 1 {
					t.Errorf("%d 'account linked' notices, want 1", len(got))
				}
				if linked, _ := h.accounts.LinkedAccounts(context.Background(), user); len(linked) != 1 {
					t.Errorf("%d accounts linked, want 1", len(linked))
				}
				// Another update with the same code is another check: the
				// code was used once, by the first.
				h.st.Step, h.st.Account, h.st.Number = dialogs.StepLinkCode, 1, "1000000001"
				mustContain(t, h.do(dialogs.Event{Key: "u11", Kind: dialogs.KindText, Text: "123456"}), "больше не действует")
			},
		},
		{
			name: "a wrong code", setup: codeStep,
			ev:   dialogs.Event{Key: "u20", Kind: dialogs.KindText, Text: "000000"},
			want: "Осталось 4 попытки",
			check: func(t *testing.T, h *harness) {
				if h.codes.wrong != 1 {
					t.Errorf("%d failures counted, want 1", h.codes.wrong)
				}
			},
		},
		{
			name: "an account number", setup: func(h *harness) { h.cmd("start") },
			ev:   dialogs.Event{Key: "u30", Kind: dialogs.KindText, Text: "1000000004"},
			want: "+7 *** ***-**-04",
			check: func(t *testing.T, h *harness) {
				if len(h.codes.sent) != 1 {
					t.Errorf("%d codes sent, want 1", len(h.codes.sent))
				}
			},
		},
		{
			name: "an unknown number (the decoy)", setup: func(h *harness) { h.cmd("start") },
			ev:   dialogs.Event{Key: "u40", Kind: dialogs.KindText, Text: "9999999999"},
			want: "+7 *** ***-**-",
			check: func(t *testing.T, h *harness) {
				if len(h.codes.sent) != 1 || h.codes.sent[0].phone != "" {
					t.Errorf("codes sent %+v, want one decoy", h.codes.sent)
				}
			},
		},
		{
			name: "send again", setup: func(h *harness) {
				codeStep(h)
				now = now.Add(61 * time.Second)
				h.t.Cleanup(func() { now = now.Add(-61 * time.Second) })
			},
			ev:   dialogs.Event{Key: "u50", Kind: dialogs.KindCallback, Data: "resend", MessageID: 42},
			want: "+7 *** ***-**-01",
			check: func(t *testing.T, h *harness) {
				if len(h.codes.sent) != 2 {
					t.Errorf("%d codes sent, want the first and one resend", len(h.codes.sent))
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "ru")
			tc.setup(h)
			res := twice(t, h.eng, h.st, tc.ev)
			mustContain(t, res, tc.want)
			h.st = res.State
			tc.check(t, h)
		})
	}
}

// newYooHarness is the pay harness with YooKassa as the provider.
func newYooHarness(t *testing.T) (*payHarness, *yookassatest.Server) {
	fake := yookassatest.New(t, "shop", "secret")
	h := newPayHarness(t, nil)
	provider := payments.NewYooKassaProvider(payments.NewYooKassa(fake.URL, "shop", "secret", nil), h.store, "https://t.me/kabinet_bot")
	h.eng = dialogs.New(h.accounts, nil, nil, locales.MustLoad(), dialogs.Config{MaxAccounts: 5, Location: moscow, Secret: []byte("k")},
		func() time.Time { return payNow }, slog.New(slog.NewTextHandler(io.Discard, nil))).
		WithPayments(payments.NewPayer(provider, autopayURL), h.store, dialogs.PayConfig{Trust: billing.DefaultTrustSettings(moscow)})
	return h, fake
}

func TestTheSameMoneyUpdateAgainGetsTheSameAnswer(t *testing.T) {
	t.Run("Confirm of a trust payment", func(t *testing.T) {
		h, _ := newYooHarness(t)
		ev := dialogs.Event{Key: "u60", Kind: dialogs.KindCallback, Data: fmt.Sprintf("tro:%d", h.acc), MessageID: 42}
		mustContain(t, twice(t, h.eng, dialogs.State{}, ev), "Доверительный платёж подключён: 500,00\u00a0₽ до 28 ноября, 12:00. Баланс: 620,00\u00a0₽.")
		var n int
		if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM trust_payments WHERE account_id = $1`, h.acc).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d trust payments (%v), want 1", n, err)
		}
		// Another press is another request: refused, as one a month.
		ev.Key = "u61"
		mustContain(t, twice(t, h.eng, dialogs.State{}, ev), "не нужен")
	})
	t.Run("a suggested sum by YooKassa", func(t *testing.T) {
		h, fake := newYooHarness(t)
		ev := dialogs.Event{Key: "u70", Kind: dialogs.KindCallback, Data: fmt.Sprintf("pa:%d:50000", h.acc), MessageID: 42}
		u := urlButton(twice(t, h.eng, dialogs.State{}, ev))
		if fake.Count() != 1 || u != fake.Payments()[0].Confirmation.ConfirmationURL {
			t.Errorf("%d payments at YooKassa, link %q", fake.Count(), u)
		}
	})
	t.Run("a suggested sum under a message too old to be shown", func(t *testing.T) {
		h, fake := newYooHarness(t)
		old := dialogs.Event{Key: "u90", Kind: dialogs.KindCallback, Data: fmt.Sprintf("pa:%d:50000", h.acc)} // MessageID 0
		u1 := urlButton(twice(t, h.eng, dialogs.State{}, old))
		old.Key = "u91" // the same button pressed again later: another payment, not the first one again
		u2 := urlButton(twice(t, h.eng, dialogs.State{}, old))
		if fake.Count() != 2 || u1 == u2 {
			t.Errorf("%d payments at YooKassa for two presses, links %q and %q", fake.Count(), u1, u2)
		}
	})
	t.Run("a typed sum by YooKassa", func(t *testing.T) {
		h, fake := newYooHarness(t)
		h.press(fmt.Sprintf("po:%d", h.acc))
		asked := h.st
		ev := dialogs.Event{Key: "u80", Kind: dialogs.KindText, Text: "750"}
		u := urlButton(twice(t, h.eng, asked, ev))
		if fake.Count() != 1 || u != fake.Payments()[0].Confirmation.ConfirmationURL || fake.Payments()[0].Amount.Value != "750.00" {
			t.Errorf("%d payments at YooKassa, link %q", fake.Count(), u)
		}
		if !strings.Contains(u, "http") {
			t.Errorf("no payment link: %q", u)
		}
	})
}
