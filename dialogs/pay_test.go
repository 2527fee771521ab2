package dialogs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/money"
	"github.com/kabinet-bot/kabinet/payments"
	"github.com/kabinet-bot/kabinet/payments/yookassatest"
)

var (
	moscow, _  = time.LoadLocation("Europe/Moscow")
	payNow     = time.Date(2025, 11, 25, 12, 0, 0, 0, moscow)
	paySecret  = []byte("payment-page-secret-0123456789")
	payTmpl    = "https://pay.example.ru/?account={account}&amount={amount}&expires={expires}&sig={sig}"
	autopayURL = "https://pay.example.ru/autopay?account={account}"
)

// payHarness is the engine with payments on a real database: user 777 has
// account 1000234567 (Moscow, tariff 500 ₽, balance 120 ₽) linked.
type payHarness struct {
	*harness
	pool  *pgxpool.Pool
	store *postgres.Store
	// accounts are the dialogs' accounts as serve composes them: the demo
	// billing's, and the links in Kabinet's tables.
	accounts dialogs.Accounts
	acc      int64
}

func newPayHarness(t *testing.T, provider payments.Provider) *payHarness {
	t.Helper()
	pool, _ := pgtest.New(t)
	store := postgres.New(pool)
	store.SetClock(func() time.Time { return payNow })
	h := &payHarness{harness: &harness{t: t, lang: "ru"}, pool: pool, store: store,
		accounts: dialogs.NewAccounts(store, kabinetdb.NewLinks(pool))}
	if _, err := pool.Exec(context.Background(), `INSERT INTO tariffs (name, monthly_fee) VALUES ('Тест', 50000)`); err != nil {
		t.Fatal(err)
	}
	h.acc = h.addAccount("1000234567", billing.StatusActive, money.Rub(120))
	h.link(h.acc)
	h.eng = dialogs.New(h.accounts, nil, nil, locales.MustLoad(), dialogs.Config{MaxAccounts: 5, Location: moscow, Secret: []byte("k")},
		func() time.Time { return payNow }, slog.New(slog.NewTextHandler(io.Discard, nil))).
		WithPayments(payments.NewPayer(provider, autopayURL), store, dialogs.PayConfig{Trust: billing.DefaultTrustSettings(moscow)})
	return h
}

func (h *payHarness) addAccount(number string, status billing.Status, balance money.Amount) int64 {
	h.t.Helper()
	var id int64
	if err := h.pool.QueryRow(context.Background(), `
INSERT INTO accounts (number, phone, city_id, tariff_id, status, balance)
VALUES ($1, '+79990000001', (SELECT id FROM cities WHERE name = 'Москва'), (SELECT id FROM tariffs WHERE name = 'Тест'), $2, $3)
RETURNING id`, number, string(status), int64(balance)).Scan(&id); err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *payHarness) link(id int64) {
	h.t.Helper()
	if err := kabinetdb.NewLinks(h.pool).Link(context.Background(), user, id, 5); err != nil {
		h.t.Fatal(err)
	}
}

