// Package config reads Kabinet's settings from environment variables, once,
// and validates them all, with one error that lists every variable to fix.
package config

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/money"
	"github.com/kabinet-bot/kabinet/notices"
	"github.com/kabinet-bot/kabinet/offices"
	"github.com/kabinet-bot/kabinet/payments"
	"github.com/kabinet-bot/kabinet/sms"
	"github.com/kabinet-bot/kabinet/support"
)

// Config is every setting of the bot. The README's configuration table lists
// the same variables; keep the two in step.
type Config struct {
	TelegramToken  string // TELEGRAM_TOKEN
	TelegramAPIURL string // TELEGRAM_API_URL
	DatabaseURL    string // DATABASE_URL
	RedisURL       string // REDIS_URL
	// RedisCluster lists the seed nodes of a Redis Cluster
	// (REDIS_CLUSTER_ADDRS, host:port,...); when set, REDIS_URL gives only
	// the credentials and client limits, and its database must be 0.
	RedisCluster  []string
	HTTPAddr      string         // HTTP_ADDR
	PprofAddr     string         // PPROF_ADDR: net/http/pprof's host:port; empty serves no profiles
	WebhookURL    string         // WEBHOOK_URL
	WebhookSecret string         // WEBHOOK_SECRET
	SMS           sms.Config     // SMS_PROVIDER and its settings
	LogLevel      slog.Level     // LOG_LEVEL
	LogFormat     string         // LOG_FORMAT
	TimeZone      *time.Location // TIME_ZONE
	CodeSecret    []byte         // CODE_SECRET
	MaxAccounts   int            // MAX_ACCOUNTS
	Workers       int            // WORKERS
	// DatabaseMaxConns is the PostgreSQL pool's size (DATABASE_MAX_CONNS;
	// DefaultDatabaseMaxConns of WORKERS when unset).
	DatabaseMaxConns int
	// InstanceID names this process's deployment slot (INSTANCE_ID, default
	// the host name): a restart under the same name takes over the chats
	// its predecessor held at once. Two processes running side by side need
	// different names.
	InstanceID string

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

	// Freezes ("добровольная блокировка"): the provider's rules.
	FreezeMinDays   int          // FREEZE_MIN_DAYS
	FreezeMaxDays   int          // FREEZE_MAX_DAYS
	FreezePerYear   int          // FREEZE_PER_YEAR
	FreezeFee       money.Amount // FREEZE_FEE: charged on a charge day within a freeze
	FreezeAheadDays int          // FREEZE_AHEAD_DAYS
	// BillingCycle is how often serve runs the demo billing's day
	// (postgres.Store.RunCycle: freezes begun and ended, tariff changes,
	// monthly charges); 0 never, for a provider whose billing does it.
	BillingCycle time.Duration // BILLING_CYCLE
	// SelfServiceBillingURL is a provider's billing API for the
	// self-service (billing/httpbilling, openapi.yaml there); "" uses the
	// demo billing in PostgreSQL. SELFSERVICE_BILLING_URL.
	SelfServiceBillingURL   string
	SelfServiceBillingToken string // SELFSERVICE_BILLING_TOKEN: sent as a bearer token

	// Pushes (payment received, trust reminders) share one rate across
	// every instance: NotifyRate messages a second (NOTIFY_RATE), and
	// NotifyPaidBroadcast (NOTIFY_PAID_BROADCAST) sends them with
	// allow_paid_broadcast, which lets that rate go past Telegram's free 30
	// a second up to 1000, for a fee per message.
	NotifyRate          int
	NotifyPaidBroadcast bool
	// The notices (notices package): the default threshold of the low
	// balance notice in days (NOTIFY_DAYS_BEFORE, 1-7), the quiet hours in
	// each account's city zone (NOTIFY_QUIET_HOURS; none when empty), and how
	// often the low-balance scan runs (NOTIFY_SCAN_INTERVAL).
	NotifyDaysBefore   int
	NotifyQuiet        notices.Quiet
	NotifyScanInterval time.Duration
	// Replies to one private chat are paced at ReplyRate a second with
	// bursts of ReplyBurst (REPLY_RATE, REPLY_BURST; 0 turns it off), as
	// Telegram asks: about one a second per chat, short bursts allowed.
	ReplyRate  float64
	ReplyBurst int
	// GroupRate is how many messages a minute one group takes (GROUP_RATE):
	// Telegram's 20.
	GroupRate int

	// Support: the operators' forum supergroups (SUPPORT_CHAT_IDS), which
	// city goes to which (SUPPORT_ROUTING: "round-robin", or
	// "Город=<chat id>;..." with the rest round-robin), the working hours
	// (SUPPORT_HOURS), how long a solved request waits for the subscriber
	// before it closes (SUPPORT_AUTOCLOSE) and the operators' language
	// (SUPPORT_LANG).
	SupportChats     []int64
	SupportCities    map[string]int64
	SupportHours     string
	SupportAutoClose time.Duration
	SupportLang      string
	// SupportWebhookURL is where every support event (a request filed, a
	// message, assigned, solved, closed, reopened, rated) is POSTed for an
	// external helpdesk (SUPPORT_WEBHOOK_URL; "" sends none), signed with
	// SupportWebhookSecret (SUPPORT_WEBHOOK_SECRET, required with it).
	SupportWebhookURL    string
	SupportWebhookSecret []byte

	// Offices: what "nearest to me" looks for, the page size, and the URLs of
	// the messengers-and-pages screen ("none" hides a button).
	OfficesNearest  string            // OFFICES_NEAREST: all, offices or payments
	OfficesPageSize int               // OFFICES_PAGE_SIZE
	OfficesLinks    map[string]string // OFFICES_<NAME>_URL, by lower-case name
	// OfficesHotline is the provider's one number for every city
	// (OFFICES_HOTLINE): "" keeps the seed provider's, "none" shows only
	// the cities' own numbers. OfficesHotlineHours (OFFICES_HOTLINE_HOURS)
	// is when it answers in TIME_ZONE; nil keeps the seed provider's hours.
	OfficesHotline      string
	OfficesHotlineHours *offices.Hours
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

	// DefaultNotifyRate keeps pushes under Telegram's free 30 messages a
	// second for the whole bot, with room for the replies to people.
	DefaultNotifyRate = 25
	// MaxFreeNotifyRate is Telegram's limit without paid broadcasts, and
	// MaxPaidNotifyRate (also the default with them) the limit with them.
	MaxFreeNotifyRate = 30
	MaxPaidNotifyRate = 1000

	// DefaultPayLinkTemplate is the seed provider's payment form with the
	// account and the sum filled in.
	DefaultPayLinkTemplate = "https://zelenaya.net/pay?account={account}&amount={amount}&expires={expires}&sig={sig}"
	// DefaultAutopayURLTemplate is the seed provider's autopay set-up page.
	DefaultAutopayURLTemplate = "https://zelenaya.net/autopay?account={account}"
)

