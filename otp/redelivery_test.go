package otp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

// The tests of this file are about keys: the same update delivered again
// after a crash brings the same key, and must get the same answer without
// consuming, counting or sending anything again.

func (e *env) checkKey(t *testing.T, key string, user, account int64, code string) dialogs.CheckResult {
	t.Helper()
	res, err := e.svc.Check(context.Background(), key, user, account, code)
	if err != nil {
		t.Fatalf("Check(%s): %v", key, err)
	}
	return res
}

func (e *env) sendKey(t *testing.T, key string, user, account int64, phone string) dialogs.SendResult {
	t.Helper()
	res, err := e.sendAndDeliver(key, user, account, phone)
	if err != nil {
		t.Fatalf("Send(%s): %v", key, err)
	}
	return res
}

func (e *env) card(t *testing.T, key string) int64 {
	t.Helper()
	n, err := e.rdb.ZCard(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRightCodeCheckedAgainWithItsKeyIsStillRight(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)
		if res := e.checkKey(t, "u100", 1, 10, code); res.Outcome != dialogs.CheckOK {
			t.Fatalf("right code: %+v, want CheckOK", res)
		}
		// The turn was never committed (a crash): the update comes again.
		for range 3 {
			if res := e.checkKey(t, "u100", 1, 10, code); res.Outcome != dialogs.CheckOK {
				t.Fatalf("the same update again: %+v, want CheckOK as the first time", res)
			}
		}
		// The code was consumed once, by that update: any other one finds it gone.
		if res := e.checkKey(t, "u101", 1, 10, code); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("the code in another update: %+v, want CheckExpired (single use)", res)
		}
		// The key is the pair's: the same update id means nothing for another pair.
		if res := e.checkKey(t, "u100", 1, 11, code); res.Outcome != dialogs.CheckExpired {
			t.Fatalf("the key for another account: %+v, want a check of its own (CheckExpired)", res)
		}
	})
}

func TestSameUpdateAtOnceIsOneCheck(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)
		var wg sync.WaitGroup
		outcomes := make([]dialogs.CheckOutcome, 20)
		for i := range outcomes {
			wg.Go(func() {
				res, err := e.svc.Check(context.Background(), "u7", 1, 10, code)
				if err != nil {
					t.Error(err)
				}
				outcomes[i] = res.Outcome
			})
		}
		wg.Wait()
		for i, o := range outcomes {
			if o != dialogs.CheckOK {
				t.Fatalf("copy %d of the update: %v, want CheckOK for every copy", i, o)
			}
		}
	})
}

func TestWrongCodeRepeatedCountsOneFailure(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		code := e.sendCode(t, 1, 10)
		first := e.checkKey(t, "u1", 1, 10, wrong(t, code, 0))
		if first.Outcome != dialogs.CheckWrong || first.TriesLeft != 4 {
			t.Fatalf("wrong code: %+v, want CheckWrong with 4 tries left", first)
		}
		if again := e.checkKey(t, "u1", 1, 10, wrong(t, code, 0)); again != first {
			t.Fatalf("the same update again: %+v, want %+v", again, first)
		}
		if next := e.checkKey(t, "u2", 1, 10, wrong(t, code, 1)); next.TriesLeft != 3 {
			t.Fatalf("the next wrong code: %+v, want 3 tries left (the repeat took none)", next)
		}
		// The right code still works: 2 of its 5 checks are used, not 3.
		if res := e.checkKey(t, "u3", 1, 10, code); res.Outcome != dialogs.CheckOK {
			t.Fatalf("right code: %+v, want CheckOK", res)
		}
	})
}

