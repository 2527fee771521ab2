package emulator

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
)

func getUpdates(t *testing.T, srv *Server, params map[string]any) []models.Update {
	t.Helper()
	return decodeResult[[]models.Update](t, callJSON(t, srv, "getUpdates", params))
}

func updateIDs(updates []models.Update) []int64 {
	ids := make([]int64, 0, len(updates))
	for _, u := range updates {
		ids = append(ids, u.ID)
	}
	return ids
}

func TestGetUpdatesOffsetAndLimit(t *testing.T) {
	srv := newServer(t, Options{})
	first := srv.SendText(alice, "1")
	srv.SendText(alice, "2")
	third := srv.SendText(bob, "3")
	if first != firstUpdateID || third != first+2 {
		t.Fatalf("update ids %d..%d, want consecutive from %d", first, third, firstUpdateID)
	}

	// Without an offset the same updates come again: nothing is confirmed.
	if got := getUpdates(t, srv, map[string]any{"limit": 2}); len(got) != 2 || got[0].ID != first {
		t.Fatalf("limit 2: %v", updateIDs(got))
	}
	if got := getUpdates(t, srv, nil); len(got) != 3 {
		t.Fatalf("again: %v", updateIDs(got))
	}
	if srv.UpdateStatus(first) != UpdatePending || srv.PendingUpdates() != 3 {
		t.Fatalf("updates confirmed without an offset")
	}

	// offset confirms everything before it.
	got := getUpdates(t, srv, map[string]any{"offset": first + 1})
	if len(got) != 2 || got[0].ID != first+1 || got[0].Message.Text != "2" {
		t.Fatalf("offset: %v", updateIDs(got))
	}
	if srv.UpdateStatus(first) != UpdateDone || srv.PendingUpdates() != 2 {
		t.Errorf("status of the confirmed update = %v, pending = %d", srv.UpdateStatus(first), srv.PendingUpdates())
	}

	// A negative offset keeps only the last updates.
	if got := getUpdates(t, srv, map[string]any{"offset": -1}); len(got) != 1 || got[0].ID != third {
		t.Errorf("offset -1: %v", updateIDs(got))
	}
	if got := getUpdates(t, srv, map[string]any{"offset": third + 1}); len(got) != 0 {
		t.Errorf("after confirming all: %v", updateIDs(got))
	}
}

func TestGetUpdatesLongPolling(t *testing.T) {
	srv := newServer(t, Options{})
	started := time.Now()
	if got := getUpdates(t, srv, map[string]any{"timeout": 1}); len(got) != 0 {
		t.Fatalf("empty poll returned %v", updateIDs(got))
	}
	if waited := time.Since(started); waited < 900*time.Millisecond {
		t.Errorf("an empty long poll returned after %v, want about the 1s timeout", waited)
	}

	// An update that arrives during the poll ends it at once.
	result := make(chan []models.Update, 1)
	go func() { result <- getUpdates(t, srv, map[string]any{"timeout": 30}) }()
	waitFor(t, srv, "the poll to start", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.pollGen == 2
	})
	srv.SendText(alice, "wake up")
	select {
	case got := <-result:
		if len(got) != 1 || got[0].Message.Text != "wake up" {
			t.Errorf("poll returned %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not return when an update arrived")
	}
}

func TestGetUpdatesConflicts(t *testing.T) {
	srv := newServer(t, Options{})

	// A second poller ends the first one with 409, as when two instances run.
	first := make(chan reply, 1)
	go func() { first <- callJSON(t, srv, "getUpdates", map[string]any{"timeout": 30}) }()
	waitFor(t, srv, "the first poll to start", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.pollGen == 1
	})
	wantOK(t, callJSON(t, srv, "getUpdates", map[string]any{"timeout": 0}))
	select {
	case r := <-first:
		wantError(t, r, http.StatusConflict, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
	case <-time.After(5 * time.Second):
		t.Fatal("the first poll was not ended")
	}

	wantOK(t, callJSON(t, srv, "setWebhook", map[string]any{"url": "https://bot.example/hook"}))
	wantError(t, callJSON(t, srv, "getUpdates", nil), http.StatusConflict,
		"Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
	wantOK(t, callJSON(t, srv, "deleteWebhook", nil))
	wantOK(t, callJSON(t, srv, "getUpdates", nil))
}

func TestAllowedUpdates(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	getUpdates(t, srv, map[string]any{"allowed_updates": `["message"]`})

	if id := srv.PressButton(alice, 1, "x"); id != 0 {
		t.Errorf("callback_query created although only messages are allowed: %d", id)
	}
	srv.SendText(alice, "text")
	got := getUpdates(t, srv, nil)
	for _, u := range got {
		if u.CallbackQuery != nil {
			t.Errorf("got a callback_query: %+v", u)
		}
	}
	if len(got) != 2 {
		t.Errorf("got %d updates, want 2 messages", len(got))
	}

	// An empty list restores the default: everything but chat_member and reactions.
	getUpdates(t, srv, map[string]any{"allowed_updates": `[]`})
	if id := srv.PressButton(alice, 1, "x"); id == 0 {
		t.Errorf("callback_query not created with the default allowed_updates")
	}
	if id, _ := srv.PushRaw([]byte(`{"chat_member":{"chat":{"id":1001,"type":"private"}}}`)); id != 0 {
		t.Errorf("chat_member created although it is not in the default list")
	}
}

func TestUpdatesExpireAfterTTL(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock.Now})
	old := srv.SendText(alice, "old")
	clock.Advance(23 * time.Hour)
	fresh := srv.SendText(alice, "fresh")
	clock.Advance(2 * time.Hour)

	got := getUpdates(t, srv, nil)
	if len(got) != 1 || got[0].ID != fresh {
		t.Errorf("got %v, want only the update younger than 24h", updateIDs(got))
	}
	if srv.UpdateStatus(old) != UpdateDropped {
		t.Errorf("old update status = %v, want dropped", srv.UpdateStatus(old))
	}
}

func TestWaitAndSubscribe(t *testing.T) {
	srv := newServer(t, Options{})
	events, cancel := srv.Subscribe()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		waitFor(t, srv, "a bot message", func() bool { return len(srv.BotMessages(alice.ID)) == 1 })
	}()
	id := srv.SendText(alice, "hi")
	wantOK(t, callJSON(t, srv, "sendMessage", map[string]any{"chat_id": alice.ID, "text": "hello"}))
	wg.Wait()

	var kinds []EventKind
	for len(kinds) < 4 {
		ev := <-events
		kinds = append(kinds, ev.Kind)
		if ev.Kind == EventUpdate && ev.UpdateID != id {
			t.Errorf("update event for %d, want %d", ev.UpdateID, id)
		}
	}
	want := []EventKind{EventMessage, EventUpdate, EventMessage, EventCall}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
	cancel()
	if _, open := <-events; open {
		t.Errorf("channel still open after cancel")
	}
}

func TestSubscriberOverflow(t *testing.T) {
	srv := newServer(t, Options{})
	events, cancel := srv.Subscribe()
	defer cancel()
	for i := 0; i < subscriberBuffer+10; i++ {
		srv.SendText(alice, "spam")
	}
	// The buffer is full; reading makes room and the next event says some were lost.
	for i := 0; i < subscriberBuffer; i++ {
		<-events
	}
	srv.SendText(alice, "after")
	if ev := <-events; ev.Kind != EventOverflow {
		t.Errorf("got %v, want overflow", ev.Kind)
	}
}