// DatabaseConnsBeyondWorkers is what DefaultDatabaseMaxConns adds to
// WORKERS: one connection each for the payments scheduler's claims and
// reports, the dialog timers and /readyz, and two for YooKassa's
// notifications (more of those at once wait a moment for a connection).
const DatabaseConnsBeyondWorkers = 5

// DefaultDatabaseMaxConns is the pool size that lets every worker run its
// query at once: each of the WORKERS chats handled in parallel holds at most
// one connection at a time, and so do the few tasks beside them. pgx's own
// default (4, or the number of CPUs) made 64 workers queue for 4
// connections. The pool opens connections only as they are needed; the
// scheduler's LISTEN connection is taken out of it, so a process opens at
// most one more than this.
func DefaultDatabaseMaxConns(workers int) int {
	return workers + DatabaseConnsBeyondWorkers
}

var secretToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// Error is what Load returns for a wrong environment: every variable to
// fix, at once, so that an operator does not learn of them one run at a
// time. Problems follow the order of the README's configuration table.
type Error struct {
	Problems []Problem
}

// Problem is one variable to fix. Text is the whole sentence, starting with
// the variable's name and saying what is wrong and what is expected; it
// never repeats a secret's value.
type Problem struct {
	Variable string
	Text     string
}

// Error is the one problem's text, or a count followed by one indented line
// per problem, which reads well after main's "kabinet: ".
func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].Text
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d settings to fix:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Text)
	}
	return b.String()
}

