package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/metrics"
)

// The results of kabinet_telegram_requests_total. Telegram answers an
// error with the HTTP status of its error_code, so the status tells them
// apart without reading the body.
const (
	APIOK          = "ok"       // 2xx
	APIBadRequest  = "400"      // a request Telegram refuses (wrong parameter, message not modified, gone)
	APIForbidden   = "403"      // the person blocked the bot, or the bot may not write there
	APITooMany     = "429"      // flood limit: retry_after says how long to wait
	APIClientOther = "4xx"      // another 4xx: 401 (token revoked), 404 (no such method), 409 (two pollers)
	APIServerError = "5xx"      // Telegram's trouble
	APITimeout     = "timeout"  // no answer in time (the call's deadline or the client's timeout)
	APICanceled    = "canceled" // given up by the caller: a shutdown cutting a long poll
	APINetwork     = "error"    // no HTTP answer at all: refused, reset, DNS
	APIOtherStatus = "other"    // a status Telegram does not send (1xx, 3xx)
)

// APIResult classifies one Bot API request: status is the HTTP answer's
// (0 without one), err the transport's error and ctxErr that of the
// request's context once it returned.
func APIResult(status int, err, ctxErr error) string {
	if err != nil {
		switch {
		case metrics.IsTimeout(err) || errors.Is(ctxErr, context.DeadlineExceeded):
			return APITimeout
		case errors.Is(err, context.Canceled) || errors.Is(ctxErr, context.Canceled):
			return APICanceled
		default:
			return APINetwork
		}
	}
	switch {
	case status >= 200 && status < 300:
		return APIOK
	case status == http.StatusBadRequest:
		return APIBadRequest
	case status == http.StatusForbidden:
		return APIForbidden
	case status == http.StatusTooManyRequests:
		return APITooMany
	case status >= 400 && status < 500:
		return APIClientOther
	case status >= 500 && status < 600:
		return APIServerError
	default:
		return APIOtherStatus
	}
}

// APIMethod is the Bot API method a request URL names
// (https://api.telegram.org/bot<token>/sendMessage → sendMessage): its last
// path segment when that is a method's name, letters and digits only,
// otherwise "other". The token, which holds a ':', can never become a
// label.
func APIMethod(path string) string {
	name := path[strings.LastIndexByte(path, '/')+1:]
	if name == "" || len(name) > 64 {
		return "other"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "other"
		}
	}
	return name
}

// apiTransport is an http.RoundTripper that measures the Bot API calls
// going through it.
type apiTransport struct {
	next       http.RoundTripper
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	retryAfter *prometheus.HistogramVec
}

// RetryAfterBuckets are the buckets of a 429's retry_after, in seconds:
// from Telegram's usual few seconds to the hours a bot that ignored them
// was made to wait.
var RetryAfterBuckets = []float64{1, 2, 3, 5, 10, 30, 60, 300, 900, 3600, 10800}

// APITransport is the HTTP transport for the Bot API of an instance that
// handles workers chats at once: http.DefaultTransport keeps only 2 idle
// connections per host, so with 64 workers nearly every call opened a new
// connection (against api.telegram.org a TCP and TLS handshake, two or three
// round trips more per reply). Here every worker, the poller's long poll and
// the background senders keep one open.
func APITransport(workers int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(workers, 1) + 8
	t.MaxIdleConns = t.MaxIdleConnsPerHost
	return t
}

// MeasureAPI wraps next (http.DefaultTransport when nil) for the
// http.Client of go-telegram/bot (WithHTTPClient) and of the Poller, so
// that every Bot API call is counted by method and result
// (kabinet_telegram_requests_total), timed by method until its answer's
// headers (kabinet_telegram_request_duration_seconds), and every 429's
// retry_after is observed (kabinet_telegram_retry_after_seconds).
func MeasureAPI(next http.RoundTripper, reg prometheus.Registerer) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	t := &apiTransport{
		next: next,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace,
			Name:      "telegram_requests_total",
			Help:      "Bot API requests by method and result: ok, 400, 403, 429, 4xx (another client error), 5xx, timeout, canceled, error (no HTTP answer), other.",
		}, []string{"method", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace,
			Name:      "telegram_request_duration_seconds",
			Help:      "Bot API requests' time until the answer's headers, by method; getUpdates is a long poll.",
			Buckets:   metrics.CallBuckets,
		}, []string{"method"}),
		retryAfter: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace,
			Name:      "telegram_retry_after_seconds",
			Help:      "The retry_after of every 429 Telegram answered, by method.",
			Buckets:   RetryAfterBuckets,
		}, []string{"method"}),
	}
	reg.MustRegister(t.requests, t.duration, t.retryAfter)
	return t
}

// maxErrorBody bounds what is read of a 429's body: Telegram's is a
// hundred bytes.
const maxErrorBody = 64 << 10

// RoundTrip implements http.RoundTripper.
func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	method := APIMethod(req.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.requests.WithLabelValues(method, APIResult(status, err, contextErr(req.Context(), err))).Inc()
	if err == nil && status == http.StatusTooManyRequests {
		if secs, ok := readRetryAfter(resp); ok {
			t.retryAfter.WithLabelValues(method).Observe(float64(secs))
		}
	}
	return resp, err
}

// contextErr is ctx's error after a call that failed with err. An
// http.Client's Timeout cancels the request at the same instant as its
// context's deadline, and the cancel may win: a deadline that has passed
// is then the reason all the same.
func contextErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil || err == nil {
		return ctxErr
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// readRetryAfter reads parameters.retry_after from a 429's body and puts
// what it read back in front of the rest, for the client to read as if
// untouched.
func readRetryAfter(resp *http.Response) (int, bool) {
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err != nil {
		return 0, false
	}
	var body struct {
		Parameters struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if json.Unmarshal(head, &body) != nil || body.Parameters.RetryAfter <= 0 {
		return 0, false
	}
	return body.Parameters.RetryAfter, true
}

type readCloser struct {
	io.Reader
	io.Closer
}
