package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/metricstest"
)

// timeoutErr is a net.Error that timed out, as a dial or a read does.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

// Every answer Telegram gives, and every way of getting none, lands in its
// own result: a dashboard tells a flood (429) from a blocked chat (403), a
// Telegram outage (5xx) and a network that does not answer (timeout).
func TestAPIResultClassifiesEveryAnswer(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	for _, c := range []struct {
		status int
		err    error
		ctxErr error
		want   string
	}{
		{200, nil, nil, "ok"},
		{204, nil, nil, "ok"},
		{400, nil, nil, "400"},
		{401, nil, nil, "4xx"},
		{403, nil, nil, "403"},
		{404, nil, nil, "4xx"},
		{409, nil, nil, "4xx"},
		{429, nil, nil, "429"},
		{500, nil, nil, "5xx"},
		{502, nil, nil, "5xx"},
		{504, nil, nil, "5xx"},
		{302, nil, nil, "other"},
		// A status with the call's context ended afterwards is still the status.
		{200, nil, context.Canceled, "ok"},
		{0, context.DeadlineExceeded, context.DeadlineExceeded, "timeout"},
		{0, &url.Error{Op: "Post", URL: "http://x", Err: timeoutErr{}}, nil, "timeout"},
		// http.Client's own Timeout cancels the request with an error that
		// is not a deadline; its context says it was one.
		{0, errors.New("net/http: request canceled"), context.DeadlineExceeded, "timeout"},
		{0, context.Canceled, context.Canceled, "canceled"},
		{0, fmt.Errorf("post: %w", context.Canceled), nil, "canceled"},
		{0, refused, nil, "error"},
		{0, errors.New("connection reset by peer"), nil, "error"},
	} {
		if got := APIResult(c.status, c.err, c.ctxErr); got != c.want {
			t.Errorf("APIResult(%d, %v, %v) = %q, want %q", c.status, c.err, c.ctxErr, got, c.want)
		}
	}
}

// The method label is the Bot API method, and nothing else a URL holds
// can become a label: least of all the token.
func TestAPIMethodNeverTheToken(t *testing.T) {
	for path, want := range map[string]string{
		"/bot123456:AAE-secret_token/sendMessage":       "sendMessage",
		"/bot123456:AAE-secret_token/test/getMe":        "getMe",
		"/prefix/bot123456:AAE-secret_token/getUpdates": "getUpdates",
		"/bot123456:AAE-secret_token":                   "other",
		"/bot123456:AAE-secret_token/":                  "other",
		"/file/bot123456:AAE/photos/file_1.jpg":         "other",
		"/bot1:A/send-message":                          "other",
		"/bot1:A/" + strings.Repeat("a", 65):            "other",
		"":                                              "other",
	} {
		if got := APIMethod(path); got != want {
			t.Errorf("APIMethod(%q) = %q, want %q", path, got, want)
		}
	}
}