func TestRepeatedFailuresDoNotHastenTheLock(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		key := 0
		// 9 failures, each update delivered three times: still no lock.
		for n := 0; n < 9; n++ {
			if n%5 == 0 {
				e.clock.Advance(time.Minute)
				e.codes("111111")
				e.sendCode(t, 1, 10)
			}
			key++
			for range 3 {
				if res := e.checkKey(t, fmt.Sprintf("u%d", key), 1, 10, "000000"); res.Outcome != dialogs.CheckWrong {
					t.Fatalf("failure %d: %+v, want CheckWrong (no lock before 10 failures)", n+1, res)
				}
			}
		}
		key++
		res := e.checkKey(t, fmt.Sprintf("u%d", key), 1, 10, "000000")
		if res.Outcome != dialogs.CheckLocked || res.RetryAfter != time.Hour {
			t.Fatalf("10th failure: %+v, want the 1 h lock", res)
		}
		// The locking update again: the same lock, not a second, longer one.
		e.clock.Advance(time.Minute)
		if again := e.checkKey(t, fmt.Sprintf("u%d", key), 1, 10, "000000"); again != res {
			t.Fatalf("the locking update again: %+v, want %+v as then", again, res)
		}
	})
}

func TestSendRepeatedSendsOneSMSAndCountsOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		for range 3 {
			if res := e.sendKey(t, "u1", 1, 10, testPhone); !res.Sent {
				t.Fatalf("the update that asked for a code, again: %+v, want Sent as the first time", res)
			}
		}
		if n := e.sms.count(); n != 1 {
			t.Fatalf("%d SMS for one update, want 1", n)
		}
		code := e.sms.lastCode(t)
		if res := e.check(t, 1, 10, code); res.Outcome != dialogs.CheckOK {
			t.Fatalf("the code of the repeated send: %+v, want CheckOK (not replaced)", res)
		}
		if n := e.card(t, e.svc.userKey(1, "sends")); n != 1 {
			t.Fatalf("the user's history holds %d sends, want 1", n)
		}
		if n := e.card(t, e.svc.accountKey(10, "sends")); n != 1 {
			t.Fatalf("the account's history holds %d sends, want 1", n)
		}
		// 3 codes per 15 minutes: the repeats took none of them.
		e.clock.Advance(time.Minute)
		if res := e.sendKey(t, "u2", 1, 10, testPhone); !res.Sent {
			t.Fatalf("2nd code: %+v", res)
		}
		e.clock.Advance(time.Minute)
		if res := e.sendKey(t, "u3", 1, 10, testPhone); !res.Sent {
			t.Fatalf("3rd code: %+v", res)
		}
		e.clock.Advance(time.Minute)
		if res := e.sendKey(t, "u4", 1, 10, testPhone); res.Sent || res.RetryAfter != 12*time.Minute {
			t.Fatalf("4th code in 15 minutes: %+v, want refused for 12m", res)
		}
	})
}

func TestRefusedSendRepeatedIsTheSameRefusal(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.sendKey(t, "u1", 1, 10, testPhone)
		first := e.sendKey(t, "u2", 1, 10, testPhone)
		if first.Sent || first.RetryAfter != time.Minute {
			t.Fatalf("resend at once: %+v, want the 60 s pause", first)
		}
		// Delivered again after the pause: the answer is the one given then,
		// and no code goes out for it.
		e.clock.Advance(2 * time.Minute)
		if again := e.sendKey(t, "u2", 1, 10, testPhone); again != first {
			t.Fatalf("the refused update again: %+v, want %+v", again, first)
		}
		if n := e.sms.count(); n != 1 {
			t.Fatalf("%d SMS, want 1", n)
		}
	})
}

