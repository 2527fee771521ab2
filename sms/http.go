package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DefaultTimeout bounds one attempt to hand a message to a provider, so that a
// stuck gateway makes the subscriber wait seconds, not forever.
const DefaultTimeout = 10 * time.Second

// HTTP hands messages to an SMS gateway that takes a JSON POST. Most Russian
// gateways have such an API, and a small adapter in front of any other one can
// speak this shape.
type HTTP struct {
	url    string
	token  string
	client *http.Client
}

// NewHTTP returns a provider that POSTs {"to": ..., "text": ...} to url, with
// "Authorization: Bearer <token>" when token is not empty. A nil client, or one
// without a timeout, gets DefaultTimeout.
func NewHTTP(url, token string, client *http.Client) *HTTP {
	if client == nil {
		client = &http.Client{}
	}
	if client.Timeout == 0 {
		c := *client // a copy, so the caller's client is not changed behind its back
		c.Timeout = DefaultTimeout
		client = &c
	}
	return &HTTP{url: url, token: token, client: client}
}

// httpMessage is the JSON body the gateway receives.
type httpMessage struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

// Send posts one message. Any 2xx answer is success; anything else is an error
// carrying the status. Errors name neither the phone, the text, the token nor
// the gateway's URL (which may hold a key in its query).
func (h *HTTP) Send(ctx context.Context, to, text string) error {
	if err := checkMessage(to, text); err != nil {
		return err
	}
	body, err := json.Marshal(httpMessage{To: to, Text: text})
	if err != nil {
		return fmt.Errorf("sms http: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("sms http: invalid gateway URL") // the parse error would print the URL
	}
	req.Header.Set("Content-Type", "application/json")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}

	resp, err := h.client.Do(req)
	if err != nil {
		// *url.Error prints the whole URL; keep only the cause.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return fmt.Errorf("sms http: post: %w", err)
	}
	defer resp.Body.Close()
	// Read a little of the body so the connection can be reused; its content
	// is not used, since a gateway may echo the phone or the text back.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// StatusText rather than resp.Status: the reason phrase is the
		// gateway's free text and does not belong in our logs.
		return fmt.Errorf("sms http: gateway answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}
