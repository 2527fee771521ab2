// Package backoff says how long to wait before the next try of something
// that failed: growing exponentially up to a cap, with jitter, so that many
// chats or instances that failed at the same moment do not all come back at
// the same moment too.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay is the wait before try number attempt+1 (attempt counts the failures
// so far, from 1): base doubled per failure, at most max, then shortened by
// up to 20% at random so that waits of equal attempts differ and none
// exceeds max.
func Delay(attempt int, base, max time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
