package payments

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/money"
)

// The query parameters of a signed payment link. The provider's payment page
// reads exactly these, so they are fixed, not configurable: a template puts
// them anywhere in the query, with any other parameters of its own.
const (
	ParamAccount = "account" // account number, ASCII digits
	ParamAmount  = "amount"  // kopecks, decimal integer
	ParamExpires = "expires" // Unix seconds after which the link is refused
	ParamSig     = "sig"     // hex HMAC-SHA256 over the three above
)

// Errors VerifyLink returns; the payment page shows "the link is broken" or
// "the link is too old, ask the bot for a new one".
var (
	ErrLinkMalformed = errors.New("payments: payment link malformed")
	ErrLinkSignature = errors.New("payments: payment link signature mismatch")
	ErrLinkExpired   = errors.New("payments: payment link expired")
)

// LinkProvider builds links to the provider's own payment page (the seed's
// website form with the account and the sum filled in). The page cannot ask
// the bot whether a link is genuine, so every link carries an HMAC signature
// over the account, the sum and an expiry time, keyed with a secret the page
// shares; VerifyLink is the check the page runs.
type LinkProvider struct {
	template string
	secret   []byte
	ttl      time.Duration
	now      func() time.Time
}

// NewLinkProvider checks the template and returns the provider. The template
// is the page URL with the placeholders {account}, {amount}, {expires} and
// {sig} as the values of the query parameters of the same names, e.g.
// "https://pay.example.ru/?account={account}&amount={amount}&expires={expires}&sig={sig}".
// ttl is how long a link stays valid; now is the clock.
func NewLinkProvider(template string, secret []byte, ttl time.Duration, now func() time.Time) (*LinkProvider, error) {
	if len(secret) < 16 {
		return nil, errors.New("payments: link secret must be at least 16 bytes")
	}
	if ttl <= 0 {
		return nil, errors.New("payments: link lifetime must be positive")
	}
	p := &LinkProvider{template: template, secret: secret, ttl: ttl, now: now}
	// Render a sample and verify it: a template that puts a value under
	// another parameter name would make links the page cannot check.
	sample := p.render("123", 100, time.Unix(2_000_000_000, 0))
	if err := verifyLinkAt(secret, sample, time.Unix(0, 0)); err != nil {
		return nil, fmt.Errorf("payments: link template %q does not carry %s, %s, %s and %s as query parameters: %w",
			template, ParamAccount, ParamAmount, ParamExpires, ParamSig, err)
	}
	return p, nil
}

// PayURL returns the signed link for the request. It needs no storage: the
// link itself is the payment intent, and the page credits by its own ledger.
func (p *LinkProvider) PayURL(_ context.Context, r Request) (string, error) {
	if err := checkRequest(r); err != nil {
		return "", err
	}
	return p.render(r.AccountNumber, r.Amount, p.now().Add(p.ttl)), nil
}

func (p *LinkProvider) render(account string, amount money.Amount, expires time.Time) string {
	amt := strconv.FormatInt(int64(amount), 10)
	exp := strconv.FormatInt(expires.Unix(), 10)
	return strings.NewReplacer(
		"{account}", url.QueryEscape(account),
		"{amount}", amt,
		"{expires}", exp,
		"{sig}", linkSignature(p.secret, account, amt, exp),
	).Replace(p.template)
}

// linkSignature is the HMAC over the values exactly as they appear in the
// link, joined by a separator that none of them can contain.
func linkSignature(secret []byte, account, amount, expires string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(account + "|" + amount + "|" + expires))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyLink tells the provider's payment page whether a link came from the
// bot unchanged and is still valid. link is the full URL or only its query
// ("account=...&amount=..."). It returns nil, ErrLinkMalformed,
// ErrLinkSignature or ErrLinkExpired. Reuse it on the page as it is.
func VerifyLink(secret []byte, link string) error {
	return verifyLinkAt(secret, link, time.Now())
}

// LinkValues reads the account number and the sum from a link that
// VerifyLink accepted, for the payment page to fill its form.
func LinkValues(link string) (account string, amount money.Amount, err error) {
	q, err := linkQuery(link)
	if err != nil {
		return "", 0, err
	}
	v, err := strconv.ParseInt(q.Get(ParamAmount), 10, 64)
	if err != nil || v <= 0 {
		return "", 0, ErrLinkMalformed
	}
	return q.Get(ParamAccount), money.Amount(v), nil
}

func linkQuery(link string) (url.Values, error) {
	raw := link
	if i := strings.IndexByte(link, '?'); i >= 0 {
		raw = link[i+1:]
	}
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, ErrLinkMalformed
	}
	// A parameter given twice could make the page read a value other than
	// the signed one.
	for _, name := range []string{ParamAccount, ParamAmount, ParamExpires, ParamSig} {
		if len(q[name]) != 1 || q.Get(name) == "" {
			return nil, ErrLinkMalformed
		}
	}
	return q, nil
}

func verifyLinkAt(secret []byte, link string, now time.Time) error {
	q, err := linkQuery(link)
	if err != nil {
		return err
	}
	want := linkSignature(secret, q.Get(ParamAccount), q.Get(ParamAmount), q.Get(ParamExpires))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(q.Get(ParamSig)))) {
		return ErrLinkSignature
	}
	exp, err := strconv.ParseInt(q.Get(ParamExpires), 10, 64)
	if err != nil {
		return ErrLinkMalformed
	}
	if !now.Before(time.Unix(exp, 0)) {
		return ErrLinkExpired
	}
	return nil
}