// Through go-telegram/bot's own client, every answer is counted under its
// method and result, a 429's retry_after is observed, and the client still
// reads the 429's retry_after itself (the transport read the body and put
// it back).
func TestMeasureAPICountsTheBotClientsCalls(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	t.Cleanup(emu.Close)
	reg := prometheus.NewRegistry()
	transport := MeasureAPI(nil, reg)
	api, err := tgbot.New(emu.Token(), tgbot.WithServerURL(emu.URL()),
		tgbot.WithHTTPClient(time.Minute, &http.Client{Timeout: time.Minute, Transport: transport}))
	if err != nil {
		t.Fatal(err)
	}
	chat := emulator.User{ID: 5001, FirstName: "Абонент"}
	emu.SendCommand(chat, "/start")
	ctx := context.Background()
	send := func() error {
		_, err := api.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: chat.ID, Text: "Баланс"})
		return err
	}
	for range 3 {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}
	emu.FailNext("sendMessage", 1, http.StatusTooManyRequests, "", 7)
	var tooMany *tgbot.TooManyRequestsError
	if err := send(); !errors.As(err, &tooMany) || tooMany.RetryAfter != 7 {
		t.Errorf("the client read the 429 as %v, want retry_after 7", err)
	}
	emu.FailNext("sendMessage", 1, http.StatusForbidden, "", 0)
	emu.FailNext("answerCallbackQuery", 2, http.StatusBadRequest, "Bad Request: query is too old", 0)
	emu.FailNext("editMessageText", 1, http.StatusBadGateway, "", 0)
	if err := send(); !errors.Is(err, tgbot.ErrorForbidden) {
		t.Errorf("403 read as %v", err)
	}
	for range 2 {
		_, _ = api.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: "1"})
	}
	_, _ = api.EditMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: chat.ID, MessageID: 1, Text: "x"})

	m := metricstest.Gather(t, reg)
	for _, c := range []struct {
		method, result string
		want           float64
	}{
		{"getMe", "ok", 1}, // tgbot.New checks the token
		{"sendMessage", "ok", 3},
		{"sendMessage", "429", 1},
		{"sendMessage", "403", 1},
		{"answerCallbackQuery", "400", 2},
		{"editMessageText", "5xx", 1},
	} {
		if got := m.Value("kabinet_telegram_requests_total", map[string]string{"method": c.method, "result": c.result}); got != c.want {
			t.Errorf("%s %s: %v calls counted, want %v", c.method, c.result, got, c.want)
		}
	}
	if got := m.Value("kabinet_telegram_requests_total", nil); got != 9 {
		t.Errorf("%v calls counted in all, want 9", got)
	}
	if n, sum := m.Value("kabinet_telegram_retry_after_seconds", map[string]string{"method": "sendMessage"}), m.Sum("kabinet_telegram_retry_after_seconds", nil); n != 1 || sum != 7 {
		t.Errorf("retry_after: %v observations summing to %v s, want one of 7 s", n, sum)
	}
	if got := m.Value("kabinet_telegram_request_duration_seconds", map[string]string{"method": "sendMessage"}); got != 5 {
		t.Errorf("sendMessage timed %v times, want 5", got)
	}
	for _, v := range m.LabelValues("kabinet_telegram_requests_total", "method") {
		if strings.Contains(emu.Token(), v) || strings.Contains(v, ":") {
			t.Errorf("a method label %q holds the token", v)
		}
	}
}

// A Bot API that does not answer within the call's deadline, or within the
// client's Timeout, is a timeout; one that refuses the connection is an
// error; a call its caller gives up is canceled.
func TestMeasureAPITimeoutsAndNoAnswer(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for the handlers
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	reg := prometheus.NewRegistry()
	transport := MeasureAPI(http.DefaultTransport, reg)
	post := func(client *http.Client, ctx context.Context, base, method string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/bot1:secret/"+method, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s answered %d, want no answer", method, resp.StatusCode)
		}
	}
	plain := &http.Client{Transport: transport}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	post(plain, ctx, hang.URL, "sendMessage")
	cancel()
	post(&http.Client{Transport: transport, Timeout: 50 * time.Millisecond}, context.Background(), hang.URL, "editMessageText")
	post(plain, context.Background(), closed, "getUpdates")
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	post(plain, ctx, hang.URL, "answerCallbackQuery")

	m := metricstest.Gather(t, reg)
	for method, want := range map[string]string{"sendMessage": "timeout", "editMessageText": "timeout", "getUpdates": "error", "answerCallbackQuery": "canceled"} {
		if got := m.Value("kabinet_telegram_requests_total", map[string]string{"method": method, "result": want}); got != 1 {
			t.Errorf("%s: %v counted as %s, want 1 (all: %v)", method, got, want, m.LabelValues("kabinet_telegram_requests_total", "result"))
		}
	}
}

// With as many calls at once as there are workers, a second round of calls
// reuses the connections of the first: none is opened again (with
// http.DefaultTransport all but 2 were, a new connection per call).
func TestAPITransportKeepsAConnectionPerWorker(t *testing.T) {
	const workers = 64
	release := make(chan struct{})
	var inFlight sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			inFlight.Done()
			<-release
		}
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	}))
	var opened atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: APITransport(workers)}

	round := func(hold bool) {
		var wg sync.WaitGroup
		if hold {
			inFlight.Add(workers)
		}
		for range workers {
			wg.Go(func() {
				u := srv.URL + "/botT/sendMessage"
				if hold {
					u += "?hold=1"
				}
				resp, err := client.Get(u)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		if hold {
			inFlight.Wait() // all of them at once, each on a connection of its own
			close(release)
		}
		wg.Wait()
	}
	round(true)
	first := opened.Load()
	if first != workers {
		t.Fatalf("the first round opened %d connections, want %d (one per call in flight)", first, workers)
	}
	round(false)
	round(false)
	if again := opened.Load() - first; again != 0 {
		t.Errorf("the next rounds opened %d new connections, want 0: the idle ones were not kept", again)
	}
}