// problems collects what Load finds wrong.
type problems []Problem

// add records that variable is wrong; the text is the variable's name
// followed by format.
func (ps *problems) add(variable, format string, args ...any) {
	*ps = append(*ps, Problem{Variable: variable, Text: variable + " " + fmt.Sprintf(format, args...)})
}

// addErrors records errors that name their variable first, such as
// sms.Config.Validate's (several joined by errors.Join).
func (ps *problems) addErrors(err error, fallback string) {
	if err == nil {
		return
	}
	var list []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		list = joined.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		variable := leadingVariable.FindString(e.Error())
		if variable == "" {
			variable = fallback
		}
		*ps = append(*ps, Problem{Variable: variable, Text: e.Error()})
	}
}

var leadingVariable = regexp.MustCompile(`^[A-Z][A-Z0-9_]*[A-Z0-9]`)

// secretHint is what CODE_SECRET and PAY_LINK_SECRET must be.
const secretHint = "at least 32 random bytes in hex (openssl rand -hex 32)"

// hexSecret reads a secret that is set: at least 32 bytes in hex. wrong
// says what is wrong with it, after the variable's name, without the value.
func hexSecret(v string) (b []byte, wrong string) {
	notHex := func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F')
	}
	switch {
	case strings.IndexFunc(v, notHex) >= 0:
		return nil, "is not hex: " + secretHint + ", only the digits 0-9 and a-f"
	case len(v) < 64:
		return nil, fmt.Sprintf("is too short: %s, which is 64 hex digits; it has only %d", secretHint, len(v))
	case len(v)%2 != 0:
		return nil, "has an odd number of hex digits, so it is not whole bytes: " + secretHint
	}
	b, err := hex.DecodeString(v)
	if err != nil { // unreachable after the checks above
		return nil, "is not hex: " + secretHint
	}
	return b, ""
}

