package support

import (
	"fmt"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/offices"
)

// DefaultHours are the seed provider's support hours: weekdays 09:00-21:00,
// weekends 09:00-18:00, in each subscriber's city time.
const DefaultHours = "mon-fri 09:00-21:00; sat-sun 09:00-18:00"

var weekdays = map[string]int{"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

// ParseHours reads working hours as SUPPORT_HOURS writes them: groups of
// days ("mon-fri", "sat", "sun") each with a day's spans as the offices'
// CSV writes them, separated by ";". A day that is not named is closed.
func ParseHours(s string) (offices.Hours, error) {
	var h offices.Hours
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		days, spans, ok := strings.Cut(part, " ")
		if !ok {
			return h, fmt.Errorf("%q: want days and hours, such as \"mon-fri 09:00-21:00\"", part)
		}
		from, to, rng := strings.Cut(strings.ToLower(days), "-")
		if !rng {
			to = from
		}
		a, okA := weekdays[from]
		b, okB := weekdays[to]
		if !okA || !okB || b < a {
			return h, fmt.Errorf("%q: days are mon, tue, wed, thu, fri, sat, sun, or a range such as mon-fri", days)
		}
		day, err := offices.ParseDay(spans)
		if err != nil {
			return h, fmt.Errorf("%q: %w", part, err)
		}
		for i := a; i <= b; i++ {
			h[i] = day
		}
	}
	return h, nil
}

// OpenAt tells whether operators answer at t in loc and, if not, when they
// start again: dialogs.SupportConfig.OpenAt.
func OpenAt(h offices.Hours) func(t time.Time, loc *time.Location) (bool, time.Time) {
	return func(t time.Time, loc *time.Location) (bool, time.Time) {
		return offices.OpenNow(h, t, loc)
	}
}
