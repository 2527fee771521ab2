package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

// occurrences counts the messages of msgs whose text is exactly text, and
// returns the index of the first.
func occurrences(msgs []emulator.ChatMessage, text string, fromBot bool) (n, first int) {
	first = -1
	for i, m := range msgs {
		if m.FromBot == fromBot && strings.HasSuffix(m.Text, text) {
			if n == 0 {
				first = i
			}
			n++
		}
	}
	return n, first
}

// SIGKILL in the middle of ten live support conversations, both sides
// writing, then a restart: every message reaches the other side, in order,
// and only one that was in flight at the kill arrives twice.
func TestSupportSurvivesAKillMidConversation(t *testing.T) {
	// A group budget the emulator does not enforce here: this test is about
	// the kill, and 120 relays at Telegram's 20 a minute take minutes.
	s := prepareStack(t, polling, map[string]string{"SUPPORT_CHAT_IDS": fmt.Sprint(supportGroup), "GROUP_RATE": "1200"})
	s.tolerate = []string{"can't read the request body"}
	s.emu.AddGroup(supportGroup, "Поддержка", true)
	op := emulator.User{ID: randomID(), FirstName: "Анна", LanguageCode: "ru"}
	if err := s.emu.AddMember(supportGroup, op); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	env["SMS_PROVIDER"] = "log"
	proc := startProcess(t, env, s.logs)

	// Ten open requests, each with its topic.
	const n, each = 10, 6
	users := make([]emulator.User, n)
	threads := make([]int, n)
	for i := range users {
		u := newUser("ru")
		users[i] = u
		s.fileRequest(u, "Другое", fmt.Sprintf("+7 916 %07d", 2000000+i), fmt.Sprintf("request-%d", i))
	}
	for i := range users {
		s.waitFor("the topic of request "+strconv.Itoa(i), func() bool {
			for _, tp := range s.emu.Topics(supportGroup) {
				if n, _ := occurrences(s.emu.TopicMessages(supportGroup, tp.MessageThreadID), fmt.Sprintf("request-%d", i), true); n > 0 {
					threads[i] = tp.MessageThreadID
					return true
				}
			}
			return false
		})
	}

	// Both sides write; the process is killed a moment in.
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			for j := range each {
				s.emu.SendText(users[i], fmt.Sprintf("s%d-%d", i, j))
				time.Sleep(time.Duration(20+rand.IntN(40)) * time.Millisecond)
			}
		})
		wg.Go(func() {
			for j := range each {
				if _, err := s.emu.PostText(supportGroup, threads[i], op, fmt.Sprintf("o%d-%d", i, j)); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Duration(20+rand.IntN(40)) * time.Millisecond)
			}
		})
	}
	countRelayed := func() int {
		relayed := 0
		for i := range users {
			for j := range each {
				if n, _ := occurrences(s.emu.TopicMessages(supportGroup, threads[i]), fmt.Sprintf("s%d-%d", i, j), true); n > 0 {
					relayed++
				}
			}
		}
		return relayed
	}
	// The kill lands once the conversations are under way: some messages
	// relayed, most not yet.
	s.waitFor("the conversations under way", func() bool { return countRelayed() >= 3 })
	time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
	proc.kill()
	relayed := countRelayed()
	if relayed == n*each {
		t.Fatal("every message was relayed before the kill: it did not land mid-conversation")
	}
	t.Logf("killed with %d of %d subscriber messages relayed", relayed, n*each)
	proc = startProcess(t, env, s.logs)
	defer proc.stop()
	wg.Wait()

	complete := func() bool {
		for i := range users {
			for j := range each {
				if c, _ := occurrences(s.emu.TopicMessages(supportGroup, threads[i]), fmt.Sprintf("s%d-%d", i, j), true); c == 0 {
					return false
				}
				if c, _ := occurrences(s.emu.BotMessages(users[i].ID), fmt.Sprintf("o%d-%d", i, j), true); c == 0 {
					return false
				}
			}
		}
		return true
	}
	s.waitFor("every message on the other side", complete)
	time.Sleep(time.Second) // anything repeated would arrive by now

	repeated := 0
	for i := range users {
		topic, chat := s.emu.TopicMessages(supportGroup, threads[i]), s.emu.BotMessages(users[i].ID)
		lastS, lastO := -1, -1
		for j := range each {
			cs, fs := occurrences(topic, fmt.Sprintf("s%d-%d", i, j), true)
			co, fo := occurrences(chat, fmt.Sprintf("o%d-%d", i, j), true)
			repeated += cs - 1 + co - 1
			if fs < lastS || fo < lastO {
				t.Errorf("request %d: message %d arrived out of order", i, j)
			}
			lastS, lastO = fs, fo
		}
	}
	t.Logf("relays repeated because they were in flight at the kill: %d (of %d)", repeated, 2*n*each)
	if workers, _ := strconv.Atoi(env["WORKERS"]); repeated > workers {
		t.Errorf("%d relays repeated, more than the %d that can be in flight", repeated, workers)
	}
}
