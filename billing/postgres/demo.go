package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// demoProvider marks the payments LoadDemo writes, so that running it again
// updates them instead of adding more.
const demoProvider = "demo"

type demoPayment struct {
	DaysAgo int // paid this many days before the day of loading, at 12:30 Moscow time
	Amount  money.Amount
	Channel string
}

type demoAccount struct {
	Number    string
	Phone     string
	City      string
	Tariff    string
	Services  []string
	Status    billing.Status
	Balance   money.Amount
	ChargeDay int
	// RunsOut, when set, moves the charge day to RunsOut days after the
	// day of loading, so that a balance below the monthly charge lasts
	// RunsOut-1 more days («3 дня») whenever the demo is loaded (the
	// billing charges monthly on the charge day: billing.PaidUntil), on
	// any day of the month.
	RunsOut  int
	OpenedAt string // date the contract was signed
	// BlockedDaysAgo is how long ago a blocked account was blocked for debt.
	BlockedDaysAgo int
	Payments       []demoPayment
	// Trust is a trust payment the account took, if any.
	Trust *demoTrust
}

// demoTrust is a trust payment in the demo, placed relative to the day of
// loading so that it always shows the same rule.
type demoTrust struct {
	// ThisMonth: taken at midnight today (Moscow), so it is this calendar
	// month's and still running. Otherwise it was taken ten days before
	// this month began and has ended.
	ThisMonth bool
	Amount    money.Amount
	// PaidAfter is a real payment (by card) two days after the trust
	// payment was taken; 0 for none.
	PaidAfter money.Amount
}

// The demo tariffs and services. Fees are in kopecks like everywhere.
// Every home plan but «Домашний 1000» is sold in every city, that one only
// in Москва and Томск; the business plans everywhere. TV packages are
// services of kind "tv".
var (
	demoTariffs = []demoTariff{
		{billing.TariffPlan{Name: "Домашний 100", Kind: "home", SpeedMbps: 100, MonthlyFee: money.Rub(500)}, nil},
		{billing.TariffPlan{Name: "Домашний 300", Kind: "home", SpeedMbps: 300, MonthlyFee: money.Rub(650)}, nil},
		{billing.TariffPlan{Name: "Домашний 500", Kind: "home", SpeedMbps: 500, MonthlyFee: money.Rub(750)}, nil},
		{billing.TariffPlan{Name: "Домашний 500 + ТВ", Kind: "home", SpeedMbps: 500, MonthlyFee: money.Rub(900), TV: true}, nil},
		{billing.TariffPlan{Name: "Домашний 1000", Kind: "home", SpeedMbps: 1000, MonthlyFee: money.Rub(1100)}, []string{"Москва", "Томск"}},
		{billing.TariffPlan{Name: "Бизнес", Kind: "business", SpeedMbps: 200, MonthlyFee: money.Rub(2500)}, nil},
		{billing.TariffPlan{Name: "Бизнес 500", Kind: "business", SpeedMbps: 500, MonthlyFee: money.Rub(3900)}, nil},
	}
	demoServices = []billing.ServiceOption{
		{Name: "Статический IP", Kind: "extra", MonthlyFee: money.Rub(150)},
		{Name: "ТВ «Базовый»", Kind: "tv", MonthlyFee: money.Rub(199)},
		{Name: "ТВ «Кино»", Kind: "tv", MonthlyFee: money.Rub(299)},
		{Name: "ТВ «Детский»", Kind: "tv", MonthlyFee: money.Rub(149)},
		{Name: "Антивирус", Kind: "extra", MonthlyFee: money.Rub(99)},
	}
)

// demoTariff is a plan and the cities it is sold in (nil: all of them).
type demoTariff struct {
	billing.TariffPlan
	Cities []string
}

