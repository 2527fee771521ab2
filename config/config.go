// Package config reads Kabinet's settings from environment variables, once,
// and validates them with errors that name the variable to fix.
package config

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/money"
	"github.com/kabinet-bot/kabinet/payments"
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

	// Payments: which provider makes the pay links, and its settings.
	PayProvider        string         // PAY_PROVIDER: PayProviderLink or PayProviderYooKassa
	PayLinkTemplate    string         // PAY_LINK_TEMPLATE
	PayLinkSecret      []byte         // PAY_LINK_SECRET (required with PAY_PROVIDER=link)
	PayLinkTTL         time.Duration  // PAY_LINK_TTL
	AutopayURLTemplate string         // AUTOPAY_URL_TEMPLATE
	PayLimit           money.Amount   // PAY_LIMIT
	YooKassaShopID     string         // YOOKASSA_SHOP_ID
	YooKassaSecretKey  string         // YOOKASSA_SECRET_KEY
	YooKassaAPIURL     string         // YOOKASSA_API_URL
	YooKassaReturnURL  string         // YOOKASSA_RETURN_URL ("" = the bot's t.me link)
	YooKassaAllowedIPs []netip.Prefix // YOOKASSA_ALLOWED_IPS

	// Trust payments ("доверительный платёж"): the provider's rules.
	TrustDays           int          // TRUST_DAYS
	TrustAmount         money.Amount // TRUST_AMOUNT (0 = the account's monthly charge)
	TrustFee            money.Amount // TRUST_FEE
	TrustRequirePayment bool         // TRUST_REQUIRE_PAYMENT

	// SchedulerPoll is how often the payments scheduler looks for due work
	// (reminders, expiries, pushes whose wake-up was lost). SCHEDULER_POLL.
	SchedulerPoll time.Duration

	// Offices: what "nearest to me" looks for, the page size, and the URLs of
	// the messengers-and-pages screen ("none" hides a button).
	OfficesNearest  string            // OFFICES_NEAREST: all, offices or payments
	OfficesPageSize int               // OFFICES_PAGE_SIZE
	OfficesLinks    map[string]string // OFFICES_<NAME>_URL, by lower-case name
}

// OfficeLinkNames are the buttons of the messengers-and-pages screen, each
// set by OFFICES_<NAME>_URL.
var OfficeLinkNames = []string{"whatsapp", "telegram", "viber", "vk", "ok", "youtube", "director"}

// The payment providers PAY_PROVIDER names.
const (
	PayProviderLink     = "link"     // the provider's own payment page, by a signed link
	PayProviderYooKassa = "yookassa" // a payment created at YooKassa
)

// Defaults for a developer's machine; production sets them explicitly.
const (
	DefaultTelegramAPIURL = "https://api.telegram.org"
	DefaultDatabaseURL    = "postgres://postgres@localhost:5432/kabinet?sslmode=disable"
	DefaultRedisURL       = "redis://localhost:6379/0"
	DefaultHTTPAddr       = ":8081"

	// DefaultPayLinkTemplate is the seed provider's payment form with the
	// account and the sum filled in.
	DefaultPayLinkTemplate = "https://zelenaya.net/pay?account={account}&amount={amount}&expires={expires}&sig={sig}"
	// DefaultAutopayURLTemplate is the seed provider's autopay set-up page.
	DefaultAutopayURLTemplate = "https://zelenaya.net/autopay?account={account}"
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
	if err := c.loadOffices(get); err != nil {
		return c, err
	}
	if err := c.loadPayments(get, needToken); err != nil {
		return c, err
	}
	return c, nil
}

// maxPaySetting bounds the sums in roubles the payment settings accept:
// anything above is a typo, not a tariff.
const maxPaySetting = money.Amount(1_000_000_00)

