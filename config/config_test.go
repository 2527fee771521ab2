package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/money"
	"github.com/kabinet-bot/kabinet/payments"
)

const (
	codeSecret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	linkSecret = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

// env is a valid environment for serve with the overrides applied; an
// override of "" removes the variable.
func env(overrides map[string]string) func(string) string {
	e := map[string]string{
		"TELEGRAM_TOKEN":  "123:abc",
		"CODE_SECRET":     codeSecret,
		"PAY_LINK_SECRET": linkSecret,
	}
	for k, v := range overrides {
		if v == "" {
			delete(e, k)
			continue
		}
		e[k] = v
	}
	return func(k string) string { return e[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.PayProvider != PayProviderLink || c.PayLinkTemplate != DefaultPayLinkTemplate || c.PayLinkTTL != 24*time.Hour {
		t.Errorf("pay link defaults: %q %q %v", c.PayProvider, c.PayLinkTemplate, c.PayLinkTTL)
	}
	if len(c.PayLinkSecret) != 32 {
		t.Errorf("PAY_LINK_SECRET read as %d bytes, want 32", len(c.PayLinkSecret))
	}
	if c.PayLimit != money.Rub(15000) {
		t.Errorf("PAY_LIMIT default %d kopecks, want 15 000 ₽", c.PayLimit)
	}
	if c.AutopayURLTemplate != DefaultAutopayURLTemplate || c.YooKassaAPIURL != payments.YooKassaAPI {
		t.Errorf("autopay %q, YooKassa API %q", c.AutopayURLTemplate, c.YooKassaAPIURL)
	}
	want, _ := payments.ParseNetworks(payments.YooKassaNetworks)
	if len(c.YooKassaAllowedIPs) != len(want) || len(want) == 0 {
		t.Errorf("YOOKASSA_ALLOWED_IPS default: %v", c.YooKassaAllowedIPs)
	}
	if c.TrustDays != 3 || c.TrustAmount != 0 || c.TrustFee != 0 || !c.TrustRequirePayment {
		t.Errorf("trust defaults: %d days, amount %d, fee %d, require payment %v", c.TrustDays, c.TrustAmount, c.TrustFee, c.TrustRequirePayment)
	}
	if c.SchedulerPoll != 2*time.Second {
		t.Errorf("SCHEDULER_POLL default %v", c.SchedulerPoll)
	}
	if c.NotifyRate != 25 || c.NotifyPaidBroadcast {
		t.Errorf("pushes: %d a second, paid broadcast %v; want 25, false", c.NotifyRate, c.NotifyPaidBroadcast)
	}
	if c.Workers != 64 || c.DatabaseMaxConns != 64+DatabaseConnsBeyondWorkers {
		t.Errorf("WORKERS %d, DATABASE_MAX_CONNS %d; want 64 and 64 + %d", c.Workers, c.DatabaseMaxConns, DatabaseConnsBeyondWorkers)
	}
}

// The pushes' rate: 25 a second by default, at most Telegram's free 30; a
// paid broadcast lifts it to 1000, which is then also the default.
func TestNotifyRate(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		rate int
		paid bool
	}{
		{map[string]string{"NOTIFY_RATE": "30"}, 30, false},
		{map[string]string{"NOTIFY_RATE": "1"}, 1, false},
		{map[string]string{"NOTIFY_PAID_BROADCAST": "true"}, 1000, true},
		{map[string]string{"NOTIFY_PAID_BROADCAST": "true", "NOTIFY_RATE": "200"}, 200, true},
		{map[string]string{"NOTIFY_PAID_BROADCAST": "false", "NOTIFY_RATE": "10"}, 10, false},
	} {
		c, err := Load(env(tc.env), true)
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if c.NotifyRate != tc.rate || c.NotifyPaidBroadcast != tc.paid {
			t.Errorf("%v: %d a second, paid %v; want %d, %v", tc.env, c.NotifyRate, c.NotifyPaidBroadcast, tc.rate, tc.paid)
		}
	}
	// Above 30 without paying, the error says how to go faster.
	_, err := Load(env(map[string]string{"NOTIFY_RATE": "100"}), true)
	if err == nil || !strings.Contains(err.Error(), "NOTIFY_PAID_BROADCAST=true") {
		t.Errorf("NOTIFY_RATE=100 alone: %v", err)
	}
}

// The pool follows WORKERS unless DATABASE_MAX_CONNS says otherwise: with
// fewer connections than workers, chats would queue for a connection.
func TestDatabaseMaxConns(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{"WORKERS": "16"}, 16 + DatabaseConnsBeyondWorkers},
		{map[string]string{"WORKERS": "1"}, 1 + DatabaseConnsBeyondWorkers},
		{map[string]string{"WORKERS": "16", "DATABASE_MAX_CONNS": "8"}, 8},
		{map[string]string{"DATABASE_MAX_CONNS": " 200 "}, 200},
	} {
		c, err := Load(env(tc.env), true)
		if err != nil || c.DatabaseMaxConns != tc.want {
			t.Errorf("%v: DATABASE_MAX_CONNS %d (%v), want %d", tc.env, c.DatabaseMaxConns, err, tc.want)
		}
	}
	// migrate and demo-data read it too: they open the same pool.
	if c, err := Load(env(map[string]string{"TELEGRAM_TOKEN": "", "WORKERS": "4"}), false); err != nil || c.DatabaseMaxConns != 4+DatabaseConnsBeyondWorkers {
		t.Errorf("without a token: %d, %v", c.DatabaseMaxConns, err)
	}
}

