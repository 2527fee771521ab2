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
// updates/s (with -race it is several times lower than without). Replies
// are not paced (REPLY_RATE=0): at the default of one a second per chat it
// would measure the pacing, 100 chats × 1/s.
//
//	go test -run '^$' -bench BenchmarkUpdates -benchtime 2000x ./cmd/kabinet/
func BenchmarkUpdates(b *testing.B) {
	s := newStack(b, polling, map[string]string{"WORKERS": "64", "LOG_LEVEL": "info", "REPLY_RATE": "0"})
	users := make([]emulator.User, 100)
	for i := range users {
		users[i] = newUser("ru")
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s.emu.SendCommand(users[i%len(users)], "/help")
	}
	// Count the replies from the emulator's call log now and then (reading
	// every chat in a loop would cost more than the bot itself).
	deadline := time.Now().Add(5 * time.Minute)
	for len(s.emu.CallsTo("sendMessage")) < b.N {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d replies", len(s.emu.CallsTo("sendMessage")), b.N)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
}
