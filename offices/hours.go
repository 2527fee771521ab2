package offices

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Span is one stretch of a day during which a point is open, in its city's
// local wall-clock time. A day may have several (a lunch break splits it).
type Span struct {
	Opens time.Duration // since local midnight: 0 <= Opens < 24h
	// Closes is since local midnight too: 24h is the midnight that ends the
	// day, and Closes < Opens means the span ends the next day (22:00-02:00).
	Closes time.Duration
}

// AllDay reports whether the span is the whole day, which the dialogs show as
// "around the clock" rather than as 00:00-24:00.
func (s Span) AllDay() bool { return s.Opens == 0 && s.Closes == 24*time.Hour }

// Overnight reports whether the span ends after midnight, on the next day.
func (s Span) Overnight() bool { return s.Closes < s.Opens }

// String writes the span as the CSV file does ("09:00-21:00"): the clock is
// the same in every language, so the dialogs may show it as is.
func (s Span) String() string { return clock(s.Opens) + "-" + clock(s.Closes) }

func clock(d time.Duration) string {
	m := int(d / time.Minute)
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

// Hours is a point's weekly schedule: index 0 is Monday, 6 is Sunday (ISO
// order, as the provider prints schedules). A day without spans is closed.
type Hours [7][]Span

// On returns the spans of a weekday.
func (h Hours) On(day time.Weekday) []Span { return h[isoIndex(day)] }

// isoIndex turns Go's Sunday-first weekday into the Monday-first index of Hours.
func isoIndex(day time.Weekday) int { return (int(day) + 6) % 7 }

// DayRange is a run of consecutive weekdays with the same spans, so that a
// schedule reads "Mon-Fri 09:00-21:00, Sat-Sun 09:00-18:00" instead of seven
// lines.
type DayRange struct {
	From, To time.Weekday // inclusive; From == To for a single day
	Spans    []Span       // empty: closed on those days
}

// Ranges groups the week, Monday to Sunday, into runs of equal days.
func (h Hours) Ranges() []DayRange {
	var out []DayRange
	for i := 0; i < 7; i++ {
		day := time.Weekday((i + 1) % 7)
		if n := len(out); n > 0 && sameSpans(out[n-1].Spans, h[i]) {
			out[n-1].To = day
			continue
		}
		out = append(out, DayRange{From: day, To: day, Spans: h[i]})
	}
	return out
}

func sameSpans(a, b []Span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ParseDay reads one day of a schedule as the CSV file writes it:
//
//	09:00-21:00               open from 9 to 21
//	09:00-13:00,14:00-18:00   with a lunch break
//	22:00-02:00               open overnight, until 2 the next morning
//	24h                       around the clock (also "круглосуточно", "00:00-24:00")
//	closed                    closed that day (also "выходной")
//
// Case and surrounding spaces do not matter; the dash may be an en or em dash,
// as spreadsheets like to write it.
func ParseDay(s string) ([]Span, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "":
		return nil, errors.New(`empty: write "closed" for a closed day`)
	case "closed", "выходной":
		return nil, nil
	case "24h", "круглосуточно":
		return []Span{{Opens: 0, Closes: 24 * time.Hour}}, nil
	}
	var spans []Span
	for _, part := range strings.Split(s, ",") {
		span, err := parseSpan(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		spans = append(spans, span)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Opens < spans[j].Opens })
	for i := 0; i+1 < len(spans); i++ {
		if spans[i].Overnight() {
			return nil, fmt.Errorf("%s: only the last span of a day may run past midnight", spans[i])
		}
		if spans[i+1].Opens < spans[i].Closes {
			return nil, fmt.Errorf("%s and %s overlap", spans[i], spans[i+1])
		}
	}
	return spans, nil
}

func parseSpan(s string) (Span, error) {
	s = strings.NewReplacer("–", "-", "—", "-").Replace(s)
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return Span{}, fmt.Errorf(`%q: want "09:00-21:00", "24h" or "closed"`, s)
	}
	opens, err := parseClock(strings.TrimSpace(from))
	if err != nil {
		return Span{}, err
	}
	closes, err := parseClock(strings.TrimSpace(to))
	if err != nil {
		return Span{}, err
	}
	if opens == 24*time.Hour {
		return Span{}, fmt.Errorf("%q: a day cannot open at 24:00", s)
	}
	if closes == 0 {
		closes = 24 * time.Hour // "18:00-00:00" closes at the end of the day
	}
	if opens == closes {
		return Span{}, fmt.Errorf(`%q: opens and closes at the same time (write "24h" for around the clock)`, s)
	}
	return Span{Opens: opens, Closes: closes}, nil
}

// parseClock reads "9:00", "09:00" or "24:00".
func parseClock(s string) (time.Duration, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, errH := strconv.Atoi(hh)
	m, errM := strconv.Atoi(mm)
	if !ok || errH != nil || errM != nil || len(mm) != 2 || len(hh) > 2 ||
		h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day (want HH:MM)", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// OpenNow tells whether a point with these hours is open at now, judged on
// the wall clock of loc (the point's city: 10:00 in Moscow is 17:00 in
// Vladivostok). loc must not be nil.
//
// When closed, next is when it opens next (zero if the schedule has no open
// day at all). When open, next is when it closes (zero if it never does, as
// around the clock every day), so that a dialog can say "open until 21:00".
// Adjacent spans count as one: a point open 24h on Friday and from 00:00 on
// Saturday is open through the night.
func OpenNow(hours Hours, now time.Time, loc *time.Location) (open bool, next time.Time) {
	type stretch struct{ start, end time.Time }

	// Lay the schedule out on the calendar from yesterday (whose overnight
	// span may still be running) to a week ahead (the latest a weekly
	// schedule can next open), in the city's wall-clock time.
	local := now.In(loc)
	y, m, d := local.Date()
	var stretches []stretch
	for offset := -1; offset <= 7; offset++ {
		day := time.Date(y, m, d+offset, 0, 0, 0, 0, loc)
		for _, s := range hours.On(day.Weekday()) {
			start := wallClock(y, m, d+offset, s.Opens, loc)
			endDay := d + offset
			if s.Overnight() {
				endDay++
			}
			stretches = append(stretches, stretch{start, wallClock(y, m, endDay, s.Closes, loc)})
		}
	}
	sort.Slice(stretches, func(i, j int) bool { return stretches[i].start.Before(stretches[j].start) })

	var merged []stretch
	for _, s := range stretches {
		if n := len(merged); n > 0 && !s.start.After(merged[n-1].end) {
			if s.end.After(merged[n-1].end) {
				merged[n-1].end = s.end
			}
			continue
		}
		merged = append(merged, s)
	}

	for _, s := range merged {
		if s.start.After(now) {
			return false, s.start
		}
		if now.Before(s.end) {
			// Open for a whole week in a row means the weekly schedule never
			// closes; the end found is only where the calendar above stops.
			if s.end.Sub(now) >= 7*24*time.Hour {
				return true, time.Time{}
			}
			return true, s.end
		}
	}
	return false, time.Time{}
}

// wallClock is the instant at which the clocks of loc show the given time of
// the given day (24:00 being the next midnight).
func wallClock(y int, m time.Month, d int, since time.Duration, loc *time.Location) time.Time {
	minutes := int(since / time.Minute)
	return time.Date(y, m, d, minutes/60, minutes%60, 0, 0, loc)
}
