package backoff_test

import (
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/internal/backoff"
)

func TestDelayGrowsToItsCapWithJitter(t *testing.T) {
	base, max := time.Second, time.Minute
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 50: time.Minute} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff.Delay(attempt, base, max)
			if d < want*8/10 || d > want {
				t.Fatalf("attempt %d: %v, want %v less up to 20%%", attempt, d, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d different waits in 200: no jitter", attempt, len(seen))
		}
	}
}
