package notices

import (
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Quiet hours are the city's own night: one instant is night in Moscow
// and midday in Владивосток, and a notice made at night waits for 09:00 of
// the same or the next local morning.
func TestQuietReleaseInTheCitysZone(t *testing.T) {
	q, err := ParseQuiet("22:00-09:00")
	if err != nil {
		t.Fatal(err)
	}
	msk, vvo := zone(t, "Europe/Moscow"), zone(t, "Asia/Vladivostok")
	at := func(loc *time.Location, d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, loc) }
	for _, c := range []struct {
		name string
		t    time.Time
		loc  *time.Location
		want time.Time
	}{
		{"moscow before dawn", at(msk, 1, 5, 0), msk, at(msk, 1, 9, 0)},
		{"the same instant in vladivostok is midday", at(msk, 1, 5, 0), vvo, at(msk, 1, 5, 0)},
		{"moscow late evening waits for tomorrow", at(msk, 1, 23, 30), msk, at(msk, 2, 9, 0)},
		{"22:00 sharp is night", at(msk, 1, 22, 0), msk, at(msk, 2, 9, 0)},
		{"09:00 sharp is day", at(msk, 1, 9, 0), msk, at(msk, 1, 9, 0)},
		{"vladivostok night, moscow afternoon", at(vvo, 1, 23, 0), vvo, at(vvo, 2, 9, 0)},
		{"the last night of the year", at(msk, 31, 23, 0), msk, time.Date(2027, 1, 1, 9, 0, 0, 0, msk)},
	} {
		if got := q.Release(c.t, c.loc); !got.Equal(c.want) {
			t.Errorf("%s: release %v, want %v", c.name, got, c.want)
		}
	}
	day, _ := ParseQuiet("01:00-06:00")
	if got := day.Release(at(msk, 1, 3, 0), msk); !got.Equal(at(msk, 1, 6, 0)) {
		t.Errorf("within one day: %v", got)
	}
	if got := day.Release(at(msk, 1, 7, 0), msk); !got.Equal(at(msk, 1, 7, 0)) {
		t.Errorf("after a same-day quiet: %v", got)
	}
	if got := (Quiet{}).Release(at(msk, 1, 3, 0), msk); !got.Equal(at(msk, 1, 3, 0)) {
		t.Errorf("no quiet hours held a notice to %v", got)
	}
}

func TestParseQuietRefusesNonsense(t *testing.T) {
	for _, s := range []string{"22-09", "25:00-09:00", "22:00", "22:00-22:00", "22:0-09:00", "вечер-утро"} {
		if _, err := ParseQuiet(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if q, err := ParseQuiet(" 23:30-07:15 "); err != nil || q.String() != "23:30-07:15" {
		t.Errorf("23:30-07:15: %v %v", q, err)
	}
}

// Which notice an account is owed: N days ahead under the person's
// threshold, the last day, a fresh block; and a payment in between makes
// the notice untrue, so it is canceled before sending.
func TestLowOwedAndStillOwed(t *testing.T) {
	msk := zone(t, "Europe/Moscow")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, msk)
	// The next charge day of 500 ₽ decides: the 5th leaves 3 days (the
	// 2nd, 3rd and 4th), the 2nd leaves today only.
	acc := func(balance money.Amount, chargeDay int) billing.Account {
		a := billing.Account{Status: billing.StatusActive, Balance: balance, ChargeDay: chargeDay, Tariff: billing.Tariff{MonthlyFee: money.Rub(500)}}
		a.PaidUntil = a.StopsAt(now, msk)
		return a
	}
	short := money.Rub(100)
	if o, ok := LowOwed(acc(short, 5), 3, now, msk); !ok || o.Kind != KindLow || o.Threshold != 3 || o.Period != "2026-12-04" {
		t.Errorf("3 days' service, threshold 3: %+v %v", o, ok)
	}
	if _, ok := LowOwed(acc(short, 5), 2, now, msk); ok {
		t.Error("3 days' service is owed a notice under a threshold of 2")
	}
	if _, ok := LowOwed(acc(money.Rub(500), 5), 3, now, msk); ok {
		t.Error("a covered charge is owed a notice")
	}
	if o, ok := LowOwed(acc(short, 2), 3, now, msk); !ok || o.Kind != KindLastDay || o.Period != "2026-12-01" {
		t.Errorf("the charge tomorrow not covered: %+v %v", o, ok)
	}
	blocked := billing.Account{Status: billing.StatusBlocked, Balance: -100, BlockedAt: now.Add(-time.Hour), Tariff: billing.Tariff{MonthlyFee: money.Rub(500)}}
	if o, ok := LowOwed(blocked, 3, now, msk); !ok || o.Kind != KindBlocked || o.Period != "2026-12-01" {
		t.Errorf("blocked an hour ago: %+v %v", o, ok)
	}
	blocked.BlockedAt = now.Add(-10 * 24 * time.Hour)
	if _, ok := LowOwed(blocked, 3, now, msk); ok {
		t.Error("a block of ten days ago is told now")
	}
	if _, ok := LowOwed(billing.Account{Status: billing.StatusFrozen, Tariff: billing.Tariff{MonthlyFee: money.Rub(500)}}, 3, now, msk); ok {
		t.Error("a frozen account is owed a low-balance notice")
	}

	if !StillOwed(acc(short, 5), KindLow, "2026-12-04", 3, now, msk) {
		t.Error("nothing changed, yet the notice is no longer owed")
	}
	if StillOwed(acc(short+money.Rub(400), 5), KindLow, "2026-12-04", 3, now, msk) {
		t.Error("a payment covered the charge, yet the notice is still owed")
	}
	// The last day today, then a trust payment of three days: the money
	// now lasts to its end, and "today is the last day" is untrue.
	trusted := acc(short, 2)
	trusted.Balance += money.Rub(500)
	trusted.Trust = &billing.ActiveTrust{Amount: money.Rub(500), ExpiresAt: now.Add(72 * time.Hour)}
	trusted.PaidUntil = trusted.StopsAt(now, msk)
	if StillOwed(trusted, KindLastDay, "2026-12-01", 0, now, msk) {
		t.Error("a trust payment in between, yet the last day's notice is still owed")
	}
	unblocked := blocked
	unblocked.Status, unblocked.BlockedAt = billing.StatusActive, time.Time{}
	if StillOwed(unblocked, KindBlocked, "2026-12-01", 0, now, msk) {
		t.Error("the block was lifted, yet the notice is still owed")
	}
}
