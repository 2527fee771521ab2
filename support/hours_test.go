package support

import (
	"testing"
	"time"
)

func TestSupportHoursAreJudgedInTheCitysTime(t *testing.T) {
	h, err := ParseHours(DefaultHours)
	if err != nil {
		t.Fatal(err)
	}
	open := OpenAt(h)
	moscow, _ := time.LoadLocation("Europe/Moscow")
	vladivostok, _ := time.LoadLocation("Asia/Vladivostok")
	// Monday 2026-11-30 07:00 UTC: 10:00 in Moscow, 17:00 in Vladivostok.
	mon := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		at   time.Time
		loc  *time.Location
		open bool
		next string // local, when closed
	}{
		{"Monday morning in Moscow", mon, moscow, true, ""},
		{"the same instant in Vladivostok", mon, vladivostok, true, ""},
		{"Monday 21:30 in Moscow", mon.Add(11*time.Hour + 30*time.Minute), moscow, false, "Tue 09:00"},
		{"Saturday 18:30 in Vladivostok", time.Date(2026, 12, 5, 8, 30, 0, 0, time.UTC), vladivostok, false, "Sun 09:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, next := open(tc.at, tc.loc)
			if ok != tc.open {
				t.Fatalf("open %v, want %v", ok, tc.open)
			}
			if !ok && next.In(tc.loc).Format("Mon 15:04") != tc.next {
				t.Fatalf("opens %s, want %s", next.In(tc.loc).Format("Mon 15:04"), tc.next)
			}
		})
	}
}

func TestParseHoursExplainsMistakes(t *testing.T) {
	for _, bad := range []string{"weekdays 09:00-21:00", "mon-fri", "fri-mon 09:00-18:00", "mon 9-21"} {
		if _, err := ParseHours(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
