package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/money"
	"github.com/kabinet-bot/kabinet/payments"
	"github.com/kabinet-bot/kabinet/payments/yookassatest"
)

// The payments end to end: the Pay button with both providers, autopay,
// history, the "payment received" push (also across a restart and with two
// instances), the trust payment with its reminder and expiry under the
// test clock, and YooKassa's webhook over HTTP. Everything goes through
// serve's real wiring; the only fakes are Telegram (the emulator) and
// YooKassa (yookassatest).

// fastScheduler makes the payments scheduler look for due work often, so
// that a clock moved by a test is noticed at once.
const fastScheduler = "100ms"

// rub is an amount as a Russian subscriber reads it ("1 500,00 ₽").
func rub(roubles int64) string { return money.Rub(roubles).Format("ru") }

// payByBilling is the provider's billing taking a payment at a terminal: it
// writes the ledger row and the balance in its own transaction, knowing
// nothing of the bot.
func payByBilling(t *testing.T, pool *pgxpool.Pool, number string, roubles int64, paymentID string) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(context.Background(), `
INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
SELECT id, $2, 'terminal', 'billing', $3, now() FROM accounts WHERE number = $1`, number, money.Rub(roubles), paymentID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("no account %s", number)
		}
		_, err = tx.Exec(context.Background(), `UPDATE accounts SET balance = balance + $2 WHERE number = $1`, number, money.Rub(roubles))
		return err
	})
	if err != nil {
		t.Fatalf("billing payment: %v", err)
	}
}

// sent is how many messages containing text the bot sent to u and
// Telegram accepted (counted from the calls, because a later button press
// may edit the message into another screen).
func (s *stack) sent(u emulator.User, text string) int {
	n := 0
	for _, c := range s.emu.CallsTo("sendMessage") {
		body, _ := c.Params["text"].(string)
		if c.OK && fmt.Sprint(c.Params["chat_id"]) == fmt.Sprint(u.ID) && strings.Contains(body, text) {
			n++
		}
	}
	return n
}

// settle gives the scheduler several rounds, so that a push sent twice
// would have arrived.
func settle() { time.Sleep(10 * 100 * time.Millisecond) }

// eventually polls cond (for conditions outside the emulator, such as the
// database) until it holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// urlButton is the first link button of a message.
func urlButton(t *testing.T, m emulator.ChatMessage) (text, link string) {
	t.Helper()
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			if b.URL != "" {
				return b.Text, b.URL
			}
		}
	}
	t.Fatalf("no link button under %q: %s", m.Text, buttons(m))
	return "", ""
}

// callbackOf is the callback data of the button whose text contains label.
func callbackOf(t *testing.T, m emulator.ChatMessage, label string) string {
	t.Helper()
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			if strings.Contains(b.Text, label) && b.CallbackData != "" {
				return b.CallbackData
			}
		}
	}
	t.Fatalf("no button %q under %q: %s", label, m.Text, buttons(m))
	return ""
}

// checkSecretsNotLogged: the payment secrets never reach the logs.
func (s *stack) checkSecretsNotLogged() {
	logs := s.logs.String()
	for _, name := range []string{"PAY_LINK_SECRET", "YOOKASSA_SECRET_KEY"} {
		if v := s.env[name]; v != "" && strings.Contains(logs, v) {
			s.t.Errorf("%s is in the logs", name)
		}
	}
}

// ruDate is a date as the Russian texts write it: "28 ноября".
func ruDate(t *testing.T, d time.Time) string {
	t.Helper()
	text, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %s", d.Day(), text.T("ru", fmt.Sprintf("month_%d", int(d.Month())), nil))
}

// TestPayFlow: Pay from the balance screen with a suggested sum and with
// typed sums (good ones and nonsense), autopay and the history, for both
// providers. The link provider's URL passes VerifyLink with the secret the
// payment page holds and fails it when altered; YooKassa's is the
// confirmation_url of a payment created with the sum and the account.
func TestPayFlow(t *testing.T) {
	for _, provider := range []string{"link", "yookassa"} {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"AUTOPAY_URL_TEMPLATE": "https://pay.example.ru/autopay?ls={account}"}
			var fake *yookassatest.Server
			if provider == "yookassa" {
				fake = yookassatest.New(t, "100500", "test_secret")
				env["PAY_PROVIDER"] = "yookassa"
				env["YOOKASSA_SHOP_ID"] = fake.ShopID
				env["YOOKASSA_SECRET_KEY"] = fake.Secret
				env["YOOKASSA_API_URL"] = fake.URL
			}
			s := newStack(t, polling, env)
			defer s.checkSecretsNotLogged()
			u := newUser("ru")

			// checkLink asserts that the link pays amount into 1000000004.
			checkLink := func(m emulator.ChatMessage, roubles int64) {
				t.Helper()
				if !strings.Contains(m.Text, "Оплата "+rub(roubles)+" на счёт 1000000004") {
					t.Errorf("pay message: %q", m.Text)
				}
				label, link := urlButton(t, m)
				if !strings.Contains(label, rub(roubles)) {
					t.Errorf("the pay button reads %q, want the sum %s", label, rub(roubles))
				}
				switch provider {
				case "link":
					secret, _ := hex.DecodeString(s.env["PAY_LINK_SECRET"])
					if err := payments.VerifyLink(secret, link); err != nil {
						t.Fatalf("the payment page refuses the bot's link %s: %v", link, err)
					}
					account, amount, err := payments.LinkValues(link)
					if err != nil || account != "1000000004" || amount != money.Rub(roubles) {
						t.Errorf("the link pays %d kopecks into %q (%v), want %s into 1000000004", amount, account, err, rub(roubles))
					}
					if !strings.HasPrefix(link, "https://zelenaya.net/pay?") {
						t.Errorf("link %s is not on the provider's payment page", link)
					}
					q, _ := url.Parse(link)
					// Valid for PAY_LINK_TTL (24 h by default) from the bot's clock.
					expires, _ := strconv.ParseInt(q.Query().Get(payments.ParamExpires), 10, 64)
					if d := time.Unix(expires, 0).Sub(s.clock.Now().Add(24 * time.Hour)); d < -time.Minute || d > time.Minute {
						t.Errorf("the link expires at %v, want 24 h from now", time.Unix(expires, 0))
					}
					// Someone edits the sum or the account in the link.
					for param, value := range map[string]string{payments.ParamAmount: "1", payments.ParamAccount: "1000000001"} {
						v := q.Query()
						v.Set(param, value)
						altered := *q
						altered.RawQuery = v.Encode()
						if err := payments.VerifyLink(secret, altered.String()); !errors.Is(err, payments.ErrLinkSignature) {
							t.Errorf("a link with %s changed passes the check: %v", param, err)
						}
					}
				case "yookassa":
					var found *yookassatest.Payment
					for _, p := range fake.Payments() {
						if p.Confirmation.ConfirmationURL == link {
							found = &p
						}
					}
					if found == nil {
						t.Fatalf("the button opens %s, which is no payment's confirmation_url", link)
					}
					if found.Amount.Value != payments.FormatValue(money.Rub(roubles)) || found.Amount.Currency != "RUB" ||
						found.Metadata[payments.MetadataAccount] != "1000000004" || found.Confirmation.ReturnURL != "https://t.me/"+s.emu.Bot().Username {
						t.Errorf("the payment at YooKassa: %+v", *found)
					}
				}
			}

			s.linkAccount(u, "1000000004", "+79000000004")

			// Suggested sums: the monthly fee and three months; no debt.
			s.press(u, "Оплатить")
			screen := s.next(u, "Оплата счёта 1000000004")
			b := buttons(screen)
			for _, want := range []string{"Абонплата за месяц — " + rub(500), "За 3 месяца — " + rub(1500), "Другая сумма", "Автоплатёж", "История платежей"} {
				if !strings.Contains(b, want) {
					t.Errorf("pay screen lacks %q: %s", want, b)
				}
			}
			if strings.Contains(b, "Погасить долг") {
				t.Errorf("a debt sum offered to an account without debt: %s", b)
			}
			msgID, data := s.press(u, "Абонплата за месяц")
			first := s.next(u, "Оплата "+rub(500))
			checkLink(first, 500)
			if fake != nil {
				// A double tap on the same button gives the same payment.
				created := fake.Count()
				s.emu.PressButton(u, msgID, data)
				again := s.next(u, "Оплата "+rub(500))
				_, link1 := urlButton(t, first)
				_, link2 := urlButton(t, again)
				if link1 != link2 || fake.Count() != created {
					t.Errorf("a double tap made another payment: %d payments, links %s and %s", fake.Count(), link1, link2)
				}
			}

			// Typed sums: nonsense, zero, negative and too much get their
			// hint and the question stays; good ones get a link.
			s.press(u, "Другая сумма")
			s.next(u, "Введите сумму в рублях")
			for _, tc := range []struct{ typed, hint string }{
				{"пятьсот", "Не получилось понять сумму"},
				{"0", "Сумма должна быть больше нуля"},
				{"-500", "не может быть отрицательной"},
				{"20 000", "не больше " + rub(15000)},
			} {
				s.emu.SendText(u, tc.typed)
				s.next(u, tc.hint)
			}
			s.emu.SendText(u, "500")
			checkLink(s.next(u, "Оплата "+rub(500)), 500)
			s.press(u, "Другая сумма")
			s.next(u, "Введите сумму в рублях")
			s.emu.SendText(u, "1 500 ₽")
			checkLink(s.next(u, "Оплата "+rub(1500)), 1500)

			// Autopay: the provider's page for this account.
			s.press(u, "Меню")
			s.next(u, "Главное меню")
			s.press(u, "Оплатить")
			s.next(u, "Оплата счёта 1000000004")
			s.press(u, "Автоплатёж")
			ap := s.next(u, "Автоплатёж")
			if _, link := urlButton(t, ap); link != "https://pay.example.ru/autopay?ls=1000000004" {
				t.Errorf("autopay opens %s", link)
			}

			// History: the demo's payments with date, sum and channel.
			s.press(u, "История платежей")
			hist := s.next(u, "Платежи по счёту 1000000004")
			msk := moscow(t)
			today := time.Now().In(msk)
			day := time.Date(today.Year(), today.Month(), today.Day(), 12, 30, 0, 0, msk)
			for _, want := range []string{
				day.AddDate(0, 0, -31).Format("02.01.2006") + " — " + rub(500) + ", банковская карта",
				day.AddDate(0, 0, -62).Format("02.01.2006") + " — " + rub(500) + ", наличные в офисе",
			} {
				if !strings.Contains(hist.Text, want) {
					t.Errorf("history lacks %q:\n%s", want, hist.Text)
				}
			}
		})
	}
}

