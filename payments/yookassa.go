package payments

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/money"
)

// YooKassaAPI is the production endpoint of YooKassa's API v3.
const YooKassaAPI = "https://api.yookassa.ru/v3"

// MetadataAccount is the metadata key that carries the account number in a
// YooKassa payment: the provider's accountants see it in YooKassa's cabinet,
// and the webhook checks it against what the bot created.
const MetadataAccount = "account"

// YooKassa is a client of the two calls Kabinet needs from YooKassa's API v3:
// creating a payment and reading one back.
type YooKassa struct {
	base   string
	shopID string
	secret string
	http   *http.Client
}

// NewYooKassa returns a client. base is YooKassaAPI in production (an
// httptest server in tests); shopID and secretKey are the Basic auth
// credentials from YooKassa's cabinet.
func NewYooKassa(base, shopID, secretKey string, hc *http.Client) *YooKassa {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &YooKassa{base: strings.TrimRight(base, "/"), shopID: shopID, secret: secretKey, http: hc}
}

// NewPayment is what Create sends.
type NewPayment struct {
	Amount      money.Amount
	Description string
	ReturnURL   string // where YooKassa's page sends the payer back (the bot's t.me link)
	Account     string // account number, put in metadata
	// IdempotenceKey makes YooKassa answer a repeated request with the
	// payment the first one created (for 24 hours): a retry after a network
	// failure cannot create a second payment. At most 64 characters.
	IdempotenceKey string
}

// YooPayment is the part of YooKassa's payment object Kabinet reads.
type YooPayment struct {
	ID              string
	Status          string // pending, waiting_for_capture, succeeded, canceled
	Paid            bool
	Amount          money.Amount
	Currency        string
	ConfirmationURL string
	Metadata        map[string]string
	CreatedAt       time.Time
	CapturedAt      time.Time
}

// YooKassaError is an error answer of the API (400, 401, 403, 404, 429, 500).
// Temporary tells whether repeating the same request may succeed.
type YooKassaError struct {
	HTTPStatus  int
	Code        string
	Description string
}

func (e *YooKassaError) Error() string {
	return fmt.Sprintf("yookassa: HTTP %d %s: %s", e.HTTPStatus, e.Code, e.Description)
}

// Temporary: a 5xx, a 429 or a 202 ("still processing, repeat later").
func (e *YooKassaError) Temporary() bool {
	return e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus == http.StatusAccepted
}

// IdempotenceKey derives YooKassa's Idempotence-Key from a business key: the
// same intent always gives the same header, and the header reveals nothing
// of the user or the account it was made from.
func IdempotenceKey(businessKey string) string {
	sum := sha256.Sum256([]byte("kabinet/yookassa/" + businessKey))
	return hex.EncodeToString(sum[:]) // 64 characters, YooKassa's maximum
}

// Create creates a payment with capture: true (the money is taken at once,
// not held) and a redirect confirmation.
func (c *YooKassa) Create(ctx context.Context, p NewPayment) (_ YooPayment, err error) {
	defer wrapErr(&err, "yookassa: create payment")
	if p.IdempotenceKey == "" || len(p.IdempotenceKey) > 64 {
		return YooPayment{}, errors.New("idempotence key must be 1..64 characters")
	}
	body := map[string]any{
		"amount":  amountJSON{Value: FormatValue(p.Amount), Currency: "RUB"},
		"capture": true,
		"confirmation": map[string]string{
			"type":       "redirect",
			"return_url": p.ReturnURL,
		},
		"description": p.Description,
		"metadata":    map[string]string{MetadataAccount: p.Account},
	}
	buf, err := json.Marshal(body)
	if err != nil {
		return YooPayment{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/payments", bytes.NewReader(buf))
	if err != nil {
		return YooPayment{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotence-Key", p.IdempotenceKey)
	return c.do(req)
}

// Get reads a payment by its YooKassa id. The webhook trusts only this, never
// the notification's body.
func (c *YooKassa) Get(ctx context.Context, id string) (_ YooPayment, err error) {
	defer wrapErr(&err, "yookassa: get payment")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/payments/"+url.PathEscape(id), nil)
	if err != nil {
		return YooPayment{}, err
	}
	return c.do(req)
}

type amountJSON struct {
	Value    string `json:"value"`
	Currency string `json:"currency"`
}

type paymentJSON struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Paid         bool       `json:"paid"`
	Amount       amountJSON `json:"amount"`
	Confirmation *struct {
		Type            string `json:"type"`
		ConfirmationURL string `json:"confirmation_url"`
	} `json:"confirmation"`
	Metadata   map[string]string `json:"metadata"`
	CreatedAt  time.Time         `json:"created_at"`
	CapturedAt *time.Time        `json:"captured_at"`
}

func (c *YooKassa) do(req *http.Request) (YooPayment, error) {
	req.SetBasicAuth(c.shopID, c.secret)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error prints the URL; ours carries no secret (Basic auth is
		// a header), but keep only the cause so logs stay short.
		var ue *url.Error
		if errors.As(err, &ue) {
			return YooPayment{}, fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		return YooPayment{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return YooPayment{}, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code        string `json:"code"`
			Description string `json:"description"`
		}
		_ = json.Unmarshal(raw, &e) // a body that is not JSON still gives the status
		return YooPayment{}, &YooKassaError{HTTPStatus: resp.StatusCode, Code: e.Code, Description: e.Description}
	}
	var pj paymentJSON
	if err := json.Unmarshal(raw, &pj); err != nil {
		return YooPayment{}, fmt.Errorf("decode payment: %w", err)
	}
	amount, err := ParseValue(pj.Amount.Value)
	if err != nil {
		return YooPayment{}, fmt.Errorf("decode payment amount: %w", err)
	}
	p := YooPayment{
		ID: pj.ID, Status: pj.Status, Paid: pj.Paid, Amount: amount, Currency: pj.Amount.Currency,
		Metadata: pj.Metadata, CreatedAt: pj.CreatedAt,
	}
	if pj.Confirmation != nil {
		p.ConfirmationURL = pj.Confirmation.ConfirmationURL
	}
	if pj.CapturedAt != nil {
		p.CapturedAt = *pj.CapturedAt
	}
	if p.ID == "" {
		return YooPayment{}, errors.New("payment without id")
	}
	return p, nil
}

// FormatValue writes kopecks as YooKassa's amount value: "500.00".
func FormatValue(a money.Amount) string {
	return fmt.Sprintf("%d.%02d", int64(a)/100, int64(a)%100)
}

// ParseValue reads YooKassa's amount value ("500.00", "500.5", "500") into
// kopecks, without ever going through a float.
func ParseValue(s string) (money.Amount, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || !digitsOnly(whole) || !digitsOnly(frac) {
		return 0, fmt.Errorf("amount value %q", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	r, err1 := strconv.ParseInt(whole, 10, 64)
	k, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || k < 0 || r > 1<<50 {
		return 0, fmt.Errorf("amount value %q", s)
	}
	return money.Amount(r*100 + k), nil
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func wrapErr(errp *error, op string) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", op, *errp)
	}
}