// Load reads the environment through getenv. needToken is false for
// commands that never talk to Telegram (migrate, demo-data). A wrong
// environment gives an *Error with every problem found.
func Load(getenv func(string) string, needToken bool) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var ps problems
	c := Config{
		TelegramToken:  get("TELEGRAM_TOKEN", ""),
		TelegramAPIURL: strings.TrimRight(get("TELEGRAM_API_URL", DefaultTelegramAPIURL), "/"),
		DatabaseURL:    get("DATABASE_URL", DefaultDatabaseURL),
		RedisURL:       get("REDIS_URL", DefaultRedisURL),
		HTTPAddr:       get("HTTP_ADDR", DefaultHTTPAddr),
		PprofAddr:      get("PPROF_ADDR", ""),
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
		ps.add("TELEGRAM_TOKEN", "is required: the bot token from @BotFather")
	}
	if !httpURL(c.TelegramAPIURL) {
		ps.add("TELEGRAM_API_URL", "must be an http(s) URL such as %s", DefaultTelegramAPIURL)
	}
	// The database and Redis URLs may hold a password: never repeated.
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		ps.add("DATABASE_URL", "must be a postgres:// URL such as %s", DefaultDatabaseURL)
	} else if u, err := url.Parse(c.DatabaseURL); err == nil && u.Query().Has("pool_max_conns") {
		// Two settings for one thing: say which one counts instead of
		// silently overriding the URL's.
		ps.add("DATABASE_URL", "sets pool_max_conns: remove it and set DATABASE_MAX_CONNS instead (default WORKERS + %d)", DatabaseConnsBeyondWorkers)
	}
	for _, a := range strings.Split(get("REDIS_CLUSTER_ADDRS", ""), ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			ps.add("REDIS_CLUSTER_ADDRS", "must be host:port pairs separated by commas, like 10.0.0.1:7001,10.0.0.2:7001")
			break
		}
		c.RedisCluster = append(c.RedisCluster, a)
	}
	if !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		ps.add("REDIS_URL", "must be a redis:// or rediss:// URL such as %s", DefaultRedisURL)
	}
	if c.PprofAddr != "" {
		if _, port, err := net.SplitHostPort(c.PprofAddr); err != nil || port == "" {
			ps.add("PPROF_ADDR", "must be host:port, such as localhost:6060 (the profiles have no login: keep them off a public address)")
		}
	}
	if c.WebhookURL != "" {
		if !httpURL(c.WebhookURL) {
			ps.add("WEBHOOK_URL", "must be the public https:// URL Telegram posts updates to")
		}
		switch {
		case c.WebhookSecret == "":
			ps.add("WEBHOOK_SECRET", "is required with WEBHOOK_URL: 1-256 characters A-Z, a-z, 0-9, _ and -")
		case len(c.WebhookSecret) > 256:
			ps.add("WEBHOOK_SECRET", "is too long: at most 256 characters A-Z, a-z, 0-9, _ and -; it has %d", len(c.WebhookSecret))
		case !secretToken.MatchString(c.WebhookSecret):
			ps.add("WEBHOOK_SECRET", "has a character Telegram does not allow: only A-Z, a-z, 0-9, _ and -")
		}
	}
	if needToken {
		if v := get("CODE_SECRET", ""); v == "" {
			ps.add("CODE_SECRET", "is required: %s; it keys the SMS-code hashes", secretHint)
		} else if b, wrong := hexSecret(v); wrong != "" {
			ps.add("CODE_SECRET", "%s", wrong)
		} else {
			c.CodeSecret = b
		}
	}
	ps.addErrors(c.SMS.Validate(), "SMS_PROVIDER")
	loc, err := time.LoadLocation(get("TIME_ZONE", "Europe/Moscow"))
	if err != nil {
		ps.add("TIME_ZONE", "must be an IANA time zone such as Europe/Moscow: %v", err)
	}
	c.TimeZone = loc
	if c.MaxAccounts, err = positive(get("MAX_ACCOUNTS", "5"), 1, 100); err != nil {
		ps.add("MAX_ACCOUNTS", "%v", err)
	}
	if c.Workers, err = positive(get("WORKERS", "64"), 1, 10000); err != nil {
		ps.add("WORKERS", "%v", err)
	}
	if c.DatabaseMaxConns, err = positive(get("DATABASE_MAX_CONNS", strconv.Itoa(DefaultDatabaseMaxConns(c.Workers))), 1, 10000); err != nil {
		ps.add("DATABASE_MAX_CONNS", "%v, the PostgreSQL connections of one process (default WORKERS + %d)", err, DatabaseConnsBeyondWorkers)
	}
	host, _ := os.Hostname()
	if c.InstanceID = get("INSTANCE_ID", host); len(c.InstanceID) > 200 || strings.ContainsAny(c.InstanceID, "|\n") {
		ps.add("INSTANCE_ID", "must be at most 200 characters without '|' or line breaks")
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
		ps.add("LOG_LEVEL", "must be one of debug, info, warn, error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		ps.add("LOG_FORMAT", "must be json or text")
	}
	c.loadPayments(get, needToken, &ps)
	c.loadNotify(get, &ps)
	c.loadOffices(get, &ps)
	c.loadSupport(get, &ps)
	if len(ps) > 0 {
		return c, &Error{Problems: ps}
	}
	return c, nil
}

// maxPaySetting bounds the sums in roubles the payment settings accept:
// anything above is a typo, not a tariff.
const maxPaySetting = money.Amount(1_000_000_00)

