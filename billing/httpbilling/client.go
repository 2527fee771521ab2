// Package httpbilling is a provider's billing reached over HTTP: a
// provider whose billing is not Kabinet's demo database exposes the small
// JSON API described in openapi.yaml (next to this file), and Client
// implements dialogs.SelfService, dialogs.BillingAccounts (the account
// reads) and dialogs.Trust (offer and grant a trust payment) by calling it.
// serve uses it for the self-service only so far (SELFSERVICE_BILLING_URL):
// the account reads and the trust payment still come from the demo
// billing's tables, which Kabinet's own tables reference. httpbillingtest is an
// in-process billing that speaks the same API, for tests; the contract
// suite in billing/billingtest runs against both it and billing/postgres.
//
// The billing is the authority: it applies its own rules (those of
// billing.CanFreeze and billing.CheckTariffChange, which a Go billing may
// call as they are) with its own clock, so the rules and the time Kabinet
// passes to Client are not sent. Each change carries the request's key in
// an Idempotency-Key header and the Telegram user in X-Kabinet-User: the
// same key again must be answered as the first time and change nothing
// twice.
package httpbilling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/money"
)

// Client calls a provider's billing. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the API at base (https://billing.example/kabinet/v1);
// token, when set, goes as "Authorization: Bearer ...". hc nil is a client
// with a 10-second timeout.
func New(base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: hc}
}

// The API's JSON. Money is integer kopecks, days are "2006-01-02" in the
// account's zone, instants RFC 3339.

// Plan is a tariff plan.
type Plan struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	SpeedMbps  int    `json:"speed_mbps"`
	MonthlyFee int64  `json:"monthly_fee"`
	TV         bool   `json:"tv"`
}

// TariffChange is a change waiting for its day.
type TariffChange struct {
	To   Plan   `json:"to"`
	From string `json:"from"` // the day it takes effect
}

// Tariffs is the answer of GET /accounts/{id}/tariffs.
type Tariffs struct {
	Current   Plan          `json:"current"`
	Available []Plan        `json:"available"`
	Pending   *TariffChange `json:"pending,omitempty"`
}

// Service is a service with whether the account has it.
type Service struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	MonthlyFee int64  `json:"monthly_fee"`
	Connected  bool   `json:"connected"`
}

// UsageDay is one day of traffic.
type UsageDay struct {
	Day             string `json:"day"`
	BytesIn         int64  `json:"bytes_in"`
	BytesOut        int64  `json:"bytes_out"`
	Sessions        int    `json:"sessions"`
	SessionsSeconds int64  `json:"session_seconds"`
}

// Operation is one line of a statement.
type Operation struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Amount int64     `json:"amount"`
	What   string    `json:"what"`
}

// Freeze is a freeze running or scheduled.
type Freeze struct {
	ID     int64  `json:"id"`
	Start  string `json:"start"`
	End    string `json:"end"`
	Active bool   `json:"active"`
}

// FreezeState is the answer of GET /accounts/{id}/freeze.
type FreezeState struct {
	Freeze   *Freeze `json:"freeze,omitempty"`
	ThisYear int     `json:"count"`
	TimeZone string  `json:"time_zone"`
}

// FreezeRequest is the body of POST /accounts/{id}/freeze.
type FreezeRequest struct {
	Start string `json:"start"`
	Days  int    `json:"days"`
}

// Changed is the answer of every change: whether it changed the account,
// and what it made.
type Changed struct {
	Changed  bool          `json:"changed"`
	Freeze   *Freeze       `json:"freeze,omitempty"`
	Change   *TariffChange `json:"change,omitempty"`
	Charged  int64         `json:"charged,omitempty"`
	TimeZone string        `json:"time_zone,omitempty"`
}

// Refusal is the body of a 422: the rule that said no, a reason of
// billing.FreezeReason, billing.TariffReason or billing.TrustReason.
type Refusal struct {
	Refused string `json:"refused"` // "freeze", "tariff" or "trust"
	Reason  string `json:"reason"`
	// From is when a refused trust payment becomes possible (used_month).
	From *time.Time `json:"from,omitempty"`
}

// ErrStatus is a status the API does not define for the call.
var ErrStatus = errors.New("httpbilling: unexpected status")

