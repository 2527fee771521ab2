package sms

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/fiorix/go-smpp/smpp/smpptest"
)

func TestConfigValidate(t *testing.T) {
	smpp := Config{Provider: "smpp", SMPPAddr: "smsc.example:2775", SMPPSystemID: "kabinet", SMPPPassword: "secret", SMPPSourceAddr: "Kabinet"}
	with := func(c Config, change func(*Config)) Config { change(&c); return c }

	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" means valid
	}{
		{"log", Config{Provider: "log"}, ""},
		{"memory", Config{Provider: "memory"}, ""},
		{"http", Config{Provider: "http", HTTPURL: "https://sms.example/send"}, ""},
		{"smpp", smpp, ""},
		{"smpp without password", with(smpp, func(c *Config) { c.SMPPPassword = "" }), ""},
		{"smpp numeric sender", with(smpp, func(c *Config) { c.SMPPSourceAddr = "+74951234567" }), ""},

		{"no provider", Config{}, "SMS_PROVIDER is required"},
		{"unknown provider", Config{Provider: "sms.ru"}, "SMS_PROVIDER must be one of"},
		{"http without URL", Config{Provider: "http"}, "SMS_HTTP_URL is required when SMS_PROVIDER=http"},
		{"http URL without scheme", Config{Provider: "http", HTTPURL: "sms.example/send"}, "SMS_HTTP_URL must be"},
		{"smpp without address", with(smpp, func(c *Config) { c.SMPPAddr = "" }), "SMPP_ADDR is required when SMS_PROVIDER=smpp"},
		{"smpp address without port", with(smpp, func(c *Config) { c.SMPPAddr = "smsc.example" }), "SMPP_ADDR must be host:port"},
		{"smpp without system id", with(smpp, func(c *Config) { c.SMPPSystemID = "" }), "SMPP_SYSTEM_ID is required"},
		{"smpp long system id", with(smpp, func(c *Config) { c.SMPPSystemID = strings.Repeat("k", 16) }), "SMPP_SYSTEM_ID must be at most 15"},
		{"smpp long password", with(smpp, func(c *Config) { c.SMPPPassword = "123456789" }), "SMPP_PASSWORD must be at most 8"},
		{"smpp without source", with(smpp, func(c *Config) { c.SMPPSourceAddr = "" }), "SMPP_SOURCE_ADDR is required"},
		{"smpp long sender name", with(smpp, func(c *Config) { c.SMPPSourceAddr = "KabinetOnline" }), "SMPP_SOURCE_ADDR"},
		{"smpp cyrillic sender name", with(smpp, func(c *Config) { c.SMPPSourceAddr = "Кабинет" }), "SMPP_SOURCE_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want valid", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// An SMPP setup with several settings wrong reports them all at once, one
// line each.
func TestConfigValidateListsEverySMPPSetting(t *testing.T) {
	err := Config{Provider: "smpp", SMPPPassword: "123456789"}.Validate()
	if err == nil {
		t.Fatal("Validate accepted an SMPP setup without address, login and sender")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"SMPP_ADDR is required", "SMPP_SYSTEM_ID is required", "SMPP_PASSWORD must be at most 8", "SMPP_SOURCE_ADDR is required"}
	if len(lines) != len(want) {
		t.Fatalf("Validate = %q, want %d lines", err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want %q...", i+1, lines[i], w)
		}
	}
	if strings.Contains(err.Error(), "123456789") {
		t.Errorf("error %q repeats the password", err)
	}
}

func TestConfigValidateDoesNotRepeatTheURL(t *testing.T) {
	err := Config{Provider: "http", HTTPURL: "ftp://sms.example/send?key=url-secret-77"}.Validate()
	if err == nil {
		t.Fatal("Validate accepted an ftp URL")
	}
	if strings.Contains(err.Error(), "url-secret-77") {
		t.Errorf("error %q repeats the URL with its key", err)
	}
}

func TestNewBuildsTheConfiguredProvider(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))

	sender, closer, err := New(Config{Provider: "memory"}, logger)
	if err != nil {
		t.Fatalf("New(memory): %v", err)
	}
	mem, ok := sender.(*Memory)
	if !ok {
		t.Fatalf("New(memory) returned %T", sender)
	}
	_ = sender.Send(context.Background(), "+79161234567", "Код: 1")
	if len(mem.All()) != 1 {
		t.Errorf("the sandbox cannot read back what was sent")
	}
	if err := closer.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	if sender, _, err = New(Config{Provider: "http", HTTPURL: "https://sms.example/send"}, logger); err != nil {
		t.Fatalf("New(http): %v", err)
	} else if _, ok := sender.(*HTTP); !ok {
		t.Errorf("New(http) returned %T", sender)
	}

	if sender, _, err = New(Config{Provider: "log"}, logger); err != nil {
		t.Fatalf("New(log): %v", err)
	} else if _, ok := sender.(*Log); !ok {
		t.Errorf("New(log) returned %T", sender)
	}
	if !strings.Contains(logs.String(), "development only") {
		t.Errorf("choosing the log provider left no warning in the log")
	}

	if _, _, err := New(Config{Provider: "http"}, logger); err == nil {
		t.Errorf("New accepted an invalid config")
	}
}

func TestNewSMPPConnectsAndCloses(t *testing.T) {
	centre := startSMSC(t)
	cfg := Config{
		Provider:       "smpp",
		SMPPAddr:       centre.srv.Addr(),
		SMPPSystemID:   smpptest.DefaultUser,
		SMPPPassword:   smpptest.DefaultPasswd,
		SMPPSourceAddr: "Kabinet",
	}
	sender, closer, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New(smpp): %v", err)
	}
	if err := sender.Send(context.Background(), "+79161234567", "Код: 482915"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := closer.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sender.Send(context.Background(), "+79161234567", "Код: 482915"); err == nil {
		t.Errorf("Send after Close returned nil")
	}
	if got := len(centre.received()); got != 1 {
		t.Errorf("centre received %d messages, want 1", got)
	}

	// A centre that is not there fails at start, not at the first code.
	cfg.SMPPAddr = "127.0.0.1:1"
	if _, _, err := New(cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("New(smpp) succeeded with no centre listening")
	}
}