// TestSendResumedAfterACrashBetweenItsSteps runs a send's first steps by
// hand, as a process that died after them would have left them, and then
// the whole Send with the same key: it finishes that send, counting it once.
func TestSendResumedAfterACrashBetweenItsSteps(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		for _, steps := range []int{1, 2} {
			t.Run(fmt.Sprintf("after step %d", steps), func(t *testing.T) {
				e := newEnv(t, rdb, fmt.Sprintf("%s%d:", prefix, steps)) // a Redis of its own per case
				ctx := context.Background()
				l := e.svc.limits
				var windows []any
				for _, w := range l.Windows {
					windows = append(windows, ms(w.Period), w.Max)
				}
				now := e.svc.nowMs()
				rec := e.svc.userKey(1, "send", 10, "u5")
				if err := sendUserScript.Run(ctx, e.rdb,
					[]string{e.svc.userKey(1, "fail", 10), e.svc.userKey(1, "fail"), e.svc.userKey(1, "sends"), e.svc.userKey(1, "pause"), rec},
					append([]any{now, ms(l.ResendPause), ms(l.history()), "crashed-send", ms(RecordTTL)}, windows...)...).Err(); err != nil {
					t.Fatal(err)
				}
				if steps == 2 {
					if err := sendAccountScript.Run(ctx, e.rdb,
						[]string{e.svc.accountKey(10, "sends"), e.svc.accountKey(10, "pause"), e.svc.accountKey(10, "send", 1, "u5")},
						append([]any{now, ms(l.ResendPause), ms(l.history()), "crashed-send", ms(RecordTTL), "1"}, windows...)...).Err(); err != nil {
						t.Fatal(err)
					}
				}
				e.clock.Advance(5 * time.Second)
				if res := e.sendKey(t, "u5", 1, 10, testPhone); !res.Sent {
					t.Fatalf("the update again after the crash: %+v, want Sent (its own pause is no reason to wait)", res)
				}
				if n := e.sms.count(); n != 1 {
					t.Fatalf("%d SMS, want 1", n)
				}
				if res := e.check(t, 1, 10, e.sms.lastCode(t)); res.Outcome != dialogs.CheckOK {
					t.Fatalf("its code: %+v, want CheckOK", res)
				}
				for _, k := range []string{e.svc.userKey(1, "sends"), e.svc.accountKey(10, "sends")} {
					if n := e.card(t, k); n != 1 {
						t.Fatalf("%s holds %d sends, want 1", k, n)
					}
				}
			})
		}
	})
}

func TestAccountRefusalGivesTheUserReservationBack(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.sendKey(t, "a1", 2, 10, testPhone) // another user takes account 10's pause
		if res := e.sendKey(t, "b1", 1, 10, testPhone); res.Sent || res.RetryAfter != time.Minute {
			t.Fatalf("the account's pause: %+v, want 60 s", res)
		}
		// User 1 made no send: no pause of its own and nothing in its history.
		if n := e.card(t, e.svc.userKey(1, "sends")); n != 0 {
			t.Fatalf("the refused send stayed in the user's history (%d)", n)
		}
		if res := e.sendKey(t, "b2", 1, 20, testPhone); !res.Sent {
			t.Fatalf("the same user, another account, at once: %+v, want Sent", res)
		}
	})
}

func TestDecoyRepeatedBehavesLikeARealSendRepeated(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.codes("123123", "999999")
		const decoy = -5
		for range 2 {
			if res := e.sendKey(t, "u1", 1, decoy, ""); !res.Sent {
				t.Fatalf("decoy update again: %+v, want Sent", res)
			}
		}
		if n := e.sms.count(); n != 0 {
			t.Fatalf("a decoy sent %d SMS", n)
		}
		if n := e.card(t, e.svc.userKey(1, "sends")); n != 1 {
			t.Fatalf("the repeated decoy counted %d sends, want 1", n)
		}
		if res := e.check(t, 1, decoy, "123123"); res.Outcome != dialogs.CheckOK {
			t.Fatalf("the decoy code: %+v, want it still stored (not replaced by the repeat)", res)
		}
	})
}

func TestFailedSMSRepeatedFailsAgainWithoutTrying(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		e.sms.failWith(errors.New("gateway unavailable"))
		if _, err := e.sendAndDeliver("u1", 1, 10, testPhone); !errors.Is(err, dialogs.ErrCodeUndelivered) {
			t.Fatalf("failing gateway: %v, want ErrCodeUndelivered", err)
		}
		e.sms.failWith(nil)
		_, err := e.svc.Send(context.Background(), "u1", 1, 10, testPhone, testLang)
		if !errors.Is(err, ErrSendFailed) {
			t.Fatalf("the failed update again: %v, want ErrSendFailed as the answer of then", err)
		}
		if err := e.svc.Deliver(context.Background(), "u1", 1, 10, testPhone); !errors.Is(err, dialogs.ErrCodeUndelivered) {
			t.Fatalf("its delivery again: %v, want ErrCodeUndelivered as the answer of then", err)
		}
		if n := e.sms.count(); n != 1 {
			t.Fatalf("%d gateway attempts, want 1", n)
		}
		if res := e.sendKey(t, "u2", 1, 10, testPhone); !res.Sent {
			t.Fatalf("a new request: %+v, want Sent (the failure left no pause)", res)
		}
	})
}

