package redistest

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// pairScript writes two keys in one script, as state's and otp's scripts
// do with the keys of one chat or one user.
var pairScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
return redis.call('GET', KEYS[1]) .. redis.call('GET', KEYS[2])`)

// slot is Redis Cluster's key slot: CRC16 (XMODEM) of the key's hash tag,
// or of the whole key when it has none, modulo 16384.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// TestRedisHashTags: a script over keys that share a hash tag works on a
// single Redis and on the cluster; the same script over keys of different
// slots works on a single Redis (which is why the cluster is in the tests)
// and fails on the cluster with CROSSSLOT.
func TestRedisHashTags(t *testing.T) {
	Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		ctx := context.Background()
		cluster, isCluster := rdb.(*redis.ClusterClient)

		tagged := []string{prefix + "{chat:42}:state", prefix + "{chat:42}:outbox"}
		got, err := pairScript.Run(ctx, rdb, tagged, "x").Text()
		if err != nil || got != "xx" {
			t.Fatalf("script over keys with one tag = %q, %v; want \"xx\"", got, err)
		}
		if isCluster {
			for _, k := range tagged {
				s, err := cluster.ClusterKeySlot(ctx, k).Result()
				if err != nil || int(s) != slot(tagged[0]) {
					t.Fatalf("CLUSTER KEYSLOT %s = %d, %v; want %d, the tag's slot", k, s, err, slot(tagged[0]))
				}
			}
		}

		// Two keys without a common tag, chosen to lie in different slots.
		untagged := []string{prefix + "seen:1"}
		for i := 2; len(untagged) < 2; i++ {
			if i > 1000 {
				t.Fatalf("no key of another slot than %s (slot %d): does the prefix %q hold a hash tag?", untagged[0], slot(untagged[0]), prefix)
			}
			if k := fmt.Sprintf("%sseen:%d", prefix, i); slot(k) != slot(untagged[0]) {
				untagged = append(untagged, k)
			}
		}
		if isCluster {
			for _, k := range untagged {
				if s, err := cluster.ClusterKeySlot(ctx, k).Result(); err != nil || int(s) != slot(k) {
					t.Fatalf("CLUSTER KEYSLOT %s = %d, %v; the test computes %d", k, s, err, slot(k))
				}
			}
		}
		got, err = pairScript.Run(ctx, rdb, untagged, "y").Text()
		switch {
		case !isCluster && (err != nil || got != "yy"):
			t.Fatalf("single Redis: script over keys of two slots = %q, %v; want \"yy\"", got, err)
		case isCluster && (err == nil || !strings.Contains(err.Error(), "CROSSSLOT")):
			t.Fatalf("cluster: script over keys of two slots = %q, %v; want a CROSSSLOT error", got, err)
		}
		if isCluster {
			// Nothing was written: the cluster refused the script as a whole.
			if n, err := rdb.Exists(ctx, untagged[0]).Result(); err != nil || n != 0 {
				t.Fatalf("EXISTS %s after the refused script = %d, %v; want 0", untagged[0], n, err)
			}
		}
	})
}

// keysOnEveryMaster writes keys under prefix until each master of the
// cluster holds at least one, so that a test of scanning sees them all.
func keysOnEveryMaster(t *testing.T, c *redis.ClusterClient, prefix string, write func(key string) error) []string {
	t.Helper()
	ctx := context.Background()
	var n atomic.Int32 // ForEachMaster calls in parallel
	if err := c.ForEachMaster(ctx, func(context.Context, *redis.Client) error { n.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	masters := int(n.Load())
	owners := map[string]bool{}
	var keys []string
	for i := 0; len(owners) < masters; i++ {
		if i > 1000 {
			t.Fatalf("keys of %d masters after 1000 tries", len(owners))
		}
		k := fmt.Sprintf("%sk%d", prefix, i)
		m, err := c.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if owners[m.Options().Addr] {
			continue
		}
		owners[m.Options().Addr] = true
		if err := write(k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if masters < 2 {
		t.Fatalf("the cluster has %d master(s); .ci/redis-cluster makes 3", masters)
	}
	return keys
}

// TestRedisCleanupOnEveryMaster: the keys a test leaves, on any master, are
// gone once it ends.
func TestRedisCleanupOnEveryMaster(t *testing.T) {
	ctx := context.Background()
	var prefix string
	t.Run("single", func(t *testing.T) {
		var rdb *redis.Client
		rdb, prefix = New(t)
		for i := range 5 {
			if err := rdb.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), 1, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	check, _ := New(t)
	if keys, err := scanPrefix(ctx, check, prefix); err != nil || len(keys) != 0 {
		t.Errorf("single Redis after the test: %v, %v; want no keys under %s", keys, err, prefix)
	}

	var written []string
	t.Run("cluster", func(t *testing.T) {
		var rdb *redis.ClusterClient
		rdb, prefix = NewCluster(t)
		written = keysOnEveryMaster(t, rdb, prefix, func(k string) error { return rdb.Set(ctx, k, 1, 0).Err() })
	})
	if len(written) < 2 {
		t.Fatalf("the cluster subtest wrote %v", written)
	}
	// Asked key by key through the cluster's routing, not by the scan
	// under test.
	checkCluster, _ := NewCluster(t)
	for _, k := range written {
		if n, err := checkCluster.Exists(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("cluster after the test: EXISTS %s = %d, %v; want 0", k, n, err)
		}
	}
}

// TestRedisKeysWithoutTTL: exactly the keys under the prefix that have no
// TTL are listed, whichever master holds them; keys with a TTL and keys of
// other prefixes are not.
func TestRedisKeysWithoutTTL(t *testing.T) {
	Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		t.Parallel()
		ctx := context.Background()
		var want []string
		if c, ok := rdb.(*redis.ClusterClient); ok {
			want = keysOnEveryMaster(t, c, prefix, func(k string) error { return rdb.SAdd(ctx, k, 1).Err() })
		} else {
			want = []string{prefix + "k0"}
			if err := rdb.SAdd(ctx, want[0], 1).Err(); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, prefix+"{chat:1}:out", prefix+"unreachable")
		if err := rdb.RPush(ctx, prefix+"{chat:1}:out", "reply").Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.HSet(ctx, prefix+"unreachable", "1", "x").Err(); err != nil {
			t.Fatal(err)
		}
		// A TTL set, then a key that is kept only until its TTL.
		if err := rdb.HSet(ctx, prefix+"{chat:1}:dlg", "v", 1).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.PExpire(ctx, prefix+"{chat:1}:dlg", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(ctx, prefix+"seen:1", 1, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		// Keys of another prefix that starts the same are none of its business.
		other := strings.TrimSuffix(prefix, ":") + "x:"
		if err := rdb.Set(ctx, other+"k", 1, 0).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Del(context.Background(), other+"k") })

		slices.Sort(want)
		if got := KeysWithoutTTL(ctx, rdb, prefix); !slices.Equal(got, want) {
			t.Errorf("KeysWithoutTTL = %q\nwant %q", got, want)
		}
		if got := KeysWithoutTTL(ctx, rdb, prefix+"nothing:"); len(got) != 0 {
			t.Errorf("KeysWithoutTTL of an empty prefix = %q, want none", got)
		}
	})
}

// recorder is a testing.TB that notes Fatalf and Skip instead of ending
// the real test, to check what a helper does when Redis is missing.
type recorder struct {
	testing.TB
	fatal, skipped string
	cleanups       []func()
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *recorder) FailNow()          { r.Fatalf("FailNow") }
func (r *recorder) Skip(args ...any)  { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) SkipNow() { r.Skip("SkipNow") }

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestRedisMissingFailsTheTest: a helper that cannot reach its Redis fails
// the test, saying where it looked and how to start it; it never skips, and
// it does not hang.
func TestRedisMissingFailsTheTest(t *testing.T) {
	addr := closedAddr(t)
	t.Setenv("TEST_REDIS_URL", "redis://"+addr+"/0")
	t.Setenv("TEST_REDIS_CLUSTER", addr)
	for _, c := range []struct {
		name, hint string
		open       func(testing.TB)
	}{
		{"single", "TEST_REDIS_URL", func(tb testing.TB) { New(tb) }},
		{"cluster", ".ci/redis-cluster", func(tb testing.TB) { NewCluster(tb) }},
	} {
		rec := &recorder{TB: t}
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.open(rec)
		}()
		<-done
		for _, f := range rec.cleanups {
			f()
		}
		switch {
		case rec.skipped != "":
			t.Errorf("%s: skipped (%s); want a failure", c.name, rec.skipped)
		case rec.fatal == "":
			t.Errorf("%s: no failure for a Redis at %s", c.name, addr)
		case !strings.Contains(rec.fatal, addr) || !strings.Contains(rec.fatal, c.hint):
			t.Errorf("%s: failure %q does not name %s and %s", c.name, rec.fatal, addr, c.hint)
		}
		if d := time.Since(start); d > checkTimeout+time.Second {
			t.Errorf("%s: failing took %v", c.name, d)
		}
	}
}
