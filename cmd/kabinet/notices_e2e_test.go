package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/money"
)

// The notices end to end: serve's own scan, sender and dialogs against the
// emulator, with a clock the test sets (the harness's clock), and the
// provider's billing changing balances behind the bot's back.

// noticeEnv makes the scan run every second and the sender look every
// 100 ms, so that a moved clock is noticed at once.
// The demo billing's own day is off (BILLING_CYCLE=0): the test plays the
// billing, setting balances and charge days itself.
var noticeEnv = map[string]string{"NOTIFY_SCAN_INTERVAL": "1s", "SCHEDULER_POLL": fastScheduler, "BILLING_CYCLE": "0"}

// scans is how many scans serve logged as done.
func (s *stack) scans() int { return strings.Count(s.logs.String(), `"event":"scan_done"`) }

// afterScans waits until n more scans are done.
func (s *stack) afterScans(t *testing.T, n int) {
	t.Helper()
	from := s.scans()
	eventually(t, fmt.Sprintf("%d more scans", n), func() bool { return s.scans() >= from+n })
}

// setBalance is the billing writing a balance.
func setBalance(t *testing.T, pool *pgxpool.Pool, number string, balance money.Amount) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `UPDATE accounts SET balance = $2, status = 'active' WHERE number = $1`, number, int64(balance)); err != nil {
		t.Fatal(err)
	}
}

// runsOutIn makes an account's money last days more days after the test's
// day: less than its monthly charge on it, and the charge day the day after
// the last one (0: today is the last day).
func runsOutIn(t *testing.T, pool *pgxpool.Pool, number string, days int) {
	t.Helper()
	charge := chargeOf(t, pool, number)
	day := testDay(t).AddDate(0, 0, days+1).Day()
	if _, err := pool.Exec(context.Background(), `UPDATE accounts SET balance = $2, charge_day = $3, status = 'active' WHERE number = $1`,
		number, int64(charge/5), day); err != nil {
		t.Fatal(err)
	}
}

// chargeOf is an account's monthly charge (tariff and services).
func chargeOf(t *testing.T, pool *pgxpool.Pool, number string) money.Amount {
	t.Helper()
	var c int64
	err := pool.QueryRow(context.Background(), `
SELECT t.monthly_fee + coalesce((SELECT sum(s.monthly_fee) FROM account_services x JOIN services s ON s.id = x.service_id WHERE x.account_id = a.id), 0)
FROM accounts a JOIN tariffs t ON t.id = a.tariff_id WHERE a.number = $1`, number).Scan(&c)
	if err != nil {
		t.Fatal(err)
	}
	return money.Amount(c)
}

// noticeRow is one row of the notices table, as a test reads it.
type noticeRow struct {
	kind, status, role string
	user               int64
	due                time.Time
}