// loadPayments reads the payment and trust-payment settings. Secrets are
// required only for serve (needToken): migrate and demo-data take no money.
func (c *Config) loadPayments(get func(name, def string) string, needToken bool) error {
	var err error
	c.PayProvider = strings.ToLower(get("PAY_PROVIDER", PayProviderLink))
	if c.PayProvider != PayProviderLink && c.PayProvider != PayProviderYooKassa {
		return fmt.Errorf("PAY_PROVIDER must be %s or %s, got %q", PayProviderLink, PayProviderYooKassa, c.PayProvider)
	}

	c.PayLinkTemplate = get("PAY_LINK_TEMPLATE", DefaultPayLinkTemplate)
	if !httpURL(c.PayLinkTemplate) {
		return errors.New("PAY_LINK_TEMPLATE must be the http(s) URL of the payment page, such as " + DefaultPayLinkTemplate)
	}
	// The provider renders a sample and verifies it, so a template the
	// payment page could not check is refused here, at start.
	if _, err := payments.NewLinkProvider(c.PayLinkTemplate, make([]byte, 32), time.Hour, time.Now); err != nil {
		return fmt.Errorf("PAY_LINK_TEMPLATE must carry account={account}, amount={amount}, expires={expires} and sig={sig} as query parameters: %w", err)
	}
	if c.PayLinkTTL, err = duration(get("PAY_LINK_TTL", "24h"), time.Minute, 30*24*time.Hour); err != nil {
		return fmt.Errorf("PAY_LINK_TTL %w", err)
	}
	if needToken && c.PayProvider == PayProviderLink {
		b, err := hex.DecodeString(get("PAY_LINK_SECRET", ""))
		if err != nil || len(b) < 32 {
			return errors.New("PAY_LINK_SECRET is required with PAY_PROVIDER=link: at least 32 random bytes in hex (openssl rand -hex 32); the payment page checks the links' signatures with the same secret")
		}
		if sameSecret(b, c.CodeSecret) {
			return errors.New("PAY_LINK_SECRET must differ from CODE_SECRET: the payment page holds it, and it must not be able to forge SMS-code hashes")
		}
		c.PayLinkSecret = b
	}

	c.AutopayURLTemplate = get("AUTOPAY_URL_TEMPLATE", DefaultAutopayURLTemplate)
	if !httpURL(c.AutopayURLTemplate) || !strings.Contains(c.AutopayURLTemplate, "{account}") {
		return errors.New("AUTOPAY_URL_TEMPLATE must be the http(s) URL of the autopay page with {account} where the account number goes, such as " + DefaultAutopayURLTemplate)
	}
	if c.PayLimit, err = money.ParseMax(get("PAY_LIMIT", "15000"), maxPaySetting); err != nil {
		return errors.New("PAY_LIMIT must be the largest sum of one payment in roubles, from 0,01 to 1 000 000, such as 15000")
	}

	c.YooKassaShopID = get("YOOKASSA_SHOP_ID", "")
	c.YooKassaSecretKey = get("YOOKASSA_SECRET_KEY", "")
	c.YooKassaAPIURL = strings.TrimRight(get("YOOKASSA_API_URL", payments.YooKassaAPI), "/")
	c.YooKassaReturnURL = get("YOOKASSA_RETURN_URL", "")
	if needToken && c.PayProvider == PayProviderYooKassa && c.YooKassaShopID == "" {
		return errors.New("YOOKASSA_SHOP_ID is required with PAY_PROVIDER=yookassa: the shop id from YooKassa's cabinet")
	}
	if needToken && c.YooKassaShopID != "" && c.YooKassaSecretKey == "" {
		return errors.New("YOOKASSA_SECRET_KEY is required with YOOKASSA_SHOP_ID: the secret key from YooKassa's cabinet")
	}
	if !httpURL(c.YooKassaAPIURL) {
		return errors.New("YOOKASSA_API_URL must be an http(s) URL such as " + payments.YooKassaAPI)
	}
	if c.YooKassaReturnURL != "" && !httpURL(c.YooKassaReturnURL) {
		return errors.New("YOOKASSA_RETURN_URL must be an http(s) URL, such as the bot's https://t.me/<name> link")
	}
	if c.YooKassaAllowedIPs, err = payments.ParseNetworks(get("YOOKASSA_ALLOWED_IPS", payments.YooKassaNetworks)); err != nil {
		return fmt.Errorf("YOOKASSA_ALLOWED_IPS must be a comma-separated list of addresses and CIDR ranges: %w", err)
	}

	if c.TrustDays, err = positive(get("TRUST_DAYS", "3"), 1, 31); err != nil {
		return fmt.Errorf("TRUST_DAYS %w", err)
	}
	if c.TrustAmount, err = roubles(get("TRUST_AMOUNT", "0")); err != nil {
		return fmt.Errorf("TRUST_AMOUNT %w; 0 means the account's monthly charge", err)
	}
	if c.TrustFee, err = roubles(get("TRUST_FEE", "0")); err != nil {
		return fmt.Errorf("TRUST_FEE %w", err)
	}
	if c.TrustRequirePayment, err = strconv.ParseBool(get("TRUST_REQUIRE_PAYMENT", "true")); err != nil {
		return errors.New("TRUST_REQUIRE_PAYMENT must be true or false")
	}
	if c.SchedulerPoll, err = duration(get("SCHEDULER_POLL", "2s"), 10*time.Millisecond, time.Minute); err != nil {
		return fmt.Errorf("SCHEDULER_POLL %w", err)
	}
	return nil
}

// loadOffices reads the offices screens' settings; an empty link keeps the
// built-in default, "none" hides the button.
func (c *Config) loadOffices(get func(name, def string) string) error {
	c.OfficesNearest = get("OFFICES_NEAREST", "all")
	switch c.OfficesNearest {
	case "all", "offices", "payments":
	default:
		return errors.New("OFFICES_NEAREST must be all, offices or payments")
	}
	var err error
	if c.OfficesPageSize, err = positive(get("OFFICES_PAGE_SIZE", "5"), 1, 20); err != nil {
		return fmt.Errorf("OFFICES_PAGE_SIZE %w", err)
	}
	c.OfficesLinks = map[string]string{}
	for _, name := range OfficeLinkNames {
		v := get("OFFICES_"+strings.ToUpper(name)+"_URL", "")
		if v != "" && v != "none" && !httpURL(v) && !strings.HasPrefix(v, "tg://") {
			return fmt.Errorf("OFFICES_%s_URL must be an http(s) or tg:// URL, or none", strings.ToUpper(name))
		}
		if v != "" {
			c.OfficesLinks[name] = v
		}
	}
	return nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// roubles reads a sum in roubles that may be zero ("0", "150", "99,50").
func roubles(s string) (money.Amount, error) {
	a, err := money.ParseMax(s, maxPaySetting)
	if errors.Is(err, money.ErrZero) {
		return 0, nil
	}
	if err != nil {
		return 0, errors.New("must be a sum in roubles from 0 to 1 000 000, such as 0 or 99,50")
	}
	return a, nil
}

func duration(s string, min, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < min || d > max {
		return 0, fmt.Errorf("must be a duration from %v to %v, such as 24h or 30m", min, max)
	}
	return d, nil
}

// sameSecret compares two secrets in constant time.
func sameSecret(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}

func positive(s string, min, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("must be a whole number from %d to %d", min, max)
	}
	return n, nil
}
