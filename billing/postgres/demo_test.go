package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/money"
)

func loadDemo(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := pgtest.New(t)
	if err := postgres.LoadDemo(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return postgres.New(pool), pool
}

// demoSnapshot is everything LoadDemo writes, as text lines, except the
// dates that LoadDemo sets relative to the day it runs (payment and block
// dates) and updated_at.
func demoSnapshot(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var lines []string
	for _, sql := range []string{
		`SELECT format('tariff %s %s', name, monthly_fee) FROM tariffs ORDER BY name`,
		`SELECT format('service %s %s', name, monthly_fee) FROM services ORDER BY name`,
		`SELECT format('account %s %s %s %s %s %s day %s blocked %s opened %s services %s',
		        a.number, a.phone, c.name, t.name, a.status, a.balance, a.charge_day,
		        a.blocked_at IS NOT NULL, a.opened_at,
		        (SELECT array_agg(s.name ORDER BY s.name) FROM account_services x
		         JOIN services s ON s.id = x.service_id WHERE x.account_id = a.id))
		 FROM accounts a JOIN cities c ON c.id = a.city_id JOIN tariffs t ON t.id = a.tariff_id
		 ORDER BY a.number`,
		`SELECT format('payment %s %s %s %s %s', p.provider, p.provider_payment_id, a.number, p.amount, p.channel)
		 FROM payments p JOIN accounts a ON a.id = p.account_id
		 WHERE p.provider = 'demo'
		 ORDER BY p.provider_payment_id`,
		`SELECT format('trust %s %s fee %s reminded %s ended %s', a.number, tp.amount, tp.fee,
		        tp.reminders_queued_at IS NOT NULL, tp.ended_at IS NOT NULL)
		 FROM trust_payments tp JOIN accounts a ON a.id = tp.account_id
		 ORDER BY a.number, tp.month`,
	} {
		rows, err := pool.Query(context.Background(), sql)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return lines
}

// TestLoadDemoAgain: a provider who runs the demo loader twice, or after
// playing with the demo accounts, gets the demo back as it was, with their
// Telegram links and other payments untouched.
func TestLoadDemoAgain(t *testing.T) {
	s, pool := loadDemo(t)
	ctx := context.Background()
	first := demoSnapshot(t, pool)
	if len(first) < 20 {
		t.Fatalf("the demo wrote only %d rows", len(first))
	}

	a, err := s.AccountByNumber(ctx, "1000000001")
	if err != nil {
		t.Fatal(err)
	}
	links := kabinetdb.NewLinks(pool)
	if err := links.Link(ctx, 42, a.ID, 5); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, pool, `UPDATE accounts SET balance = 1, status = 'frozen' WHERE id = $1`, a.ID)
	pgtest.Exec(t, pool, `DELETE FROM account_services WHERE account_id = $1`, a.ID)
	pgtest.Exec(t, pool, `UPDATE payments SET amount = 1 WHERE provider = 'demo'`)
	pgtest.Exec(t, pool, `INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
VALUES ($1, 100, 'card', 'billing', 'real-1', now())`, a.ID)
	// Trying the trust payment on the demo: the reload makes it possible again.
	allowed, err := s.AccountByNumber(ctx, "1000000016")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GrantTrust(ctx, "", allowed.ID, time.Now(), billing.DefaultTrustSettings(time.UTC)); err != nil {
		t.Fatalf("trust payment on the demo: %v", err)
	}

	if err := postgres.LoadDemo(ctx, pool); err != nil {
		t.Fatalf("second load: %v", err)
	}
	second := demoSnapshot(t, pool)
	if !slices.Equal(first, second) {
		t.Errorf("the second load differs from the first:\nfirst:\n%s\nsecond:\n%s",
			strings.Join(first, "\n"), strings.Join(second, "\n"))
	}
	if current, err := links.CurrentID(ctx, 42); err != nil || current != a.ID {
		t.Errorf("user 42's current account after the reload: %d, %v; want %d", current, err, a.ID)
	}
	payments, err := s.RecentPayments(ctx, a.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(payments) == 0 || payments[0].Provider != "billing" {
		t.Errorf("the non-demo payment is gone after reloading: %+v", payments)
	}
}

// TestDemoMoneyLastsTheSameOnEveryDayOfTheMonth: the accounts whose money
// runs out soon say 0, 1, 3 and 5 days whatever day the demo is loaded on,
// also near the end of a month of 28, 29, 30 or 31 days.
func TestDemoMoneyLastsTheSameOnEveryDayOfTheMonth(t *testing.T) {
	s, pool := loadDemo(t)
	ctx := context.Background()
	numbers := demoNumbers(t, pool)
	start := time.Date(2027, 1, 20, 10, 0, 0, 0, time.UTC)
	for d := 0; d < 45; d++ { // late January, all of February, into March
		now := start.AddDate(0, 0, d)
		if err := postgres.LoadDemoAt(ctx, pool, now); err != nil {
			t.Fatal(err)
		}
		days := map[int]bool{}
		for _, n := range numbers {
			a, err := s.AccountByNumber(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status == billing.StatusActive && a.Trust == nil {
				a.PaidUntil = time.Time{} // as of now, not of the clock the store read it by
				days[a.Forecast(now, time.UTC).DaysLeft] = true
			}
		}
		for _, want := range []int{0, 1, 3, 5} {
			if !days[want] {
				t.Errorf("loaded on %s: no account whose money lasts %d days", now.Format(time.DateOnly), want)
			}
		}
	}
}

// TestDemoShowsEverything checks that the demo has a subscriber for every
// situation the bot explains.
func TestDemoShowsEverything(t *testing.T) {
	s, pool := loadDemo(t)
	ctx := context.Background()
	numbers := demoNumbers(t, pool)
	if len(numbers) < 18 {
		t.Errorf("%d demo accounts, want about 20", len(numbers))
	}

	statuses := map[billing.Status]int{}
	cities := map[string]bool{}
	days := map[int]bool{}
	channels := map[string]bool{}
	tariffs := map[string]bool{}
	services := map[string]bool{}
	for _, n := range numbers {
		a, err := s.AccountByNumber(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		statuses[a.Status]++
		cities[a.City] = true
		tariffs[a.Tariff.Name] = true
		for _, sv := range a.Services {
			services[sv.Name] = true
		}
		if a.Status == billing.StatusActive {
			days[a.Forecast(time.Now(), time.UTC).DaysLeft] = true
		}
		if a.Status == billing.StatusBlocked {
			if a.Balance >= 0 || a.BlockedAt.IsZero() || time.Since(a.BlockedAt) > 30*24*time.Hour {
				t.Errorf("%s is blocked with balance %d, blocked at %v; want a debt and a recent block", n, a.Balance, a.BlockedAt)
			}
		}
		payments, err := s.RecentPayments(ctx, a.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(payments) == 0 {
			t.Errorf("%s has no payments", n)
		}
		for _, p := range payments {
			channels[p.Channel] = true
			if p.PaidAt.After(time.Now()) || time.Since(p.PaidAt) > 3*365*24*time.Hour {
				t.Errorf("%s: payment dated %v", n, p.PaidAt)
			}
		}
	}
	for _, st := range []billing.Status{billing.StatusActive, billing.StatusBlocked, billing.StatusFrozen, billing.StatusClosed} {
		if statuses[st] == 0 {
			t.Errorf("no demo account is %s", st)
		}
	}
	for _, c := range []string{"Москва", "Белгород", "Владивосток", "Томск", "Уфа", "Липецк"} {
		if !cities[c] {
			t.Errorf("no demo account in %s", c)
		}
	}
	// 1 день, 3 дня, 5 дней: the three Russian plural forms; 0: runs out today.
	for _, d := range []int{0, 1, 3, 5} {
		if !days[d] {
			t.Errorf("no active demo account whose money lasts %d days", d)
		}
	}
	for _, c := range []string{"card", "sberbank", "terminal", "autopay", "cash"} {
		if !channels[c] {
			t.Errorf("no demo payment by %s", c)
		}
	}
	if len(tariffs) < 3 || len(services) < 3 {
		t.Errorf("demo uses tariffs %v and services %v, want 3 of each", tariffs, services)
	}

	// One phone, three accounts: home, the parents' flat, a small business.
	three, err := s.AccountsByPhone(ctx, "+79000000001")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range three {
		got = append(got, a.Number+" "+a.City+" "+a.Tariff.Name)
	}
	want := []string{"1000000001 Москва Домашний 500", "1000000002 Липецк Домашний 100", "1000000003 Москва Бизнес"}
	if !slices.Equal(got, want) {
		t.Errorf("accounts of +79000000001: %q, want %q", got, want)
	}
	// A phone with an old closed contract finds only the new one.
	if accounts, err := s.AccountsByPhone(ctx, "+79000000017"); err != nil || len(accounts) != 1 || accounts[0].Number != "1000000018" {
		t.Errorf("accounts of +79000000017: %v, %v; want only 1000000018", ids(accounts), err)
	}
}

// TestDemoDoc keeps DEMO.md, which goes into the README, true to the data.
func TestDemoDoc(t *testing.T) {
	s, pool := loadDemo(t)
	ctx := context.Background()
	doc, err := os.ReadFile("DEMO.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for line := range strings.Lines(string(doc)) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 6 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		number := strings.Trim(cells[0], "`")
		if number == "" || strings.Trim(number, "0123456789") != "" {
			continue // header or separator
		}
		listed = append(listed, number)
		a, err := s.AccountByNumber(ctx, number)
		if errors.Is(err, billing.ErrNotFound) {
			t.Errorf("DEMO.md lists %s, which the demo does not have", number)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		gotRow := []string{strings.Trim(cells[1], "`"), cells[2], cells[3], cells[4]}
		wantRow := []string{a.Phone, a.City, string(a.Status), rubles(a.Balance)}
		if !slices.Equal(gotRow, wantRow) {
			t.Errorf("DEMO.md row for %s says %q, the demo has %q", number, gotRow, wantRow)
		}
	}
	if all := demoNumbers(t, pool); !slices.Equal(listed, all) {
		t.Errorf("DEMO.md lists %v, the demo has %v (in this order)", listed, all)
	}
}

// rubles writes an amount as DEMO.md does: "2340.00", "-320.50".
func rubles(a money.Amount) string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d", sign, a/100, a%100)
}

func demoNumbers(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT number FROM accounts ORDER BY number`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var numbers []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		numbers = append(numbers, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return numbers
}

// TestDemoShowsEveryTrustRule: the demo has an account for each answer to
// "may I take a trust payment?", whatever the day it is loaded on.
func TestDemoShowsEveryTrustRule(t *testing.T) {
	s, _ := loadDemo(t)
	ctx := context.Background()
	moscow := time.FixedZone("MSK", 3*60*60)
	set := billing.DefaultTrustSettings(moscow)
	for _, tc := range []struct {
		number string
		reason billing.TrustReason // "" for allowed
	}{
		{"1000000016", ""},                         // active, money runs out today
		{"1000000020", ""},                         // blocked for a small debt
		{"1000000023", ""},                         // took one last month, paid since
		{"1000000001", billing.TrustBalanceEnough}, // enough money
		{"1000000008", billing.TrustFrozen},        // frozen at the subscriber's request
		{"1000000010", billing.TrustClosed},        // contract terminated
		{"1000000021", billing.TrustUsedThisMonth}, // took one today
		{"1000000022", billing.TrustNoPayment},     // took one last month, paid nothing since
	} {
		a, err := s.AccountByNumber(ctx, tc.number)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.OfferTrust(ctx, a.ID, time.Now(), set)
		var refusal *billing.TrustRefusal
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s: refused (%v), the demo shows it allowed", tc.number, err)
		case tc.reason != "" && !errors.As(err, &refusal):
			t.Errorf("%s: %v, the demo shows a refusal for %s", tc.number, err, tc.reason)
		case tc.reason != "" && refusal.Reason != tc.reason:
			t.Errorf("%s: refused for %s, the demo shows %s", tc.number, refusal.Reason, tc.reason)
		case tc.reason == billing.TrustUsedThisMonth:
			now := time.Now().In(moscow)
			if next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, moscow); !refusal.From.Equal(next) {
				t.Errorf("%s: possible again from %v, want the 1st of next month %v", tc.number, refusal.From, next)
			}
		}
	}
	// The trust payments are in the history, as the subscriber took them.
	a, err := s.AccountByNumber(ctx, "1000000021")
	if err != nil {
		t.Fatal(err)
	}
	payments, err := s.RecentPayments(ctx, a.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(payments) == 0 || payments[0].Channel != "trust" || payments[0].Amount != money.Rub(500) {
		t.Errorf("history of 1000000021 does not start with today's trust payment: %+v", payments)
	}
}
