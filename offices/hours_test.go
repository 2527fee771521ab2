package offices

import (
	"strings"
	"testing"
	"time"
)

// week builds Hours from seven CSV-style day strings, Monday first.
func week(t *testing.T, days ...string) Hours {
	t.Helper()
	if len(days) != 7 {
		t.Fatalf("week: %d days", len(days))
	}
	var h Hours
	for i, d := range days {
		spans, err := ParseDay(d)
		if err != nil {
			t.Fatalf("week: day %d %q: %v", i+1, d, err)
		}
		h[i] = spans
	}
	return h
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseDay(t *testing.T) {
	good := map[string]string{ // input -> spans as written back
		"09:00-21:00":              "09:00-21:00",
		" 9:00 – 18:30 ":           "09:00-18:30",
		"14:00-18:00, 09:00-13:00": "09:00-13:00 14:00-18:00",
		"22:00-02:00":              "22:00-02:00",
		"18:00-00:00":              "18:00-24:00",
		"00:00-24:00":              "00:00-24:00",
		"24h":                      "00:00-24:00",
		"Круглосуточно":            "00:00-24:00",
		"closed":                   "",
		"CLOSED":                   "",
		"выходной":                 "",
	}
	for in, want := range good {
		spans, err := ParseDay(in)
		if err != nil {
			t.Errorf("ParseDay(%q): %v", in, err)
			continue
		}
		var got []string
		for _, s := range spans {
			got = append(got, s.String())
		}
		if strings.Join(got, " ") != want {
			t.Errorf("ParseDay(%q) = %v, want %s", in, got, want)
		}
	}
	bad := []string{
		"", "open", "9-18", "09:00", "09:00-25:00", "09:60-18:00", "24:00-06:00",
		"09:00-09:00", "09:00-13:00,12:00-18:00", "22:00-02:00,09:00-23:00", "09:00-18:00,",
	}
	for _, in := range bad {
		if spans, err := ParseDay(in); err == nil {
			t.Errorf("ParseDay(%q) = %v, want an error", in, spans)
		}
	}
	if s, _ := ParseDay("24h"); len(s) != 1 || !s[0].AllDay() {
		t.Errorf("24h is not AllDay: %v", s)
	}
}

func TestRanges(t *testing.T) {
	h := week(t, "09:00-21:00", "09:00-21:00", "09:00-21:00", "09:00-21:00", "09:00-21:00", "09:00-18:00", "09:00-18:00")
	got := h.Ranges()
	if len(got) != 2 ||
		got[0].From != time.Monday || got[0].To != time.Friday || got[0].Spans[0].String() != "09:00-21:00" ||
		got[1].From != time.Saturday || got[1].To != time.Sunday || got[1].Spans[0].String() != "09:00-18:00" {
		t.Errorf("Ranges = %+v, want Mon-Fri 09-21, Sat-Sun 09-18", got)
	}
	h = week(t, "closed", "10:00-19:00", "10:00-19:00", "closed", "closed", "24h", "closed")
	if got := h.Ranges(); len(got) != 5 || got[3].From != time.Saturday || !got[3].Spans[0].AllDay() || got[4].From != time.Sunday || len(got[4].Spans) != 0 {
		t.Errorf("Ranges = %+v", got)
	}
}

func TestOpenNow(t *testing.T) {
	moscow := zone(t, "Europe/Moscow")
	vladivostok := zone(t, "Asia/Vladivostok")
	tomsk := zone(t, "Asia/Tomsk")
	at := func(loc *time.Location, y int, m time.Month, d, hh, mm int) time.Time {
		return time.Date(y, m, d, hh, mm, 0, 0, loc)
	}
	// 2025-03-10 is a Monday; 03-14 a Friday, 03-15 and 03-16 the weekend.
	if wd := at(moscow, 2025, 3, 10, 0, 0).Weekday(); wd != time.Monday {
		t.Fatalf("2025-03-10 is a %v", wd)
	}
	weekdays := week(t, "09:00-16:00", "09:00-16:00", "09:00-16:00", "09:00-16:00", "09:00-16:00", "closed", "closed")
	fridayNight := week(t, "closed", "closed", "closed", "closed", "22:00-02:00", "closed", "closed")
	lunch := week(t, "09:00-13:00,14:00-18:00", "closed", "closed", "closed", "closed", "closed", "closed")
	allWeek := week(t, "24h", "24h", "24h", "24h", "24h", "24h", "24h")
	workweek24 := week(t, "24h", "24h", "24h", "24h", "24h", "closed", "closed")
	fridayIntoSaturday := week(t, "closed", "closed", "closed", "closed", "24h", "00:00-12:00", "closed")

	// One instant: Wednesday 07:00 UTC is 10:00 in Moscow, 14:00 in Tomsk
	// and 17:00 in Vladivostok.
	wed0700 := time.Date(2025, 3, 12, 7, 0, 0, 0, time.UTC)
	// Wednesday 23:30 UTC is still Wednesday night in Moscow but already
	// Thursday 09:30 in Vladivostok.
	wed2330 := time.Date(2025, 3, 12, 23, 30, 0, 0, time.UTC)

	tests := []struct {
		name     string
		hours    Hours
		now      time.Time
		loc      *time.Location
		wantOpen bool
		wantNext time.Time // zero: never changes
	}{
		{"Moscow 10:00 is open", weekdays, wed0700, moscow, true, at(moscow, 2025, 3, 12, 16, 0)},
		{"Tomsk 14:00 is open", weekdays, wed0700, tomsk, true, at(tomsk, 2025, 3, 12, 16, 0)},
		{"Vladivostok 17:00 is closed", weekdays, wed0700, vladivostok, false, at(vladivostok, 2025, 3, 13, 9, 0)},
		{"Vladivostok already Thursday morning", weekdays, wed2330, vladivostok, true, at(vladivostok, 2025, 3, 13, 16, 0)},
		{"Moscow still Wednesday night", weekdays, wed2330, moscow, false, at(moscow, 2025, 3, 13, 9, 0)},

		{"at opening time", weekdays, at(moscow, 2025, 3, 12, 9, 0), moscow, true, at(moscow, 2025, 3, 12, 16, 0)},
		{"at closing time", weekdays, at(moscow, 2025, 3, 12, 16, 0), moscow, false, at(moscow, 2025, 3, 13, 9, 0)},
		{"Friday evening waits for Monday", weekdays, at(moscow, 2025, 3, 14, 19, 0), moscow, false, at(moscow, 2025, 3, 17, 9, 0)},
		{"Sunday waits for Monday", weekdays, at(tomsk, 2025, 3, 16, 12, 0), tomsk, false, at(tomsk, 2025, 3, 17, 9, 0)},
		{"Monday early waits for the same morning", weekdays, at(moscow, 2025, 3, 10, 8, 59), moscow, false, at(moscow, 2025, 3, 10, 9, 0)},

		{"overnight, Friday before it opens", fridayNight, at(moscow, 2025, 3, 14, 21, 0), moscow, false, at(moscow, 2025, 3, 14, 22, 0)},
		{"overnight, Friday late", fridayNight, at(moscow, 2025, 3, 14, 23, 0), moscow, true, at(moscow, 2025, 3, 15, 2, 0)},
		{"overnight, after midnight on Saturday", fridayNight, at(moscow, 2025, 3, 15, 1, 0), moscow, true, at(moscow, 2025, 3, 15, 2, 0)},
		{"overnight, Saturday after it closed", fridayNight, at(moscow, 2025, 3, 15, 3, 0), moscow, false, at(moscow, 2025, 3, 21, 22, 0)},

		{"lunch break", lunch, at(moscow, 2025, 3, 10, 13, 30), moscow, false, at(moscow, 2025, 3, 10, 14, 0)},
		{"before lunch", lunch, at(moscow, 2025, 3, 10, 12, 0), moscow, true, at(moscow, 2025, 3, 10, 13, 0)},
		{"after the last span waits a week", lunch, at(moscow, 2025, 3, 10, 18, 0), moscow, false, at(moscow, 2025, 3, 17, 9, 0)},

		{"around the clock never closes", allWeek, wed2330, vladivostok, true, time.Time{}},
		{"24h on weekdays closes at Saturday midnight", workweek24, at(moscow, 2025, 3, 12, 12, 0), moscow, true, at(moscow, 2025, 3, 15, 0, 0)},
		{"24h on weekdays, Sunday", workweek24, at(moscow, 2025, 3, 16, 12, 0), moscow, false, at(moscow, 2025, 3, 17, 0, 0)},
		{"Friday 24h runs into Saturday morning", fridayIntoSaturday, at(moscow, 2025, 3, 14, 12, 0), moscow, true, at(moscow, 2025, 3, 15, 12, 0)},

		{"never open", Hours{}, wed0700, moscow, false, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open, next := OpenNow(tc.hours, tc.now, tc.loc)
			if open != tc.wantOpen || !next.Equal(tc.wantNext) {
				t.Errorf("OpenNow at %s = %v, %s; want %v, %s", tc.now.In(tc.loc), open, next.In(tc.loc), tc.wantOpen, tc.wantNext.In(tc.loc))
			}
		})
	}
}