// TestPaymentReceivedPush: a payment the provider's billing writes straight
// into the ledger reaches every Telegram user linked to the account, once
// each, within seconds, while two serve instances share the work; a user
// linked to another account hears nothing.
func TestPaymentReceivedPush(t *testing.T) {
	t.Parallel()
	s := newStack(t, webhook, map[string]string{"SCHEDULER_POLL": fastScheduler})
	second := map[string]string{}
	for k, v := range s.env {
		second[k] = v
	}
	second["HTTP_ADDR"] = freeAddr(t)
	second["WEBHOOK_URL"] = "http://" + second["HTTP_ADDR"] + "/telegram/webhook"

	pool := s.db()
	parent, child, stranger := newUser("ru"), newUser("ru"), newUser("ru")
	// The parents' flat, linked by both; the resend pause is per account.
	s.linkAccount(parent, "1000000002", "+79000000001")
	s.clock.Advance(61 * time.Second)
	s.linkAccount(child, "1000000002", "+79000000001")
	s.linkAccount(stranger, "1000000005", "+79000000005")
	stopSecond := s.launch(second)
	defer stopSecond()

	start := time.Now()
	payByBilling(t, pool, "1000000002", 500, "terminal-77001")
	want := "Платёж " + rub(500) + " получен, баланс " + rub(550)
	var delays []time.Duration
	for _, u := range []emulator.User{parent, child} {
		m := s.next(u, want)
		delays = append(delays, time.Since(start))
		if !strings.Contains(m.Text, "1000000002") {
			t.Errorf("the push does not name the account: %q", m.Text)
		}
	}
	t.Logf("payment-received push: inserted -> delivered to both users in %v (first %v); target 5 s",
		delays[1].Round(time.Millisecond), delays[0].Round(time.Millisecond))

	settle()
	for _, u := range []emulator.User{parent, child} {
		if n := s.sent(u, "получен, баланс"); n != 1 {
			t.Errorf("user got the push %d times, want once", n)
		}
	}
	if n := s.sent(stranger, "получен"); n != 0 {
		t.Errorf("a user linked to another account got %d pushes", n)
	}
	var sent int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM payment_notices WHERE sent_at IS NOT NULL`).Scan(&sent); err != nil || sent != 2 {
		t.Errorf("%d notices marked sent (%v), want 2", sent, err)
	}
}

// TestPaymentPushAcrossRestart: the payment lands while serve is down; the
// push goes out once after it starts again.
func TestPaymentPushAcrossRestart(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, map[string]string{"SCHEDULER_POLL": fastScheduler})
	pool := s.db()
	u := newUser("ru")
	s.linkAccount(u, "1000000005", "+79000000005")

	s.stop()
	payByBilling(t, pool, "1000000005", 300, "terminal-88001")
	inserted := time.Now()
	s.start()
	started := time.Now()
	s.next(u, "Платёж "+rub(300)+" получен, баланс "+rub(390))
	t.Logf("push after a restart: %v after serve started, %v after the payment (which waited for the restart)",
		time.Since(started).Round(time.Millisecond), time.Since(inserted).Round(time.Millisecond))

	// And once more while it runs, to be sure the restarted instance listens.
	payByBilling(t, pool, "1000000005", 100, "terminal-88002")
	at := time.Now()
	s.next(u, "Платёж "+rub(100)+" получен, баланс "+rub(490))
	t.Logf("push while running after the restart: %v", time.Since(at).Round(time.Millisecond))

	settle()
	if n := s.sent(u, "получен, баланс"); n != 2 {
		t.Errorf("%d pushes for 2 payments", n)
	}
}

// TestTrustPaymentFlow: a blocked subscriber takes a trust payment (the
// offer says how much and until when; nothing happens before "Confirm"),
// the block is lifted, a second confirmation is refused until next month,
// the reminder comes once a day before the end with a Pay button, and at
// the end the sum is taken back and the account is blocked again. Time
// moves by the test clock, which the scheduler shares.
func TestTrustPaymentFlow(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, map[string]string{"SCHEDULER_POLL": fastScheduler})
	pool := s.db()
	msk := moscow(t)
	u := newUser("ru")
	s.linkAccount(u, "1000000020", "+79000000020") // Элиста: blocked, −35 ₽, Домашний 100 (500 ₽)

	s.press(u, "Доверительный платёж")
	offer := s.next(u, "Доверительный платёж")
	ends := s.clock.Now().Add(72 * time.Hour).In(msk)
	if want := rub(500) + " на 3 дня, до " + ruDate(t, ends); !strings.Contains(offer.Text, want) {
		t.Errorf("the offer does not say %q:\n%s", want, offer.Text)
	}
	var trusts int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM trust_payments tp JOIN accounts a ON a.id = tp.account_id WHERE a.number = '1000000020'`).Scan(&trusts); err != nil || trusts != 0 {
		t.Fatalf("%d trust payments before Confirm (%v)", trusts, err)
	}
	confirm := callbackOf(t, offer, "Подтвердить")
	s.press(u, "Подтвердить")
	granted := s.next(u, "Доверительный платёж подключён")
	if want := rub(500) + " до " + ruDate(t, ends) + ", " + ends.Format("15:04") + ". Баланс: " + rub(465); !strings.Contains(granted.Text, want) {
		t.Errorf("the grant does not say %q:\n%s", want, granted.Text)
	}
	s.emu.SendCommand(u, "/balance")
	// The 465 ₽ last only until the trust payment ends, not 27 days: the
	// screen says how much of it is trusted, until when, and what to pay.
	bal := s.next(u, "Лицевой счёт 1000000020\nТариф")
	for _, want := range []string{"Статус: активен",
		"Из них " + rub(500) + " — доверительный платёж до " + ruDate(t, ends),
		"Денег хватит на 3 дня, до " + ruDate(t, ends),
		"Не хватает " + rub(535) + ": без пополнения доступ будет приостановлен " + ruDate(t, ends)} {
		if !strings.Contains(bal.Text, want) {
			t.Errorf("the balance with a trust payment lacks %q:\n%s", want, bal.Text)
		}
	}
	if strings.Contains(bal.Text, "27 дней") {
		t.Errorf("the forecast counts the trust payment:\n%s", bal.Text)
	}

	// The same Confirm pressed again: one trust payment a month.
	s.emu.PressButton(u, offer.ID, confirm)
	now := s.clock.Now().In(msk)
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, msk)
	s.next(u, "Следующий можно взять с "+ruDate(t, next))

	// A day before the end: the reminder, once, with a Pay button.
	s.clock.Advance(48*time.Hour + time.Minute)
	reminder := s.next(u, "Доверительный платёж "+rub(500)+" по счёту 1000000020 заканчивается завтра")
	if want := ruDate(t, ends) + ", в " + ends.Format("15:04"); !strings.Contains(reminder.Text, want) {
		t.Errorf("the reminder does not say when (%q):\n%s", want, reminder.Text)
	}
	settle()
	if n := s.sent(u, "заканчивается завтра"); n != 1 {
		t.Errorf("%d reminders, want 1", n)
	}
	s.emu.PressButton(u, reminder.ID, callbackOf(t, reminder, "Оплатить"))
	s.next(u, "Оплата счёта 1000000020")
	if m, _ := s.emu.Message(u.ID, reminder.ID); !strings.Contains(m.Text, "заканчивается завтра") {
		t.Error("the pay screen overwrote the reminder")
	}

	// The end: the sum is taken back and the debt blocks the account again.
	s.clock.Advance(24 * time.Hour)
	eventually(t, "the trust payment to end", func() bool {
		var status string
		_ = pool.QueryRow(context.Background(), `SELECT status FROM accounts WHERE number = '1000000020'`).Scan(&status)
		return status == "blocked"
	})
	s.emu.SendCommand(u, "/balance")
	bal = s.next(u, "Лицевой счёт 1000000020\nТариф")
	for _, want := range []string{"Баланс: " + money.Amount(-3500).Format("ru"), "Статус: заблокирован за неуплату", "доверительный платёж"} {
		if !strings.Contains(bal.Text, want) {
			t.Errorf("after the end the balance lacks %q:\n%s", want, bal.Text)
		}
	}
	settle()
	if n := s.sent(u, "заканчивается завтра"); n != 1 {
		t.Errorf("%d reminders after the end, want 1", n)
	}
}

