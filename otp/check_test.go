package otp

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

func TestCodeGoesToThePhoneAndWorksOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)

		if got := e.sms.attempts[0]; got.to != testPhone || got.text != testText(testLang, code) {
			t.Fatalf("SMS = %+v, want the TextFunc's text to %s", got, testPhone)
		}
		if res := e.check(t, 1, 10, " "+code+"\n"); res.Outcome != dialogs.CheckOK {
			t.Fatalf("right code: %+v, want CheckOK", res)
		}
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("the same code again: %+v, want CheckExpired (single use)", res)
		}
	})
}

func TestNoCodeIsExpired(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		if res := e.check(t, 1, 10, "123456"); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("check without a code: %+v, want CheckExpired", res)
		}
	})
}

func TestWrongCodeTellsTriesLeft(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)
		for want := 4; want >= 0; want-- {
			res := e.check(t, 1, 10, wrong(t, code, want))
			if res.Outcome != dialogs.CheckWrong || res.TriesLeft != want {
				t.Fatalf("wrong code: %+v, want CheckWrong with %d tries left", res, want)
			}
		}
	})
}

func TestSixthCheckRefusedEvenWhenRight(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)
		e.failChecks(t, 1, 10, code, 5)
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("6th check with the right code: %+v, want CheckExpired", res)
		}
	})
}

func TestParallelGuessesEvaluateAtMostFive(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)

		const guesses = 50
		outcomes := make([]dialogs.CheckOutcome, guesses)
		var wg sync.WaitGroup
		for i := range guesses {
			wg.Go(func() {
				res, err := e.svc.Check(context.Background(), "", 1, 10, wrong(t, code, i))
				if err != nil {
					t.Errorf("guess %d: %v", i, err)
				}
				outcomes[i] = res.Outcome
			})
		}
		wg.Wait()

		count := map[dialogs.CheckOutcome]int{}
		for _, o := range outcomes {
			count[o]++
		}
		if count[dialogs.CheckWrong] != 5 || count[dialogs.CheckExpired] != guesses-5 {
			t.Fatalf("outcomes of %d parallel guesses: %v, want 5 CheckWrong and the rest CheckExpired", guesses, count)
		}
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("right code after the guesses used all checks: %+v, want CheckExpired", res)
		}
	})
}

func TestParallelRightChecksSucceedOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)

		var mu sync.Mutex
		ok := 0
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				res, err := e.svc.Check(context.Background(), "", 1, 10, code)
				if err != nil {
					t.Errorf("check: %v", err)
				}
				if res.Outcome == dialogs.CheckOK {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d of 5 parallel checks of one right code succeeded, want exactly 1", ok)
		}
	})
}

func TestOldCodeFailsAfterResend(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.codes("111111", "222222")
		e.sendCode(t, 1, 10)
		e.clock.Advance(time.Minute)
		e.sendCode(t, 1, 10)

		if res := e.check(t, 1, 10, "111111"); res.Outcome != dialogs.CheckWrong {
			t.Fatalf("replaced code: %+v, want CheckWrong", res)
		}
		if res := e.check(t, 1, 10, "222222"); res.Outcome != dialogs.CheckOK {
			t.Fatalf("newest code: %+v, want CheckOK", res)
		}
	})
}

func TestResendGivesFreshChecks(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		first := e.sendCode(t, 1, 10)
		e.failChecks(t, 1, 10, first, 5)
		e.clock.Advance(time.Minute)
		code := e.sendCode(t, 1, 10)
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckOK {
			t.Fatalf("new code after the old one ran out of checks: %+v, want CheckOK", res)
		}
	})
}

func TestCodeIsBoundToUserAndAccount(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.codes("111111", "222222", "333333", "444444")
		e.sendCode(t, 1, 10) // 111111 for user 1, account 10
		e.clock.Advance(time.Minute)
		e.sendCode(t, 1, 20) // 222222 for user 1, account 20
		e.sendCode(t, 2, 30) // 333333 for user 2, account 30

		if res := e.check(t, 1, 20, "111111"); res.Outcome != dialogs.CheckWrong {
			t.Fatalf("account 10's code for account 20: %+v, want CheckWrong", res)
		}
		if res := e.check(t, 2, 10, "111111"); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("user 1's code typed by user 2 (who has none for account 10): %+v, want CheckExpired", res)
		}
		if res := e.check(t, 2, 30, "111111"); res.Outcome != dialogs.CheckWrong {
			t.Fatalf("user 1's code for user 2's account: %+v, want CheckWrong", res)
		}

		// Even a stored code copied to another pair's key proves nothing there,
		// because the stored MAC binds the user and the account.
		e.clock.Advance(time.Minute)
		e.sendCode(t, 1, 10) // 444444
		ctx := context.Background()
		stored, err := e.rdb.HGetAll(ctx, e.svc.codeKey(1, 10)).Result()
		if err != nil || len(stored) == 0 {
			t.Fatalf("read stored code: %v %v", stored, err)
		}
		if err := e.rdb.HSet(ctx, e.svc.codeKey(2, 40), stored).Err(); err != nil {
			t.Fatal(err)
		}
		if res := e.check(t, 2, 40, "444444"); res.Outcome != dialogs.CheckWrong {
			t.Fatalf("code copied to user 2, account 40: %+v, want CheckWrong", res)
		}
		if res := e.check(t, 1, 10, "444444"); res.Outcome != dialogs.CheckOK {
			t.Fatalf("the code where it was issued: %+v, want CheckOK", res)
		}
	})
}

func TestCodeExpiresAfterFiveMinutes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)
		e.clock.Advance(5*time.Minute - time.Millisecond)
		if res := e.check(t, 1, 10, wrong(t, code, 0)); res.Outcome != dialogs.CheckWrong {
			t.Fatalf("just before 5 minutes: %+v, want the code still live (CheckWrong)", res)
		}
		e.clock.Advance(time.Millisecond)
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("right code after 5 minutes: %+v, want CheckExpired", res)
		}
	})
}

func TestLimitsAreTunable(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		l := DefaultLimits()
		l.MaxChecks = 2
		e.svc = e.svc.WithLimits(l)
		code := e.sendCode(t, 1, 10)
		if res := e.check(t, 1, 10, wrong(t, code, 0)); res.Outcome != dialogs.CheckWrong || res.TriesLeft != 1 {
			t.Fatalf("first wrong code with MaxChecks 2: %+v, want CheckWrong with 1 try left", res)
		}
		e.failChecks(t, 1, 10, code, 1)
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("3rd check with MaxChecks 2: %+v, want CheckExpired", res)
		}
	})
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	broken := []func(*Limits){
		func(l *Limits) { l.MaxChecks = 0 },
		func(l *Limits) { l.Windows = nil },
		func(l *Limits) { l.Windows = []Window{{Period: time.Hour}} },
		func(l *Limits) { l.LockMax = l.LockBase / 2 },
		func(l *Limits) { l.LookupsPerDay = 0 },
	}
	for i, breakIt := range broken {
		l := DefaultLimits()
		breakIt(&l)
		if l.Validate() == nil {
			t.Errorf("broken limits #%d passed Validate", i)
		}
	}
}

func TestNewRefusesShortSecret(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		defer func() {
			if recover() == nil {
				t.Fatal("New accepted a 16-byte secret")
			}
		}()
		e := newEnv(t, rdb, prefix)
		New(e.rdb, e.sms, testText, testSecret[:16], e.prefix, nil)
	})
}
