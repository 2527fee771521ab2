package otp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/internal/redistest"
)

func (e *env) lookup(t *testing.T, user int64, number string) bool {
	t.Helper()
	ok, err := e.svc.AllowLookup(context.Background(), user, number)
	if err != nil {
		t.Fatalf("AllowLookup: %v", err)
	}
	return ok
}

func TestLookupLimitOfTenDistinctNumbers(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		number := func(i int) string { return fmt.Sprintf("40001234%02d", i) }
		for i := range 10 {
			if !e.lookup(t, 1, number(i)) {
				t.Fatalf("lookup #%d refused, want allowed", i+1)
			}
		}
		for range 3 {
			if !e.lookup(t, 1, number(0)) {
				t.Fatal("repeating a number already looked up was refused")
			}
		}
		if e.lookup(t, 1, number(10)) {
			t.Fatal("11th different number allowed")
		}
		if !e.lookup(t, 2, number(10)) {
			t.Fatal("another user's first lookup refused")
		}
		e.clock.Advance(24*time.Hour - time.Millisecond)
		if e.lookup(t, 1, number(10)) {
			t.Fatal("11th different number allowed before 24 hours passed")
		}
		e.clock.Advance(time.Millisecond)
		if !e.lookup(t, 1, number(10)) {
			t.Fatal("lookup refused a day later")
		}
	})
}

func TestCodesAreSixUniformDigits(t *testing.T) {
	t.Parallel()
	const n = 20000
	var counts [6][10]int
	for range n {
		code, err := randomCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(code) != 6 {
			t.Fatalf("code %q is not 6 characters", code)
		}
		for pos, c := range code {
			if c < '0' || c > '9' {
				t.Fatalf("code %q has a non-digit", code)
			}
			counts[pos][c-'0']++
		}
	}
	// Each digit is expected n/10 = 2000 times per position, with a standard
	// deviation of about 42; ±400 never fails by chance but catches a
	// generator that skips digits or favours some.
	for pos := range counts {
		for d, c := range counts[pos] {
			if c < 1600 || c > 2400 {
				t.Errorf("digit %d at position %d appeared %d times in %d codes, want about 2000", d, pos+1, c, n)
			}
		}
	}
}

// TestRedisHoldsNoPlainCode reads every key and value the service wrote and
// looks for the code and the account number in them.
func TestRedisHoldsNoPlainCode(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		e := newEnv(t, rdb, prefix)
		const code, number = "271828", "4000987654"
		e.codes(code)
		e.sendCode(t, 42, 7)
		if res := e.check(t, 42, 7, "314159"); res.Outcome != dialogs.CheckWrong {
			t.Fatalf("wrong code: %+v", res)
		}
		if !e.lookup(t, 42, number) {
			t.Fatal("lookup refused")
		}

		ctx := context.Background()
		keys := redistest.Keys(t, e.rdb, e.prefix)
		if len(keys) < 5 {
			t.Fatalf("found only %d keys %v; the scan would prove nothing", len(keys), keys)
		}
		for _, key := range keys {
			var values []string
			switch typ := e.rdb.Type(ctx, key).Val(); typ {
			case "string":
				values = []string{e.rdb.Get(ctx, key).Val()}
			case "hash":
				for f, v := range e.rdb.HGetAll(ctx, key).Val() {
					values = append(values, f, v)
				}
			case "zset":
				values = e.rdb.ZRange(ctx, key, 0, -1).Val()
			case "set":
				values = e.rdb.SMembers(ctx, key).Val()
			default:
				t.Fatalf("key %s has unexpected type %q", key, typ)
			}
			for _, s := range append(values, key) {
				for _, secret := range []string{code, number, testPhone} {
					if strings.Contains(s, secret) {
						t.Errorf("key %s holds %q in %q", key, secret, s)
					}
				}
			}
		}
	})
}
