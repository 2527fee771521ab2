package httpbilling_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/billingtest"
	"github.com/kabinet-bot/kabinet/billing/httpbilling"
	"github.com/kabinet-bot/kabinet/billing/httpbilling/httpbillingtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/money"
)

// A billing over HTTP is a self-service billing like the demo one, and
// answers the account reads as the demo one does.
var (
	_ dialogs.SelfService     = (*httpbilling.Client)(nil)
	_ dialogs.BillingAccounts = (*httpbilling.Client)(nil)
	_ dialogs.Trust           = (*httpbilling.Client)(nil)
)

func fake(t *testing.T) (*httpbillingtest.Billing, *httpbilling.Client) {
	b := httpbillingtest.New(func() time.Time { return billingtest.Now }, billing.DefaultFreezeRules())
	b.AddPlan(httpbillingtest.Plan{TariffPlan: billing.TariffPlan{ID: 1, Name: "Тест", Kind: "home", SpeedMbps: 100, MonthlyFee: money.Rub(500)}})
	b.AddPlan(httpbillingtest.Plan{TariffPlan: billing.TariffPlan{ID: 2, Name: "Быстрый", Kind: "home", SpeedMbps: 500, MonthlyFee: money.Rub(750)}, Cities: []string{"Москва"}})
	b.AddPlan(httpbillingtest.Plan{TariffPlan: billing.TariffPlan{ID: 3, Name: "Офис", Kind: "business", SpeedMbps: 200, MonthlyFee: money.Rub(2500)}})
	b.AddService(billing.ServiceOption{ID: 10, Name: "Статический IP", Kind: "extra", MonthlyFee: money.Rub(150)})
	b.AddAccount(httpbillingtest.Account{ID: 77, Number: "1000777001", Phone: "+79990007001", OpenedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Status: billing.StatusActive, Balance: money.Rub(1000), Kind: "home", City: "Москва", Tariff: 1, ChargeDay: 10})
	return b, httpbilling.New(b.Serve(t), "s3cret", nil)
}

// The billing over HTTP passes the contract the demo billing passes,
// against the in-process billing that speaks the API.
func TestSelfServiceContract(t *testing.T) {
	billingtest.Contract(t, func(t *testing.T) billingtest.Fixture {
		b, c := fake(t)
		return billingtest.Fixture{Billing: c, Account: 77, Plan: 2, OtherKind: 3, Service: 10, Balance: func() money.Amount { return b.Balance(77) }}
	})
}

// The billing over HTTP passes the account reads' contract the demo
// billing passes.
func TestAccountsContract(t *testing.T) {
	billingtest.AccountsContract(t, func(t *testing.T) billingtest.AccountsFixture {
		b, c := fake(t)
		// Another contract on another phone, closed, which no lookup by
		// that phone may list.
		b.AddAccount(httpbillingtest.Account{ID: 78, Number: "1000777002", Phone: "+79990009999", Status: billing.StatusClosed, City: "Москва", Tariff: 1, ChargeDay: 10})
		return billingtest.AccountsFixture{Accounts: c, Account: 77, Number: "1000777001", Phone: "+79990007001",
			Pay: func(amount money.Amount, paidAt time.Time) { b.AddPayment(77, amount, paidAt) }}
	})
}

// The billing over HTTP passes the trust payment's contract the demo
// billing passes; the fake judges with billing.CheckTrust, as any Go
// billing may.
func TestTrustContract(t *testing.T) {
	billingtest.TrustContract(t, func(t *testing.T) billingtest.TrustFixture {
		b, c := fake(t)
		b.Trust = billingtest.TrustSettings()
		b.AddAccount(httpbillingtest.Account{ID: 80, Number: "1000777080", Status: billing.StatusActive, Balance: money.Rub(-500), Kind: "home", City: "Москва", Tariff: 1, ChargeDay: 10})
		return billingtest.TrustFixture{Trust: c, Debtor: 80, Rich: 77, Balance: b.Balance}
	})
}

// A phone goes to the billing in a request's body, never in its URL,
// where an access log would keep it.
func TestAPhoneIsNeverInAURL(t *testing.T) {
	var urls []string
	b, _ := fake(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		urls = append(urls, r.URL.String())
		b.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := httpbilling.New(srv.URL, "", nil)
	found, err := c.AccountsByPhone(context.Background(), "+79990007001")
	if err != nil || len(found) != 1 {
		t.Fatalf("by phone: %+v, %v", found, err)
	}
	for _, u := range urls {
		if strings.Contains(u, "7999") {
			t.Errorf("a phone in the URL %s", u)
		}
	}
	if len(urls) != 1 {
		t.Errorf("%d requests, want 1", len(urls))
	}
}

// Every change names the request and the Telegram user; reads name none.
func TestChangesCarryTheKeyAndTheUser(t *testing.T) {
	b, c := fake(t)
	ctx := context.Background()
	if _, _, err := c.Freeze(ctx, billing.ChangeRequest{Key: "self:700:77:u5", UserID: 700}, 77, billingtest.Now, 14, billingtest.Now, billing.DefaultFreezeRules()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.FreezeState(ctx, 77, 2026); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /accounts/77/freeze 700 self:700:77:u5", "GET /accounts/77/freeze  "}
	if strings.Join(b.Calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls %q, want %q", b.Calls, want)
	}
}

// A billing that fails answers an error to retry, never a refusal or a
// success; a token goes as a bearer.
func TestABillingThatFails(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := httpbilling.New(srv.URL, "tok", nil)
	_, changed, err := c.SetService(context.Background(), billing.ChangeRequest{Key: "k"}, 1, 2, true, billingtest.Now)
	if err == nil || changed {
		t.Errorf("a 502: changed %v, %v", changed, err)
	}
	if auth != "Bearer tok" {
		t.Errorf("Authorization %q", auth)
	}
	srv.Close()
	if _, err := c.Tariffs(context.Background(), 1); err == nil || strings.Contains(err.Error(), srv.URL) {
		t.Errorf("a refused connection: %v (the URL must not be in it)", err)
	}
}

// openapi.yaml documents every call the client makes, with its method.
func TestTheAPIIsDocumented(t *testing.T) {
	spec, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(spec)
	for path, methods := range map[string][]string{
		"/accounts/{id}":                    {"get"},
		"/accounts/lookup":                  {"post"},
		"/accounts/{id}/payments":           {"get"},
		"/accounts/{id}/trust-offer":        {"get"},
		"/accounts/{id}/trust":              {"post"},
		"/accounts/{id}/tariffs":            {"get"},
		"/accounts/{id}/tariff-change":      {"post", "delete"},
		"/accounts/{id}/services":           {"get"},
		"/accounts/{id}/services/{service}": {"put", "delete"},
		"/accounts/{id}/freeze":             {"get", "post", "delete"},
		"/accounts/{id}/usage":              {"get"},
		"/accounts/{id}/operations":         {"get"},
	} {
		i := strings.Index(doc, "\n  "+path+":\n")
		if i < 0 {
			t.Errorf("%s is not in openapi.yaml", path)
			continue
		}
		section := doc[i+1:]
		if j := strings.Index(section[1:], "\n  /"); j >= 0 {
			section = section[:j+1]
		}
		for _, m := range methods {
			if !strings.Contains(section, "\n    "+m+":") {
				t.Errorf("%s %s is not in openapi.yaml", strings.ToUpper(m), path)
			}
		}
	}
	for _, h := range []string{"Idempotency-Key", "X-Kabinet-User", "bearer"} {
		if !strings.Contains(doc, h) {
			t.Errorf("openapi.yaml does not say %s", h)
		}
	}
}