// loadPayments reads the payment and trust-payment settings. Secrets are
// required only for serve (needToken): migrate and demo-data take no money.
func (c *Config) loadPayments(get func(name, def string) string, needToken bool, ps *problems) {
	var err error
	c.PayProvider = strings.ToLower(get("PAY_PROVIDER", PayProviderLink))
	if c.PayProvider != PayProviderLink && c.PayProvider != PayProviderYooKassa {
		ps.add("PAY_PROVIDER", "must be %s or %s, got %q", PayProviderLink, PayProviderYooKassa, c.PayProvider)
	}

	c.PayLinkTemplate = get("PAY_LINK_TEMPLATE", DefaultPayLinkTemplate)
	if !httpURL(c.PayLinkTemplate) {
		ps.add("PAY_LINK_TEMPLATE", "must be the http(s) URL of the payment page, such as %s", DefaultPayLinkTemplate)
	} else if _, err := payments.NewLinkProvider(c.PayLinkTemplate, make([]byte, 32), time.Hour, time.Now); err != nil {
		// The provider renders a sample and verifies it, so a template the
		// payment page could not check is refused here, at start.
		ps.add("PAY_LINK_TEMPLATE", "must carry account={account}, amount={amount}, expires={expires} and sig={sig} as query parameters: %v", err)
	}
	if needToken && c.PayProvider == PayProviderLink {
		if v := get("PAY_LINK_SECRET", ""); v == "" {
			ps.add("PAY_LINK_SECRET", "is required with PAY_PROVIDER=link: %s; the payment page checks the links' signatures with the same secret", secretHint)
		} else if b, wrong := hexSecret(v); wrong != "" {
			ps.add("PAY_LINK_SECRET", "%s", wrong)
		} else if c.CodeSecret != nil && sameSecret(b, c.CodeSecret) {
			ps.add("PAY_LINK_SECRET", "must differ from CODE_SECRET: the payment page holds it, and it must not be able to forge SMS-code hashes")
		} else {
			c.PayLinkSecret = b
		}
	}
	if c.PayLinkTTL, err = duration(get("PAY_LINK_TTL", "24h"), time.Minute, 30*24*time.Hour); err != nil {
		ps.add("PAY_LINK_TTL", "%v", err)
	}

	c.AutopayURLTemplate = get("AUTOPAY_URL_TEMPLATE", DefaultAutopayURLTemplate)
	if !httpURL(c.AutopayURLTemplate) || !strings.Contains(c.AutopayURLTemplate, "{account}") {
		ps.add("AUTOPAY_URL_TEMPLATE", "must be the http(s) URL of the autopay page with {account} where the account number goes, such as %s", DefaultAutopayURLTemplate)
	}
	if c.PayLimit, err = money.ParseMax(get("PAY_LIMIT", "15000"), maxPaySetting); err != nil {
		ps.add("PAY_LIMIT", "must be the largest sum of one payment in roubles, from 0,01 to 1 000 000, such as 15000")
	}

	c.YooKassaShopID = get("YOOKASSA_SHOP_ID", "")
	c.YooKassaSecretKey = get("YOOKASSA_SECRET_KEY", "")
	c.YooKassaAPIURL = strings.TrimRight(get("YOOKASSA_API_URL", payments.YooKassaAPI), "/")
	c.YooKassaReturnURL = get("YOOKASSA_RETURN_URL", "")
	if needToken && c.PayProvider == PayProviderYooKassa && c.YooKassaShopID == "" {
		ps.add("YOOKASSA_SHOP_ID", "is required with PAY_PROVIDER=yookassa: the shop id from YooKassa's cabinet")
	}
	if needToken && c.YooKassaShopID != "" && c.YooKassaSecretKey == "" {
		ps.add("YOOKASSA_SECRET_KEY", "is required with YOOKASSA_SHOP_ID: the secret key from YooKassa's cabinet")
	}
	if !httpURL(c.YooKassaAPIURL) {
		ps.add("YOOKASSA_API_URL", "must be an http(s) URL such as %s", payments.YooKassaAPI)
	}
	if c.YooKassaReturnURL != "" && !httpURL(c.YooKassaReturnURL) {
		ps.add("YOOKASSA_RETURN_URL", "must be an http(s) URL, such as the bot's https://t.me/<name> link")
	}
	if c.YooKassaAllowedIPs, err = payments.ParseNetworks(get("YOOKASSA_ALLOWED_IPS", payments.YooKassaNetworks)); err != nil {
		ps.add("YOOKASSA_ALLOWED_IPS", "must be a comma-separated list of addresses and CIDR ranges: %v", err)
	}

	if c.TrustDays, err = positive(get("TRUST_DAYS", "3"), 1, 31); err != nil {
		ps.add("TRUST_DAYS", "%v", err)
	}
	if c.TrustAmount, err = roubles(get("TRUST_AMOUNT", "0")); err != nil {
		ps.add("TRUST_AMOUNT", "%v; 0 means the account's monthly charge", err)
	}
	if c.TrustFee, err = roubles(get("TRUST_FEE", "0")); err != nil {
		ps.add("TRUST_FEE", "%v", err)
	}
	if c.TrustRequirePayment, err = strconv.ParseBool(get("TRUST_REQUIRE_PAYMENT", "true")); err != nil {
		ps.add("TRUST_REQUIRE_PAYMENT", "must be true or false")
	}
	if c.SchedulerPoll, err = duration(get("SCHEDULER_POLL", "2s"), 10*time.Millisecond, time.Minute); err != nil {
		ps.add("SCHEDULER_POLL", "%v", err)
	}
	c.loadFreeze(get, ps)
}