func TestPaymentSettingsAreRead(t *testing.T) {
	c, err := Load(env(map[string]string{
		"PAY_PROVIDER":          "YooKassa",
		"PAY_LINK_SECRET":       "", // not needed for YooKassa
		"PAY_LIMIT":             "30 000",
		"YOOKASSA_SHOP_ID":      "123456",
		"YOOKASSA_SECRET_KEY":   "test_key",
		"YOOKASSA_API_URL":      "http://127.0.0.1:9999/",
		"YOOKASSA_RETURN_URL":   "https://t.me/kabinet_bot",
		"YOOKASSA_ALLOWED_IPS":  "127.0.0.1, 10.0.0.0/8",
		"TRUST_DAYS":            "5",
		"TRUST_AMOUNT":          "300",
		"TRUST_FEE":             "49,90",
		"TRUST_REQUIRE_PAYMENT": "false",
		"SCHEDULER_POLL":        "250ms",
	}), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.PayProvider != PayProviderYooKassa || c.PayLimit != money.Rub(30000) || c.YooKassaAPIURL != "http://127.0.0.1:9999" {
		t.Errorf("provider %q, limit %d, API %q", c.PayProvider, c.PayLimit, c.YooKassaAPIURL)
	}
	if len(c.YooKassaAllowedIPs) != 2 || c.YooKassaAllowedIPs[0].String() != "127.0.0.1/32" {
		t.Errorf("allowed IPs %v", c.YooKassaAllowedIPs)
	}
	if c.TrustDays != 5 || c.TrustAmount != money.Rub(300) || c.TrustFee != 4990 || c.TrustRequirePayment || c.SchedulerPoll != 250*time.Millisecond {
		t.Errorf("trust %d days, amount %d, fee %d, require %v, poll %v", c.TrustDays, c.TrustAmount, c.TrustFee, c.TrustRequirePayment, c.SchedulerPoll)
	}
}

func TestFreezeSettingsAreRead(t *testing.T) {
	c, err := Load(env(map[string]string{
		"FREEZE_MIN_DAYS": "14", "FREEZE_MAX_DAYS": "60", "FREEZE_PER_YEAR": "1", "FREEZE_FEE": "50",
		"FREEZE_AHEAD_DAYS": "10", "BILLING_CYCLE": "0",
	}), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.FreezeMinDays != 14 || c.FreezeMaxDays != 60 || c.FreezePerYear != 1 || c.FreezeFee != money.Rub(50) || c.FreezeAheadDays != 10 || c.BillingCycle != 0 {
		t.Errorf("freeze %d-%d days, %d a year, fee %d, %d ahead, cycle %v", c.FreezeMinDays, c.FreezeMaxDays, c.FreezePerYear, c.FreezeFee, c.FreezeAheadDays, c.BillingCycle)
	}
	c, err = Load(env(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.FreezeMinDays != 7 || c.FreezeMaxDays != 90 || c.FreezePerYear != 2 || c.FreezeFee != 0 || c.FreezeAheadDays != 30 || c.BillingCycle != time.Minute {
		t.Errorf("defaults: freeze %d-%d days, %d a year, fee %d, %d ahead, cycle %v", c.FreezeMinDays, c.FreezeMaxDays, c.FreezePerYear, c.FreezeFee, c.FreezeAheadDays, c.BillingCycle)
	}
}

// Commands that take no money (migrate, demo-data) need no payment secrets.
func TestPaymentSecretsOnlyForServe(t *testing.T) {
	if _, err := Load(env(map[string]string{"TELEGRAM_TOKEN": "", "CODE_SECRET": "", "PAY_LINK_SECRET": ""}), false); err != nil {
		t.Errorf("migrate without secrets: %v", err)
	}
	if _, err := Load(env(map[string]string{"PAY_PROVIDER": "yookassa", "YOOKASSA_SHOP_ID": "1"}), false); err != nil {
		t.Errorf("migrate with YooKassa and no secret key: %v", err)
	}
}

// problemsOf is the list Load's error carries, failing the test when the
// error is not an *Error.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Load error %v (%T) is not a *config.Error", err, err)
	}
	return e.Problems
}

// Every bad value is refused at start with an error that names the
// variable to fix, never calls a value that is set "required", and never
// repeats a secret.
func TestBadValuesNameTheirVariable(t *testing.T) {
	smpp := map[string]string{"SMS_PROVIDER": "smpp", "SMPP_ADDR": "smsc.example:2775", "SMPP_SYSTEM_ID": "kabinet", "SMPP_SOURCE_ADDR": "Kabinet"}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for bk, bv := range base {
			if bk != k {
				out[bk] = bv
			}
		}
		return out
	}
	for _, tc := range []struct {
		name, variable string
		env            map[string]string
	}{
		{"no token", "TELEGRAM_TOKEN", map[string]string{"TELEGRAM_TOKEN": ""}},
		{"api url", "TELEGRAM_API_URL", map[string]string{"TELEGRAM_API_URL": "ftp://x"}},
		{"database", "DATABASE_URL", map[string]string{"DATABASE_URL": "mysql://x"}},
		{"redis", "REDIS_URL", map[string]string{"REDIS_URL": "http://x"}},
		{"webhook url", "WEBHOOK_URL", map[string]string{"WEBHOOK_URL": "hooks.example/h", "WEBHOOK_SECRET": "s3cret"}},
		{"no webhook secret", "WEBHOOK_SECRET", map[string]string{"WEBHOOK_URL": "https://x.example/h"}},
		{"webhook secret with a bad character", "WEBHOOK_SECRET", map[string]string{"WEBHOOK_URL": "https://x.example/h", "WEBHOOK_SECRET": "s3cret!"}},
		{"webhook secret too long", "WEBHOOK_SECRET", map[string]string{"WEBHOOK_URL": "https://x.example/h", "WEBHOOK_SECRET": strings.Repeat("s", 257)}},
		{"log level", "LOG_LEVEL", map[string]string{"LOG_LEVEL": "loud"}},
		{"log format", "LOG_FORMAT", map[string]string{"LOG_FORMAT": "xml"}},
		{"time zone", "TIME_ZONE", map[string]string{"TIME_ZONE": "Mars/Olympus"}},
		{"no code secret", "CODE_SECRET", map[string]string{"CODE_SECRET": ""}},
		{"short code secret", "CODE_SECRET", map[string]string{"CODE_SECRET": "abcd"}},
		{"code secret not hex", "CODE_SECRET", map[string]string{"CODE_SECRET": strings.Repeat("xy", 32)}},
		{"code secret odd length", "CODE_SECRET", map[string]string{"CODE_SECRET": codeSecret + "0"}},
		{"max accounts", "MAX_ACCOUNTS", map[string]string{"MAX_ACCOUNTS": "many"}},
		{"workers", "WORKERS", map[string]string{"WORKERS": "0"}},
		{"database max conns zero", "DATABASE_MAX_CONNS", map[string]string{"DATABASE_MAX_CONNS": "0"}},
		{"database max conns nonsense", "DATABASE_MAX_CONNS", map[string]string{"DATABASE_MAX_CONNS": "WORKERS+5"}},
		{"database max conns in the URL too", "DATABASE_URL", map[string]string{"DATABASE_URL": "postgres://kabinet:pw-in-url@db/kabinet?pool_max_conns=10"}},
		{"nearest", "OFFICES_NEAREST", map[string]string{"OFFICES_NEAREST": "banks"}},
		{"page size", "OFFICES_PAGE_SIZE", map[string]string{"OFFICES_PAGE_SIZE": "100"}},
		{"viber link", "OFFICES_VIBER_URL", map[string]string{"OFFICES_VIBER_URL": "viber://chat?number=1"}},

		{"sms provider", "SMS_PROVIDER", map[string]string{"SMS_PROVIDER": "pigeon"}},
		{"sms http url", "SMS_HTTP_URL", map[string]string{"SMS_PROVIDER": "http"}},
		{"smpp address", "SMPP_ADDR", with(smpp, "SMPP_ADDR", "smsc.example")},
		{"smpp password", "SMPP_PASSWORD", with(smpp, "SMPP_PASSWORD", "123456789")},

		{"provider", "PAY_PROVIDER", map[string]string{"PAY_PROVIDER": "paypal"}},
		{"no link secret", "PAY_LINK_SECRET", map[string]string{"PAY_LINK_SECRET": ""}},
		{"short link secret", "PAY_LINK_SECRET", map[string]string{"PAY_LINK_SECRET": "00112233445566778899aabbccddeeff"}},
		{"link secret not hex", "PAY_LINK_SECRET", map[string]string{"PAY_LINK_SECRET": strings.Repeat("zz", 32)}},
		{"link secret = code secret", "PAY_LINK_SECRET", map[string]string{"PAY_LINK_SECRET": codeSecret}},
		{"template not a URL", "PAY_LINK_TEMPLATE", map[string]string{"PAY_LINK_TEMPLATE": "zelenaya.net/pay"}},
		{"template without sig", "PAY_LINK_TEMPLATE", map[string]string{"PAY_LINK_TEMPLATE": "https://p.example/?account={account}&amount={amount}&expires={expires}"}},
		{"template with swapped names", "PAY_LINK_TEMPLATE", map[string]string{"PAY_LINK_TEMPLATE": "https://p.example/?account={amount}&amount={account}&expires={expires}&sig={sig}"}},
		{"link ttl", "PAY_LINK_TTL", map[string]string{"PAY_LINK_TTL": "forever"}},
		{"link ttl too short", "PAY_LINK_TTL", map[string]string{"PAY_LINK_TTL": "5s"}},
		{"autopay without account", "AUTOPAY_URL_TEMPLATE", map[string]string{"AUTOPAY_URL_TEMPLATE": "https://p.example/autopay"}},
		{"limit nonsense", "PAY_LIMIT", map[string]string{"PAY_LIMIT": "lots"}},
		{"limit zero", "PAY_LIMIT", map[string]string{"PAY_LIMIT": "0"}},
		{"limit negative", "PAY_LIMIT", map[string]string{"PAY_LIMIT": "-100"}},
		{"yookassa without shop", "YOOKASSA_SHOP_ID", map[string]string{"PAY_PROVIDER": "yookassa"}},
		{"yookassa without key", "YOOKASSA_SECRET_KEY", map[string]string{"PAY_PROVIDER": "yookassa", "YOOKASSA_SHOP_ID": "123"}},
		{"yookassa api", "YOOKASSA_API_URL", map[string]string{"YOOKASSA_API_URL": "api.yookassa.ru"}},
		{"return url", "YOOKASSA_RETURN_URL", map[string]string{"YOOKASSA_RETURN_URL": "t.me/bot"}},
		{"allowed ips", "YOOKASSA_ALLOWED_IPS", map[string]string{"YOOKASSA_ALLOWED_IPS": "185.71.76.0/33"}},
		{"allowed ips empty list", "YOOKASSA_ALLOWED_IPS", map[string]string{"YOOKASSA_ALLOWED_IPS": ", ,"}},
		{"trust days", "TRUST_DAYS", map[string]string{"TRUST_DAYS": "0"}},
		{"trust amount", "TRUST_AMOUNT", map[string]string{"TRUST_AMOUNT": "-5"}},
		{"trust fee", "TRUST_FEE", map[string]string{"TRUST_FEE": "free"}},
		{"trust require payment", "TRUST_REQUIRE_PAYMENT", map[string]string{"TRUST_REQUIRE_PAYMENT": "sometimes"}},
		{"scheduler poll", "SCHEDULER_POLL", map[string]string{"SCHEDULER_POLL": "2"}},
		{"freeze min days", "FREEZE_MIN_DAYS", map[string]string{"FREEZE_MIN_DAYS": "0"}},
		{"freeze max below min", "FREEZE_MAX_DAYS", map[string]string{"FREEZE_MIN_DAYS": "30", "FREEZE_MAX_DAYS": "14"}},
		{"freeze per year", "FREEZE_PER_YEAR", map[string]string{"FREEZE_PER_YEAR": "many"}},
		{"freeze fee", "FREEZE_FEE", map[string]string{"FREEZE_FEE": "-1"}},
		{"freeze ahead", "FREEZE_AHEAD_DAYS", map[string]string{"FREEZE_AHEAD_DAYS": "1000"}},
		{"billing cycle", "BILLING_CYCLE", map[string]string{"BILLING_CYCLE": "daily"}},
		{"self-service billing url", "SELFSERVICE_BILLING_URL", map[string]string{"SELFSERVICE_BILLING_URL": "billing.example/api"}},
		{"notify rate nonsense", "NOTIFY_RATE", map[string]string{"NOTIFY_RATE": "fast"}},
		{"notify rate zero", "NOTIFY_RATE", map[string]string{"NOTIFY_RATE": "0"}},
		{"notify rate fractional", "NOTIFY_RATE", map[string]string{"NOTIFY_RATE": "2.5"}},
		{"notify rate above the free limit", "NOTIFY_RATE", map[string]string{"NOTIFY_RATE": "31"}},
		{"notify rate above the paid limit", "NOTIFY_RATE", map[string]string{"NOTIFY_RATE": "1001", "NOTIFY_PAID_BROADCAST": "true"}},
		{"paid broadcast", "NOTIFY_PAID_BROADCAST", map[string]string{"NOTIFY_PAID_BROADCAST": "yes please"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env), true)
			if err == nil {
				t.Fatalf("accepted %v", tc.env)
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Variable != tc.variable || !strings.HasPrefix(ps[0].Text, tc.variable+" ") {
				t.Fatalf("problems %+v, want one, of %s", ps, tc.variable)
			}
			if err.Error() != ps[0].Text {
				t.Errorf("one problem reads %q, want its text alone", err)
			}
			if tc.env[tc.variable] != "" && strings.Contains(err.Error(), "required") {
				t.Errorf("%s is set, yet the error says it is required: %v", tc.variable, err)
			}
			for _, secret := range []string{codeSecret, linkSecret, tc.env["CODE_SECRET"], tc.env["PAY_LINK_SECRET"], tc.env["WEBHOOK_SECRET"], tc.env["SMPP_PASSWORD"], "pw-in-url"} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats a secret: %v", err)
				}
			}
		})
	}
}

