package sms

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/internal/metricstest"
)

// Every text handed to the provider is counted by what became of it:
// taken, refused before sending, refused by the gateway, or not answered
// in time; and neither the number nor the text reaches a label.
func TestMeasureCountsByResult(t *testing.T) {
	release := make(chan struct{})
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case "/down":
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(gateway.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for the handler
	mem := NewMemory()
	for _, c := range []struct {
		name   string
		sender Sender
		to     string
		want   map[string]float64
	}{
		{"taken", mem, "+79000000004", map[string]float64{"ok": 1, "invalid": 0, "timeout": 0, "error": 0}},
		{"not E.164", mem, "89000000004", map[string]float64{"ok": 0, "invalid": 1}},
		{"gateway 502", NewHTTP(gateway.URL+"/down", "", nil), "+79000000004", map[string]float64{"ok": 0, "error": 1}},
		{"gateway silent", NewHTTP(gateway.URL+"/slow", "", &http.Client{Timeout: 50 * time.Millisecond}), "+79000000004", map[string]float64{"ok": 0, "timeout": 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			err := Measure(c.sender, reg).Send(context.Background(), c.to, "Код 123456")
			if (err == nil) != (c.want["ok"] == 1) {
				t.Errorf("Send: %v", err)
			}
			m := metricstest.Gather(t, reg)
			for result, want := range c.want {
				if got := m.Value("kabinet_sms_sent_total", map[string]string{"result": result}); got != want {
					t.Errorf("%s: %v, want %v", result, got, want)
				}
			}
			if got := m.Value("kabinet_sms_send_duration_seconds", nil); got != 1 {
				t.Errorf("timed %v times, want once", got)
			}
			for _, v := range m.LabelValues("kabinet_sms_sent_total", "result") {
				if strings.Contains(v, "9000000004") || strings.Contains(v, "123456") {
					t.Errorf("personal data in a label: %q", v)
				}
			}
		})
	}
	if n := len(mem.Messages("+79000000004")); n != 1 {
		t.Errorf("the wrapped sender got %d texts, want the 1 taken", n)
	}
}
