package otp

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

func TestResendInsideOneMinuteRefused(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.sendCode(t, 1, 10)
		e.clock.Advance(20 * time.Second)

		res := e.send(t, 1, 10)
		if res.Sent || res.Locked || res.RetryAfter != 40*time.Second {
			t.Fatalf("resend after 20 s: %+v, want refused with RetryAfter 40s", res)
		}
		if n := e.sms.count(); n != 1 {
			t.Fatalf("%d SMS sent, want 1", n)
		}
		e.clock.Advance(40 * time.Second)
		e.sendCode(t, 1, 10)
	})
}

// TestCapsOverADay asks for codes as fast as the service allows, waiting
// exactly RetryAfter each time: every wait must be exact (1 ms less is still
// refused) and the codes must go out when the 60 s pause and the caps of 3
// per 15 minutes, 5 per hour and 10 per day allow, not earlier or later.
func TestCapsOverADay(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		start := e.clock.Now()
		want := []time.Duration{0, 1, 2, 15, 16, 60, 61, 62, 75, 76, 1440}
		var got []time.Duration
		for len(got) < len(want) {
			res := e.send(t, 1, 10)
			if res.Sent {
				got = append(got, e.clock.Now().Sub(start)/time.Minute)
				continue
			}
			if res.Locked || res.RetryAfter <= 0 {
				t.Fatalf("refusal without a wait: %+v", res)
			}
			e.clock.Advance(res.RetryAfter - time.Millisecond)
			if res2 := e.send(t, 1, 10); res2.Sent || res2.RetryAfter != time.Millisecond {
				t.Fatalf("1 ms before RetryAfter %v: %+v, want refused with 1ms left", res.RetryAfter, res2)
			}
			e.clock.Advance(time.Millisecond)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("codes went out at minutes %v, want %v", got, want)
			}
		}
		if n := e.sms.count(); n != len(want) {
			t.Fatalf("%d SMS sent, want %d", n, len(want))
		}
	})
}

func TestAccountCapHoldsAcrossUsers(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.sendCode(t, 1, 10)
		if res := e.send(t, 2, 10); res.Sent || res.RetryAfter != time.Minute {
			t.Fatalf("second user on the same account at once: %+v, want the 60 s pause", res)
		}
		e.clock.Advance(time.Minute)
		e.sendCode(t, 2, 10)
		e.clock.Advance(time.Minute)
		e.sendCode(t, 1, 10)
		e.clock.Advance(time.Minute)

		// Account 10 has had 3 codes in 15 minutes; neither user has.
		for _, user := range []int64{1, 2, 3} {
			if res := e.send(t, user, 10); res.Sent || res.Locked || res.RetryAfter != 12*time.Minute {
				t.Fatalf("user %d, 4th code to the account in 15 min: %+v, want refused for 12m", user, res)
			}
		}
		e.sendCode(t, 1, 20) // the same user, another account: allowed
	})
}

func TestUserCapHoldsAcrossAccounts(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		for account := int64(10); account < 13; account++ {
			e.sendCode(t, 1, account)
			e.clock.Advance(time.Minute)
		}
		if res := e.send(t, 1, 13); res.Sent || res.Locked || res.RetryAfter != 12*time.Minute {
			t.Fatalf("4th code to one user in 15 min: %+v, want refused for 12m", res)
		}
		e.sendCode(t, 2, 13) // another user, the same account: allowed
	})
}

func TestFailedSMSRollsBackPauseButCountsTowardCaps(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.sms.failWith(errors.New("gateway unavailable"))
		for i := range 2 {
			res, err := e.sendAndDeliver("", 1, 10, testPhone)
			if !errors.Is(err, dialogs.ErrCodeUndelivered) {
				t.Fatalf("send #%d with a failing gateway: %+v, %v, want an error", i+1, res, err)
			}
			code := e.sms.lastCode(t)
			if strings.Contains(err.Error(), code) || strings.Contains(err.Error(), testPhone) {
				t.Fatalf("error %q names the code or the phone", err)
			}
			if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckExpired {
				t.Fatalf("code of a failed SMS: %+v, want CheckExpired (withdrawn)", res)
			}
		}
		e.sms.failWith(nil)
		code := e.sendCode(t, 1, 10) // no pause after failures
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckOK {
			t.Fatalf("code after the gateway came back: %+v, want CheckOK", res)
		}

		e.clock.Advance(time.Minute)
		if res := e.send(t, 1, 10); res.Sent || res.RetryAfter != 14*time.Minute {
			t.Fatalf("4th attempt in 15 minutes (2 failed): %+v, want refused for 14m", res)
		}
	})
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestRedisDownSendsNoSMS(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	f := &fakeSender{}
	svc := New(rdb, f, testText, testSecret, "test:down:", nil)
	ctx := context.Background()

	res, err := svc.Send(ctx, "", 1, 10, testPhone, testLang)
	if err == nil || res.Sent {
		t.Fatalf("Send with Redis down: %+v, %v, want an error", res, err)
	}
	if f.count() != 0 {
		t.Fatal("an SMS went out while Redis was down")
	}
	if strings.Contains(err.Error(), testPhone) {
		t.Fatalf("error %q names the phone", err)
	}
	if _, err := svc.Check(ctx, "", 1, 10, "123456"); err == nil {
		t.Fatal("Check with Redis down: no error")
	}
	if ok, err := svc.AllowLookup(ctx, 1, "4000123456"); err == nil || ok {
		t.Fatalf("AllowLookup with Redis down: %v, %v, want false and an error", ok, err)
	}
}

