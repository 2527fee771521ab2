// Package config reads Kabinet's settings from environment variables, once,
// and validates them with errors that name the variable to fix.
package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/sms"
)

// Config is every setting of the bot. The README's configuration table lists
// the same variables; keep the two in step.
type Config struct {
	TelegramToken  string         // TELEGRAM_TOKEN
	TelegramAPIURL string         // TELEGRAM_API_URL
	DatabaseURL    string         // DATABASE_URL
	RedisURL       string         // REDIS_URL
	HTTPAddr       string         // HTTP_ADDR
	WebhookURL     string         // WEBHOOK_URL
	WebhookSecret  string         // WEBHOOK_SECRET
	SMS            sms.Config     // SMS_PROVIDER and its settings
	LogLevel       slog.Level     // LOG_LEVEL
	LogFormat      string         // LOG_FORMAT
	TimeZone       *time.Location // TIME_ZONE
	CodeSecret     []byte         // CODE_SECRET
	MaxAccounts    int            // MAX_ACCOUNTS
	Workers        int            // WORKERS
}

// Defaults for a developer's machine; production sets them explicitly.
const (
	DefaultTelegramAPIURL = "https://api.telegram.org"
	DefaultDatabaseURL    = "postgres://postgres@localhost:5432/kabinet?sslmode=disable"
	DefaultRedisURL       = "redis://localhost:6379/0"
	DefaultHTTPAddr       = ":8081"
)

var secretToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// Load reads the environment through getenv. needToken is false for
// commands that never talk to Telegram (migrate, demo-data).
func Load(getenv func(string) string, needToken bool) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		TelegramToken:  get("TELEGRAM_TOKEN", ""),
		TelegramAPIURL: strings.TrimRight(get("TELEGRAM_API_URL", DefaultTelegramAPIURL), "/"),
		DatabaseURL:    get("DATABASE_URL", DefaultDatabaseURL),
		RedisURL:       get("REDIS_URL", DefaultRedisURL),
		HTTPAddr:       get("HTTP_ADDR", DefaultHTTPAddr),
		WebhookURL:     get("WEBHOOK_URL", ""),
		WebhookSecret:  get("WEBHOOK_SECRET", ""),
		LogFormat:      get("LOG_FORMAT", "json"),
		SMS: sms.Config{
			Provider:       get("SMS_PROVIDER", sms.ProviderLog),
			HTTPURL:        get("SMS_HTTP_URL", ""),
			HTTPToken:      get("SMS_HTTP_TOKEN", ""),
			SMPPAddr:       get("SMPP_ADDR", ""),
			SMPPSystemID:   get("SMPP_SYSTEM_ID", ""),
			SMPPPassword:   get("SMPP_PASSWORD", ""),
			SMPPSourceAddr: get("SMPP_SOURCE_ADDR", ""),
		},
	}
	if needToken && c.TelegramToken == "" {
		return c, errors.New("TELEGRAM_TOKEN is required: the bot token from @BotFather")
	}
	if u, err := url.Parse(c.TelegramAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errors.New("TELEGRAM_API_URL must be an http(s) URL such as https://api.telegram.org")
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return c, errors.New("DATABASE_URL must be a postgres:// URL")
	}
	if !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return c, errors.New("REDIS_URL must be a redis:// or rediss:// URL")
	}
	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
			return c, errors.New("WEBHOOK_URL must be the public https:// URL Telegram posts updates to")
		}
		if !secretToken.MatchString(c.WebhookSecret) {
			return c, errors.New("WEBHOOK_SECRET is required with WEBHOOK_URL: 1-256 characters A-Z, a-z, 0-9, _ and -")
		}
	}
	if err := c.SMS.Validate(); err != nil {
		return c, err
	}
	switch strings.ToLower(get("LOG_LEVEL", "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return c, errors.New("LOG_LEVEL must be one of debug, info, warn, error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, errors.New("LOG_FORMAT must be json or text")
	}
	loc, err := time.LoadLocation(get("TIME_ZONE", "Europe/Moscow"))
	if err != nil {
		return c, fmt.Errorf("TIME_ZONE must be an IANA time zone such as Europe/Moscow: %w", err)
	}
	c.TimeZone = loc
	if needToken {
		secret := get("CODE_SECRET", "")
		b, err := hex.DecodeString(secret)
		if err != nil || len(b) < 32 {
			return c, errors.New("CODE_SECRET is required: at least 32 random bytes in hex (openssl rand -hex 32); it keys the SMS-code hashes")
		}
		c.CodeSecret = b
	}
	if c.MaxAccounts, err = positive(get("MAX_ACCOUNTS", "5"), 1, 100); err != nil {
		return c, fmt.Errorf("MAX_ACCOUNTS %w", err)
	}
	if c.Workers, err = positive(get("WORKERS", "64"), 1, 10000); err != nil {
		return c, fmt.Errorf("WORKERS %w", err)
	}
	return c, nil
}

func positive(s string, min, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("must be a whole number from %d to %d", min, max)
	}
	return n, nil
}