func noticeRows(t *testing.T, pool *pgxpool.Pool, number string) []noticeRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
SELECT n.kind, n.status, n.role, n.telegram_user_id, n.due_at FROM notices n JOIN accounts a ON a.id = n.account_id
WHERE a.number = $1 ORDER BY n.id`, number)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []noticeRow
	for rows.Next() {
		var r noticeRow
		if err := rows.Scan(&r.kind, &r.status, &r.role, &r.user, &r.due); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// testDay is the day the tests play on: the 10th of next month in Moscow,
// so that charge days a few days on are in the same month (1 to 28).
func testDay(t *testing.T) time.Time {
	msk := moscow(t)
	n := time.Now().In(msk)
	return time.Date(n.Year(), n.Month()+1, 10, 0, 0, 0, 0, msk)
}

// atMoscow is the test's day at hh:mm in Moscow.
func atMoscow(t *testing.T, hh, mm int) time.Time {
	d := testDay(t)
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, d.Location())
}

// TestLowBalanceNoticeOncePerPeriodAndAPaymentCancelsIt: an account whose
// money lasts two more days gets "Денег хватит на 2 дня" once, with Pay and
// the trust payment; more scans of the same period send nothing. Another
// made at night waits for 09:00 and a payment meanwhile cancels it.
func TestLowBalanceNoticeOncePerPeriodAndAPaymentCancelsIt(t *testing.T) {
	s := prepareStack(t, polling, noticeEnv)
	s.clock.Set(atMoscow(t, 12, 0))
	pool := s.db()
	const number = "1000000004"                  // Москва, Домашний 100
	setBalance(t, pool, number, money.Rub(5000)) // months of money: nothing owed while linking
	s.start()
	u := newUser("ru")
	s.linkAccount(u, number, "+79000000004")

	runsOutIn(t, pool, number, 2)
	m := s.next(u, "Денег хватит на 2 дня")
	if !strings.Contains(m.Text, "Пополните счёт на") || !strings.Contains(m.Text, "Лицевой счёт "+number) {
		t.Errorf("notice reads %q", m.Text)
	}
	// Pay gives the link in one tap (the second opens it); the trust
	// payment's offer comes in one tap too (the second confirms).
	pay := callbackOf(t, m, "Оплатить")
	if !strings.HasPrefix(pay, "pa:") {
		t.Errorf("Pay is %q, want the sum's own button (pa:account:kopecks)", pay)
	}
	callbackOf(t, m, "Доверительный")
	callbackOf(t, m, "Не присылать")
	s.emu.PressButton(u, m.ID, pay)
	link := s.next(u, "Оплата")
	if _, url := urlButton(t, link); !strings.Contains(url, "account="+number) {
		t.Errorf("pay link %q", url)
	}

	s.afterScans(t, 3)
	if n := s.sent(u, "не приостановился"); n != 1 {
		t.Errorf("the same period gave %d notices, want 1", n)
	}
	if rows := noticeRows(t, pool, number); len(rows) != 1 || rows[0].status != "sent" || rows[0].kind != "low" {
		t.Errorf("notices %+v, want one low, sent", rows)
	}

	// 23:00: a new period (the billing moved the charge day, so the last
	// day moved), owed at once but held by the quiet hours until 09:00.
	s.clock.Set(atMoscow(t, 23, 0))
	runsOutIn(t, pool, number, 1)
	eventually(t, "the night's notice", func() bool { return len(noticeRows(t, pool, number)) >= 2 })
	rows := noticeRows(t, pool, number)
	night := rows[len(rows)-1]
	if want := atMoscow(t, 9, 0).AddDate(0, 0, 1); !night.due.Equal(want) {
		t.Errorf("the night's notice is due %v, want %v (09:00 in Moscow)", night.due, want)
	}
	s.afterScans(t, 2)
	if n := s.sent(u, "не приостановился"); n != 1 {
		t.Errorf("a notice went out at night: %d notices", n)
	}
	// A payment before the morning: checked again right before sending,
	// the notice is no longer true and is canceled.
	payByBilling(t, pool, number, 1000, "night-pay")
	s.next(u, "Платёж")
	s.clock.Set(atMoscow(t, 9, 1).AddDate(0, 0, 1))
	eventually(t, "the night's notice decided", func() bool {
		rows := noticeRows(t, pool, number)
		return rows[len(rows)-1].status != "queued"
	})
	rows = noticeRows(t, pool, number)
	if got := rows[len(rows)-1].status; got != "canceled" {
		t.Errorf("the notice after a payment is %s, want canceled", got)
	}
	if n := s.sent(u, "не приостановился"); n != 1 {
		t.Errorf("%d low-balance notices, want the first only", n)
	}
}

// TestQuietHoursJudgedInEachCitysZone: at 05:00 in Moscow it is 12:00 in
// Владивосток: the subscriber there is told at once, the one in Moscow at
// 09:00 Moscow time.
func TestQuietHoursJudgedInEachCitysZone(t *testing.T) {
	s := prepareStack(t, polling, noticeEnv)
	pool := s.db()
	const msk, vvo = "1000000004", "1000000007"
	setBalance(t, pool, msk, money.Rub(5000))
	setBalance(t, pool, vvo, money.Rub(5000))
	s.clock.Set(atMoscow(t, 5, 0))
	s.start()
	um, uv := newUser("ru"), newUser("ru")
	s.linkAccount(um, msk, "+79000000004")
	s.linkAccount(uv, vvo, "+79000000007")

	runsOutIn(t, pool, msk, 2)
	runsOutIn(t, pool, vvo, 2)
	s.next(uv, "Денег хватит на 2 дня")
	s.afterScans(t, 2)
	if n := s.sent(um, "не приостановился"); n != 0 {
		t.Fatalf("Moscow was told at 05:00 (%d notices)", n)
	}
	rows := noticeRows(t, pool, msk)
	if len(rows) != 1 || !rows[0].due.Equal(atMoscow(t, 9, 0)) {
		t.Fatalf("Moscow's notices %+v, want one due at 09:00 Moscow time", rows)
	}
	s.clock.Set(atMoscow(t, 9, 0))
	s.next(um, "Денег хватит на 2 дня")
}

// TestNoticeTurnedOffAndABlockedChatSkipped: "Не присылать такие" stops that
// kind for that account (and the settings bring it back); a chat that
// blocked the bot is marked unreachable and its notices are skipped until it
// is back.
func TestNoticeTurnedOffAndABlockedChatSkipped(t *testing.T) {
	s := prepareStack(t, polling, noticeEnv)
	s.clock.Set(atMoscow(t, 12, 0))
	pool := s.db()
	const a, b = "1000000004", "1000000005"
	setBalance(t, pool, a, money.Rub(5000))
	setBalance(t, pool, b, money.Rub(5000))
	s.start()
	u, v := newUser("ru"), newUser("ru")
	s.linkAccount(u, a, "+79000000004")
	s.linkAccount(v, b, "+79000000005")

	runsOutIn(t, pool, a, 2)
	m := s.next(u, "Денег хватит на 2 дня")
	s.emu.PressButton(u, m.ID, callbackOf(t, m, "Не присылать"))
	off := s.next(u, "Больше не пришлём")
	// A new period (the last day moved): nothing now.
	runsOutIn(t, pool, a, 1)
	s.afterScans(t, 3)
	if n := s.sent(u, "не приостановился"); n != 1 {
		t.Errorf("turned off, yet %d notices", n)
	}
	// The way back: on again from the answer's button, and the next
	// scan owes this period's notice.
	s.emu.PressButton(u, off.ID, callbackOf(t, off, "Включить снова"))
	s.next(u, "Уведомления по счёту "+a)
	s.next(u, "Денег хватит на 1 день")

	// v blocks the bot: whether the notice meets the 403 first or the
	// my_chat_member update marks the chat first, the chat ends up marked,
	// the notice counts as blocked and the next one makes no call at all.
	s.emu.BlockBot(v)
	calls := len(s.emu.CallsTo("sendMessage"))
	runsOutIn(t, pool, b, 2)
	eventually(t, "the notice to the blocked chat decided", func() bool {
		rows := noticeRows(t, pool, b)
		return len(rows) == 1 && rows[0].status != "queued"
	})
	if rows := noticeRows(t, pool, b); rows[0].status != "blocked" {
		t.Errorf("the notice to a blocked chat is %s, want blocked", rows[0].status)
	}
	if got := len(s.emu.CallsTo("sendMessage")) - calls; got > 1 {
		t.Errorf("%d sendMessage calls to the blocked chat, want at most the one that met 403", got)
	}
	calls = len(s.emu.CallsTo("sendMessage"))
	runsOutIn(t, pool, b, 1)
	eventually(t, "the second notice decided", func() bool {
		rows := noticeRows(t, pool, b)
		return len(rows) == 2 && rows[1].status != "queued"
	})
	if rows := noticeRows(t, pool, b); rows[1].status != "blocked" {
		t.Errorf("the second notice is %s, want blocked", rows[1].status)
	}
	if got := len(s.emu.CallsTo("sendMessage")) - calls; got != 0 {
		t.Errorf("an unreachable chat got %d sendMessage calls", got)
	}
	if n := s.sent(v, "не приостановился"); n != 0 {
		t.Errorf("a blocked chat received %d notices", n)
	}
	// Back (my_chat_member says so): the next period's notice arrives.
	s.emu.UnblockBot(v)
	time.Sleep(500 * time.Millisecond) // the update handled before the billing moves on
	runsOutIn(t, pool, b, 0)
	s.next(v, "Сегодня последний день")
}

// inviteLink is the holder inviting a trusted person: the link's /start
// parameter.
func inviteLink(t *testing.T, s *stack, u emulator.User) string {
	t.Helper()
	s.emu.SendCommand(u, "notifications")
	m := s.next(u, "Уведомления по счёту")
	s.emu.PressButton(u, m.ID, callbackOf(t, m, "Доверенные лица"))
	m = s.next(u, "Доверенные лица счёта")
	s.emu.PressButton(u, m.ID, callbackOf(t, m, "Пригласить"))
	m = s.next(u, "start=")
	_, param, ok := strings.Cut(m.Text, "?start=")
	if !ok {
		t.Fatalf("no link in %q", m.Text)
	}
	param, _, _ = strings.Cut(param, "\n")
	return param
}

// TestTrustedPersonGetsTheNoticeUntilEitherEndsIt: the holder invites a
// relative with a one-time link; the relative gets the low-balance notice
// with a Pay button that works, and nothing more of the account; the link
// works once and not after 24 hours; after the holder (or the relative)
// ends it, the relative gets nothing.
func TestTrustedPersonGetsTheNoticeUntilEitherEndsIt(t *testing.T) {
	s := prepareStack(t, polling, noticeEnv)
	s.clock.Set(atMoscow(t, 12, 0))
	pool := s.db()
	const number = "1000000004"
	setBalance(t, pool, number, money.Rub(5000))
	s.start()
	holder, mum, stranger := newUser("ru"), newUser("ru"), newUser("ru")
	mum.FirstName = "Мама"
	s.linkAccount(holder, number, "+79000000004")

	param := inviteLink(t, s, holder)
	s.emu.SendText(mum, "/start "+param)
	s.next(mum, "напомню и вам")
	s.emu.SendText(stranger, "/start "+param)
	s.next(stranger, "ссылка уже не действует")
	s.emu.SendCommand(holder, "notifications")
	scr := s.next(holder, "Уведомления по счёту")
	s.emu.PressButton(holder, scr.ID, callbackOf(t, scr, "Доверенные лица"))
	list := s.next(holder, "Мама")
	if !strings.Contains(list.Text, "Мама, с ") {
		t.Errorf("the holder's list reads %q", list.Text)
	}

	runsOutIn(t, pool, number, 2)
	s.next(holder, "Денег хватит на 2 дня")
	n := s.next(mum, "Денег хватит на 2 дня")
	if !strings.Contains(n.Text, "доверенное лицо по счёту "+number) {
		t.Errorf("the trusted person's notice reads %q", n.Text)
	}
	pay := callbackOf(t, n, "Оплатить")
	for _, row := range n.InlineKeyboard {
		for _, b := range row {
			if strings.Contains(b.Text, "Доверительный") {
				t.Errorf("a trusted person is offered the trust payment")
			}
		}
	}
	s.emu.PressButton(mum, n.ID, pay)
	if _, url := urlButton(t, s.next(mum, "Оплата")); !strings.Contains(url, "account="+number) {
		t.Errorf("the trusted person's pay link %q", url)
	}
	// Nothing else of the account: the balance is not theirs to see.
	s.emu.SendCommand(mum, "balance")
	if m := s.next(mum, ""); strings.Contains(m.Text, "Баланс:") {
		t.Errorf("a trusted person sees the balance: %q", m.Text)
	}

	// The holder ends it: the next period reaches the holder only.
	s.emu.PressButton(holder, list.ID, callbackOf(t, list, "✖ Мама"))
	s.next(holder, "Пока никого")
	runsOutIn(t, pool, number, 1)
	s.next(holder, "Денег хватит на 1 день")
	s.afterScans(t, 2)
	if got := s.sent(mum, "не приостановился"); got != 1 {
		t.Errorf("after the holder ended it the trusted person got %d notices, want the first only", got)
	}

	// A second invitation, accepted, then ended by the trusted person.
	param = inviteLink(t, s, holder)
	s.emu.SendText(mum, "/start "+param)
	ok := s.next(mum, "напомню и вам")
	s.emu.PressButton(mum, ok.ID, callbackOf(t, ok, "Отказаться"))
	s.next(mum, "больше не получаете")
	if rows, err := pool.Query(context.Background(), `SELECT 1 FROM trusted_persons`); err == nil {
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n != 0 {
			t.Errorf("%d trusted persons after both ended theirs", n)
		}
	}
	// And a link not used within 24 hours no longer works.
	param = inviteLink(t, s, holder)
	s.clock.Set(s.clock.Now().Add(24*time.Hour + time.Minute))
	s.emu.SendText(stranger, "/start "+param)
	s.next(stranger, "ссылка уже не действует")
}

// runCLI runs a kabinet command against the stack's database and returns
// what it printed.
func (s *stack) runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut strings.Builder
	if err := run(context.Background(), args, func(k string) string { return s.env[k] }, &out, &errOut); err != nil {
		t.Fatalf("kabinet %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// TestOutageBroadcastAndItsEnd: `kabinet notify outage` for Москва reaches
// the subscribers there who want outage notices (not one who turned them
// off, nor one in Белгород), the balance screen shows the outage first
// while it lasts, --dry-run only counts, `notify status` counts what went,
// and --end brings "Связь восстановлена" to those who were told.
func TestOutageBroadcastAndItsEnd(t *testing.T) {
	s := prepareStack(t, polling, noticeEnv)
	s.clock.Set(atMoscow(t, 12, 0))
	pool := s.db()
	for _, n := range []string{"1000000004", "1000000001", "1000000005"} {
		setBalance(t, pool, n, money.Rub(5000))
	}
	s.start()
	told, quiet, elsewhere := newUser("ru"), newUser("ru"), newUser("ru")
	s.linkAccount(told, "1000000004", "+79000000004")
	s.linkAccount(quiet, "1000000001", "+79000000001")
	s.linkAccount(elsewhere, "1000000005", "+79000000005")
	s.emu.SendCommand(quiet, "notifications")
	scr := s.next(quiet, "Уведомления по счёту")
	s.emu.PressButton(quiet, scr.ID, callbackOf(t, scr, "Аварии"))
	eventually(t, "outages turned off", func() bool {
		var off bool
		_ = pool.QueryRow(context.Background(), `SELECT NOT outage FROM notice_settings WHERE telegram_user_id = $1`, quiet.ID).Scan(&off)
		return off
	})

	file := t.TempDir() + "/outage.txt"
	if err := writeFile(file, "Повреждён кабель на ул. Ленина, нет интернета и ТВ."); err != nil {
		t.Fatal(err)
	}
	if out := s.runCLI(t, "notify", "outage", "--city", "Москва", "--until", "18:00", "--text-file", file, "--dry-run"); !strings.Contains(out, "would reach 1 subscribers") {
		t.Errorf("dry run printed %q", out)
	}
	out := s.runCLI(t, "notify", "outage", "--city", "москва", "--until", "18:00", "--text-file", file)
	var id int64
	if _, err := fmt.Sscanf(out, "outage %d announced", &id); err != nil {
		t.Fatalf("announce printed %q", out)
	}
	m := s.next(told, "Авария в городе Москва")
	if !strings.Contains(m.Text, "Повреждён кабель") || !strings.Contains(m.Text, "к 18:00") {
		t.Errorf("the outage notice reads %q", m.Text)
	}
	s.emu.SendCommand(told, "balance")
	if b := s.next(told, "Баланс:"); !strings.HasPrefix(b.Text, "⚠") {
		t.Errorf("the balance screen during an outage starts %q", b.Text[:min(len(b.Text), 60)])
	}
	s.afterScans(t, 2)
	if n := s.sent(quiet, "Авария") + s.sent(elsewhere, "Авария"); n != 0 {
		t.Errorf("%d outage notices to people who should not get them", n)
	}
	status := s.runCLI(t, "notify", "status")
	if !strings.Contains(status, "outage") || !strings.Contains(status, "send rate:") {
		t.Errorf("notify status printed:\n%s", status)
	}

	s.runCLI(t, "notify", "outage", "--end", fmt.Sprint(id))
	s.next(told, "Связь восстановлена")
	s.afterScans(t, 2)
	if n := s.sent(quiet, "Связь восстановлена") + s.sent(elsewhere, "Связь восстановлена"); n != 0 {
		t.Errorf("%d ends told to people never told of the outage", n)
	}
	if n := s.sent(told, "Связь восстановлена"); n != 1 {
		t.Errorf("the end told %d times", n)
	}
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }
