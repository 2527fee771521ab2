package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

// 40 requests are filed within half a minute, spread over two operators'
// groups, with the emulator answering 429 beyond Telegram's limits (each
// group's, scaled to GROUP_RATE so that the test takes seconds, not
// minutes; each chat's, at its default): no 429 at all, and every topic,
// card and relayed description arrives.
func TestFortyRequestsFitTheGroupsBudgets(t *testing.T) {
	t.Parallel()
	const perMinute = 120
	groups := []int64{supportGroup, supportGroup - 1}
	s := prepareStack(t, polling, map[string]string{
		"SUPPORT_CHAT_IDS": fmt.Sprintf("%d,%d", groups[0], groups[1]),
		"GROUP_RATE":       fmt.Sprint(perMinute),
		"REPLY_BURST":      "3", // the emulator's burst for one chat
	})
	for i, g := range groups {
		s.emu.AddGroup(g, fmt.Sprintf("Поддержка %d", i+1), true)
	}
	s.emu.EnableRateLimits(emulator.RateLimits{PerGroup: emulator.Rate{Every: time.Minute / perMinute, Burst: perMinute}})
	s.start()

	const n = 40
	users := make([]emulator.User, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range users {
		users[i] = newUser("ru")
		u, text := users[i], fmt.Sprintf("Заявка номер %d: не работает интернет", i)
		time.Sleep(700 * time.Millisecond) // 40 people within half a minute
		wg.Go(func() {
			s.fileRequest(u, "Другое", fmt.Sprintf("+7 916 %07d", 1000000+i), text)
		})
	}
	wg.Wait()
	filed := time.Since(start)

	// Every request has its topic with the card and the description.
	want := map[string]bool{}
	for i := range n {
		want[fmt.Sprintf("Заявка номер %d:", i)] = true
	}
	s.waitFor("every description in its topic", func() bool {
		found := 0
		for _, g := range groups {
			for _, tp := range s.emu.Topics(g) {
				msgs := s.emu.TopicMessages(g, tp.MessageThreadID)
				card := false
				for _, m := range msgs {
					card = card || strings.Contains(m.Text, "Заявка №")
				}
				for _, m := range msgs {
					if card && m.FromBot && want[m.Text[:strings.Index(m.Text, ":")+1]] {
						found++
					}
				}
			}
		}
		return found == n
	})
	topics := len(s.emu.Topics(groups[0])) + len(s.emu.Topics(groups[1]))
	if topics != n {
		t.Errorf("%d topics for %d requests", topics, n)
	}
	for _, g := range groups {
		if len(s.emu.Topics(g)) == 0 {
			t.Errorf("group %d got no request: they are not spread", g)
		}
	}
	if limited := s.emu.TooManyRequests(); len(limited) > 0 {
		t.Errorf("%d answers 429, the first: %s %s", len(limited), limited[0].Method, limited[0].Description)
	}
	t.Logf("%d requests filed in %v, all delivered %v after the first", n, filed.Round(time.Second), time.Since(start).Round(time.Second))
}