// The case: a CODE_SECRET that is set but too short is "too short",
// not "required"; each way of being wrong says so, with what is expected.
func TestCodeSecretSaysWhatIsWrong(t *testing.T) {
	for value, want := range map[string]string{
		"abc":                    "CODE_SECRET is too short: at least 32 random bytes in hex (openssl rand -hex 32), which is 64 hex digits; it has only 3",
		"":                       "CODE_SECRET is required: at least 32 random bytes in hex (openssl rand -hex 32); it keys the SMS-code hashes",
		strings.Repeat("g", 64):  "CODE_SECRET is not hex: at least 32 random bytes in hex (openssl rand -hex 32), only the digits 0-9 and a-f",
		strings.Repeat("a", 65):  "CODE_SECRET has an odd number of hex digits, so it is not whole bytes: at least 32 random bytes in hex (openssl rand -hex 32)",
		strings.Repeat("Ab", 32): "",
		"  " + codeSecret + "\n": "",
	} {
		c, err := Load(env(map[string]string{"CODE_SECRET": value}), true)
		if want == "" {
			if err != nil || len(c.CodeSecret) != 32 {
				t.Errorf("CODE_SECRET=%q: %v, %d bytes", value, err, len(c.CodeSecret))
			}
			continue
		}
		if err == nil || err.Error() != want {
			t.Errorf("CODE_SECRET=%q: %v\nwant %s", value, err, want)
		}
	}
}

