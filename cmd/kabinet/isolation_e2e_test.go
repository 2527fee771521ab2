package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/state"
)

// lockKeys lists the chat locks the bot's instances hold in Redis now.
func lockKeys(t *testing.T, s *stack) []string {
	t.Helper()
	rdb, _ := redistest.New(t)
	keys, err := rdb.Keys(context.Background(), fmt.Sprintf("kabinet:%d:{c*}:lock", s.emu.Bot().ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestRestartTakesOverTheDeadProcessesChats kills serve with SIGKILL while
// it holds chat locks, and starts it again under the same INSTANCE_ID (as
// a restarted container keeps its host name): the chats the dead process
// held answer again at once, without waiting for its locks to expire. The
// delay from "ready" to the last of those chats' first reply is printed.
func TestRestartTakesOverTheDeadProcessesChats(t *testing.T) {
	for _, m := range []mode{polling, webhook} {
		t.Run(string(m), func(t *testing.T) {
			s := prepareStack(t, m, nil)
			// Slow answers keep the locks held while the process dies.
			s.withLatency(100 * time.Millisecond)
			s.tolerate = []string{"can't read the request body"}
			env := map[string]string{"SMS_PROVIDER": "log", "INSTANCE_ID": "kabinet-0"}
			for k, v := range s.env {
				env[k] = v
			}
			proc := startProcess(t, env, s.logs)

			users := make([]emulator.User, 10)
			for i := range users {
				users[i] = newUser("ru")
				s.emu.SendCommand(users[i], "/help")
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(lockKeys(t, s)) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			proc.kill()
			held := lockKeys(t, s)
			if len(held) == 0 {
				t.Fatal("the process held no chat lock when it was killed: the test proves nothing")
			}

			before := map[int64]int{}
			for _, u := range users {
				before[u.ID] = helpCount(s.emu, u.ID)
			}
			proc = startProcess(t, env, s.logs)
			ready := time.Now()
			defer proc.stop()
			for _, u := range users {
				s.emu.SendCommand(u, "/help")
			}
			var last time.Duration
			for _, u := range users {
				for helpCount(s.emu, u.ID) < 2 {
					if time.Since(ready) > state.LockTTL {
						t.Fatalf("chat %d has no answer %v after the restart: it waits for the dead process's lock", u.ID, time.Since(ready))
					}
					time.Sleep(5 * time.Millisecond)
				}
				last = max(last, time.Since(ready))
			}
			t.Logf("%d chats locked by the killed process; every chat answered %v after the new process was ready (lock TTL %v)", len(held), last.Round(time.Millisecond), state.LockTTL)
		})
	}
}

// TestABrokenChatDoesNotStallTheOthers: one chat whose every send fails
// with 502 while 100 other chats talk. The others get all their replies,
// in order, and their latency stays near a run without the broken chat
// (both p99 printed); the broken chat's replies wait, parked, and arrive
// in order, once each, when Telegram takes them again. Over polling and
// over the webhook. The outage is 5 s here (the 60 s only makes the
// test longer: a parked chat costs nothing while it waits).
func TestABrokenChatDoesNotStallTheOthers(t *testing.T) {
	for _, m := range []mode{polling, webhook} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			const chats, each = 100, 5
			healthy := func(broken bool) (time.Duration, *stack, emulator.User) {
				s := newStack(t, m, nil)
				s.tolerate = []string{"Bad Gateway"}
				bad := newUser("ru")
				if broken {
					s.emu.SendCommand(bad, "/help") // the chat exists before it breaks
					s.next(bad, "Что я умею")
					s.emu.FailChat(bad.ID, http.StatusBadGateway)
					for range each {
						s.emu.SendCommand(bad, "/help")
					}
				}
				var mu sync.Mutex
				var lat []time.Duration
				var wg sync.WaitGroup
				for range chats {
					u := newUser("ru")
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range each {
							start := time.Now()
							s.emu.SendCommand(u, "/help")
							for helpCount(s.emu, u.ID) < i+1 {
								if time.Since(start) > 20*time.Second {
									t.Errorf("chat %d: no reply to message %d within 20 s", u.ID, i+1)
									return
								}
								time.Sleep(2 * time.Millisecond)
							}
							mu.Lock()
							lat = append(lat, time.Since(start))
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				slices.Sort(lat)
				if len(lat) != chats*each {
					t.Fatalf("%d of %d replies arrived", len(lat), chats*each)
				}
				return lat[len(lat)*99/100], s, bad
			}
			base, _, _ := healthy(false)
			withBroken, s, bad := healthy(true)
			t.Logf("p99 reply latency of 100 chats: %v alone, %v beside a chat whose sends all fail", base.Round(time.Millisecond), withBroken.Round(time.Millisecond))
			if got := helpCount(s.emu, bad.ID); got != 1 {
				t.Fatalf("the broken chat got %d replies while broken", got)
			}
			if parked := strings.Count(s.logs.String(), "replies to a chat wait for a retry"); parked == 0 {
				t.Fatal("the broken chat was never parked: the fault did not happen")
			}
			time.Sleep(5 * time.Second)
			s.emu.RestoreChat(bad.ID)
			deadline := time.Now().Add(60 * time.Second)
			for helpCount(s.emu, bad.ID) < each+1 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond) // a repeat would come now
			if got := helpCount(s.emu, bad.ID); got != each+1 {
				t.Fatalf("after recovery the broken chat has %d replies, want %d, once each", got, each+1)
			}
		})
	}
}

// TestServeOnARedisCluster: serve with REDIS_CLUSTER_ADDRS runs a whole
// first visit on a 3-master Redis Cluster: linking by SMS code, the
// balance and its buttons. Any script whose keys spanned slots would fail
// here with CROSSSLOT. Every key it leaves has a TTL but the documented
// shared indexes.
func TestServeOnARedisCluster(t *testing.T) {
	t.Parallel()
	cluster, _ := redistest.NewCluster(t) // fails the test if the cluster is not running
	s := prepareStack(t, polling, map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(redistest.ClusterAddrs(), ",")})
	prefix := fmt.Sprintf("kabinet:%d:", s.emu.Bot().ID)
	t.Cleanup(func() {
		for _, k := range redistest.Keys(t, cluster, prefix) {
			cluster.Del(context.Background(), k)
		}
	})
	s.start()
	u := newUser("ru")
	s.link(u, "1000000004", "+79000000004")
	s.press(u, "Обновить")
	s.waitFor("the refresh toast", func() bool { return hasPrefix(s.toasts(), "Обновлено") })
	s.press(u, "Мои счета")
	s.next(u, "Ваши счета")
	if strings.Contains(s.logs.String(), "CROSSSLOT") {
		t.Fatal("a script's keys spanned slots")
	}
	if written := redistest.Keys(t, cluster, prefix); len(written) < 5 {
		t.Fatalf("%d keys on the cluster: serve did not use it", len(written))
	}
	bounded := map[string]bool{prefix + "pending": true, prefix + "{timers}": true, prefix + "{timers}:lease": true, prefix + "intake": true}
	for _, k := range redistest.KeysWithoutTTL(context.Background(), cluster, prefix) {
		if !bounded[k] {
			t.Errorf("key %q has no TTL", k)
		}
	}
}
