package payments

import (
	"context"
	"testing"

	"github.com/kabinet-bot/kabinet/money"
)

// TestYooKassaPaymentOfAnUpdateDeliveredAgain: the process died after
// YooKassa created the payment and before anything else was saved (the
// confirmation URL not stored, the bot's turn not committed), so Telegram
// delivers the same press again and the dialog asks again with the same
// key. The answer is the payment already created, not a second one.
func TestYooKassaPaymentOfAnUpdateDeliveredAgain(t *testing.T) {
	e := newYooEnv(t)
	ctx := context.Background()
	const key = "pay:42:1:50000:m77" // what dialogs builds from the pressed message
	// What the first delivery did before the crash.
	created, err := e.store.StartPayment(ctx, ProviderYooKassa, IdempotenceKey(key), e.account, money.Rub(500))
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.provider.client.Create(ctx, NewPayment{Amount: created.Amount, Description: "Лицевой счёт 1000234567",
		ReturnURL: "https://t.me/kabinet_bot", Account: "1000234567", IdempotenceKey: IdempotenceKey(key)})
	if err != nil {
		t.Fatal(err)
	}
	// The update again.
	u := e.pay(t, money.Rub(500), key)
	if e.fake.Count() != 1 || u != first.ConfirmationURL {
		t.Fatalf("the update again: %d payments at YooKassa, link %q, want 1 and %q", e.fake.Count(), u, first.ConfirmationURL)
	}
	// And once more, now answered from the database without calling YooKassa.
	requests := e.fake.Requests()
	if again := e.pay(t, money.Rub(500), key); again != u || e.fake.Requests() != requests {
		t.Errorf("a third time: %q with %d more requests", again, e.fake.Requests()-requests)
	}
}
