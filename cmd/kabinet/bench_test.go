package main

import (
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/emulator"
)

// BenchmarkUpdates measures the whole path of an update through one serve
// instance: getUpdates from the emulator, the per-chat lock, dialog state
// and de-duplication in Redis, the dialog, the atomic save, the reply sent
// back. b.N "/help" commands are spread over 100 chats; the figure to read is
// updates/s (with -race it is several times lower than without).
//
//	go test -run '^$' -bench BenchmarkUpdates -benchtime 2000x ./cmd/kabinet/
func BenchmarkUpdates(b *testing.B) {
	s := newStack(b, polling, map[string]string{"WORKERS": "64", "LOG_LEVEL": "info"})
	users := make([]emulator.User, 100)
	for i := range users {
		users[i] = newUser("ru")
	}
	events, cancel := s.emu.Subscribe()
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s.emu.SendCommand(users[i%len(users)], "/help")
	}
	// Count the replies as the emulator announces them (reading the chats
	// in a loop would cost more than the bot itself).
	for sent := 0; sent < b.N; {
		ev, ok := <-events
		if !ok {
			b.Fatal("emulator closed")
		}
		if ev.Kind == emulator.EventCall && ev.Method == "sendMessage" {
			sent++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
}
