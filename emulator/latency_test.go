package emulator

import (
	"sync"
	"testing"
	"time"
)

// With Latency, a bot waits a whole round trip for every answer, the
// emulator sees the request half-way, and an error answer is delayed too.
func TestLatencyDelaysEveryRequest(t *testing.T) {
	const rtt = 60 * time.Millisecond
	srv := newServer(t, Options{Latency: rtt})
	u := User{ID: 42, FirstName: "Анна"}
	srv.SendText(u, "hi")

	start := time.Now()
	if r := callJSON(t, srv, "sendMessage", map[string]any{"chat_id": u.ID, "text": "hello"}); !r.OK {
		t.Fatalf("sendMessage: %+v", r)
	}
	took := time.Since(start)
	if took < rtt {
		t.Errorf("sendMessage answered after %v, want at least the round trip %v", took, rtt)
	}
	calls := srv.CallsTo("sendMessage")
	if len(calls) != 1 {
		t.Fatalf("%d sendMessage calls recorded", len(calls))
	}
	if seen := calls[0].Time.Sub(start); seen < rtt/2 || seen > took-rtt/2+5*time.Millisecond {
		t.Errorf("the emulator saw the request %v after it was sent, want about half the round trip (%v)", seen, rtt/2)
	}

	start = time.Now()
	if r := callJSON(t, srv, "sendMessage", map[string]any{"chat_id": u.ID}); r.OK {
		t.Fatal("sendMessage without text succeeded")
	}
	if took := time.Since(start); took < rtt {
		t.Errorf("an error answered after %v, want at least %v", took, rtt)
	}
}

// OnCall hears every request, failed ones too, in the order of Calls.
func TestOnCallHearsEveryRequestInOrder(t *testing.T) {
	var mu sync.Mutex
	var heard []Call
	srv := newServer(t, Options{OnCall: func(c Call) {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, c)
	}})
	u := User{ID: 42, FirstName: "Анна"}
	srv.SendText(u, "hi")
	callJSON(t, srv, "getMe", nil)
	callJSON(t, srv, "sendMessage", map[string]any{"chat_id": u.ID, "text": "hello"})
	callJSON(t, srv, "sendMessage", map[string]any{"chat_id": u.ID, "text": ""})

	mu.Lock()
	defer mu.Unlock()
	calls := srv.Calls()
	if len(heard) != 3 || len(calls) != 3 {
		t.Fatalf("heard %d calls, the log has %d; want 3", len(heard), len(calls))
	}
	for i := range calls {
		if heard[i].Method != calls[i].Method || heard[i].OK != calls[i].OK || !heard[i].Time.Equal(calls[i].Time) {
			t.Errorf("call %d: heard %s ok=%v, the log has %s ok=%v", i, heard[i].Method, heard[i].OK, calls[i].Method, calls[i].OK)
		}
	}
	if heard[1].Params["text"] != "hello" || heard[1].Params["chat_id"] != u.ID || heard[2].OK {
		t.Errorf("heard %+v and %+v", heard[1], heard[2])
	}
}