// TestTrustRefusalsThroughTheBot: the refusals name their reason, and the
// "no payment since the last one" refusal lifts when a payment arrives.
func TestTrustRefusalsThroughTheBot(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, map[string]string{"SCHEDULER_POLL": fastScheduler})
	pool := s.db()
	for _, tc := range []struct{ number, phone, refusal string }{
		{"1000000001", "+79000000001", "денег на балансе хватает"},
		{"1000000008", "+79000000008", "заблокирован по вашему заявлению"},
		{"1000000021", "+79000000021", "в этом месяце он уже был"},
	} {
		u := newUser("ru")
		s.linkAccount(u, tc.number, tc.phone)
		s.press(u, "Меню")
		s.next(u, "Главное меню")
		s.press(u, "Доверительный платёж")
		s.next(u, tc.refusal)
	}

	u := newUser("ru")
	s.linkAccount(u, "1000000022", "+79000000022") // took one last month, paid nothing since
	s.press(u, "Доверительный платёж")
	s.next(u, "после пополнения счёта")
	payByBilling(t, pool, "1000000022", 600, "terminal-99001")
	s.next(u, "Платёж "+rub(600)+" получен, баланс "+rub(130))
	s.press(u, "Меню")
	s.next(u, "Главное меню")
	s.press(u, "Доверительный платёж")
	s.next(u, rub(500)+" на 3 дня")
}