// demoAccounts is one subscriber per situation the bot must explain; DEMO.md
// lists them with what each one shows, and a test keeps the two in step.
// The days a balance lasts (Account.Forecast) are noted where they matter.
var demoAccounts = []demoAccount{
	// One phone, three contracts: home, the parents' flat, a small business.
	{Number: "1000000001", Phone: "+79000000001", City: "Москва", Tariff: "Домашний 500", Services: []string{"ТВ «Базовый»"},
		Status: billing.StatusActive, Balance: money.Rub(2340), ChargeDay: 5, OpenedAt: "2017-03-14",
		Payments: []demoPayment{{12, money.Rub(500), "card"}, {30, money.Rub(1000), "autopay"}, {60, money.Rub(1000), "autopay"}}}, // 73 days
	{Number: "1000000002", Phone: "+79000000001", City: "Липецк", Tariff: "Домашний 100",
		Status: billing.StatusActive, Balance: money.Rub(50), ChargeDay: 10, RunsOut: 4, OpenedAt: "2019-08-01",
		Payments: []demoPayment{{28, money.Rub(500), "sberbank"}, {59, money.Rub(500), "terminal"}}}, // 3 days
	{Number: "1000000003", Phone: "+79000000001", City: "Москва", Tariff: "Бизнес", Services: []string{"Статический IP"},
		Status: billing.StatusActive, Balance: money.Rub(12000), ChargeDay: 1, OpenedAt: "2021-02-15",
		Payments: []demoPayment{{15, money.Rub(10000), "sberbank"}, {45, money.Rub(5000), "card"}}}, // 135 days

	{Number: "1000000004", Phone: "+79000000004", City: "Москва", Tariff: "Домашний 100",
		Status: billing.StatusActive, Balance: money.Rub(20), ChargeDay: 15, RunsOut: 2, OpenedAt: "2020-05-20",
		Payments: []demoPayment{{31, money.Rub(500), "card"}, {62, money.Rub(500), "cash"}}}, // 1 day
	{Number: "1000000005", Phone: "+79000000005", City: "Белгород", Tariff: "Домашний 100",
		Status: billing.StatusActive, Balance: money.Rub(90), ChargeDay: 20, RunsOut: 6, OpenedAt: "2018-11-02",
		Payments: []demoPayment{{27, money.Rub(600), "terminal"}, {58, money.Rub(500), "cash"}}}, // 5 days
	{Number: "1000000006", Phone: "+79000000006", City: "Белгород", Tariff: "Домашний 500",
		Status: billing.StatusBlocked, Balance: -32050, ChargeDay: 3, OpenedAt: "2016-06-30", BlockedDaysAgo: 4,
		Payments: []demoPayment{{40, money.Rub(750), "terminal"}, {71, money.Rub(750), "terminal"}}},
	{Number: "1000000007", Phone: "+79000000007", City: "Владивосток", Tariff: "Домашний 500", Services: []string{"Антивирус"},
		Status: billing.StatusActive, Balance: money.Rub(1500), ChargeDay: 12, OpenedAt: "2019-01-21",
		Payments: []demoPayment{{8, money.Rub(1000), "card"}, {38, 84900, "autopay"}}}, // 53 days
	{Number: "1000000008", Phone: "+79000000008", City: "Владивосток", Tariff: "Домашний 100",
		Status: billing.StatusFrozen, Balance: money.Rub(300), ChargeDay: 12, OpenedAt: "2020-09-09",
		Payments: []demoPayment{{90, money.Rub(1000), "cash"}}},
	{Number: "1000000009", Phone: "+79000000009", City: "Томск", Tariff: "Домашний 500", Services: []string{"ТВ «Базовый»", "Антивирус"},
		Status: billing.StatusActive, Balance: money.Rub(4800), ChargeDay: 25, OpenedAt: "2018-04-17",
		Payments: []demoPayment{{5, money.Rub(3000), "sberbank"}, {35, 104800, "autopay"}, {65, 104800, "autopay"}}}, // 137 days
	{Number: "1000000010", Phone: "+79000000010", City: "Томск", Tariff: "Домашний 100",
		Status: billing.StatusClosed, Balance: 0, ChargeDay: 1, OpenedAt: "2015-02-10",
		Payments: []demoPayment{{400, money.Rub(500), "cash"}}},
	{Number: "1000000011", Phone: "+79000000011", City: "Уфа", Tariff: "Домашний 500",
		Status: billing.StatusActive, Balance: money.Rub(700), ChargeDay: 7, OpenedAt: "2021-07-07",
		Payments: []demoPayment{{6, money.Rub(750), "terminal"}, {36, money.Rub(750), "cash"}}}, // 28 days
	{Number: "1000000012", Phone: "+79000000012", City: "Уфа", Tariff: "Бизнес", Services: []string{"Статический IP"},
		Status: billing.StatusBlocked, Balance: money.Rub(-1200), ChargeDay: 1, OpenedAt: "2022-03-01", BlockedDaysAgo: 9,
		Payments: []demoPayment{{50, money.Rub(2650), "sberbank"}}},
	{Number: "1000000013", Phone: "+79000000013", City: "Липецк", Tariff: "Домашний 100", Services: []string{"ТВ «Базовый»"},
		Status: billing.StatusActive, Balance: money.Rub(1000), ChargeDay: 18, OpenedAt: "2017-10-05",
		Payments: []demoPayment{{10, money.Rub(1000), "card"}, {41, money.Rub(700), "sberbank"}}}, // 42 days
	{Number: "1000000014", Phone: "+79000000014", City: "Нальчик", Tariff: "Домашний 500",
		Status: billing.StatusActive, Balance: money.Rub(600), ChargeDay: 22, OpenedAt: "2020-12-12",
		Payments: []demoPayment{{3, money.Rub(600), "card"}}}, // 24 days
	{Number: "1000000015", Phone: "+79000000015", City: "Ставрополь", Tariff: "Домашний 500",
		Status: billing.StatusFrozen, Balance: money.Rub(150), ChargeDay: 14, OpenedAt: "2019-05-25",
		Payments: []demoPayment{{120, money.Rub(750), "terminal"}}},
	{Number: "1000000016", Phone: "+79000000016", City: "Москва", Tariff: "Домашний 500",
		Status: billing.StatusActive, Balance: money.Rub(10), ChargeDay: 28, RunsOut: 1, OpenedAt: "2023-01-16",
		Payments: []demoPayment{{29, money.Rub(750), "autopay"}, {59, money.Rub(750), "autopay"}}}, // 0 days
	// A phone with an old closed contract and a new open one.
	{Number: "1000000017", Phone: "+79000000017", City: "Москва", Tariff: "Домашний 100",
		Status: billing.StatusClosed, Balance: 0, ChargeDay: 1, OpenedAt: "2014-08-19",
		Payments: []demoPayment{{800, money.Rub(500), "cash"}}},
	{Number: "1000000018", Phone: "+79000000017", City: "Москва", Tariff: "Домашний 500", Services: []string{"Статический IP"},
		Status: billing.StatusActive, Balance: money.Rub(2100), ChargeDay: 9, OpenedAt: "2022-06-01",
		Payments: []demoPayment{{2, money.Rub(2000), "card"}, {32, money.Rub(900), "card"}}}, // 70 days
	{Number: "1000000019", Phone: "+79000000019", City: "Тамбов", Tariff: "Домашний 100",
		Status: billing.StatusActive, Balance: money.Rub(520), ChargeDay: 11, OpenedAt: "2018-02-28",
		Payments: []demoPayment{{4, money.Rub(500), "sberbank"}, {34, money.Rub(500), "terminal"}}}, // 31 days
	{Number: "1000000020", Phone: "+79000000020", City: "Элиста", Tariff: "Домашний 100",
		Status: billing.StatusBlocked, Balance: money.Rub(-35), ChargeDay: 2, OpenedAt: "2021-11-11", BlockedDaysAgo: 1,
		Payments: []demoPayment{{33, money.Rub(500), "terminal"}}},

	// The trust payment's rules, beside 1000000016 and 1000000020 (allowed),
	// 1000000001 (balance high enough), 1000000008 (frozen), 1000000010 (closed).
	// Took one today while 600 ₽ in debt: active again, -100 ₽, and refused
	// another until the 1st of next month.
	{Number: "1000000021", Phone: "+79000000021", City: "Елец", Tariff: "Домашний 100",
		Status: billing.StatusActive, Balance: money.Rub(-100), ChargeDay: 5, OpenedAt: "2020-02-20",
		Payments: []demoPayment{{34, money.Rub(500), "terminal"}, {65, money.Rub(500), "terminal"}},
		Trust:    &demoTrust{ThisMonth: true, Amount: money.Rub(500)}},
	// Took one last month and has paid nothing since: refused until a payment arrives.
	{Number: "1000000022", Phone: "+79000000022", City: "Ефремов", Tariff: "Домашний 100",
		Status: billing.StatusBlocked, Balance: money.Rub(-470), ChargeDay: 3, OpenedAt: "2021-04-04", BlockedDaysAgo: 2,
		Payments: []demoPayment{{45, money.Rub(500), "cash"}, {76, money.Rub(500), "cash"}},
		Trust:    &demoTrust{Amount: money.Rub(500)}},
	// Took one last month, then paid: allowed again this month.
	{Number: "1000000023", Phone: "+79000000023", City: "Невинномысск", Tariff: "Домашний 500",
		Status: billing.StatusActive, Balance: money.Rub(40), ChargeDay: 8, RunsOut: 2, OpenedAt: "2019-09-19",
		Payments: []demoPayment{{50, money.Rub(750), "sberbank"}},
		Trust:    &demoTrust{Amount: money.Rub(750), PaidAfter: money.Rub(800)}}, // 1 day
}

