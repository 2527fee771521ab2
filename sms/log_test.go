package sms

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestLogShowsTextAndMaskedNumber(t *testing.T) {
	var buf bytes.Buffer
	l := NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))

	if err := l.Send(context.Background(), "+79161234567", "Код: 482915"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, "Код: 482915") {
		t.Errorf("log %q does not show the text a developer needs", out)
	}
	if !strings.Contains(out, "+7 *** ***-**-67") {
		t.Errorf("log %q does not show the masked number", out)
	}
	if strings.Contains(out, "9161234567") {
		t.Errorf("log %q shows the full number", out)
	}
}
