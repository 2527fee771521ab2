package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/httpbilling/httpbillingtest"
	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/money"
)

// The subscriber's self-service through the whole bot: freeze and unfreeze
// under a clock the test moves (the demo billing's cycle follows it), a
// tariff change scheduled, cancelled and applied, a service connected and
// disconnected with its fee, the usage chart as a photo, the statement as
// a file; a double tap changes once; the contract phone gets an SMS.

// fastCycle runs the demo billing's day often, so that a moved clock is
// followed at once.
const fastCycle = "50ms"

// accountState is what the demo billing holds of an account.
type accountState struct {
	id           int64
	status       string
	balance      money.Amount
	tariff       string
	chargedUntil *time.Time
}

func readAccount(t *testing.T, pool *pgxpool.Pool, number string) accountState {
	t.Helper()
	var a accountState
	if err := pool.QueryRow(context.Background(), `
SELECT a.id, a.status, a.balance, t.name, a.charged_until FROM accounts a JOIN tariffs t ON t.id = a.tariff_id
WHERE a.number = $1`, number).Scan(&a.id, &a.status, &a.balance, &a.tariff, &a.chargedUntil); err != nil {
		t.Fatal(err)
	}
	return a
}

// countRows runs a count(*) query.
func countRows(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// cycledPast waits until the demo billing's cycle has dealt with the
// account's charge day day (its next uncharged charge day is after it).
func cycledPast(t *testing.T, pool *pgxpool.Pool, number string, day time.Time) {
	t.Helper()
	eventually(t, "the billing cycle past "+day.Format(time.DateOnly), func() bool {
		a := readAccount(t, pool, number)
		return a.chargedUntil != nil && a.chargedUntil.Format(time.DateOnly) > day.Format(time.DateOnly)
	})
}

// smsWith counts the SMS to phone that contain text.
func (s *stack) smsWith(phone, text string) int {
	n := 0
	for _, m := range s.sms.Messages(phone) {
		if strings.Contains(m.Text, text) {
			n++
		}
	}
	return n
}

// manage opens "⚙ Управление" of the account from a new balance screen.
func (s *stack) manage(u emulator.User, number string) emulator.ChatMessage {
	s.t.Helper()
	s.emu.SendCommand(u, "/balance")
	bal := s.next(u, "Лицевой счёт "+number+"\nТариф")
	s.emu.PressButton(u, bal.ID, callbackOf(s.t.(*testing.T), bal, "Управление"))
	return s.next(u, "⚙ Лицевой счёт "+number)
}

// becomes waits until message id of u's chat says want.
func (s *stack) becomes(u emulator.User, id int, want string) emulator.ChatMessage {
	s.t.Helper()
	var m emulator.ChatMessage
	s.waitFor("message to say "+want, func() bool {
		m, _ = s.emu.Message(u.ID, id)
		return strings.Contains(m.Text, want)
	})
	return m
}

// doubleTap presses a button twice at once, as an impatient thumb does:
// two updates, the second before the first is answered.
func (s *stack) doubleTap(u emulator.User, m emulator.ChatMessage, label string) {
	s.t.Helper()
	data := callbackOf(s.t.(*testing.T), m, label)
	s.emu.PressButton(u, m.ID, data)
	s.emu.PressButton(u, m.ID, data)
}

// TestFreezeAndUnfreeze: a freeze from today over the next charge day;
// the bot says what happens and asks first; a double tap freezes once and
// sends one SMS; the balance screen says until when; the charge day
// passes with nothing charged; a second freeze is refused by the rules;
// "Разморозить" ends it early and the next charge day charges again.
func TestFreezeAndUnfreeze(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, map[string]string{"BILLING_CYCLE": fastCycle, "FREEZE_PER_YEAR": "1"})
	pool := s.db()
	msk := moscow(t)
	const number, phone = "1000000001", "+79000000001" // Москва, Домашний 500 + ТВ «Базовый»: 949 ₽ on the 5th
	u := newUser("ru")
	s.linkAccount(u, number, phone)
	before := readAccount(t, pool, number)
	eventually(t, "the cycle to see the account", func() bool { return readAccount(t, pool, number).chargedUntil != nil })

	s.manage(u, number)
	s.press(u, "Заморозить")
	s.next(u, "С какого дня?")
	s.press(u, "Сегодня")
	s.next(u, "На сколько дней?")
	s.press(u, "60 дней")
	today := s.clock.Now().In(msk)
	end := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, msk).AddDate(0, 0, 60)
	offer := s.next(u, "Заморозить счёт "+number)
	for _, want := range []string{"до " + ruDate(t, end) + " (60 дней)", "Абонентская плата (" + rub(949) + " в месяц) не списывается",
		"Интернет и ТВ будут отключены", "Баланс " + rub(2340) + " сохранится", "Блокировка бесплатна"} {
		if !strings.Contains(offer.Text, want) {
			t.Errorf("the offer does not say %q:\n%s", want, offer.Text)
		}
	}
	if n := countRows(t, pool, `SELECT count(*) FROM freezes WHERE account_id = $1`, before.id); n != 0 {
		t.Fatalf("%d freezes before Confirm", n)
	}

	s.doubleTap(u, offer, "Заморозить")
	s.next(u, "Счёт заморожен до "+ruDate(t, end))
	s.waitFor("both taps answered", func() bool { return hasPrefix(s.toasts(), "Уже сделано") })
	s.waitFor("the SMS", func() bool { return s.smsWith(phone, "заморожен") > 0 })
	settle()
	if n := countRows(t, pool, `SELECT count(*) FROM freezes WHERE account_id = $1`, before.id); n != 1 {
		t.Errorf("a double tap made %d freezes", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM selfservice_audit WHERE account_id = $1 AND action = 'freeze' AND telegram_user_id = $2`, before.id, u.ID); n != 1 {
		t.Errorf("%d freezes in the audit trail, want 1", n)
	}
	if n := s.smsWith(phone, "заморожен"); n != 1 {
		t.Errorf("%d freeze SMS, want 1", n)
	}
	if n := s.smsWith(phone, "Если это были не вы"); n < 1 {
		t.Error("the SMS does not warn the holder")
	}
	if a := readAccount(t, pool, number); a.status != "frozen" {
		t.Fatalf("status %s after the freeze", a.status)
	}
	s.emu.SendCommand(u, "/balance")
	bal := s.next(u, "Лицевой счёт "+number+"\nТариф")
	if want := "Добровольная блокировка до " + ruDate(t, end); !strings.Contains(bal.Text, want) {
		t.Errorf("the frozen balance does not say %q:\n%s", want, bal.Text)
	}

	// The rules, for another subscriber before the clock moves: a freeze
	// while one runs is refused; with one freeze a year here, a second
	// after ending the first early is refused too.
	v := newUser("ru")
	s.linkAccount(v, "1000000011", "+79000000011") // Уфа
	s.manage(v, "1000000011")
	s.press(v, "Заморозить")
	ask := s.next(v, "С какого дня?")
	s.press(v, "Сегодня")
	s.next(v, "На сколько дней?")
	s.press(v, "7 дней")
	s.next(v, "Заморозить счёт 1000000011")
	s.press(v, "✅ Заморозить")
	s.next(v, "Счёт заморожен до")
	s.emu.PressButton(v, ask.ID, callbackOf(t, ask, "Сегодня")) // an old button of the first freeze
	s.next(v, "Счёт уже заморожен или блокировка запланирована")
	if screen := s.manage(v, "1000000011"); !strings.Contains(screen.Text, "❄ Заморожен до") {
		t.Errorf("the screen of a frozen account does not say until when:\n%s", screen.Text)
	}
	s.press(v, "Разморозить")
	s.next(v, "Разморозить счёт сейчас?")
	s.press(v, "Разморозить сейчас")
	s.next(v, "Блокировки больше нет")
	s.manage(v, "1000000011")
	s.press(v, "Заморозить")
	s.next(v, "Блокировку можно брать не больше 1 раза в год")

	// The charge day passes: nothing is taken.
	charge := billing.Account{ChargeDay: 5}.NextChargeDate(s.clock.Now(), msk)
	s.clock.Advance(charge.Sub(s.clock.Now()) + 12*time.Hour)
	cycledPast(t, pool, number, charge)
	if a := readAccount(t, pool, number); a.balance != before.balance || a.status != "frozen" {
		t.Errorf("after the charge day while frozen: %s, balance %d, want frozen, %d", a.status, a.balance, before.balance)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM charges WHERE account_id = $1`, before.id); n != 0 {
		t.Errorf("%d charges while frozen", n)
	}

	// "Разморозить": asked first, then the account works again.
	screen := s.manage(u, number)
	if !strings.Contains(screen.Text, "❄ Заморожен до "+ruDate(t, end)) {
		t.Errorf("the screen of the frozen account does not say until when:\n%s", screen.Text)
	}
	s.emu.PressButton(u, screen.ID, callbackOf(t, screen, "Разморозить"))
	s.next(u, "Разморозить счёт сейчас?")
	s.press(u, "Разморозить сейчас")
	s.next(u, "Блокировки больше нет")
	s.waitFor("the unfreeze SMS", func() bool { return s.smsWith(phone, "снята") == 1 })
	if a := readAccount(t, pool, number); a.status != "active" {
		t.Fatalf("status %s after Разморозить", a.status)
	}

	// The next charge day charges the whole month again.
	next := billing.Account{ChargeDay: 5}.NextChargeDate(s.clock.Now(), msk)
	s.clock.Advance(next.Sub(s.clock.Now()) + 12*time.Hour)
	cycledPast(t, pool, number, next)
	if a := readAccount(t, pool, number); a.balance != before.balance-money.Rub(949) {
		t.Errorf("after the freeze the charge day left %d, want %d", a.balance, before.balance-money.Rub(949))
	}
}

