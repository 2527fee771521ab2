package payments

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/money"
	"github.com/kabinet-bot/kabinet/payments/yookassatest"
)

// yooEnv is a database with one account (number 1000234567, balance 120 ₽,
// tariff 500 ₽), a fake YooKassa, and the provider and webhook on them.
type yooEnv struct {
	pool     *pgxpool.Pool
	store    *postgres.Store
	fake     *yookassatest.Server
	provider *YooKassaProvider
	webhook  http.Handler
	account  int64
}

func newYooEnv(t *testing.T) *yooEnv {
	t.Helper()
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	var id int64
	if err := pool.QueryRow(ctx, `
WITH t AS (INSERT INTO tariffs (name, monthly_fee) VALUES ('Тест', 50000) RETURNING id)
INSERT INTO accounts (number, phone, city_id, tariff_id, balance)
SELECT '1000234567', '+79990000001', (SELECT id FROM cities WHERE name = 'Москва'), t.id, 12000 FROM t
RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	store := postgres.New(pool)
	fake := yookassatest.New(t, "shop-1", "live_secret")
	client := NewYooKassa(fake.URL, "shop-1", "live_secret", nil)
	p := NewYooKassaProvider(client, store, "https://t.me/kabinet_bot")
	p.pause = time.Millisecond
	nets, err := ParseNetworks(YooKassaNetworks)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &yooEnv{pool: pool, store: store, fake: fake, provider: p, webhook: WebhookHandler(client, store, nets, log), account: id}
}

func (e *yooEnv) balance(t *testing.T) money.Amount {
	t.Helper()
	var b money.Amount
	if err := e.pool.QueryRow(context.Background(), `SELECT balance FROM accounts WHERE id = $1`, e.account).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *yooEnv) pay(t *testing.T, amount money.Amount, key string) string {
	t.Helper()
	u, err := e.provider.PayURL(context.Background(), Request{AccountID: e.account, AccountNumber: "1000234567", Amount: amount, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// notify posts YooKassa's notification about the last created payment from ip.
func (e *yooEnv) notify(t *testing.T, ip, event string) int {
	t.Helper()
	ps := e.fake.Payments()
	return e.notifyID(t, ip, ps[len(ps)-1].ID, event)
}

func (e *yooEnv) notifyID(t *testing.T, ip, id, event string) int {
	req := httptest.NewRequest(http.MethodPost, "/yookassa", bytes.NewReader(e.fake.Notification(id, event)))
	req.RemoteAddr = ip + ":44321"
	rec := httptest.NewRecorder()
	e.webhook.ServeHTTP(rec, req)
	return rec.Code
}

func TestYooKassaPayURL(t *testing.T) {
	e := newYooEnv(t)
	u := e.pay(t, money.Rub(500), "pay:42:1:50000:100")
	ps := e.fake.Payments()
	if len(ps) != 1 || u != ps[0].Confirmation.ConfirmationURL {
		t.Fatalf("url %s, payments %+v", u, ps)
	}
	if !ps[0].Capture || ps[0].Amount.Value != "500.00" || ps[0].Metadata["account"] != "1000234567" || ps[0].Confirmation.ReturnURL != "https://t.me/kabinet_bot" {
		t.Errorf("YooKassa got %+v", ps[0])
	}
	// A double tap: the same URL, no second payment, no second API call.
	requests := e.fake.Requests()
	if again := e.pay(t, money.Rub(500), "pay:42:1:50000:100"); again != u || e.fake.Count() != 1 || e.fake.Requests() != requests {
		t.Errorf("double tap: %s, %d payments, %d requests", again, e.fake.Count(), e.fake.Requests()-requests)
	}
	// Another intent is another payment.
	e.pay(t, money.Rub(500), "pay:42:1:50000:101")
	if e.fake.Count() != 2 {
		t.Errorf("%d payments, want 2", e.fake.Count())
	}
}

// TestYooKassaNetworkFailureThenRetry: YooKassa created the payment but the
// answer was lost. The provider repeats with the same Idempotence-Key; and
// when every repeat fails, the subscriber's next tap does. One payment.
func TestYooKassaNetworkFailureThenRetry(t *testing.T) {
	e := newYooEnv(t)
	e.fake.DropNextCreates(1)
	u := e.pay(t, money.Rub(500), "k1")
	if e.fake.Count() != 1 || u != e.fake.Payments()[0].Confirmation.ConfirmationURL {
		t.Errorf("after a lost answer: %d payments", e.fake.Count())
	}

	e.fake.DropNextCreates(3)
	_, err := e.provider.PayURL(context.Background(), Request{AccountID: e.account, AccountNumber: "1000234567", Amount: money.Rub(700), Key: "k2"})
	if err == nil {
		t.Fatal("three lost answers gave no error")
	}
	u2 := e.pay(t, money.Rub(700), "k2")
	if e.fake.Count() != 2 || u2 != e.fake.Payments()[1].Confirmation.ConfirmationURL {
		t.Errorf("after the subscriber's retry: %d payments, want 2 in all", e.fake.Count())
	}
}

func TestWebhookSameNotificationThreeTimesAtOnce(t *testing.T) {
	e := newYooEnv(t)
	e.pay(t, money.Rub(500), "k")
	e.fake.Succeed(e.fake.Payments()[0].ID)
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range 3 {
		wg.Go(func() { codes[i] = e.notify(t, "185.71.76.10", "payment.succeeded") })
	}
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 200 {
		t.Errorf("codes %v, want 200 each", codes)
	}
	if b := e.balance(t); b != money.Rub(620) {
		t.Errorf("balance %d, want 620 ₽ (credited once)", b)
	}
	// A fourth, a day later.
	if e.notify(t, "2a02:5180::1", "payment.succeeded"); e.balance(t) != money.Rub(620) {
		t.Error("a late repeat credited again")
	}
	created, _ := e.store.CreatedPayment(context.Background(), ProviderYooKassa, e.fake.Payments()[0].ID)
	if created.Status != "succeeded" {
		t.Errorf("created payment status %s", created.Status)
	}
}

func TestWebhookCreditsNothingWhenInDoubt(t *testing.T) {
	cases := map[string]struct {
		ip     string
		prep   func(f *yookassatest.Server, id string)
		status int
	}{
		"wrong address":            {"203.0.113.5", func(f *yookassatest.Server, id string) { f.Succeed(id) }, 403},
		"next to an allowed range": {"185.71.76.32", func(f *yookassatest.Server, id string) { f.Succeed(id) }, 403},
		"still pending":            {"185.71.76.10", func(f *yookassatest.Server, id string) {}, 200},
		"canceled":                 {"77.75.156.11", func(f *yookassatest.Server, id string) { f.Cancel(id) }, 200},
		"amount differs": {"185.71.77.1", func(f *yookassatest.Server, id string) {
			f.Succeed(id)
			f.Mutate(id, func(p *yookassatest.Payment) { p.Amount.Value = "5.00" })
		}, 200},
		"account differs": {"77.75.153.1", func(f *yookassatest.Server, id string) {
			f.Succeed(id)
			f.Mutate(id, func(p *yookassatest.Payment) { p.Metadata["account"] = "1000234568" })
		}, 200},
		"currency differs": {"77.75.154.200", func(f *yookassatest.Server, id string) {
			f.Succeed(id)
			f.Mutate(id, func(p *yookassatest.Payment) { p.Amount.Currency = "USD" })
		}, 200},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newYooEnv(t)
			e.pay(t, money.Rub(500), "k")
			c.prep(e.fake, e.fake.Payments()[0].ID)
			if code := e.notify(t, c.ip, "payment.succeeded"); code != c.status {
				t.Errorf("status %d, want %d", code, c.status)
			}
			if b := e.balance(t); b != money.Rub(120) {
				t.Errorf("balance %d, want 120 ₽ untouched", b)
			}
		})
	}
}

func TestWebhookUnknownPaymentAndFailures(t *testing.T) {
	e := newYooEnv(t)
	// A payment the bot never created, even if YooKassa has it.
	if code := e.notifyID(t, "185.71.76.10", "foreign-id", "payment.succeeded"); code != 200 || e.balance(t) != money.Rub(120) {
		t.Errorf("unknown payment: %d, balance %d", code, e.balance(t))
	}
	// YooKassa unreachable while re-fetching: 500, so it repeats later.
	e.pay(t, money.Rub(500), "k")
	id := e.fake.Payments()[0].ID
	e.fake.Succeed(id)
	body := e.fake.Notification(id, "payment.succeeded")
	e.fake.Close()
	req := httptest.NewRequest(http.MethodPost, "/yookassa", bytes.NewReader(body))
	req.RemoteAddr = "185.71.76.10:1"
	rec := httptest.NewRecorder()
	e.webhook.ServeHTTP(rec, req)
	if rec.Code != 500 || e.balance(t) != money.Rub(120) {
		t.Errorf("re-fetch failed: %d, balance %d", rec.Code, e.balance(t))
	}
	// Garbage and GET.
	req = httptest.NewRequest(http.MethodPost, "/yookassa", bytes.NewReader([]byte("{")))
	req.RemoteAddr = "185.71.76.10:1"
	rec = httptest.NewRecorder()
	e.webhook.ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Errorf("broken JSON: %d", rec.Code)
	}
	req = httptest.NewRequest(http.MethodGet, "/yookassa", nil)
	rec = httptest.NewRecorder()
	e.webhook.ServeHTTP(rec, req)
	if rec.Code != 405 {
		t.Errorf("GET: %d", rec.Code)
	}
}

func TestParseNetworks(t *testing.T) {
	nets, err := ParseNetworks(YooKassaNetworks)
	if err != nil || len(nets) != 7 {
		t.Fatalf("%v %v", nets, err)
	}
	for _, bad := range []string{"", "1.2.3", "10.0.0.0/33"} {
		if _, err := ParseNetworks(bad); err == nil {
			t.Errorf("ParseNetworks(%q) accepted", bad)
		}
	}
}