// loadFreeze reads the freeze rules and the demo billing's cycle.
func (c *Config) loadFreeze(get func(name, def string) string, ps *problems) {
	var err error
	if c.FreezeMinDays, err = positive(get("FREEZE_MIN_DAYS", "7"), 1, 365); err != nil {
		ps.add("FREEZE_MIN_DAYS", "%v", err)
	}
	if c.FreezeMaxDays, err = positive(get("FREEZE_MAX_DAYS", "90"), 1, 365); err != nil {
		ps.add("FREEZE_MAX_DAYS", "%v", err)
	} else if c.FreezeMinDays > 0 && c.FreezeMaxDays < c.FreezeMinDays {
		ps.add("FREEZE_MAX_DAYS", "must not be less than FREEZE_MIN_DAYS (%d)", c.FreezeMinDays)
	}
	if c.FreezePerYear, err = positive(get("FREEZE_PER_YEAR", "2"), 1, 52); err != nil {
		ps.add("FREEZE_PER_YEAR", "%v", err)
	}
	if c.FreezeFee, err = roubles(get("FREEZE_FEE", "0")); err != nil {
		ps.add("FREEZE_FEE", "%v", err)
	}
	if c.FreezeAheadDays, err = positive(get("FREEZE_AHEAD_DAYS", "30"), 0, 365); err != nil {
		ps.add("FREEZE_AHEAD_DAYS", "%v", err)
	}
	if v := get("BILLING_CYCLE", "1m"); v == "0" {
		c.BillingCycle = 0
	} else if c.BillingCycle, err = duration(v, 10*time.Millisecond, 24*time.Hour); err != nil {
		ps.add("BILLING_CYCLE", "%v; 0 never runs it", err)
	}
	c.SelfServiceBillingURL = strings.TrimRight(get("SELFSERVICE_BILLING_URL", ""), "/")
	if c.SelfServiceBillingURL != "" && !httpURL(c.SelfServiceBillingURL) {
		ps.add("SELFSERVICE_BILLING_URL", "must be the http(s) base URL of the billing's self-service API, such as https://billing.example.ru/kabinet/v1")
	}
	c.SelfServiceBillingToken = get("SELFSERVICE_BILLING_TOKEN", "")
}

