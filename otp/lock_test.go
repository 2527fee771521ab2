package otp

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

func TestLockAfterTenFailedChecks(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)
		e.failChecks(t, 1, 10, code, 5)
		e.clock.Advance(time.Minute)
		code = e.sendCode(t, 1, 10)
		e.failChecks(t, 1, 10, code, 4)

		res := e.check(t, 1, 10, wrong(t, code, 4))
		if res.Outcome != dialogs.CheckLocked || res.RetryAfter != time.Hour {
			t.Fatalf("10th failure in a row: %+v, want CheckLocked for 1h", res)
		}
		if res := e.send(t, 1, 10); res.Sent || !res.Locked || res.RetryAfter != time.Hour {
			t.Fatalf("send while locked: %+v, want Locked for 1h", res)
		}
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckLocked {
			t.Fatalf("check while locked: %+v, want CheckLocked", res)
		}
		e.clock.Advance(time.Hour - time.Millisecond)
		if res := e.send(t, 1, 10); res.Sent || !res.Locked || res.RetryAfter != time.Millisecond {
			t.Fatalf("send 1 ms before the lock ends: %+v, want Locked for 1ms", res)
		}
		e.clock.Advance(time.Millisecond)
		code = e.sendCode(t, 1, 10)
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckOK {
			t.Fatalf("right code after the lock: %+v, want CheckOK", res)
		}
	})
}

// failUntilLocked requests codes and types wrong ones until the pair locks,
// and returns the lock's length.
func (e *env) failUntilLocked(t *testing.T, user, account int64) time.Duration {
	t.Helper()
	for range 20 {
		code := e.sendCodeWaiting(t, user, account)
		for i := 0; ; i++ {
			res := e.check(t, user, account, wrong(t, code, i))
			if res.Outcome == dialogs.CheckLocked {
				return res.RetryAfter
			}
			if res.Outcome != dialogs.CheckWrong {
				t.Fatalf("wrong code: %+v", res)
			}
			if res.TriesLeft == 0 {
				break
			}
		}
	}
	t.Fatal("no lock after 20 codes of wrong guesses")
	return 0
}

func TestLockGrowsAndIsCapped(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		for _, want := range []time.Duration{1, 2, 4, 8, 16, 24, 24} {
			want *= time.Hour
			if got := e.failUntilLocked(t, 1, 10); got != want {
				t.Fatalf("lock = %v, want %v", got, want)
			}
			if res := e.send(t, 1, 10); !res.Locked || res.RetryAfter != want {
				t.Fatalf("send while locked: %+v, want Locked for %v", res, want)
			}
			e.clock.Advance(want)
		}
		// A week without a lock forgets the earlier ones.
		e.clock.Advance(7 * 24 * time.Hour)
		if got := e.failUntilLocked(t, 1, 10); got != time.Hour {
			t.Fatalf("lock after a quiet week = %v, want 1h again", got)
		}
	})
}

func TestSuccessResetsFailureStreak(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCodeWaiting(t, 1, 10)
		e.failChecks(t, 1, 10, code, 5)
		code = e.sendCodeWaiting(t, 1, 10)
		e.failChecks(t, 1, 10, code, 4)
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckOK {
			t.Fatalf("right code after 9 failures: %+v, want CheckOK", res)
		}
		// Without the reset, the first of these would be the 10th failure.
		code = e.sendCodeWaiting(t, 1, 10)
		e.failChecks(t, 1, 10, code, 5)
		code = e.sendCodeWaiting(t, 1, 10)
		e.failChecks(t, 1, 10, code, 4)
		if res := e.check(t, 1, 10, wrong(t, code, 4)); res.Outcome != dialogs.CheckLocked {
			t.Fatalf("10th failure since the success: %+v, want CheckLocked", res)
		}
	})
}

// TestUserLockStopsSprayingAccounts: failures over several accounts add up
// per Telegram user; the lock then covers every account of that user, but
// not another user.
func TestUserLockStopsSprayingAccounts(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code1 := e.sendCodeWaiting(t, 1, 10)
		e.failChecks(t, 1, 10, code1, 5)
		code2 := e.sendCodeWaiting(t, 1, 20)
		e.failChecks(t, 1, 20, code2, 4)
		code3 := e.sendCodeWaiting(t, 1, 30)

		if res := e.check(t, 1, 20, wrong(t, code2, 4)); res.Outcome != dialogs.CheckLocked || res.RetryAfter != time.Hour {
			t.Fatalf("10th failure over two accounts: %+v, want CheckLocked for 1h", res)
		}
		if res := e.check(t, 1, 30, code3); res.Outcome != dialogs.CheckLocked {
			t.Fatalf("right code for a third account while the user is locked: %+v, want CheckLocked", res)
		}
		if res := e.send(t, 1, 40); !res.Locked || res.RetryAfter != time.Hour {
			t.Fatalf("send to a fresh account while the user is locked: %+v, want Locked for 1h", res)
		}
		if res := e.send(t, 2, 10); !res.Sent {
			t.Fatalf("another user on account 10: %+v, want sent", res)
		}
	})
}

// TestPairLockKeepsOtherAccountsOpen: a user who keeps failing on one
// account, with a success elsewhere in between, locks only that pair.
func TestPairLockKeepsOtherAccountsOpen(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCodeWaiting(t, 1, 10)
		e.failChecks(t, 1, 10, code, 5)
		code = e.sendCodeWaiting(t, 1, 20)
		if res := e.check(t, 1, 20, code); res.Outcome != dialogs.CheckOK {
			t.Fatalf("right code for account 20: %+v", res)
		}
		code = e.sendCodeWaiting(t, 1, 10)
		e.failChecks(t, 1, 10, code, 4)
		if res := e.check(t, 1, 10, wrong(t, code, 4)); res.Outcome != dialogs.CheckLocked {
			t.Fatalf("10th failure on account 10: %+v, want CheckLocked", res)
		}
		if res := e.send(t, 1, 10); !res.Locked {
			t.Fatalf("send to the locked pair: %+v, want Locked", res)
		}
		e.sendCodeWaiting(t, 1, 20)
	})
}