// A wrong environment is reported whole, in one error: every variable,
// one line each, in the order of the README's table.
func TestEveryProblemAtOnce(t *testing.T) {
	const badSecret = "not-a-secret-but-treated-as-one"
	_, err := Load(env(map[string]string{
		"TELEGRAM_TOKEN":     "",
		"CODE_SECRET":        "abc",
		"PAY_LINK_SECRET":    badSecret,
		"WEBHOOK_URL":        "https://x.example/h",
		"WEBHOOK_SECRET":     badSecret + "!",
		"SMS_PROVIDER":       "smpp",
		"WORKERS":            "0",
		"DATABASE_MAX_CONNS": "-1",
		"LOG_LEVEL":          "loud",
		"TIME_ZONE":          "Mars/Olympus",
		"OFFICES_VIBER_URL":  "viber://chat?number=1",
	}), true)
	if err == nil {
		t.Fatal("accepted")
	}
	var got []string
	for _, p := range problemsOf(t, err) {
		got = append(got, p.Variable)
	}
	want := []string{"TELEGRAM_TOKEN", "WEBHOOK_SECRET", "CODE_SECRET", "SMPP_ADDR", "SMPP_SYSTEM_ID", "SMPP_SOURCE_ADDR",
		"TIME_ZONE", "WORKERS", "DATABASE_MAX_CONNS", "LOG_LEVEL", "PAY_LINK_SECRET", "OFFICES_VIBER_URL"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("problems of\n%v\nwant\n%v", got, want)
	}

	lines := strings.Split(err.Error(), "\n")
	if lines[0] != "12 settings to fix:" || len(lines) != 1+len(want) {
		t.Fatalf("error reads:\n%s", err)
	}
	for i, v := range want {
		if !strings.HasPrefix(lines[i+1], "  "+v+" ") && !strings.HasPrefix(lines[i+1], "  "+v+":") {
			t.Errorf("line %d = %q, want it about %s", i+2, lines[i+1], v)
		}
	}
	if !strings.Contains(err.Error(), "CODE_SECRET is too short") || !strings.Contains(err.Error(), "PAY_LINK_SECRET is not hex") {
		t.Errorf("the secrets' problems are not told apart:\n%s", err)
	}
	if strings.Contains(err.Error(), badSecret) {
		t.Errorf("the error repeats a secret:\n%s", err)
	}
}

