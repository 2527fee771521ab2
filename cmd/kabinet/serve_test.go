package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/dialogs"
)

func TestOfficesConfigFromEnvironment(t *testing.T) {
	cfg := config.Config{OfficesNearest: "offices", OfficesPageSize: 7, OfficesLinks: map[string]string{"vk": "none", "director": "https://example.ru/d"}}
	oc := officesConfig(cfg)
	if oc.Nearest != dialogs.NearestOffices || oc.PageSize != 7 {
		t.Errorf("nearest %q, page size %d", oc.Nearest, oc.PageSize)
	}
	if oc.Links.VK != "" || oc.Links.Director != "https://example.ru/d" || oc.Links.WhatsApp != dialogs.DefaultOfficesConfig().Links.WhatsApp {
		t.Errorf("links %+v", oc.Links)
	}
}

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
