package payments

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/money"
)

const testTemplate = "https://pay.example.ru/form?src=bot&account={account}&amount={amount}&expires={expires}&sig={sig}"

var linkSecret = []byte("0123456789abcdef-link-secret")

func newLink(t *testing.T, now time.Time) *LinkProvider {
	t.Helper()
	p, err := NewLinkProvider(testTemplate, linkSecret, time.Hour, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLinkCarriesAccountAndAmountAndVerifies(t *testing.T) {
	p := newLink(t, time.Now())
	link, err := p.PayURL(context.Background(), Request{AccountID: 1, AccountNumber: "1000234567", Amount: 500_50, Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, "https://pay.example.ru/form?src=bot&account=1000234567&amount=50050&expires=") {
		t.Errorf("link = %s", link)
	}
	if err := VerifyLink(linkSecret, link); err != nil {
		t.Errorf("VerifyLink(fresh link) = %v", err)
	}
	// The page may receive only the query string.
	if err := VerifyLink(linkSecret, link[strings.IndexByte(link, '?')+1:]); err != nil {
		t.Errorf("VerifyLink(query only) = %v", err)
	}
	acc, amt, err := LinkValues(link)
	if err != nil || acc != "1000234567" || amt != 500_50 {
		t.Errorf("LinkValues = %q, %d, %v", acc, amt, err)
	}
}

func TestLinkTamperingFails(t *testing.T) {
	p := newLink(t, time.Now())
	link, _ := p.PayURL(context.Background(), Request{AccountID: 1, AccountNumber: "1000234567", Amount: money.Rub(500)})
	tests := map[string]struct {
		link string
		want error
	}{
		"amount changed":    {strings.Replace(link, "amount=50000", "amount=5000", 1), ErrLinkSignature},
		"account changed":   {strings.Replace(link, "account=1000234567", "account=1000234568", 1), ErrLinkSignature},
		"expiry extended":   {strings.Replace(link, "expires=", "expires=9", 1), ErrLinkSignature},
		"amount doubled":    {link + "&amount=1", ErrLinkMalformed},
		"signature gone":    {strings.Split(link, "&sig=")[0], ErrLinkMalformed},
		"other secret":      {link, ErrLinkSignature},
		"not a link at all": {"%%%", ErrLinkMalformed},
	}
	for name, tc := range tests {
		secret := linkSecret
		if name == "other secret" {
			secret = []byte("another-secret-of-16-bytes")
		}
		if err := VerifyLink(secret, tc.link); !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifyLink = %v, want %v", name, err, tc.want)
		}
	}
}

func TestLinkExpires(t *testing.T) {
	// Made two hours ago with a lifetime of one hour.
	p := newLink(t, time.Now().Add(-2*time.Hour))
	link, _ := p.PayURL(context.Background(), Request{AccountID: 1, AccountNumber: "1000234567", Amount: money.Rub(500)})
	if err := VerifyLink(linkSecret, link); !errors.Is(err, ErrLinkExpired) {
		t.Errorf("VerifyLink(old link) = %v, want ErrLinkExpired", err)
	}
}

func TestLinkTemplateMustCarryTheParameters(t *testing.T) {
	for _, tmpl := range []string{
		"https://pay.example.ru/{account}/{amount}?expires={expires}&sig={sig}",
		"https://pay.example.ru/?acc={account}&amount={amount}&expires={expires}&sig={sig}",
		"https://pay.example.ru/?account={account}&amount={amount}&sig={sig}",
	} {
		if _, err := NewLinkProvider(tmpl, linkSecret, time.Hour, time.Now); err == nil {
			t.Errorf("NewLinkProvider(%q) accepted a template the page cannot verify", tmpl)
		}
	}
	if _, err := NewLinkProvider(testTemplate, []byte("short"), time.Hour, time.Now); err == nil {
		t.Error("NewLinkProvider accepted a 5-byte secret")
	}
}

func TestLinkRefusesBadRequest(t *testing.T) {
	p := newLink(t, time.Now())
	for _, r := range []Request{{AccountID: 1, AccountNumber: "1", Amount: 0}, {AccountID: 1, Amount: 100}, {AccountNumber: "1", Amount: 100}} {
		if _, err := p.PayURL(context.Background(), r); !errors.Is(err, ErrBadRequest) {
			t.Errorf("PayURL(%+v) = %v, want ErrBadRequest", r, err)
		}
	}
}
