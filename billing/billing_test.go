package billing_test

import (
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

func TestForecastCountsOnlyTheMoneyThatStays(t *testing.T) {
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	day := func(d int) time.Time { return time.Date(2026, 12, d, 12, 0, 0, 0, msk) }
	date := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, msk) }
	tariff := billing.Tariff{Name: "Домашний 100", MonthlyFee: money.Rub(500)}
	trust := func(sum int64, ends time.Time) *billing.ActiveTrust {
		return &billing.ActiveTrust{Amount: money.Rub(sum), ExpiresAt: ends}
	}
	for _, c := range []struct {
		name      string
		balance   money.Amount
		trust     *billing.ActiveTrust
		fee       money.Amount
		days      int
		blockOn   time.Time
		trustEnds bool
		need      money.Amount
		unlimited bool
	}{
		// December's days cost 500/31 = 16,13 ₽: 465 ₽ pay 28 of them.
		{name: "no trust, 28 days", balance: money.Rub(465), fee: tariff.MonthlyFee, days: 28, blockOn: date(12, 29), need: money.Rub(35)},
		// The rest of December and all of January (31 days each), and
		// not one day of February, whose days cost more (500/28).
		{name: "no trust, a month paid", balance: money.Rub(1000), fee: tariff.MonthlyFee, days: 61, blockOn: time.Date(2027, 1, 31, 0, 0, 0, 0, msk)},
		{name: "no money", balance: 0, fee: tariff.MonthlyFee, days: 0, blockOn: date(12, 1), need: money.Rub(500)},
		// 1000000020: -35 ₽, a 500 ₽ trust payment until 4 December. The
		// 465 ₽ on the account last until the trust payment ends, not 27 days.
		{name: "trust over a debt", balance: money.Rub(465), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 3, blockOn: date(12, 4), trustEnds: true, need: money.Rub(535)},
		// 120 ₽ of one's own last 7 days, past the trust payment's end.
		{name: "own money outlasts the trust", balance: money.Rub(620), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 7, blockOn: date(12, 8), need: money.Rub(380)},
		{name: "paid after the trust", balance: money.Rub(1500), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 61, blockOn: time.Date(2027, 1, 31, 0, 0, 0, 0, msk)},
		{name: "nothing charged", balance: money.Rub(10), unlimited: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			acc := billing.Account{Balance: c.balance, Trust: c.trust, Tariff: billing.Tariff{MonthlyFee: c.fee}}
			f := acc.Forecast(now, msk)
			if c.unlimited {
				if !f.Unlimited {
					t.Fatalf("forecast %+v, want unlimited", f)
				}
				return
			}
			if f.Unlimited || f.DaysLeft != c.days || !f.BlockOn.Equal(c.blockOn) || f.TrustEnds != c.trustEnds || f.Need != c.need {
				t.Errorf("forecast %+v,\nwant days %d, block on %v, trust ends %v, need %d", f, c.days, c.blockOn, c.trustEnds, c.need)
			}
		})
	}
}

// The daily write-off: a day costs the monthly charge over that month's
// days, so the same money lasts longer in December than in February, and
// the service stops at the local midnight of the first day not paid.
func TestPaidUntilWritesOffByTheMonthsDays(t *testing.T) {
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	vvo, err := time.LoadLocation("Asia/Vladivostok")
	if err != nil {
		t.Fatal(err)
	}
	fee := money.Rub(500)
	ten := 10 * ((fee + 27) / 28) // ten of February's dearest days
	for _, c := range []struct {
		name string
		now  time.Time
		loc  *time.Location
		own  money.Amount
		want time.Time
	}{
		{"february", time.Date(2027, 2, 1, 12, 0, 0, 0, msk), msk, ten, time.Date(2027, 2, 12, 0, 0, 0, 0, msk)},
		// The same money in December pays 11 of its cheaper days.
		{"december", time.Date(2026, 12, 1, 12, 0, 0, 0, msk), msk, ten, time.Date(2026, 12, 13, 0, 0, 0, 0, msk)},
		{"nothing", time.Date(2026, 12, 1, 12, 0, 0, 0, msk), msk, 0, time.Date(2026, 12, 2, 0, 0, 0, 0, msk)},
		{"a debt", time.Date(2026, 12, 1, 12, 0, 0, 0, msk), msk, -money.Rub(100), time.Date(2026, 12, 2, 0, 0, 0, 0, msk)},
		// 23:00 in Moscow is already tomorrow in Владивосток.
		{"another zone's midnight", time.Date(2026, 12, 1, 23, 0, 0, 0, msk), vvo, 0, time.Date(2026, 12, 3, 0, 0, 0, 0, vvo)},
	} {
		if got := billing.PaidUntil(c.own, fee, c.now, c.loc); !got.Equal(c.want) {
			t.Errorf("%s: paid until %v, want %v", c.name, got, c.want)
		}
	}
}