func TestOfficeSettings(t *testing.T) {
	c, err := Load(env(map[string]string{"OFFICES_NEAREST": "payments", "OFFICES_VK_URL": "none", "OFFICES_DIRECTOR_URL": "https://example.ru/director"}), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.OfficesNearest != "payments" || c.OfficesPageSize != 5 || c.OfficesLinks["vk"] != "none" || c.OfficesLinks["director"] != "https://example.ru/director" {
		t.Errorf("offices settings: %q %d %v", c.OfficesNearest, c.OfficesPageSize, c.OfficesLinks)
	}
	if _, ok := c.OfficesLinks["whatsapp"]; ok {
		t.Error("an unset link must keep the built-in default")
	}
}

func TestSupportSettings(t *testing.T) {
	c, err := Load(env(map[string]string{
		"SUPPORT_CHAT_IDS": "-1001, -1002", "SUPPORT_ROUTING": "Липецк=-1002; Москва=-1001", "SUPPORT_AUTOCLOSE": "48h", "SUPPORT_LANG": "en",
	}), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SupportChats) != 2 || c.SupportCities["Липецк"] != -1002 || c.SupportAutoClose.Hours() != 48 || c.SupportLang != "en" {
		t.Fatalf("read %+v %+v %v %q", c.SupportChats, c.SupportCities, c.SupportAutoClose, c.SupportLang)
	}
	_, err = Load(env(map[string]string{"SUPPORT_CHAT_IDS": "12345", "SUPPORT_ROUTING": "Липецк", "SUPPORT_HOURS": "weekdays 9-21", "SUPPORT_LANG": "de"}), true)
	for _, name := range []string{"SUPPORT_CHAT_IDS", "SUPPORT_ROUTING", "SUPPORT_HOURS", "SUPPORT_LANG"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("no complaint about %s: %v", name, err)
		}
	}
}