// moscowTime is fixed: Russia has not changed its clocks since 2014, and a
// fixed zone needs no time zone database on the machine.
var moscowTime = time.FixedZone("MSK", 3*60*60)

// LoadDemo writes the demo subscribers of DEMO.md into a migrated database,
// so that a provider can try the bot before connecting a real billing. It
// may run again at any time: accounts are matched by number and payments by
// their demo id, the demo accounts get their demo balance, status and
// services back, and the payment dates move to be recent again. Telegram
// links and other accounts are left alone.
func LoadDemo(ctx context.Context, pool *pgxpool.Pool) error {
	return LoadDemoAt(ctx, pool, time.Now())
}

// LoadDemoAt is LoadDemo as if it were loaded at now: dates move relative
// to it (a test loads the demo on every day of a month).
func LoadDemoAt(ctx context.Context, pool *pgxpool.Pool, now time.Time) (err error) {
	defer wrap(&err, "load demo")
	now = now.In(moscowTime)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, moscowTime)
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, t := range demoTariffs {
			var id int64
			if err := tx.QueryRow(ctx, `
INSERT INTO tariffs (name, monthly_fee, kind, speed_mbps, tv) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name) DO UPDATE SET monthly_fee = EXCLUDED.monthly_fee, kind = EXCLUDED.kind,
    speed_mbps = EXCLUDED.speed_mbps, tv = EXCLUDED.tv
RETURNING id`, t.Name, t.MonthlyFee, t.Kind, t.SpeedMbps, t.TV).Scan(&id); err != nil {
				return fmt.Errorf("tariff: %w", err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM tariff_cities WHERE tariff_id = $1`, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `
INSERT INTO tariff_cities (tariff_id, city_id)
SELECT $1, id FROM cities WHERE $2::text[] IS NULL OR name = ANY ($2::text[])`, id, t.Cities); err != nil {
				return fmt.Errorf("tariff cities: %w", err)
			}
		}
		for _, s := range demoServices {
			if _, err := tx.Exec(ctx, `
INSERT INTO services (name, monthly_fee, kind) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET monthly_fee = EXCLUDED.monthly_fee, kind = EXCLUDED.kind`, s.Name, s.MonthlyFee, s.Kind); err != nil {
				return fmt.Errorf("service: %w", err)
			}
		}
		for _, a := range demoAccounts {
			if err := loadDemoAccount(ctx, tx, a, today); err != nil {
				return fmt.Errorf("account %s: %w", a.Number, err)
			}
		}
		return nil
	})
}

func loadDemoAccount(ctx context.Context, tx pgx.Tx, a demoAccount, today time.Time) error {
	if a.RunsOut > 0 {
		a.ChargeDay = today.AddDate(0, 0, a.RunsOut).Day()
	}
	openedAt, err := time.ParseInLocation(time.DateOnly, a.OpenedAt, moscowTime)
	if err != nil {
		return err
	}
	var blockedAt *time.Time
	if a.Status == billing.StatusBlocked {
		t := today.AddDate(0, 0, -a.BlockedDaysAgo).Add(3 * time.Hour) // billing blocks at night
		blockedAt = &t
	}
	// A missing city or tariff name leaves NULL, which the NOT NULL columns reject.
	var id int64
	if err := tx.QueryRow(ctx, `
INSERT INTO accounts (number, phone, city_id, tariff_id, status, balance, charge_day, blocked_at, opened_at, kind)
VALUES ($1, $2, (SELECT id FROM cities WHERE name = $3), (SELECT id FROM tariffs WHERE name = $4),
        $5, $6, $7, $8, $9, (SELECT kind FROM tariffs WHERE name = $4))
ON CONFLICT (number) DO UPDATE SET
    phone = EXCLUDED.phone, city_id = EXCLUDED.city_id, tariff_id = EXCLUDED.tariff_id,
    status = EXCLUDED.status, balance = EXCLUDED.balance, charge_day = EXCLUDED.charge_day,
    blocked_at = EXCLUDED.blocked_at, opened_at = EXCLUDED.opened_at, kind = EXCLUDED.kind,
    charged_until = NULL
RETURNING id`,
		a.Number, a.Phone, a.City, a.Tariff, a.Status, a.Balance, a.ChargeDay, blockedAt, openedAt).Scan(&id); err != nil {
		return err
	}

	if _, err := tx.Exec(ctx, `DELETE FROM account_services WHERE account_id = $1`, id); err != nil {
		return err
	}
	for _, name := range a.Services {
		tag, err := tx.Exec(ctx, `
INSERT INTO account_services (account_id, service_id)
SELECT $1, id FROM services WHERE name = $2`, id, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("unknown service %q", name)
		}
	}

	for i, p := range a.Payments {
		paidAt := today.AddDate(0, 0, -p.DaysAgo).Add(12*time.Hour + 30*time.Minute)
		if _, err := tx.Exec(ctx, `
INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (provider, provider_payment_id) DO UPDATE SET
    account_id = EXCLUDED.account_id, amount = EXCLUDED.amount,
    channel = EXCLUDED.channel, paid_at = EXCLUDED.paid_at`,
			id, p.Amount, p.Channel, demoProvider, fmt.Sprintf("%s-%d", a.Number, i+1), paidAt); err != nil {
			return err
		}
	}
	if err := loadDemoSelfService(ctx, tx, id, a, today); err != nil {
		return err
	}
	return loadDemoTrust(ctx, tx, id, a, today)
}

// loadDemoSelfService puts back the account's freezes, tariff changes and
// charges as the demo has them (a frozen account was frozen five days ago
// for 30 days; nothing else), and writes its traffic of the last 70 days:
// made up from the account number and the day, so that it is the same on
// every load, and nothing while frozen. The audit trail is left alone.
func loadDemoSelfService(ctx context.Context, tx pgx.Tx, id int64, a demoAccount, today time.Time) error {
	for _, q := range []string{
		`DELETE FROM freezes WHERE account_id = $1`,
		`DELETE FROM tariff_changes WHERE account_id = $1`,
		`DELETE FROM charges WHERE account_id = $1`,
		`DELETE FROM usage_days WHERE account_id = $1`,
	} {
		if _, err := tx.Exec(ctx, q, id); err != nil {
			return err
		}
	}
	frozenFrom := today.AddDate(0, 0, -5)
	if a.Status == billing.StatusFrozen {
		if _, err := tx.Exec(ctx, `
INSERT INTO freezes (account_id, start_day, end_day, started_at) VALUES ($1, $2::date, $3::date, $4)`,
			id, frozenFrom.Format(time.DateOnly), frozenFrom.AddDate(0, 0, 30).Format(time.DateOnly), frozenFrom); err != nil {
			return err
		}
	}
	if a.Status == billing.StatusClosed {
		return nil
	}
	// hashtext gives each (account, day) its own stable number: 0.3 to
	// 6.3 GB a day in, a tenth of it out, 1 to 6 sessions of 20 minutes to
	// 4 hours each.
	_, err := tx.Exec(ctx, `
INSERT INTO usage_days (account_id, day, bytes_in, bytes_out, sessions, session_seconds)
SELECT $1, d::date,
       (300 + abs(hashtext($2 || d::date::text)) % 6000)::bigint * 1000000,
       (30 + abs(hashtext('o' || $2 || d::date::text)) % 600)::bigint * 1000000,
       1 + abs(hashtext('s' || $2 || d::date::text)) % 6,
       (1 + abs(hashtext('s' || $2 || d::date::text)) % 6) * (1200 + abs(hashtext('t' || $2 || d::date::text)) % 13200)
FROM generate_series($3::date - 69, $3::date, interval '1 day') d
WHERE NOT ($4 AND d::date >= $5::date)`,
		id, a.Number, today.Format(time.DateOnly), a.Status == billing.StatusFrozen, frozenFrom.Format(time.DateOnly))
	return err
}

// loadDemoTrust puts the account's trust payments back as the demo has
// them: the ones taken since the last load (through the bot) are removed
// with the rest of the account's state, and the demo's own is written
// with its ledger rows. A trust payment is in the ledger like any credit
// (channel "trust"); the trigger sends no push for it.
func loadDemoTrust(ctx context.Context, tx pgx.Tx, id int64, a demoAccount, today time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM trust_payments WHERE account_id = $1`, id); err != nil {
		return err
	}
	if a.Trust == nil {
		return nil
	}
	monthStart := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, moscowTime)
	grantedAt := today
	if !a.Trust.ThisMonth {
		grantedAt = monthStart.AddDate(0, 0, -10).Add(12 * time.Hour)
	}
	local := grantedAt.In(moscowTime)
	month := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, moscowTime)
	expiresAt := grantedAt.Add(3 * 24 * time.Hour)
	var endedAt *time.Time
	if !a.Trust.ThisMonth {
		endedAt = &expiresAt
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO trust_payments (account_id, month, amount, granted_at, expires_at, reminders_queued_at, ended_at)
VALUES ($1, $2::date, $3, $4, $5, $6, $6)`,
		id, month.Format(time.DateOnly), a.Trust.Amount, grantedAt, expiresAt, endedAt); err != nil {
		return err
	}
	type row struct {
		suffix  string
		amount  money.Amount
		channel string
		paidAt  time.Time
	}
	rows := []row{{"trust", a.Trust.Amount, "trust", grantedAt}}
	if a.Trust.PaidAfter > 0 {
		rows = append(rows, row{"after-trust", a.Trust.PaidAfter, "card", grantedAt.AddDate(0, 0, 2)})
	}
	for _, r := range rows {
		if _, err := tx.Exec(ctx, `
INSERT INTO payments (account_id, amount, channel, provider, provider_payment_id, paid_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (provider, provider_payment_id) DO UPDATE SET
    account_id = EXCLUDED.account_id, amount = EXCLUDED.amount,
    channel = EXCLUDED.channel, paid_at = EXCLUDED.paid_at`,
			id, r.amount, r.channel, demoProvider, a.Number+"-"+r.suffix, r.paidAt); err != nil {
			return err
		}
	}
	return nil
}