// sendDecoy sends as dialogs does for an account number that does not exist.
func (e *env) sendDecoy(t *testing.T, user, account int64) dialogs.SendResult {
	t.Helper()
	res, err := e.sendAndDeliver("", user, account, "")
	if err != nil {
		t.Fatalf("decoy Send(%d, %d): %v", user, account, err)
	}
	return res
}

func TestDecoyCountsLikeARealSendButSendsNoSMS(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.codes("123123", "999999", "999998")
		const decoy = -5 // dialogs' made-up id for a number that does not exist

		if res := e.sendDecoy(t, 1, decoy); !res.Sent {
			t.Fatalf("decoy send: %+v, want Sent like a real one", res)
		}
		if n := e.sms.count(); n != 0 {
			t.Fatalf("a decoy sent %d SMS", n)
		}
		if res := e.sendDecoy(t, 1, decoy); res.Sent || res.RetryAfter != time.Minute {
			t.Fatalf("decoy resend at once: %+v, want the 60 s pause", res)
		}
		if res := e.check(t, 1, decoy, "000000"); res.Outcome != dialogs.CheckWrong || res.TriesLeft != 4 {
			t.Fatalf("wrong code on a decoy: %+v, want CheckWrong with 4 tries left", res)
		}
		if res := e.check(t, 1, decoy, "123123"); res.Outcome != dialogs.CheckOK {
			t.Fatalf("the stored decoy code: %+v, want CheckOK (dialogs refuses to link it)", res)
		}
		if res := e.send(t, 1, 10); res.Sent || res.RetryAfter != time.Minute {
			t.Fatalf("real send right after a decoy: %+v, want the user's 60 s pause", res)
		}
	})
}

// TestDecoyTakesAsLongAsARealSend checks only a lower bound, which a timer
// guarantees: a decoy answer must not come back faster than a real SMS.
func TestDecoyTakesAsLongAsARealSend(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.sms.delay = 30 * time.Millisecond
		e.sendCode(t, 1, 10)

		start := time.Now()
		if res := e.sendDecoy(t, 2, -5); !res.Sent {
			t.Fatalf("decoy send: %+v", res)
		}
		if took := time.Since(start); took < e.sms.delay {
			t.Fatalf("decoy took %v, a real send %v or more", took, e.sms.delay)
		}
	})
}

func TestSendIssuesAndDeliverSendsOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		ctx := context.Background()
		e.codes("111111", "222222")
		if res, err := e.svc.Send(ctx, "u1", 1, 10, testPhone, testLang); err != nil || !res.Sent {
			t.Fatalf("Send: %+v, %v", res, err)
		}
		if n := e.sms.count(); n != 0 {
			t.Fatalf("Send called the gateway %d times; it must leave that to Deliver", n)
		}
		for i := range 2 { // the second is the effect run again after a crash
			if err := e.svc.Deliver(ctx, "u1", 1, 10, testPhone); err != nil {
				t.Fatalf("Deliver #%d: %v", i+1, err)
			}
		}
		if n := e.sms.count(); n != 1 || e.sms.lastCode(t) != "111111" {
			t.Fatalf("%d SMS, want the one code once", n)
		}
		if res := e.check(t, 1, 10, "111111"); res.Outcome != dialogs.CheckOK {
			t.Fatalf("the delivered code: %+v", res)
		}
		// A code replaced before its SMS went is not sent: the newer one is.
		e.clock.Advance(time.Minute)
		if res, err := e.svc.Send(ctx, "u2", 1, 10, testPhone, testLang); err != nil || !res.Sent {
			t.Fatalf("Send u2: %+v, %v", res, err)
		}
		e.clock.Advance(6 * time.Minute) // past the code's 5 minutes
		if err := e.svc.Deliver(ctx, "u2", 1, 10, testPhone); !errors.Is(err, dialogs.ErrCodeUndelivered) {
			t.Fatalf("Deliver of an expired code: %v, want ErrCodeUndelivered", err)
		}
		if n := e.sms.count(); n != 1 {
			t.Fatalf("an expired code was sent: %d SMS", n)
		}
	})
}