// TestYooKassaWebhookThroughServe: YooKassa's notification posted to serve's
// HTTP_ADDR three times at once credits the payment once (one ledger row,
// one push); a mismatching payment and a notification from an address
// outside YOOKASSA_ALLOWED_IPS credit nothing.
func TestYooKassaWebhookThroughServe(t *testing.T) {
	t.Parallel()
	fake := yookassatest.New(t, "100500", "test_secret")
	s := newStack(t, webhook, map[string]string{
		"PAY_PROVIDER":         "yookassa",
		"YOOKASSA_SHOP_ID":     fake.ShopID,
		"YOOKASSA_SECRET_KEY":  fake.Secret,
		"YOOKASSA_API_URL":     fake.URL,
		"YOOKASSA_ALLOWED_IPS": "127.0.0.1,::1",
		"SCHEDULER_POLL":       fastScheduler,
	})
	defer s.checkSecretsNotLogged()
	pool := s.db()
	endpoint := "http://" + s.addr + "/yookassa/webhook"
	post := func(endpoint string, body []byte) int {
		resp, err := http.Post(endpoint, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	balance := func() money.Amount {
		var b money.Amount
		if err := pool.QueryRow(context.Background(), `SELECT balance FROM accounts WHERE number = '1000000004'`).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	credited := func() int {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM payments WHERE provider = 'yookassa'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	u := newUser("ru")
	s.linkAccount(u, "1000000004", "+79000000004") // 20 ₽
	s.press(u, "Оплатить")
	s.next(u, "Оплата счёта 1000000004")
	s.press(u, "Абонплата за месяц")
	s.next(u, "Оплата "+rub(500))
	paid := fake.Payments()[0]

	// Not paid yet: a notification credits nothing.
	if code := post(endpoint, fake.Notification(paid.ID, "payment.succeeded")); code != http.StatusOK {
		t.Errorf("notification of a pending payment answered %d", code)
	}
	if credited() != 0 {
		t.Fatal("a pending payment was credited")
	}

	fake.Succeed(paid.ID)
	// From an address YooKassa does not use: refused, nothing credited.
	other := map[string]string{}
	for k, v := range s.env {
		other[k] = v
	}
	other["HTTP_ADDR"] = freeAddr(t)
	other["WEBHOOK_URL"] = "http://" + other["HTTP_ADDR"] + "/telegram/webhook"
	other["YOOKASSA_ALLOWED_IPS"] = "185.71.76.0/27"
	// Telegram's updates keep going to the first instance, which stays up.
	s.emu.SetWebhookTarget(func(string) string { return s.env["WEBHOOK_URL"] })
	stopOther := s.launch(other)
	if code := post("http://"+other["HTTP_ADDR"]+"/yookassa/webhook", fake.Notification(paid.ID, "payment.succeeded")); code != http.StatusForbidden {
		t.Errorf("a notification from outside YOOKASSA_ALLOWED_IPS answered %d, want 403", code)
	}
	stopOther()
	if credited() != 0 {
		t.Fatal("a notification from a wrong address was credited")
	}

	// The same notification three times at once.
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = post(endpoint, fake.Notification(paid.ID, "payment.succeeded"))
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != http.StatusOK {
			t.Errorf("notification answered %v, want 200 each", codes)
			break
		}
	}
	if n, b := credited(), balance(); n != 1 || b != money.Rub(520) {
		t.Errorf("after 3 notifications: %d ledger rows, balance %d; want 1 and 520 ₽", n, b)
	}
	s.next(u, "Платёж "+rub(500)+" получен, баланс "+rub(520))

	// A payment whose sum at YooKassa differs from what the bot created.
	s.press(u, "Меню")
	s.next(u, "Главное меню")
	s.press(u, "Оплатить")
	s.next(u, "Оплата счёта 1000000004")
	s.press(u, "Другая сумма")
	s.next(u, "Введите сумму")
	s.emu.SendText(u, "700")
	s.next(u, "Оплата "+rub(700))
	forged := fake.Payments()[1]
	fake.Mutate(forged.ID, func(p *yookassatest.Payment) { p.Amount.Value = "7.00" })
	fake.Succeed(forged.ID)
	if code := post(endpoint, fake.Notification(forged.ID, "payment.succeeded")); code != http.StatusOK {
		t.Errorf("a mismatching payment answered %d (it should not be redelivered)", code)
	}
	if n, b := credited(), balance(); n != 1 || b != money.Rub(520) {
		t.Errorf("a mismatching payment changed the ledger: %d rows, balance %d", n, b)
	}
	if !strings.Contains(s.logs.String(), "webhook_mismatch") {
		t.Error("the mismatching payment is not logged")
	}

	if resp, err := http.Get(endpoint); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET on the webhook answered %d, want 405", resp.StatusCode)
		}
	}

	// The history names the channel.
	s.press(u, "Меню")
	s.next(u, "Главное меню")
	s.emu.SendCommand(u, "/balance")
	s.next(u, "Лицевой счёт 1000000004\nТариф")
	s.press(u, "История платежей")
	if h := s.next(u, "Платежи по счёту 1000000004"); !strings.Contains(h.Text, rub(500)+", онлайн-оплата") {
		t.Errorf("history lacks the YooKassa payment:\n%s", h.Text)
	}
	settle()
	if n := s.sent(u, "получен, баланс"); n != 1 {
		t.Errorf("%d pushes for one payment", n)
	}
}
