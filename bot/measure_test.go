package bot

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/internal/metricstest"
	"github.com/kabinet-bot/kabinet/metrics"
)

// scriptedProcessor is a Processor whose answer per update_id is set by the test.
type scriptedProcessor map[int64]func() error

func (s scriptedProcessor) Process(_ context.Context, upd *models.Update) error {
	if f := s[int64(upd.ID)]; f != nil {
		return f()
	}
	return nil
}

// Each update is counted once, under its kind and what became of it, and
// timed under its kind; a panic is a failure, and still reaches the
// sequencer, which recovers it.
func TestMeasureProcessorCountsByKindAndOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := MeasureProcessor(scriptedProcessor{
		2: func() error { time.Sleep(30 * time.Millisecond); return nil },
		3: func() error { return errors.New("redis down") },
		5: func() error { panic("boom") },
	}, reg)
	msg := func(id int) *models.Update {
		return &models.Update{ID: int64(id), Message: &models.Message{Chat: models.Chat{ID: 1}, Text: "/start"}}
	}
	ctx := context.Background()
	for _, upd := range []*models.Update{
		msg(1), msg(2), msg(3),
		{ID: 4, CallbackQuery: &models.CallbackQuery{ID: "q", Data: "bal"}},
		{ID: 6, MyChatMember: &models.ChatMemberUpdated{}},
		{ID: 7, EditedMessage: &models.Message{Text: "x"}},
	} {
		_ = p.Process(ctx, upd)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		_ = p.Process(ctx, &models.Update{ID: 5, CallbackQuery: &models.CallbackQuery{ID: "q2"}})
	}()

	m := metricstest.Gather(t, reg)
	for _, c := range []struct {
		kind, outcome string
		want          float64
	}{
		{"message", "handled", 2},
		{"message", "failed", 1},
		{"callback", "handled", 1},
		{"callback", "failed", 1},
		{"other", "handled", 2},
		{"other", "failed", 0},
	} {
		labels := map[string]string{"kind": c.kind, "outcome": c.outcome}
		if !m.Has("kabinet_updates_total", labels) {
			t.Errorf("no series %v: it must exist from the start", labels)
		}
		if got := m.Value("kabinet_updates_total", labels); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.kind, c.outcome, got, c.want)
		}
	}
	if got := m.Value("kabinet_update_duration_seconds", map[string]string{"kind": "message"}); got != 3 {
		t.Errorf("messages timed %v times, want 3", got)
	}
	if got := m.Sum("kabinet_update_duration_seconds", map[string]string{"kind": "message"}); got < 0.03 {
		t.Errorf("messages took %v s in all, less than the 30 ms one of them slept", got)
	}
}

// fakeOutbox is the outbox as the gauges read it.
type fakeOutbox struct {
	pending []int64
	parked  int64
	err     error
}

func (f *fakeOutbox) PendingCount(context.Context) (int64, error) {
	return int64(len(f.pending)), f.err
}
func (f *fakeOutbox) ParkedChats(_ context.Context, now time.Time) (int64, error) {
	if now.IsZero() {
		return 0, errors.New("no time given")
	}
	return f.parked, f.err
}

// The gauges show the outbox as it is at the scrape; while Redis does not
// answer they are left out and the rest of /metrics is still served.
func TestOutboxGauges(t *testing.T) {
	reg := metrics.NewRegistry()
	box := &fakeOutbox{pending: []int64{10, 11, 12}, parked: 1}
	RegisterOutboxGauges(reg, box)
	m := metricstest.Gather(t, reg)
	if got := m.Value("kabinet_outbox_pending_chats", nil); got != 3 {
		t.Errorf("pending chats %v, want 3", got)
	}
	if got := m.Value("kabinet_outbox_parked_chats", nil); got != 1 {
		t.Errorf("parked chats %v, want 1", got)
	}
	box.pending, box.parked = nil, 0
	if m := metricstest.Gather(t, reg); m.Value("kabinet_outbox_pending_chats", nil) != 0 || !m.Has("kabinet_outbox_pending_chats", nil) {
		t.Error("an empty outbox is not shown as 0")
	}

	box.err = errors.New("redis: connection refused")
	logger, logs := captureLogs()
	srv := httptest.NewServer(metrics.Handler(reg, logger))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(body), "kabinet_outbox_") || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("with Redis down /metrics answered %d:\n%.300s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the failed collection is not in the log: %s", logs.String())
	}
}
