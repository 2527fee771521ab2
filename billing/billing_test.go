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
		// The charge day is the 1st: December is paid, January's 500 ₽ is not.
		{name: "no trust, december paid", balance: money.Rub(465), fee: tariff.MonthlyFee, days: 30, blockOn: date(12, 31), need: money.Rub(35)},
		// January and February are paid too, March is not.
		{name: "no trust, two months more", balance: money.Rub(1000), fee: tariff.MonthlyFee, days: 89, blockOn: time.Date(2027, 2, 28, 0, 0, 0, 0, msk)},
		{name: "no money", balance: 0, fee: tariff.MonthlyFee, days: 30, blockOn: date(12, 31), need: money.Rub(500)},
		// 1000000020: -35 ₽, a 500 ₽ trust payment until 4 December. Taken
		// back then, it leaves -35 ₽: blocked that day, not at the charge.
		{name: "trust over a debt", balance: money.Rub(465), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 3, blockOn: date(12, 4), trustEnds: true, need: money.Rub(535)},
		// 120 ₽ of one's own stay after the trust payment: until the charge.
		{name: "own money outlasts the trust", balance: money.Rub(620), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 30, blockOn: date(12, 31), need: money.Rub(380)},
		{name: "paid after the trust", balance: money.Rub(1500), trust: trust(500, day(4)), fee: tariff.MonthlyFee, days: 89, blockOn: time.Date(2027, 2, 28, 0, 0, 0, 0, msk)},
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

// The monthly charge on the charge day, as billing/postgres's cycle takes
// it: the money stops at the start of the first charge day (or trust
// payment's end) that would leave the balance below zero, in the account's
// zone.
func TestPaidUntilIsTheFirstChargeNotCovered(t *testing.T) {
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	vvo, err := time.LoadLocation("Asia/Vladivostok")
	if err != nil {
		t.Fatal(err)
	}
	fee := money.Rub(500)
	at := func(loc *time.Location, m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, loc) }
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	for _, c := range []struct {
		name    string
		balance money.Amount
		day     int
		trust   *billing.ActiveTrust
		loc     *time.Location
		want    time.Time
	}{
		{"not enough for the 10th", money.Rub(499), 10, nil, msk, at(msk, 12, 10)},
		{"the 10th paid, not January's", money.Rub(500), 10, nil, msk, time.Date(2027, 1, 10, 0, 0, 0, 0, msk)},
		{"a debt", -money.Rub(100), 10, nil, msk, at(msk, 12, 10)},
		{"the charge day passed this month", money.Rub(100), 1, nil, msk, time.Date(2027, 1, 1, 0, 0, 0, 0, msk)},
		{"the trust payment's end comes first", money.Rub(400), 10, &billing.ActiveTrust{Amount: money.Rub(500), ExpiresAt: now.Add(72 * time.Hour)}, msk, now.Add(72 * time.Hour)},
		{"the charge comes before the trust payment's end", money.Rub(600), 3, &billing.ActiveTrust{Amount: money.Rub(500), ExpiresAt: now.Add(72 * time.Hour)}, msk, now.Add(72 * time.Hour)},
		// The 10th begins 7 hours earlier in Владивосток.
		{"another zone's midnight", money.Rub(100), 10, nil, vvo, at(vvo, 12, 10)},
	} {
		acc := billing.Account{Balance: c.balance, ChargeDay: c.day, Trust: c.trust, Tariff: billing.Tariff{MonthlyFee: fee}}
		if got := acc.StopsAt(now, c.loc); !got.Equal(c.want) {
			t.Errorf("%s: stops at %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNextChargeDateFallsOnAShortMonthsLastDay(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, msk) }
	for _, c := range []struct {
		chargeDay int
		now       time.Time
		want      string
	}{
		{5, day(2026, 12, 1), "2026-12-05"},
		{5, day(2026, 12, 5), "2027-01-05"}, // charged today: the next is a month on
		{31, day(2027, 1, 15), "2027-01-31"},
		{31, day(2027, 1, 31), "2027-02-28"},
		{30, day(2028, 2, 10), "2028-02-29"}, // a leap year
		{31, day(2027, 4, 2), "2027-04-30"},
		{31, day(2027, 4, 30), "2027-05-31"},
		{29, day(2026, 12, 30), "2027-01-29"}, // across the year
	} {
		got := billing.Account{ChargeDay: c.chargeDay}.NextChargeDate(c.now, msk).Format(time.DateOnly)
		if got != c.want {
			t.Errorf("charge day %d on %s: next charge %s, want %s", c.chargeDay, c.now.Format(time.DateOnly), got, c.want)
		}
	}
}
