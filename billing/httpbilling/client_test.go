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

// A billing over HTTP is a self-service billing like the demo one.
var _ dialogs.SelfService = (*httpbilling.Client)(nil)

func fake(t *testing.T) (*httpbillingtest.Billing, *httpbilling.Client) {
	b := httpbillingtest.New(func() time.Time { return billingtest.Now }, billing.DefaultFreezeRules())
	b.AddPlan(httpbillingtest.Plan{TariffPlan: billing.TariffPlan{ID: 1, Name: "Тест", Kind: "home", SpeedMbps: 100, MonthlyFee: money.Rub(500)}})
	b.AddPlan(httpbillingtest.Plan{TariffPlan: billing.TariffPlan{ID: 2, Name: "Быстрый", Kind: "home", SpeedMbps: 500, MonthlyFee: money.Rub(750)}, Cities: []string{"Москва"}})
	b.AddPlan(httpbillingtest.Plan{TariffPlan: billing.TariffPlan{ID: 3, Name: "Офис", Kind: "business", SpeedMbps: 200, MonthlyFee: money.Rub(2500)}})
	b.AddService(billing.ServiceOption{ID: 10, Name: "Статический IP", Kind: "extra", MonthlyFee: money.Rub(150)})
	b.AddAccount(httpbillingtest.Account{ID: 77, Status: billing.StatusActive, Balance: money.Rub(1000), Kind: "home", City: "Москва", Tariff: 1, ChargeDay: 10})
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
