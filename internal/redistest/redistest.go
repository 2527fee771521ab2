// Package redistest gives each test a Redis client and a key prefix of its
// own, so that tests run in parallel against one server and leave nothing
// behind, on a single Redis (New) and on a Redis Cluster (NewCluster); Each
// runs a test against both. It never skips: a test that cannot reach Redis
// fails.
//
// The prefix holds no hash tag ("{...}"), so on the cluster the keys' own
// tags decide their slots, as in production: a script over keys without a
// common tag fails with CROSSSLOT there, never by the prefix's grace.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is the server the tests use; TEST_REDIS_URL overrides it.
func URL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://localhost:6379/0"
}

// DefaultClusterAddrs is the cluster .ci/redis-cluster starts.
const DefaultClusterAddrs = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"

// ClusterAddrs are the cluster's seed nodes: TEST_REDIS_CLUSTER
// (comma-separated host:port) or DefaultClusterAddrs.
func ClusterAddrs() []string {
	v := os.Getenv("TEST_REDIS_CLUSTER")
	if strings.TrimSpace(v) == "" {
		v = DefaultClusterAddrs
	}
	var addrs []string
	for a := range strings.SplitSeq(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// checkTimeout bounds the reachability check, so that a missing server
// fails the test at once instead of at the test binary's timeout.
const checkTimeout = 5 * time.Second

// newPrefix is "test:<12 hex digits>:", without a hash tag (see the package
// comment).
func newPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test:" + hex.EncodeToString(b[:]) + ":"
}

// New returns a client of the single Redis and a unique key prefix ending
// in ":". Every key under the prefix is deleted when the test ends.
func New(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("redistest: TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		t.Fatalf("redistest: Redis at %s is needed (start it, or set TEST_REDIS_URL): %v", URL(), err)
	}
	prefix := newPrefix()
	t.Cleanup(func() {
		if err := deletePrefix(context.Background(), client, prefix); err != nil {
			t.Errorf("redistest: cleaning up %s*: %v", prefix, err)
		}
		_ = client.Close()
	})
	return client, prefix
}

// NewCluster returns a client of the Redis Cluster at ClusterAddrs and a
// unique key prefix ending in ":". Every key under the prefix is deleted
// from every master when the test ends. The test fails when the cluster does
// not answer or is not in cluster_state:ok.
func NewCluster(t testing.TB) (*redis.ClusterClient, string) {
	t.Helper()
	addrs := ClusterAddrs()
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	if err := clusterOK(ctx, client); err != nil {
		_ = client.Close()
		t.Fatalf("redistest: a Redis Cluster at %s is needed (start it with .ci/redis-cluster, or set TEST_REDIS_CLUSTER): %v",
			strings.Join(addrs, ","), err)
	}
	prefix := newPrefix()
	t.Cleanup(func() {
		if err := deletePrefix(context.Background(), client, prefix); err != nil {
			t.Errorf("redistest: cleaning up %s*: %v", prefix, err)
		}
		_ = client.Close()
	})
	return client, prefix
}

// clusterOK checks every master, not only the one a random command reaches.
func clusterOK(ctx context.Context, c *redis.ClusterClient) error {
	var mu sync.Mutex
	masters := 0
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := m.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: %w", m.Options().Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", m.Options().Addr)
		}
		mu.Lock()
		masters++
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	if masters == 0 {
		return fmt.Errorf("no masters found")
	}
	return nil
}

// Each runs fn as two subtests, "single" on the single Redis and "cluster"
// on the Redis Cluster, each with its own client and prefix. fn may call
// t.Parallel.
func Each(t *testing.T, fn func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Helper()
	t.Run("single", func(t *testing.T) {
		rdb, prefix := New(t)
		fn(t, rdb, prefix)
	})
	t.Run("cluster", func(t *testing.T) {
		rdb, prefix := NewCluster(t)
		fn(t, rdb, prefix)
	})
}

// eachServer calls fn with a client of every server that may hold keys:
// the client itself, or each master of a cluster.
func eachServer(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	default:
		return fmt.Errorf("redistest: unsupported client %T", rdb)
	}
}

// scanPrefix lists the keys under prefix on every server, sorted.
// Keys lists the keys under prefix on every server (every master of a
// cluster, where KEYS and SCAN through the client see one node only).
func Keys(t testing.TB, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	keys, err := scanPrefix(context.Background(), rdb, prefix)
	if err != nil {
		t.Fatalf("redistest: list keys: %v", err)
	}
	return keys
}

func scanPrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]string, error) {
	var (
		mu   sync.Mutex
		keys []string
	)
	err := eachServer(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	slices.Sort(keys)
	return slices.Compact(keys), err
}

// escapeGlob makes a prefix match itself in SCAN's MATCH pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func deletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	return eachServer(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			// One key at a time: on a cluster, keys of one master still
			// lie in different slots.
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	})
}

// KeysWithoutTTL lists, sorted, the keys under prefix that have no TTL: on
// the single server, or on every master of a cluster. A test of an ordinary
// visit compares them with the key families that README's "Redis keys"
// documents as bounded without a TTL (prefix included in the names, so
// strings.TrimPrefix gives the family).
//
// It panics when Redis does not answer: an empty list must mean that every
// key has a TTL, never that the check could not look.
func KeysWithoutTTL(ctx context.Context, rdb redis.UniversalClient, prefix string) []string {
	var (
		mu  sync.Mutex
		out []string
	)
	err := eachServer(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			ttl, err := c.PTTL(ctx, key).Result()
			if err != nil {
				return err
			}
			// -1 (go-redis keeps it as -1ns): the key exists without a TTL;
			// -2: it went away meanwhile.
			if ttl == -1 {
				mu.Lock()
				out = append(out, key)
				mu.Unlock()
			}
		}
		return iter.Err()
	})
	if err != nil {
		panic(fmt.Sprintf("redistest: KeysWithoutTTL(%q): %v", prefix, err))
	}
	slices.Sort(out)
	return out
}