func TestNotifyOncePerKey(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		ctx := context.Background()
		for range 3 {
			if err := e.svc.Notify(ctx, "linked:1:10:u1", testPhone, "linked"); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.sms.count(); n != 1 {
			t.Fatalf("%d notices for one key, want 1", n)
		}
		if err := e.svc.Notify(ctx, "linked:1:10:u2", testPhone, "linked"); err != nil || e.sms.count() != 2 {
			t.Fatalf("another key: %v, %d SMS, want a second notice", err, e.sms.count())
		}
		// A failed gateway leaves the key free, so the next try sends it.
		e.sms.failWith(errors.New("down"))
		if err := e.svc.Notify(ctx, "linked:1:10:u3", testPhone, "linked"); err == nil {
			t.Fatal("failing gateway: no error")
		}
		e.sms.failWith(nil)
		if err := e.svc.Notify(ctx, "linked:1:10:u3", testPhone, "linked"); err != nil || e.sms.count() != 4 {
			t.Fatalf("after the failure: %v, %d attempts, want the notice sent", err, e.sms.count())
		}
	})
}

// slotHook records, for every script run, whether all its keys share one
// hash tag, which is what Redis Cluster needs of a script.
type slotHook struct {
	mu      sync.Mutex
	scripts int // scripts run with two keys or more
	bad     []string
}

func (h *slotHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *slotHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *slotHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if name := strings.ToLower(fmt.Sprint(args[0])); (name == "evalsha" || name == "eval") && len(args) > 2 {
			n, _ := args[2].(int)
			tags := map[string]bool{}
			var keys []string
			for _, k := range args[3 : 3+n] {
				key := fmt.Sprint(k)
				keys = append(keys, key)
				tags[hashTag(key)] = true
			}
			h.mu.Lock()
			if len(keys) > 1 {
				h.scripts++
			}
			if len(tags) > 1 {
				h.bad = append(h.bad, strings.Join(keys, " "))
			}
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

// hashTag is the part of a key Redis Cluster hashes: what is between the
// first "{" and the next "}" if that is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func TestEveryScriptTouchesOneClusterSlot(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		hook := &slotHook{}
		e.rdb.AddHook(hook)
		e.codes("111111", "222222", "333333", "444444")
		e.sendCode(t, 1, 10)
		e.check(t, 1, 10, "000000")
		e.check(t, 1, 10, "111111")
		e.sendDecoy(t, 2, -7)
		e.sms.failWith(errors.New("down"))
		e.clock.Advance(time.Minute)
		_, _ = e.sendAndDeliver("", 1, 10, testPhone)
		e.sms.failWith(nil)
		e.lookup(t, 1, "4000123456")
		e.failChecks(t, 1, 10, e.sendCode(t, 1, 10), 5)
		hook.mu.Lock()
		defer hook.mu.Unlock()
		if hook.scripts < 10 {
			t.Fatalf("only %d scripts with several keys seen: the hook proved nothing", hook.scripts)
		}
		for _, b := range hook.bad {
			t.Errorf("one script touched keys in several slots: %s", b)
		}
	})
}

// TestNotifyTakesOverAClaimLeftByACrash: a process that claimed the notice
// and died before the gateway answered leaves "sending"; the update comes
// again and the notice goes out then, not never.
func TestNotifyTakesOverAClaimLeftByACrash(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		ctx := context.Background()
		if err := e.rdb.Set(ctx, e.prefix+"otp:note:linked:1:10:u9", "sending", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Notify(ctx, "linked:1:10:u9", testPhone, "linked"); err != nil || e.sms.count() != 1 {
			t.Fatalf("after a crash during the call: %v, %d SMS, want the notice sent", err, e.sms.count())
		}
		if err := e.svc.Notify(ctx, "linked:1:10:u9", testPhone, "linked"); err != nil || e.sms.count() != 1 {
			t.Fatalf("once more: %v, %d SMS, want none more", err, e.sms.count())
		}
	})
}