// do makes one call: body (nil for none) as JSON, the answer decoded into
// out. 404 is billing.ErrNotFound, 422 a refusal; any other non-2xx an
// error to try again later.
func (c *Client) do(ctx context.Context, method, path string, req billing.ChangeRequest, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	hr.Header.Set("Accept", "application/json")
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	if req.Key != "" {
		hr.Header.Set("Idempotency-Key", req.Key)
	}
	if req.UserID != 0 {
		hr.Header.Set("X-Kabinet-User", strconv.FormatInt(req.UserID, 10))
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		// *url.Error carries the URL, which may hold a token: say only the path.
		return fmt.Errorf("httpbilling: %s %s: %w", method, path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("httpbilling: %s %s: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return billing.ErrNotFound
	case resp.StatusCode == http.StatusUnprocessableEntity:
		var ref Refusal
		if err := json.Unmarshal(data, &ref); err != nil {
			return fmt.Errorf("httpbilling: %s %s: a refusal that is not JSON: %w", method, path, err)
		}
		switch ref.Refused {
		case "freeze":
			return &billing.FreezeRefusal{Reason: billing.FreezeReason(ref.Reason)}
		case "tariff":
			return &billing.TariffRefusal{Reason: billing.TariffReason(ref.Reason)}
		case "trust":
			r := &billing.TrustRefusal{Reason: billing.TrustReason(ref.Reason)}
			if ref.From != nil {
				r.From = *ref.From
			}
			return r
		}
		return fmt.Errorf("httpbilling: %s %s: a refusal of %q", method, path, ref.Refused)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%w %d from %s %s", ErrStatus, resp.StatusCode, method, path)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("httpbilling: %s %s: %w", method, path, err)
	}
	return nil
}

func accountPath(id int64, rest string) string {
	return "/accounts/" + strconv.FormatInt(id, 10) + rest
}

// day reads a "2006-01-02" day in loc.
func day(s string, loc *time.Location) (time.Time, error) {
	return time.ParseInLocation(time.DateOnly, s, loc)
}

func zone(name string) *time.Location {
	if loc, err := time.LoadLocation(name); err == nil && name != "" {
		return loc
	}
	return time.UTC
}

func (p Plan) plan() billing.TariffPlan {
	return billing.TariffPlan{ID: p.ID, Name: p.Name, Kind: p.Kind, SpeedMbps: p.SpeedMbps, MonthlyFee: money.Amount(p.MonthlyFee), TV: p.TV}
}

func (ch *TariffChange) change(loc *time.Location) (billing.TariffChange, error) {
	from, err := day(ch.From, loc)
	return billing.TariffChange{To: ch.To.plan(), From: from}, err
}

func (f *Freeze) freeze(loc *time.Location) (billing.Freeze, error) {
	start, err1 := day(f.Start, loc)
	end, err2 := day(f.End, loc)
	return billing.Freeze{ID: f.ID, Start: start, End: end, Active: f.Active}, errors.Join(err1, err2)
}

// Tariffs implements dialogs.SelfService.
func (c *Client) Tariffs(ctx context.Context, accountID int64) (billing.Tariffs, error) {
	var w struct {
		Tariffs
		TimeZone string `json:"time_zone"`
	}
	if err := c.do(ctx, http.MethodGet, accountPath(accountID, "/tariffs"), billing.ChangeRequest{}, nil, &w); err != nil {
		return billing.Tariffs{}, err
	}
	out := billing.Tariffs{Current: w.Current.plan()}
	for _, p := range w.Available {
		out.Available = append(out.Available, p.plan())
	}
	if w.Pending != nil {
		ch, err := w.Pending.change(zone(w.TimeZone))
		if err != nil {
			return billing.Tariffs{}, fmt.Errorf("httpbilling: tariffs: %w", err)
		}
		out.Pending = &ch
	}
	return out, nil
}

// Services implements dialogs.SelfService.
func (c *Client) Services(ctx context.Context, accountID int64) ([]billing.ServiceOption, error) {
	var w []Service
	if err := c.do(ctx, http.MethodGet, accountPath(accountID, "/services"), billing.ChangeRequest{}, nil, &w); err != nil {
		return nil, err
	}
	out := make([]billing.ServiceOption, 0, len(w))
	for _, s := range w {
		out = append(out, billing.ServiceOption{ID: s.ID, Name: s.Name, Kind: s.Kind, MonthlyFee: money.Amount(s.MonthlyFee), Connected: s.Connected})
	}
	return out, nil
}

// Usage implements dialogs.SelfService.
func (c *Client) Usage(ctx context.Context, accountID int64, from, to time.Time) ([]billing.UsageDay, error) {
	q := url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}
	var w []UsageDay
	if err := c.do(ctx, http.MethodGet, accountPath(accountID, "/usage?"+q.Encode()), billing.ChangeRequest{}, nil, &w); err != nil {
		return nil, err
	}
	out := make([]billing.UsageDay, 0, len(w))
	for _, u := range w {
		d, err := day(u.Day, from.Location())
		if err != nil {
			return nil, fmt.Errorf("httpbilling: usage: %w", err)
		}
		out = append(out, billing.UsageDay{Day: d, BytesIn: u.BytesIn, BytesOut: u.BytesOut, Sessions: u.Sessions, SessionsSeconds: u.SessionsSeconds})
	}
	return out, nil
}

// Operations implements dialogs.SelfService.
func (c *Client) Operations(ctx context.Context, accountID int64, from, to time.Time) ([]billing.Operation, error) {
	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	var w []Operation
	if err := c.do(ctx, http.MethodGet, accountPath(accountID, "/operations?"+q.Encode()), billing.ChangeRequest{}, nil, &w); err != nil {
		return nil, err
	}
	out := make([]billing.Operation, 0, len(w))
	for _, o := range w {
		out = append(out, billing.Operation{At: o.At, Kind: billing.OperationKind(o.Kind), Amount: money.Amount(o.Amount), What: o.What})
	}
	return out, nil
}

// FreezeState implements dialogs.SelfService.
func (c *Client) FreezeState(ctx context.Context, accountID int64, year int) (*billing.Freeze, int, error) {
	var w FreezeState
	if err := c.do(ctx, http.MethodGet, accountPath(accountID, "/freeze?year="+strconv.Itoa(year)), billing.ChangeRequest{}, nil, &w); err != nil {
		return nil, 0, err
	}
	if w.Freeze == nil {
		return nil, w.ThisYear, nil
	}
	f, err := w.Freeze.freeze(zone(w.TimeZone))
	if err != nil {
		return nil, 0, fmt.Errorf("httpbilling: freeze state: %w", err)
	}
	return &f, w.ThisYear, nil
}

// Freeze implements dialogs.SelfService; the billing applies its rules.
func (c *Client) Freeze(ctx context.Context, req billing.ChangeRequest, accountID int64, start time.Time, days int, _ time.Time, _ billing.FreezeRules) (billing.Freeze, bool, error) {
	var w Changed
	body := FreezeRequest{Start: start.Format(time.DateOnly), Days: days}
	if err := c.do(ctx, http.MethodPost, accountPath(accountID, "/freeze"), req, body, &w); err != nil {
		return billing.Freeze{}, false, err
	}
	if w.Freeze == nil {
		return billing.Freeze{}, false, fmt.Errorf("httpbilling: freeze: the answer names no freeze")
	}
	f, err := w.Freeze.freeze(zone(w.TimeZone))
	if err != nil {
		return billing.Freeze{}, false, fmt.Errorf("httpbilling: freeze: %w", err)
	}
	return f, w.Changed, nil
}

// Unfreeze implements dialogs.SelfService.
func (c *Client) Unfreeze(ctx context.Context, req billing.ChangeRequest, accountID int64, _ time.Time) (bool, error) {
	var w Changed
	err := c.do(ctx, http.MethodDelete, accountPath(accountID, "/freeze"), req, nil, &w)
	return w.Changed, err
}

// ChangeTariff implements dialogs.SelfService.
func (c *Client) ChangeTariff(ctx context.Context, req billing.ChangeRequest, accountID, tariffID int64, _ time.Time) (billing.TariffChange, bool, error) {
	var w Changed
	body := struct {
		TariffID int64 `json:"tariff_id"`
	}{tariffID}
	if err := c.do(ctx, http.MethodPost, accountPath(accountID, "/tariff-change"), req, body, &w); err != nil {
		return billing.TariffChange{}, false, err
	}
	if w.Change == nil {
		return billing.TariffChange{}, false, fmt.Errorf("httpbilling: tariff change: the answer names no change")
	}
	ch, err := w.Change.change(zone(w.TimeZone))
	if err != nil {
		return billing.TariffChange{}, false, fmt.Errorf("httpbilling: tariff change: %w", err)
	}
	return ch, w.Changed, nil
}

// CancelTariffChange implements dialogs.SelfService.
func (c *Client) CancelTariffChange(ctx context.Context, req billing.ChangeRequest, accountID int64, _ time.Time) (bool, error) {
	var w Changed
	err := c.do(ctx, http.MethodDelete, accountPath(accountID, "/tariff-change"), req, nil, &w)
	return w.Changed, err
}

// SetService implements dialogs.SelfService.
func (c *Client) SetService(ctx context.Context, req billing.ChangeRequest, accountID, serviceID int64, on bool, _ time.Time) (money.Amount, bool, error) {
	method := http.MethodDelete
	if on {
		method = http.MethodPut
	}
	var w Changed
	err := c.do(ctx, method, accountPath(accountID, "/services/"+strconv.FormatInt(serviceID, 10)), req, nil, &w)
	return money.Amount(w.Charged), w.Changed, err
}
