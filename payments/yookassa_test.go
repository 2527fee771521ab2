package payments

import (
	"context"
	"errors"
	"testing"

	"github.com/kabinet-bot/kabinet/money"
	"github.com/kabinet-bot/kabinet/payments/yookassatest"
)

func TestYooKassaCreateAndGet(t *testing.T) {
	fake := yookassatest.New(t, "shop-1", "live_secret")
	c := NewYooKassa(fake.URL, "shop-1", "live_secret", nil)
	ctx := context.Background()
	p, err := c.Create(ctx, NewPayment{Amount: 1500_50, Description: "Лицевой счёт 1000234567", ReturnURL: "https://t.me/kabinet_bot", Account: "1000234567", IdempotenceKey: IdempotenceKey("k1")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "pending" || p.Amount != 1500_50 || p.Currency != "RUB" || p.ConfirmationURL == "" || p.Metadata[MetadataAccount] != "1000234567" {
		t.Errorf("created %+v", p)
	}
	sent := fake.Payments()[0]
	if !sent.Capture || sent.Amount.Value != "1500.50" || sent.Confirmation.ReturnURL != "https://t.me/kabinet_bot" {
		t.Errorf("YooKassa received %+v", sent)
	}
	fake.Succeed(p.ID)
	got, err := c.Get(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "succeeded" || !got.Paid || got.Amount != 1500_50 || got.CapturedAt.IsZero() {
		t.Errorf("fetched %+v", got)
	}
	if _, err := c.Get(ctx, "no-such-payment"); err == nil {
		t.Error("Get of an unknown payment succeeded")
	}
}

func TestYooKassaWrongCredentials(t *testing.T) {
	fake := yookassatest.New(t, "shop-1", "live_secret")
	c := NewYooKassa(fake.URL, "shop-1", "wrong", nil)
	_, err := c.Create(context.Background(), NewPayment{Amount: 100, ReturnURL: "https://t.me/x", Account: "1", IdempotenceKey: "k"})
	var ye *YooKassaError
	if !errors.As(err, &ye) || ye.HTTPStatus != 401 || ye.Temporary() {
		t.Errorf("err = %v, want a permanent 401", err)
	}
	if fake.Count() != 0 {
		t.Error("a payment was created with wrong credentials")
	}
}

// TestYooKassaRetryAfterNetworkFailure: the connection breaks after YooKassa
// created the payment; repeating the request with the same key gets the
// same payment, not a second one.
func TestYooKassaRetryAfterNetworkFailure(t *testing.T) {
	fake := yookassatest.New(t, "shop-1", "live_secret")
	fake.DropNextCreates(1)
	c := NewYooKassa(fake.URL, "shop-1", "live_secret", nil)
	np := NewPayment{Amount: money.Rub(500), ReturnURL: "https://t.me/x", Account: "1000234567", IdempotenceKey: IdempotenceKey("pay:42:7:50000:1001")}
	if _, err := c.Create(context.Background(), np); err == nil {
		t.Fatal("the dropped connection gave no error")
	}
	p, err := c.Create(context.Background(), np)
	if err != nil {
		t.Fatal(err)
	}
	if fake.Count() != 1 || fake.Payments()[0].ID != p.ID {
		t.Errorf("%d payments created, want 1", fake.Count())
	}
}

func TestIdempotenceKeyIsStableAndFits(t *testing.T) {
	a, b := IdempotenceKey("pay:1:2:500"), IdempotenceKey("pay:1:2:500")
	if a != b || len(a) > 64 || a == IdempotenceKey("pay:1:2:501") {
		t.Errorf("keys %q %q", a, b)
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, a := range []money.Amount{1, 10, 100, 500_50, 1500_00} {
		got, err := ParseValue(FormatValue(a))
		if err != nil || got != a {
			t.Errorf("ParseValue(FormatValue(%d)) = %d, %v", a, got, err)
		}
	}
	if v, err := ParseValue("500.5"); err != nil || v != 500_50 {
		t.Errorf("500.5 = %d, %v", v, err)
	}
	for _, bad := range []string{"", "-1.00", "1.001", "1e3", "1.+5", "abc"} {
		if _, err := ParseValue(bad); err == nil {
			t.Errorf("ParseValue(%q) accepted", bad)
		}
	}
}
