// Package logtest reads the JSON logs that tests capture: one place for
// the two packages whose tests check that every log line is JSON.
package logtest

import (
	"encoding/json"
	"strings"
	"testing"
)

// JSONLines parses a log as JSON lines; a line that is not one JSON object
// fails the test.
func JSONLines(t testing.TB, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, line := range strings.Split(strings.TrimRight(logs, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line %d is not JSON: %q", i+1, line)
			continue
		}
		out = append(out, m)
	}
	return out
}

// DialLines are the log's records of go-redis's failed dials to addr.
func DialLines(lines []map[string]any, addr string) []map[string]any {
	var out []map[string]any
	for _, m := range lines {
		if d, _ := m["detail"].(string); strings.Contains(d, "failed to dial") && strings.Contains(d, addr) {
			out = append(out, m)
		}
	}
	return out
}