// loadNotify reads the pushes' rate. Above 30 a second Telegram answers
// 429 unless the messages are paid broadcasts, so a higher NOTIFY_RATE
// needs NOTIFY_PAID_BROADCAST=true, which also makes 1000 the default.
func (c *Config) loadNotify(get func(name, def string) string, ps *problems) {
	paid, err := strconv.ParseBool(get("NOTIFY_PAID_BROADCAST", "false"))
	paidWrong := err != nil
	c.NotifyPaidBroadcast = paid && !paidWrong
	def, limit := DefaultNotifyRate, MaxFreeNotifyRate
	if c.NotifyPaidBroadcast {
		def, limit = MaxPaidNotifyRate, MaxPaidNotifyRate
	}
	v := get("NOTIFY_RATE", strconv.Itoa(def))
	switch n, err := strconv.Atoi(v); {
	case err != nil || n < 1:
		ps.add("NOTIFY_RATE", "must be a whole number of messages a second for every instance together, from 1 to %d, such as %d", limit, DefaultNotifyRate)
	case n > limit && !c.NotifyPaidBroadcast:
		ps.add("NOTIFY_RATE", "is %d, above Telegram's %d messages a second for a bot: at most %d, or set NOTIFY_PAID_BROADCAST=true for up to %d (a fee per message)", n, MaxFreeNotifyRate, MaxFreeNotifyRate, MaxPaidNotifyRate)
	case n > limit:
		ps.add("NOTIFY_RATE", "is %d, above Telegram's %d messages a second for paid broadcasts: at most %d", n, MaxPaidNotifyRate, MaxPaidNotifyRate)
	default:
		c.NotifyRate = n
	}
	if paidWrong {
		ps.add("NOTIFY_PAID_BROADCAST", "must be true or false")
	}
	if n, err := strconv.Atoi(get("NOTIFY_DAYS_BEFORE", "3")); err != nil || n < 1 || n > 7 {
		ps.add("NOTIFY_DAYS_BEFORE", "must be a whole number of days from 1 to 7, such as 3: how long before the money runs out the first notice goes")
	} else {
		c.NotifyDaysBefore = n
	}
	// An empty variable reads as unset (the default) everywhere in this
	// file, so "no quiet hours" is written none, as OFFICES_HOTLINE does.
	if q := get("NOTIFY_QUIET_HOURS", "22:00-09:00"); strings.EqualFold(q, "none") {
		c.NotifyQuiet = notices.Quiet{}
	} else if q, err := notices.ParseQuiet(q); err != nil {
		ps.add("NOTIFY_QUIET_HOURS", "must be two times of day like 22:00-09:00 (notices made in between wait for its end, in each city's time), or none: %v", err)
	} else {
		c.NotifyQuiet = q
	}
	if c.NotifyScanInterval, err = duration(get("NOTIFY_SCAN_INTERVAL", "1h"), time.Second, 24*time.Hour); err != nil {
		ps.add("NOTIFY_SCAN_INTERVAL", "%v", err)
	}
	if r, err := strconv.ParseFloat(get("REPLY_RATE", "1"), 64); err != nil || r < 0 || r > 30 {
		ps.add("REPLY_RATE", "must be messages a second to one chat, from 0 (no pacing) to 30, such as 1")
	} else {
		c.ReplyRate = r
	}
	if n, err := strconv.Atoi(get("GROUP_RATE", "20")); err != nil || n < 1 || n > 6000 {
		ps.add("GROUP_RATE", "must be a whole number of messages a minute to one group, such as 20 (Telegram's limit)")
	} else {
		c.GroupRate = n
	}
	if b, err := strconv.Atoi(get("REPLY_BURST", "10")); err != nil || b < 1 || b > 100 {
		ps.add("REPLY_BURST", "must be a whole number of messages from 1 to 100, such as 10")
	} else {
		c.ReplyBurst = b
	}
}