func linkProvider(t *testing.T) payments.Provider {
	p, err := payments.NewLinkProvider(payTmpl, paySecret, time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// urlButton returns the first URL button of the result.
func urlButton(res dialogs.Result) string {
	for _, r := range res.Replies {
		for _, row := range r.Buttons {
			for _, b := range row {
				if b.URL != "" {
					return b.URL
				}
			}
		}
	}
	return ""
}

func TestPayWithSuggestedAndTypedSumsByLink(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	mustContain(t, h.cmd("menu"), "[💳 Оплатить|pay]", "[🤝 Доверительный платёж|tr]")
	res := h.press("pay")
	mustContain(t, res, "<b>Оплата</b> счёта 1000234567", "Баланс: 120,00\u00a0₽",
		fmt.Sprintf("[Абонплата за месяц — 500,00\u00a0₽|pa:%d:50000]", h.acc),
		fmt.Sprintf("[За 3 месяца — 1\u00a0500,00\u00a0₽|pa:%d:150000]", h.acc),
		fmt.Sprintf("[✏️ Другая сумма|po:%d]", h.acc),
		fmt.Sprintf("[🔁 Автоплатёж|ap:%d]", h.acc))
	if strings.Contains(all(res), "Погасить долг") {
		t.Error("a debt sum offered on a positive balance")
	}

	res = h.press(fmt.Sprintf("pa:%d:50000", h.acc))
	u := urlButton(res)
	if err := payments.VerifyLink(paySecret, u); err != nil {
		t.Fatalf("link %q: %v", u, err)
	}
	if acc, amt, _ := payments.LinkValues(u); acc != "1000234567" || amt != money.Rub(500) {
		t.Errorf("link pays %d to %s", amt, acc)
	}
	mustContain(t, res, "Оплата 500,00\u00a0₽ на счёт 1000234567")

	// Other amount, with every kind of wrong input first.
	mustContain(t, h.press(fmt.Sprintf("po:%d", h.acc)), "Введите сумму в рублях", "не больше 15\u00a0000,00\u00a0₽")
	for in, hint := range map[string]string{
		"пятьсот": "Не получилось понять сумму",
		"0":       "больше нуля",
		"-500":    "не может быть отрицательной",
		"20 000":  "не больше 15\u00a0000,00\u00a0₽",
	} {
		res := h.text(in)
		mustContain(t, res, hint)
		if urlButton(res) != "" || h.st.Step != dialogs.StepPayAmount {
			t.Errorf("%q: a link was given or the step left", in)
		}
	}
	res = h.text("1 500,50 ₽")
	if acc, amt, _ := payments.LinkValues(urlButton(res)); acc != "1000234567" || amt != 1500_50 {
		t.Errorf("typed sum: link pays %d to %s", amt, acc)
	}
	if h.st.Step != dialogs.StepIdle {
		t.Errorf("step after the link: %q", h.st.Step)
	}
}

func TestPayBlockedAccountOffersTheDebtAndPicksAmongAccounts(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	blocked := h.addAccount("1000234568", billing.StatusBlocked, money.Rub(-300))
	h.link(blocked)
	mustContain(t, h.press("pay"), "Какой счёт пополнить?", fmt.Sprintf("|pay:%d:m]", h.acc), fmt.Sprintf("|pay:%d:m]", blocked))
	mustContain(t, h.press(fmt.Sprintf("pay:%d", blocked)), fmt.Sprintf("[Погасить долг и включить — 800,00\u00a0₽|pa:%d:80000]", blocked))
	// A button naming an account that is not linked to this user pays nothing.
	other := h.addAccount("1000234569", billing.StatusActive, 0)
	res := h.press(fmt.Sprintf("pa:%d:50000", other))
	if urlButton(res) != "" {
		t.Error("a link for an account that is not linked")
	}
	mustContain(t, res, "не привязан")
}

func TestPayByYooKassa(t *testing.T) {
	fake := yookassatest.New(t, "shop", "secret")
	// The provider needs the harness's store: build the engine again with it.
	h := newPayHarness(t, nil)
	provider := payments.NewYooKassaProvider(payments.NewYooKassa(fake.URL, "shop", "secret", nil), h.store, "https://t.me/kabinet_bot")
	h.eng = dialogs.New(h.accounts, nil, nil, locales.MustLoad(), dialogs.Config{MaxAccounts: 5, Location: moscow, Secret: []byte("k")},
		func() time.Time { return payNow }, slog.New(slog.NewTextHandler(io.Discard, nil))).
		WithPayments(payments.NewPayer(provider, autopayURL), h.store, dialogs.PayConfig{Trust: billing.DefaultTrustSettings(moscow)})

	// A double tap on a suggested sum: one payment, the same URL.
	u1 := urlButton(h.press(fmt.Sprintf("pa:%d:50000", h.acc)))
	u2 := urlButton(h.press(fmt.Sprintf("pa:%d:50000", h.acc)))
	if fake.Count() != 1 || u1 == "" || u1 != u2 || u1 != fake.Payments()[0].Confirmation.ConfirmationURL {
		t.Fatalf("double tap: %d payments, urls %q %q", fake.Count(), u1, u2)
	}
	p := fake.Payments()[0]
	if p.Amount.Value != "500.00" || p.Metadata["account"] != "1000234567" {
		t.Errorf("YooKassa got %+v", p)
	}
	// A typed sum sent twice in one request is one payment; a new request is another.
	h.press(fmt.Sprintf("po:%d", h.acc))
	asked := h.st
	h.text("500.5")
	h.st = asked // the same message again (Telegram redelivered it, or a second chat)
	h.text("500,50")
	if fake.Count() != 2 || fake.Payments()[1].Amount.Value != "500.50" {
		t.Fatalf("typed twice: %d payments", fake.Count())
	}
	h.press(fmt.Sprintf("po:%d", h.acc))
	h.text("500,50")
	if fake.Count() != 3 {
		t.Errorf("a new request: %d payments, want 3", fake.Count())
	}
}

func TestAutopayAndHistory(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	res := h.press(fmt.Sprintf("ap:%d", h.acc))
	mustContain(t, res, "<b>Автоплатёж</b>")
	if u := urlButton(res); u != "https://pay.example.ru/autopay?account=1000234567" {
		t.Errorf("autopay URL %q", u)
	}
	mustContain(t, h.press(fmt.Sprintf("hist:%d", h.acc)), "Платежей пока не было.")
	ctx := context.Background()
	for i := 1; i <= 12; i++ {
		h.store.Credit(ctx, "billing", fmt.Sprint("p", i), h.acc, money.Amount(i*100_00), "terminal", payNow.AddDate(0, 0, -i))
	}
	got := all(h.press(fmt.Sprintf("hist:%d", h.acc)))
	if n := strings.Count(got, "• "); n != 10 {
		t.Errorf("%d payments listed, want 10:\n%s", n, got)
	}
	if !strings.Contains(got, "• 24.11.2025 — 100,00\u00a0₽, терминал") || strings.Contains(got, "1\u00a0100,00") {
		t.Errorf("history is not the newest 10:\n%s", got)
	}
}

func TestTrustPaymentFlow(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	// 120 ₽ is less than the 500 ₽ fee: the balance screen offers it.
	mustContain(t, h.press(fmt.Sprintf("bal:%d", h.acc)), fmt.Sprintf("[🤝 Доверительный платёж|tr:%d]", h.acc), fmt.Sprintf("[💳 Оплатить|pay:%d]", h.acc))
	res := h.press(fmt.Sprintf("tr:%d", h.acc))
	mustContain(t, res, "500,00\u00a0₽ на 3 дня, до 28 ноября", "Бесплатно.", fmt.Sprintf("[✅ Подтвердить|tro:%d]", h.acc))
	var n int
	h.pool.QueryRow(context.Background(), `SELECT count(*) FROM trust_payments`).Scan(&n)
	if n != 0 {
		t.Fatal("granted before Confirm")
	}
	mustContain(t, h.press(fmt.Sprintf("tro:%d", h.acc)), "Доверительный платёж подключён: 500,00\u00a0₽ до 28 ноября, 12:00. Баланс: 620,00\u00a0₽.")
	mustContain(t, h.press(fmt.Sprintf("tro:%d", h.acc)), "не нужен: денег на балансе хватает")
	// Now the balance covers the fee: no offer on the balance screen.
	if strings.Contains(all(h.press(fmt.Sprintf("bal:%d", h.acc))), "|tr:") {
		t.Error("trust payment offered with enough money")
	}
	// A blocked account with a large debt stays in debt after the grant;
	// a second one this month is refused with the date it becomes possible.
	debtor := h.addAccount("1000234571", billing.StatusBlocked, money.Rub(-1000))
	h.link(debtor)
	mustContain(t, h.press(fmt.Sprintf("tr:%d", debtor)), "500,00 ₽ на 3 дня, до 28 ноября")
	mustContain(t, h.press(fmt.Sprintf("tro:%d", debtor)), "подключён", "Баланс: −500,00 ₽")
	mustContain(t, h.press(fmt.Sprintf("tr:%d", debtor)), "раз в календарный месяц", "с 1 декабря")
	frozen := h.addAccount("1000234570", billing.StatusFrozen, -100)
	h.link(frozen)
	mustContain(t, h.press(fmt.Sprintf("tr:%d", frozen)), "заблокирован по вашему заявлению")
}

func TestFiftyConfirmsGrantOne(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 50 {
		wg.Go(func() {
			res, err := h.eng.Handle(context.Background(), dialogs.State{}, dialogs.Event{UserID: user, ChatID: user, Kind: dialogs.KindCallback, Data: fmt.Sprintf("tro:%d", h.acc), MessageID: 9})
			if err != nil {
				t.Error(err)
				return
			}
			if strings.Contains(all(res), "подключён") {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var bal money.Amount
	h.pool.QueryRow(context.Background(), `SELECT balance FROM accounts WHERE id = $1`, h.acc).Scan(&bal)
	if granted != 1 || bal != money.Rub(620) {
		t.Errorf("%d granted, balance %d; want 1 and 620 ₽", granted, bal)
	}
}

// TestBalanceWithATrustPaymentCountsOnlyTheMoneyThatStays: while a trust
// payment runs, the balance screen says how much of the balance it is and
// until when, and the forecast, the blocking date and the sum to pay count
// only the money that stays when it is taken back. The trust screens say
// the same sum.
func TestBalanceWithATrustPaymentCountsOnlyTheMoneyThatStays(t *testing.T) {
	h := newPayHarness(t, linkProvider(t))
	// Like 1000000020: a small debt, blocked; the trust payment lifts it.
	debtor := h.addAccount("1000234580", billing.StatusBlocked, money.Rub(-35))
	h.link(debtor)
	mustContain(t, h.press(fmt.Sprintf("tr:%d", debtor)), "пополните счёт до этого дня на 535,00\u00a0₽")
	mustContain(t, h.press(fmt.Sprintf("tro:%d", debtor)), "Баланс: 465,00\u00a0₽", "Чтобы доступ не приостановился 28 ноября, пополните счёт на 535,00\u00a0₽")
	res := h.press(fmt.Sprintf("bal:%d", debtor))
	mustContain(t, res, "Баланс: <b>465,00\u00a0₽</b>",
		"Из них 500,00\u00a0₽ — доверительный платёж до 28 ноября",
		"Денег хватит на 3 дня, до 28 ноября.",
		"Не хватает 535,00\u00a0₽: без пополнения доступ будет приостановлен 28 ноября.")
	if got := all(res); strings.Contains(got, "27 дней") || strings.Contains(got, "22 декабря") {
		t.Errorf("the forecast counts the trust payment as the subscriber's money:\n%s", got)
	}

	// 120 ₽ of one's own outlast the trust payment, until the monthly
	// charge on 1 December, which they do not cover: to 30 November.
	mustContain(t, h.press(fmt.Sprintf("tro:%d", h.acc)), "пополните счёт на 380,00\u00a0₽")
	mustContain(t, h.press(fmt.Sprintf("bal:%d", h.acc)), "Из них 500,00\u00a0₽ — доверительный платёж до 28 ноября",
		"Денег хватит на 5 дней, до 30 ноября.", "Не хватает 380,00\u00a0₽: без пополнения доступ будет приостановлен 30 ноября.")

	// Paid enough: the next charge, no blocking date.
	if _, err := h.store.Credit(context.Background(), "billing", "T-paid", h.acc, money.Rub(1000), "card", payNow); err != nil {
		t.Fatal(err)
	}
	res = h.press(fmt.Sprintf("bal:%d", h.acc))
	mustContain(t, res, "Из них 500,00\u00a0₽ — доверительный платёж до 28 ноября", "Следующее списание 500,00\u00a0₽")
	if strings.Contains(all(res), "приостановлен") {
		t.Errorf("a blocking date although the money that stays covers the month:\n%s", all(res))
	}
}
