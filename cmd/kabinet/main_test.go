package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// A wrong environment stops serve before it connects to anything, with
// every variable to fix in one error: main prints "kabinet: " and then
// these lines.
func TestServeListsEveryConfigProblem(t *testing.T) {
	env := map[string]string{"TELEGRAM_TOKEN": "1:x", "CODE_SECRET": "abc", "WORKERS": "0"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started with a wrong environment")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"3 settings to fix:", "  CODE_SECRET is too short:", "  WORKERS must be", "  PAY_LINK_SECRET is required"}
	if len(lines) != len(want) {
		t.Fatalf("serve: %v\nwant %d lines", err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want %q...", i+1, lines[i], w)
		}
	}
}