// loadSupport reads the support settings.
func (c *Config) loadSupport(get func(name, def string) string, ps *problems) {
	for _, f := range strings.Split(get("SUPPORT_CHAT_IDS", ""), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id >= 0 {
			ps.add("SUPPORT_CHAT_IDS", "must be the ids of supergroups, such as -1001234567890, separated by commas; %q is not", f)
			continue
		}
		c.SupportChats = append(c.SupportChats, id)
	}
	if r := strings.TrimSpace(get("SUPPORT_ROUTING", "round-robin")); r != "round-robin" {
		c.SupportCities = map[string]int64{}
		for _, pair := range strings.Split(r, ";") {
			city, chat, ok := strings.Cut(strings.TrimSpace(pair), "=")
			id, err := strconv.ParseInt(strings.TrimSpace(chat), 10, 64)
			if !ok || err != nil || id >= 0 || strings.TrimSpace(city) == "" {
				ps.add("SUPPORT_ROUTING", "must be round-robin or pairs city=chat id separated by semicolons, such as Липецк=-1001234567890; %q is not", pair)
				continue
			}
			c.SupportCities[strings.TrimSpace(city)] = id
		}
	}
	c.SupportHours = get("SUPPORT_HOURS", support.DefaultHours)
	if _, err := support.ParseHours(c.SupportHours); err != nil {
		ps.add("SUPPORT_HOURS", "%v", err)
	}
	var err error
	if c.SupportAutoClose, err = duration(get("SUPPORT_AUTOCLOSE", "24h"), time.Minute, 30*24*time.Hour); err != nil {
		ps.add("SUPPORT_AUTOCLOSE", "%v", err)
	}
	switch c.SupportLang = get("SUPPORT_LANG", "ru"); c.SupportLang {
	case "ru", "en":
	default:
		ps.add("SUPPORT_LANG", "must be ru or en")
	}
	if c.SupportWebhookURL = get("SUPPORT_WEBHOOK_URL", ""); c.SupportWebhookURL == "" {
		return
	}
	if !httpURL(c.SupportWebhookURL) {
		ps.add("SUPPORT_WEBHOOK_URL", "must be the http(s) URL the helpdesk receives support events at, such as https://helpdesk.example.ru/kabinet")
	}
	// Any text will do as an HMAC key, but the helpdesk holds it: it must
	// not be one of the bot's own secrets.
	const hint = "at least 32 random characters (openssl rand -hex 32); the helpdesk checks each POST's X-Kabinet-Signature with the same secret"
	switch v := get("SUPPORT_WEBHOOK_SECRET", ""); {
	case v == "":
		ps.add("SUPPORT_WEBHOOK_SECRET", "is required with SUPPORT_WEBHOOK_URL: %s", hint)
	case len(v) < 32:
		ps.add("SUPPORT_WEBHOOK_SECRET", "is too short: %s; it has only %d", hint, len(v))
	case sameSecret([]byte(v), []byte(get("CODE_SECRET", ""))) || sameSecret([]byte(v), []byte(get("PAY_LINK_SECRET", ""))):
		ps.add("SUPPORT_WEBHOOK_SECRET", "must differ from CODE_SECRET and PAY_LINK_SECRET: the helpdesk holds it")
	default:
		c.SupportWebhookSecret = []byte(v)
	}
}

// loadOffices reads the offices screens' settings; an empty link keeps the
// built-in default, "none" hides the button.
func (c *Config) loadOffices(get func(name, def string) string, ps *problems) {
	c.OfficesNearest = get("OFFICES_NEAREST", "all")
	switch c.OfficesNearest {
	case "all", "offices", "payments":
	default:
		ps.add("OFFICES_NEAREST", "must be all, offices or payments")
	}
	var err error
	if c.OfficesPageSize, err = positive(get("OFFICES_PAGE_SIZE", "5"), 1, 20); err != nil {
		ps.add("OFFICES_PAGE_SIZE", "%v", err)
	}
	c.OfficesLinks = map[string]string{}
	for _, name := range OfficeLinkNames {
		variable := "OFFICES_" + strings.ToUpper(name) + "_URL"
		v := get(variable, "")
		if v != "" && v != "none" && !httpURL(v) && !strings.HasPrefix(v, "tg://") {
			ps.add(variable, "must be an http(s) or tg:// URL, or none")
		}
		if v != "" {
			c.OfficesLinks[name] = v
		}
	}
	c.OfficesHotline = get("OFFICES_HOTLINE", "")
	if v := c.OfficesHotline; v != "" && v != "none" && !hotlinePattern.MatchString(v) {
		ps.add("OFFICES_HOTLINE", "must be a phone number as it is printed, like +7 (8652) 333-333, or none")
	}
	if v := get("OFFICES_HOTLINE_HOURS", ""); v != "" {
		days := strings.Split(v, ";")
		if len(days) != 7 {
			ps.add("OFFICES_HOTLINE_HOURS", "must be seven days, Monday to Sunday, separated by ';' (09:00-21:00;...;09:00-18:00), each like a day of the offices CSV")
			return
		}
		var h offices.Hours
		for i, d := range days {
			spans, err := offices.ParseDay(d)
			if err != nil {
				ps.add("OFFICES_HOTLINE_HOURS", "day %d: %v", i+1, err)
				return
			}
			h[i] = spans
		}
		c.OfficesHotlineHours = &h
	}
}

// hotlinePattern is a phone as people print it: digits, spaces, +, ( ) and -.
var hotlinePattern = regexp.MustCompile(`^\+?[0-9][0-9 ()\-]{4,28}[0-9]$`)

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
