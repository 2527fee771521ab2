package sms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestMemoryKeepsMessagesPerPhone(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	before := time.Now()
	for _, msg := range []Message{
		{To: "+79160000001", Text: "Код: 111111"},
		{To: "+79160000002", Text: "Код: 222222"},
		{To: "+79160000001", Text: "Telegram привязан к счёту"},
	} {
		if err := m.Send(ctx, msg.To, msg.Text); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}

	first := m.Messages("+79160000001")
	if len(first) != 2 || first[0].Text != "Код: 111111" || first[1].Text != "Telegram привязан к счёту" {
		t.Errorf("Messages(first phone) = %+v", first)
	}
	if got := m.Messages("+79160000009"); len(got) != 0 {
		t.Errorf("Messages(unknown phone) = %+v, want none", got)
	}
	all := m.All()
	if len(all) != 3 || all[1].To != "+79160000002" {
		t.Errorf("All = %+v, want three in order of sending", all)
	}
	for _, msg := range all {
		if msg.At.Before(before) || msg.At.After(time.Now()) {
			t.Errorf("message time %v is not the time of sending", msg.At)
		}
	}
	last, ok := m.Last("+79160000001")
	if !ok || last.Text != "Telegram привязан к счёту" {
		t.Errorf("Last = %+v, %v", last, ok)
	}
	if _, ok := m.Last("+79160000009"); ok {
		t.Errorf("Last(unknown phone) found a message")
	}

	// Callers get copies: changing them does not change what Memory holds.
	all[0].Text = "changed"
	if m.All()[0].Text != "Код: 111111" {
		t.Errorf("All returned Memory's own slice")
	}
}

func TestMemorySubscription(t *testing.T) {
	m := NewMemory()
	ch, cancel := m.Subscribe()

	if err := m.Send(context.Background(), "+79160000001", "Код: 111111"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	select {
	case msg := <-ch:
		if msg.To != "+79160000001" || msg.Text != "Код: 111111" {
			t.Errorf("subscriber got %+v", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber got nothing")
	}

	cancel()
	cancel() // a second call is harmless
	if _, open := <-ch; open {
		t.Errorf("channel still open after cancel")
	}
	if err := m.Send(context.Background(), "+79160000001", "Код: 222222"); err != nil {
		t.Fatalf("Send after a subscriber left: %v", err)
	}
}

// A sandbox page that stopped reading must not stop codes from being sent.
func TestMemorySlowSubscriberDoesNotBlockSend(t *testing.T) {
	m := NewMemory()
	_, cancel := m.Subscribe() // never read
	defer cancel()

	const n = subscriberBuffer * 3
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := m.Send(context.Background(), "+79160000001", fmt.Sprintf("Код: %06d", i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked on a subscriber that does not read")
	}
	if got := len(m.All()); got != n {
		t.Errorf("All has %d messages, want %d", got, n)
	}
}

func TestMemoryConcurrentUse(t *testing.T) {
	m := NewMemory()
	ch, cancel := m.Subscribe()
	var received int
	readDone := make(chan struct{})
	go func() {
		for range ch {
			received++
		}
		close(readDone)
	}()

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			phone := fmt.Sprintf("+791600000%02d", i)
			_ = m.Send(context.Background(), phone, "Код: 123456")
			_ = m.Messages(phone)
		})
	}
	wg.Wait()
	cancel()
	<-readDone

	if got := len(m.All()); got != 20 {
		t.Errorf("All has %d messages, want 20", got)
	}
	if received != 20 { // fewer than subscriberBuffer, so none may be dropped
		t.Errorf("subscriber received %d messages, want 20", received)
	}
}

func TestMemoryRejectsBadInput(t *testing.T) {
	m := NewMemory()
	if err := m.Send(context.Background(), "89160000001", "Код"); !errors.Is(err, ErrBadNumber) {
		t.Errorf("Send(no +) = %v, want ErrBadNumber", err)
	}
	if err := m.Send(context.Background(), "+79160000001", ""); !errors.Is(err, ErrEmptyText) {
		t.Errorf("Send(empty) = %v, want ErrEmptyText", err)
	}
	if len(m.All()) != 0 {
		t.Errorf("a rejected message was kept")
	}
}