// TestTariffChangeScheduledCancelledAndApplied: the tariffs of the
// account's city and kind; a change from the next charge day, confirmed
// by SMS; cancelled before it takes effect; made again and applied on the
// charge day, which charges the new fee. A tariff the balance cannot pay
// says so before the confirmation.
func TestTariffChangeScheduledCancelledAndApplied(t *testing.T) {
	t.Parallel()
	s := newStack(t, webhook, map[string]string{"BILLING_CYCLE": fastCycle})
	pool := s.db()
	msk := moscow(t)
	const number, phone = "1000000001", "+79000000001"
	u := newUser("ru")
	s.linkAccount(u, number, phone)
	eventually(t, "the cycle to see the account", func() bool { return readAccount(t, pool, number).chargedUntil != nil })
	from := billing.Account{ChargeDay: 5}.NextChargeDate(s.clock.Now(), msk)

	s.manage(u, number)
	s.press(u, "Тариф")
	list := s.next(u, "ваш тариф:\n«Домашний 500»: 500 Мбит/с, "+rub(750)+" в месяц")
	for _, want := range []string{"«Домашний 100»", "«Домашний 300»", "«Домашний 500 + ТВ»: 500 Мбит/с и ТВ", "«Домашний 1000»: 1000 Мбит/с, " + rub(1100)} {
		if !strings.Contains(list.Text, want) {
			t.Errorf("the tariffs lack %q:\n%s", want, list.Text)
		}
	}
	if strings.Contains(list.Text, "Бизнес") {
		t.Errorf("a home account is offered a business tariff:\n%s", list.Text)
	}
	s.emu.PressButton(u, list.ID, callbackOf(t, list, "Домашний 1000"))
	offer := s.next(u, "Сменить тариф")
	for _, want := range []string{"с начала следующего периода, " + ruDate(t, from), "вырастет на " + rub(350), "первый месяц на новом тарифе — " + rub(1299)} {
		if !strings.Contains(offer.Text, want) {
			t.Errorf("the offer does not say %q:\n%s", want, offer.Text)
		}
	}
	if strings.Contains(offer.Text, "не хватает") {
		t.Errorf("2 340 ₽ pays 1 299 ₽, yet:\n%s", offer.Text)
	}
	s.doubleTap(u, offer, "Сменить тариф")
	done := s.next(u, "Тариф «Домашний 1000» начнёт действовать "+ruDate(t, from))
	if !strings.Contains(done.Text, "⏳ С "+ruDate(t, from)+" — «Домашний 1000»") || !strings.Contains(buttons(done), "Отменить смену") {
		t.Errorf("the waiting change is not shown with a way to cancel it:\n%s %s", done.Text, buttons(done))
	}
	s.waitFor("the tariff SMS", func() bool {
		return s.smsWith(phone, "Тариф счёта "+number+" сменится с "+from.Format("02.01")) > 0
	})
	settle()
	id := readAccount(t, pool, number).id
	if n := countRows(t, pool, `SELECT count(*) FROM tariff_changes WHERE account_id = $1`, id); n != 1 {
		t.Errorf("a double tap made %d tariff changes", n)
	}
	if n := s.smsWith(phone, "сменится"); n != 1 {
		t.Errorf("%d tariff SMS, want 1", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM selfservice_audit WHERE account_id = $1 AND action = 'tariff'`, id); n != 1 {
		t.Errorf("%d tariff changes in the audit trail", n)
	}

	// Тамбов: no «Домашний 1000» there; 520 ₽ do not pay «Домашний 500».
	v := newUser("ru")
	s.linkAccount(v, "1000000019", "+79000000019")
	s.manage(v, "1000000019")
	s.press(v, "Тариф")
	list = s.next(v, "ваш тариф:\n«Домашний 100»")
	if strings.Contains(list.Text, "Домашний 1000") {
		t.Errorf("Тамбов is offered a Москва and Томск tariff:\n%s", list.Text)
	}
	s.emu.PressButton(v, list.ID, callbackOf(t, list, "Домашний 500 —"))
	if offer := s.next(v, "Сменить тариф"); !strings.Contains(offer.Text, "⚠ На балансе не хватает "+rub(230)+", чтобы оплатить первый месяц") {
		t.Errorf("the offer does not warn of the first month:\n%s", offer.Text)
	}

	// Cancelled before it takes effect: the charge day keeps the old tariff.
	s.press(u, "Отменить смену")
	s.next(u, "Смена тарифа отменена, остаётся «Домашний 500»")
	if n := countRows(t, pool, `SELECT count(*) FROM tariff_changes WHERE account_id = $1 AND cancelled_at IS NULL`, id); n != 0 {
		t.Errorf("%d changes still waiting after the cancellation", n)
	}

	// Made again, and applied on the charge day, which charges the new fee.
	id2, _ := s.press(u, "Домашний 1000")
	s.becomes(u, id2, "Сменить тариф\nс «Домашний 500»")
	s.press(u, "Сменить тариф")
	s.becomes(u, id2, "Тариф «Домашний 1000» начнёт действовать")
	before := readAccount(t, pool, number)
	s.clock.Advance(from.Sub(s.clock.Now()) + 12*time.Hour)
	cycledPast(t, pool, number, from)
	if a := readAccount(t, pool, number); a.tariff != "Домашний 1000" || a.balance != before.balance-money.Rub(1299) {
		t.Errorf("on the charge day: tariff %q, balance %d; want Домашний 1000, %d", a.tariff, a.balance, before.balance-money.Rub(1299))
	}
}

// TestServicesAndStatement: a TV package connected with the
// fee for the rest of the period taken at once (a double tap takes it
// once), then disconnected; the statement of the month lists the charge,
// as a message and as a CSV file.
func TestServicesAndStatement(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, map[string]string{"BILLING_CYCLE": fastCycle})
	pool := s.db()
	msk := moscow(t)
	const number, phone = "1000000001", "+79000000001"
	u := newUser("ru")
	s.linkAccount(u, number, phone)
	before := readAccount(t, pool, number)
	now := s.clock.Now().In(msk)
	next := billing.Account{ChargeDay: 5}.NextChargeDate(now, msk)
	part := billing.ServiceFirstPart(money.Rub(299), time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, msk), next)

	s.manage(u, number)
	s.press(u, "Услуги")
	list := s.next(u, "🧩 Услуги счёта "+number)
	for _, want := range []string{"Подключены:\n• ТВ «Базовый» — " + rub(199), "• ТВ «Кино» — " + rub(299), "• Статический IP — " + rub(150)} {
		if !strings.Contains(list.Text, want) {
			t.Errorf("the services lack %q:\n%s", want, list.Text)
		}
	}
	s.emu.PressButton(u, list.ID, callbackOf(t, list, "ТВ «Кино»"))
	offer := s.next(u, "Подключить «ТВ «Кино»» за "+rub(299)+" в месяц?")
	if want := "Сейчас спишется " + part.Format("ru") + " — за дни до " + ruDate(t, next); !strings.Contains(offer.Text, want) {
		t.Errorf("the offer does not say %q:\n%s", want, offer.Text)
	}
	s.doubleTap(u, offer, "Подключить")
	s.next(u, "Услуга подключена, списано "+part.Format("ru"))
	s.waitFor("both taps answered", func() bool { return hasPrefix(s.toasts(), "Уже сделано") })
	if a := readAccount(t, pool, number); a.balance != before.balance-part {
		t.Errorf("balance %d after connecting, want %d (one first part of %d)", a.balance, before.balance-part, part)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM account_services x JOIN services s ON s.id = x.service_id WHERE x.account_id = $1 AND s.name = 'ТВ «Кино»'`, before.id); n != 1 {
		t.Fatalf("ТВ «Кино» connected %d times", n)
	}

	// Disconnected: at once, nothing returned.
	s.press(u, "ТВ «Кино»")
	s.next(u, "Отключить «ТВ «Кино»» ("+rub(299)+" в месяц)?")
	s.press(u, "Отключить")
	s.next(u, "Услуга отключена.")
	if n := countRows(t, pool, `SELECT count(*) FROM account_services x JOIN services s ON s.id = x.service_id WHERE x.account_id = $1 AND s.name = 'ТВ «Кино»'`, before.id); n != 0 {
		t.Errorf("ТВ «Кино» still connected")
	}
	if n := countRows(t, pool, `SELECT count(*) FROM selfservice_audit WHERE account_id = $1 AND action IN ('service_on', 'service_off')`, before.id); n != 2 {
		t.Errorf("%d service changes in the audit trail, want 2", n)
	}

	// The statement of this month: the charge, as a message and as a file.
	s.manage(u, number)
	s.press(u, "Выписка")
	months := s.next(u, "Выписка по счёту "+number+": за какой месяц?")
	s.emu.PressButton(u, months.ID, months.InlineKeyboard[0][0].CallbackData)
	st := s.next(u, "🧾 Выписка по счёту "+number)
	if want := "Списание: ТВ «Кино» −" + part.Format("ru"); part > 0 && !strings.Contains(st.Text, want) {
		t.Errorf("the statement lacks %q:\n%s", want, st.Text)
	}
	var doc emulator.ChatMessage
	s.waitFor("the statement file", func() bool {
		for _, m := range s.emu.BotMessages(u.ID) {
			if m.Message.Document != nil {
				doc = m
				return true
			}
		}
		return false
	})
	d := doc.Message.Document
	if !strings.HasPrefix(d.FileName, "statement-"+number+"-") || !strings.HasSuffix(d.FileName, ".csv") || !strings.HasPrefix(d.MimeType, "text/csv") {
		t.Errorf("the file is %q of %q", d.FileName, d.MimeType)
	}
	data, ok := s.emu.FileBytes(d.FileID)
	if !ok || int64(len(data)) != d.FileSize {
		t.Fatalf("the file's bytes: %d, %v; its size says %d", len(data), ok, d.FileSize)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("the statement is not CSV: %v\n%s", err, data)
	}
	if len(rows) == 0 || strings.Join(rows[0], ";") != "Дата;Операция;Сумма, руб." {
		t.Fatalf("the header is %q", rows)
	}
	found := false
	for _, row := range rows[1:] {
		if row[1] == "Списание: ТВ «Кино»" && row[2] == fmt.Sprintf("%.2f", -float64(part)/100) {
			found = true
		}
	}
	if part > 0 && !found {
		t.Errorf("the CSV lacks the charge of %d:\n%s", part, data)
	}
}

// TestUsageChartIsAPhoto: the month's traffic arrives as a PNG photo the
// emulator reads as Telegram would (size and type checked), with the
// totals and the average session under it; the picture is kept as a
// test artifact.
func TestUsageChartIsAPhoto(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, nil)
	const number = "1000000009" // Томск
	u := newUser("ru")
	s.linkAccount(u, number, "+79000000009")
	s.manage(u, number)
	s.press(u, "Статистика")
	var photo emulator.ChatMessage
	pressed := false
	s.waitFor("the chart", func() bool {
		for _, m := range s.emu.BotMessages(u.ID) {
			if len(m.Message.Photo) > 0 {
				photo = m
				return true
			}
			// On the 1st of a month in Томск, before the demo's traffic of
			// that day exists, the month has none: the last month's it is.
			if strings.Contains(m.Text, "трафика нет") && !pressed {
				s.emu.PressButton(u, m.ID, callbackOf(t, m, "Прошлый месяц"))
				pressed = true
			}
		}
		return false
	})
	for _, want := range []string{"📊 Счёт " + number, "Принято ", " ГБ, отправлено ", "в среднем по "} {
		if !strings.Contains(photo.Text, want) {
			t.Errorf("the caption lacks %q:\n%s", want, photo.Text)
		}
	}
	if !strings.Contains(buttons(photo), "Прошлый месяц") && !strings.Contains(buttons(photo), "Этот месяц") {
		t.Errorf("no way to the other month under the chart: %s", buttons(photo))
	}
	full := photo.Message.Photo[len(photo.Message.Photo)-1]
	data, ok := s.emu.FileBytes(full.FileID)
	if !ok {
		t.Fatal("the emulator has no bytes of the chart")
	}
	if ctype := http.DetectContentType(data); ctype != "image/png" {
		t.Errorf("the chart is %s", ctype)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the chart is no PNG: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X != 1200 || sz.Y != 675 || full.Width != 1200 || full.Height != 675 {
		t.Errorf("the chart is %v (Telegram says %d×%d), want 1200×675", sz, full.Width, full.Height)
	}
	if len(data) > 10<<20 || full.FileSize != len(data) {
		t.Errorf("the chart is %d bytes (Telegram says %d)", len(data), full.FileSize)
	}
	if n := len(s.emu.CallsTo("sendPhoto")); n != 1 && !pressed {
		t.Errorf("%d sendPhoto calls, want 1", n)
	}
	dir := artifactDir(t)
	file := filepath.Join(dir, "usage-"+number+".png")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("usage chart: %s (%d bytes)", file, len(data))

	// The last month's, from under this one's: a month of bars.
	if !strings.Contains(buttons(photo), "Прошлый месяц") {
		return
	}
	s.emu.PressButton(u, photo.ID, callbackOf(t, photo, "Прошлый месяц"))
	s.waitFor("the last month's chart", func() bool { return len(s.emu.CallsTo("sendPhoto")) == 2 })
	var last []byte
	s.waitFor("its message", func() bool {
		msgs := s.emu.BotMessages(u.ID)
		m := msgs[len(msgs)-1]
		if len(m.Message.Photo) == 0 {
			return false
		}
		last, _ = s.emu.FileBytes(m.Message.Photo[len(m.Message.Photo)-1].FileID)
		return last != nil
	})
	if _, err := png.Decode(bytes.NewReader(last)); err != nil {
		t.Fatalf("the last month's chart is no PNG: %v", err)
	}
	file = filepath.Join(dir, "usage-"+number+"-last-month.png")
	if err := os.WriteFile(file, last, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("usage chart of the last month: %s (%d bytes)", file, len(last))
}

// The self-service's buttons name an account: one that is not the
// person's own is refused like every other button.
func TestSelfServiceButtonsOfSomeoneElsesAccount(t *testing.T) {
	t.Parallel()
	s := newStack(t, polling, nil)
	pool := s.db()
	u := newUser("ru")
	s.linkAccount(u, "1000000004", "+79000000004")
	other := readAccount(t, pool, "1000000005")
	msgs := s.emu.BotMessages(u.ID)
	bal := msgs[len(msgs)-1]
	for _, data := range []string{"fzo:%d:20300101:14", "tfo:%d:1", "svo:%d:1:1", "us:%d:0", "stm:%d:0"} {
		s.emu.PressButton(u, bal.ID, strings.Replace(data, "%d", formatID(other.id), 1))
	}
	s.waitFor("every press answered", func() bool { return len(s.toasts()) >= 5 })
	settle()
	if n := countRows(t, pool, `SELECT count(*) FROM selfservice_audit WHERE account_id = $1`, other.id); n != 0 {
		t.Errorf("%d changes to someone else's account", n)
	}
	if n := len(s.emu.CallsTo("sendPhoto")) + len(s.emu.CallsTo("sendDocument")); n != 0 {
		t.Errorf("%d files of someone else's account sent", n)
	}
	for _, toast := range s.toasts() {
		if !strings.Contains(toast, "не привязан") {
			t.Errorf("a press on someone else's account was answered %q", toast)
		}
	}
}

func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// TestSelfServiceThroughABillingOverHTTP: with SELFSERVICE_BILLING_URL
// the self-service asks the provider's billing over its API instead of
// the demo database: the plans are the billing's, a freeze is the
// billing's, named by the press and the person, and the SMS still goes.
func TestSelfServiceThroughABillingOverHTTP(t *testing.T) {
	t.Parallel()
	s := prepareStack(t, polling, nil)
	pool := s.db()
	const number, phone = "1000000001", "+79000000001"
	id := readAccount(t, pool, number).id
	provider := httpbillingtest.New(s.clock.Now, billing.DefaultFreezeRules())
	provider.AddPlan(httpbillingtest.Plan{TariffPlan: billing.TariffPlan{ID: 1, Name: "Домашний 500", Kind: "home", SpeedMbps: 500, MonthlyFee: money.Rub(750)}})
	provider.AddPlan(httpbillingtest.Plan{TariffPlan: billing.TariffPlan{ID: 2, Name: "Гигабит из биллинга", Kind: "home", SpeedMbps: 1000, MonthlyFee: money.Rub(990)}})
	provider.AddAccount(httpbillingtest.Account{ID: id, Status: billing.StatusActive, Balance: money.Rub(2340), Kind: "home", City: "Москва", Tariff: 1, ChargeDay: 5})
	s.env["SELFSERVICE_BILLING_URL"] = provider.Serve(t)
	s.env["SELFSERVICE_BILLING_TOKEN"] = "provider-token"
	s.start()

	u := newUser("ru")
	s.linkAccount(u, number, phone)
	s.manage(u, number)
	s.press(u, "Тариф")
	s.next(u, "«Гигабит из биллинга»: 1000 Мбит/с, "+rub(990))
	s.manage(u, number)
	s.press(u, "Заморозить")
	s.next(u, "С какого дня?")
	s.press(u, "Сегодня")
	s.next(u, "На сколько дней?")
	s.press(u, "14 дней")
	s.next(u, "Заморозить счёт "+number)
	s.press(u, "✅ Заморозить")
	s.next(u, "Счёт заморожен до")
	s.waitFor("the SMS", func() bool { return s.smsWith(phone, "заморожен") == 1 })
	found := false
	for _, c := range provider.Calls {
		if strings.HasPrefix(c, fmt.Sprintf("POST /accounts/%d/freeze %d self:%d:%d:u", id, u.ID, u.ID, id)) {
			found = true
		}
	}
	if !found {
		t.Errorf("the billing was not asked to freeze, by the press and the person: %q", provider.Calls)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM freezes WHERE account_id = $1`, id); n != 0 {
		t.Errorf("the demo billing froze the account %d times: the provider's billing is the one", n)
	}
	if strings.Contains(s.logs.String(), "provider-token") {
		t.Error("the billing's token is in the logs")
	}
}
