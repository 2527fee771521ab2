package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/redistest"
	"github.com/kabinet-bot/kabinet/sms"
)

// The browser tests run `kabinet sandbox` in this process (runSandbox, with
// its environment passed in) on a fresh database, and drive its page in
// Debian's headless Chromium as a person would.

// sandboxRun is one running sandbox.
type sandboxRun struct {
	url    string
	emu    *emulator.Server
	phones *sms.Memory
	logs   *syncBuffer
}

func startSandbox(t *testing.T) *sandboxRun {
	t.Helper()
	return startSandboxWith(t, nil)
}

// startSandboxWith is startSandbox with settings of its own (TIME_ZONE ...).
func startSandboxWith(t *testing.T, settings map[string]string) *sandboxRun {
	t.Helper()
	_, dbURL := pgtest.New(t)
	rdb, _ := redistest.New(t)
	env := map[string]string{
		"DATABASE_URL": dbURL,
		"REDIS_URL":    redistest.URL(),
		"SANDBOX_ADDR": "127.0.0.1:0",
		"LOG_LEVEL":    "debug",
	}
	for k, v := range settings {
		env[k] = v
	}
	run := &sandboxRun{logs: &syncBuffer{}}
	ready := make(chan struct{})
	hooks := &sandboxHooks{ready: func(pageURL string, emu *emulator.Server, phones *sms.Memory) {
		run.url, run.emu, run.phones = pageURL, emu, phones
		close(ready)
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stdout syncBuffer
	go func() {
		done <- runSandbox(ctx, func(k string) string { return env[k] }, &stdout, run.logs, hooks)
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("the sandbox stopped at start: %v\n%s", err, run.logs.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("the sandbox did not start\n%s", run.logs.String())
	}
	if !strings.Contains(stdout.String(), run.url) {
		t.Errorf("the sandbox did not print its address %s: %q", run.url, stdout.String())
	}
	prefix := fmt.Sprintf("kabinet:%d:", run.emu.Bot().ID)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sandbox: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the sandbox did not stop")
		}
		bg := context.Background()
		iter := rdb.Scan(bg, 0, prefix+"*", 1000).Iterator()
		for iter.Next(bg) {
			rdb.Del(bg, iter.Val())
		}
	})
	return run
}

// browser is one headless Chromium with one tab.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mobile bool // a phone: touch taps rather than mouse clicks
	mu     sync.Mutex
	js     []string // exceptions and errors the page wrote to the console
}

// sandboxSizes are the windows the browser tests run in: a desktop one and
// a phone-sized one.
var sandboxSizes = []struct {
	name          string
	width, height int
	mobile        bool
}{
	{"desktop", 1366, 900, false},
	{"phone", 390, 844, true},
}

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is needed for the browser tests: apt-get install -y chromium (.ci/run installs it)")
	return ""
}

// browserTimeZone is where the test browsers think they are: far from the
// provider's Europe/Moscow, so that a time the page takes from the
// browser's clock shows wrong.
const browserTimeZone = "Pacific/Honolulu"

// newBrowser starts Chromium with a window of width x height, in
// browserTimeZone; mobile makes it a phone (a mobile viewport with a device
// pixel ratio of 3 and a touch screen).
func newBrowser(t *testing.T, width, height int, mobile bool) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // CI runs the tests as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, mobile: mobile}
	// The first call starts the browser and must have no timeout of its own:
	// the browser lives as long as that call's context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.js = append(b.js, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.js {
			t.Errorf("the page reported an error: %s", e)
		}
	})
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: browserTimeZone})
		return err
	}))
	if mobile {
		b.do(chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch))
	}
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v\nthe chat on screen:\n%s", err, b.screenText())
	}
}

// eval runs a JavaScript expression in the page.
func eval[T any](b *browser, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// text is what the person sees in the element sel (innerText), with
// no-break spaces as spaces.
func (b *browser) text(sel string) string {
	s, _ := eval[string](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.innerText : ""; })()`, jsString(sel)))
	return strings.ReplaceAll(s, "\u00a0", " ")
}

// textAll is the text of every element matching sel, one per line.
func (b *browser) textAll(sel string) string {
	s, _ := eval[string](b, fmt.Sprintf(`[...document.querySelectorAll(%s)].map((e) => e.innerText).join("\n")`, jsString(sel)))
	return strings.ReplaceAll(s, "\u00a0", " ")
}

func (b *browser) screenText() string { return b.text("#messages") }

// waitText waits until the element sel shows want.
func (b *browser) waitText(sel, want string) string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := b.text(sel)
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%q never appeared in %s; it shows:\n%s", want, sel, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// count is how many elements match sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	n, err := eval[int](b, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// waitJS waits until the JavaScript expression js is true.
func (b *browser) waitJS(js, what string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ok, _ := eval[bool](b, js); ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("never true: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCount waits until at least n elements match sel.
func (b *browser) waitCount(sel string, n int) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for b.count(sel) < n {
		if time.Now().After(deadline) {
			b.t.Fatalf("%d of %s never appeared (%d are there); the chat shows:\n%s", n, sel, b.count(sel), b.screenText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clickText clicks the last element of class cls whose text contains label:
// the newest button of that name, as a person would.
func (b *browser) clickText(cls, label string) {
	b.t.Helper()
	b.do(chromedp.Click(fmt.Sprintf(`(//*[contains(concat(" ", @class, " "), " %s ")][contains(normalize-space(.), %s)])[last()]`, cls, xpathString(label))))
}

// click clicks the element of a CSS selector once it is visible.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// press is a person's finger on a phone (a touch tap) and a mouse click on
// a desktop, on the element of a CSS selector once it is visible. Either
// lands on whatever is on top at the element's centre, as a real one would.
func (b *browser) press(sel string) {
	b.t.Helper()
	if b.mobile {
		b.do(chromedp.Tap(chromedp.CSS(sel)))
	} else {
		b.do(chromedp.Click(chromedp.CSS(sel)))
	}
}

// pressText is press on the last element of class cls whose text contains
// label, as clickText.
func (b *browser) pressText(cls, label string) {
	b.t.Helper()
	xp := fmt.Sprintf(`(//*[contains(concat(" ", @class, " "), " %s ")][contains(normalize-space(.), %s)])[last()]`, cls, xpathString(label))
	if b.mobile {
		b.do(chromedp.Tap(xp))
	} else {
		b.do(chromedp.Click(xp))
	}
}

// visible reports whether the element of a CSS selector is displayed.
func (b *browser) visible(sel string) bool {
	b.t.Helper()
	v, err := eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden"; })()`, jsString(sel)))
	if err != nil {
		b.t.Fatalf("visible %s: %v", sel, err)
	}
	return v
}

// send types a message and presses the send button.
func (b *browser) send(text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.CSS("#input"), text), chromedp.Click(chromedp.CSS("#send")))
}

// screenshot saves what is on screen as a test artifact.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	file := filepath.Join(artifactDir(b.t), name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatalf("save the screenshot: %v", err)
	}
	b.t.Logf("screenshot: %s", file)
}

// artifactDir is KABINET_ARTIFACTS when set (kept after the run), or the
// test's artifact directory (kept with `go test -artifacts`).
func artifactDir(t *testing.T) string {
	if dir := os.Getenv("KABINET_ARTIFACTS"); dir != "" {
		dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("KABINET_ARTIFACTS: %v", err)
		}
		return dir
	}
	return t.ArtifactDir()
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// xpathString quotes s for XPath 1.0, which has no escapes.
func xpathString(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return `'` + s + `'`
}

// openPhone opens the phone panel where it is a drawer (a phone; a desktop
// with the operators' group beside the chat), as a person would to read a
// code; where it is a column beside the chat it is open already.
func (b *browser) openPhone() {
	b.t.Helper()
	if b.visible("#open-phone") {
		b.press("#open-phone")
		b.do(chromedp.Sleep(400 * time.Millisecond)) // the drawer slides in
	}
}

// closePhone closes the phone drawer that openPhone opened.
func (b *browser) closePhone() {
	b.t.Helper()
	if open, _ := eval[bool](b, `document.body.classList.contains("show-phone")`); open {
		b.press("#phone .close-panel")
		b.do(chromedp.Sleep(400 * time.Millisecond))
	}
}

// readCode reads the code the phone panel highlights in the newest SMS to
// phone.
func (b *browser) readCode(phone string) string {
	b.t.Helper()
	sel := fmt.Sprintf(`.sms-phone[data-phone=%q] .sms.latest .sms-code`, phone)
	b.waitJS(fmt.Sprintf(`!!document.querySelector(%s)`, jsString(sel)), "a highlighted code for "+phone)
	code := b.text(sel)
	if codeIn(code) != code || code == "" {
		b.t.Fatalf("the highlighted code in the SMS on the page is %q", code)
	}
	return code
}

// TestSandboxInBrowser is a first visit on the page: pick the new Russian
// user, start the bot, link demo account 1000000004 by its number with the
// code read from the page's phone panel, see the balance and refresh it. On
// a desktop window and on a phone-sized one.
func TestSandboxInBrowser(t *testing.T) {
	for _, tc := range sandboxSizes {
		t.Run(tc.name, func(t *testing.T) {
			sb := startSandbox(t)
			b := newBrowser(t, tc.width, tc.height, tc.mobile)
			b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
			if tc.mobile {
				b.screenshot("0-personas.png")
			}

			// Who am I: the new Russian user.
			b.clickText("persona", "Анна")
			if tc.mobile {
				b.do(chromedp.Sleep(400 * time.Millisecond)) // the persona list slides away
			}
			b.click("#start")
			b.waitText("#messages", "Здравствуйте")
			b.clickText("kb-btn", "Привязать лицевой счёт")
			b.waitText("#messages", "номер лицевого счёта")
			if kb := b.text("#keyboard"); !strings.Contains(kb, "Поделиться номером телефона") {
				t.Errorf("no 'share my phone number' button above the input; the keyboard shows %q", kb)
			}
			b.do(chromedp.WaitVisible(chromedp.CSS("#menu-btn")))

			// Link by account number, with the code from the phone panel.
			b.send("1000000004")
			b.waitText("#messages", "+7 *** ***-**-04")
			b.openPhone()
			code := b.readCode("+79000000004")
			b.screenshot("1-phone-panel.png")
			b.closePhone()
			b.send(code)
			b.waitText("#messages", "Лицевой счёт 1000000004 привязан")
			bal := b.waitText("#messages", "Последние платежи")
			for _, want := range []string{"Лицевой счёт 1000000004", "Домашний 100", "Баланс: 20,00 ₽", "Статус: активен"} {
				if !strings.Contains(bal, want) {
					t.Errorf("the balance on screen lacks %q:\n%s", want, bal)
				}
			}
			// The bot's <b> is drawn bold, and the person's own messages are on the right.
			if n := b.count(`.msg.in .text b`); n == 0 {
				t.Error("no bold text in the bot's messages: entities not drawn")
			}
			if mine := b.textAll(".msg.out"); !strings.Contains(mine, "1000000004") || !strings.Contains(mine, code) {
				t.Errorf("the person's messages are not on their side; it shows %q", mine)
			}

			// Refresh: the answer shows as a toast.
			b.clickText("kb-btn", "Обновить")
			b.waitText("#toast", "Обновлено")
			b.waitText("#messages", "Лицевой счёт 1000000004")
			if n := b.count(".system.error"); n != 0 {
				t.Errorf("a happy path shows %d red error lines:\n%s", n, b.screenText())
			}
			b.screenshot("2-balance.png")
		})
	}
}

// TestSandboxPickPersonaThenTap: on a phone the persona list is a drawer over
// a grey overlay. Picking someone from it closes both, so that the first tap
// after the pick reaches what it was aimed at (issue 8, #11). On a desktop
// the list is a side panel with no overlay, and the same steps work there.
func TestSandboxPickPersonaThenTap(t *testing.T) {
	for _, tc := range sandboxSizes {
		t.Run(tc.name, func(t *testing.T) {
			sb := startSandbox(t)
			b := newBrowser(t, tc.width, tc.height, tc.mobile)
			b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
			b.pressText("persona", "Анна")
			b.press("#start")
			b.waitText("#messages", "Здравствуйте")

			// Someone else, from the drawer on a phone.
			if tc.mobile {
				b.press("#open-personas")
				b.do(chromedp.Sleep(400 * time.Millisecond)) // the drawer slides in
				b.screenshot("1-drawer.png")
			}
			b.pressText("persona", "Alex")
			b.do(chromedp.Sleep(400 * time.Millisecond)) // the drawer slides away
			b.screenshot("2-picked.png")
			if b.visible("#scrim") {
				t.Error("the grey overlay is still shown after picking a persona")
			}

			// One tap on START starts Alex's chat.
			b.press("#start")
			b.waitText("#messages", "Hello!")
			b.screenshot("3-first-tap.png")
		})
	}
}

// atBottom reports whether the chat is scrolled to its newest message and
// that message is wholly in view.
func (b *browser) atBottom() bool {
	b.t.Helper()
	v, err := eval[bool](b, `(() => {
		const box = document.querySelector("#messages");
		const last = [...box.querySelectorAll(".msg")].pop();
		if (!last) return false;
		return box.scrollHeight - box.scrollTop - box.clientHeight <= 2 &&
			last.getBoundingClientRect().bottom <= box.getBoundingClientRect().bottom + 1;
	})()`)
	if err != nil {
		b.t.Fatalf("atBottom: %v", err)
	}
	return v
}

// waitAtBottom waits until the chat shows its newest message, and fails
// when it does not within a few seconds.
func (b *browser) waitAtBottom(what string) {
	b.t.Helper()
	deadline := time.Now().Add(4 * time.Second)
	for !b.atBottom() {
		if time.Now().After(deadline) {
			b.screenshot("not-at-bottom.png")
			b.t.Fatalf("%s: the chat is not scrolled to the newest message", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrollToTop scrolls the chat up to its first message, as a person reading
// back would.
func (b *browser) scrollToTop() {
	b.t.Helper()
	if _, err := eval[bool](b, `(() => { const box = document.querySelector("#messages"); box.scrollTop = 0; box.dispatchEvent(new Event("scroll")); return true; })()`); err != nil {
		b.t.Fatalf("scroll up: %v", err)
	}
	b.do(chromedp.Sleep(200 * time.Millisecond))
	if b.atBottom() {
		b.t.Fatal("the chat is too short to scroll")
	}
}

// holdRequests holds the browser's requests whose URL matches pattern
// (wildcards '*' and '?') until release is called, as a slow network would.
func (b *browser) holdRequests(pattern string) (release func()) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	var mu sync.Mutex
	var held []fetch.RequestID
	done := make(chan struct{})
	b.do(chromedp.Func(func(callCtx context.Context, t *chromedp.Target) error {
		events := cdp.Events(ctx, t, fetch.RequestPaused) // subscribed from here on
		go func() {
			defer close(done)
			for ev, err := range events {
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, ev.RequestID)
				mu.Unlock()
			}
		}()
		_, err := cdp.Call(callCtx, t, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}})
		return err
	}))
	return func() {
		b.t.Helper()
		cancel()
		<-done
		b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := cdp.Call(ctx, t, fetch.Disable, cdp.Empty{}); err != nil {
				return err
			}
			for _, id := range held {
				// Disabling has let them go already; a request that is
				// still held goes on here.
				_, _ = cdp.Call(ctx, t, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
			}
			return nil
		}))
	}
}

// writePicture writes a PNG photo of width x height to a temporary file.
func writePicture(t *testing.T, width, height int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		for x := range width {
			img.Set(x, y, color.RGBA{uint8(x * 255 / width), uint8(y * 255 / height), 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "photo.png")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestSandboxScrollsToNewest: after the person sends something, even when
// they had scrolled up, and when the bot answers, the chat shows the newest
// message, as Telegram does; a photo that loads after it was drawn does not
// push the answer out of view (issue 8, #12).
func TestSandboxScrollsToNewest(t *testing.T) {
	for _, tc := range sandboxSizes {
		t.Run(tc.name, func(t *testing.T) {
			sb := startSandbox(t)
			b := newBrowser(t, tc.width, tc.height, tc.mobile)
			photo := writePicture(t, 1200, 1600)
			b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
			b.pressText("persona", "Сергей")
			if tc.mobile {
				b.do(chromedp.Sleep(400 * time.Millisecond)) // the persona list slides away
			}
			b.press("#start")
			b.waitText("#messages", "Главное меню")
			for range 3 { // a chat longer than the screen
				n := b.count(".msg")
				b.send("/help")
				b.waitCount(".msg", n+2)
			}
			b.waitAtBottom("after /help")

			// A photo, sent while reading back. It loads only after the
			// bot's answer is drawn, as a big one on a slow phone does.
			b.scrollToTop()
			n := b.count(".msg")
			release := b.holdRequests("*/api/files/*")
			b.do(chromedp.SetUploadFiles(chromedp.CSS("#photo-input"), []string{photo}))
			b.waitCount(".msg.out img.photo", 1)
			b.waitCount(".msg", n+3) // the photo, "not understood" and the menu
			b.do(chromedp.Sleep(300 * time.Millisecond))
			release()
			b.waitJS(`(() => { const img = document.querySelector(".msg.out img.photo"); return img.complete && img.naturalHeight > 0; })()`, "the photo loads")
			b.waitAtBottom("after a photo")
			b.screenshot("photo-answer.png")

			// A text, sent while reading back.
			b.scrollToTop()
			n = b.count(".msg")
			b.send("привет")
			b.waitCount(".msg", n+3) // the text, "not understood" and the menu
			b.waitAtBottom("after a text")
			b.screenshot("text-answer.png")
		})
	}
}

// TestSandboxPhoneNewestFirst: the phone panel shows each phone's newest SMS
// first, in view and highlighted, with the older ones below it, all reachable
// by scrolling the panel (issue 8, #13). The highlighted code is the one that
// links.
func TestSandboxPhoneNewestFirst(t *testing.T) {
	const phone = "+79000000004"
	for _, tc := range sandboxSizes {
		t.Run(tc.name, func(t *testing.T) {
			sb := startSandbox(t)
			b := newBrowser(t, tc.width, tc.height, tc.mobile)
			// Earlier SMS on the same phone, more than the panel has room for.
			var oldest string
			for i := range 9 {
				text := fmt.Sprintf("Старое СМС %d: код 10000%d больше не действует.", i+1, i)
				if i == 0 {
					oldest = text
				}
				if err := sb.phones.Send(context.Background(), phone, text); err != nil {
					t.Fatal(err)
				}
			}
			b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
			b.pressText("persona", "Анна")
			if tc.mobile {
				b.do(chromedp.Sleep(400 * time.Millisecond))
			}
			b.press("#start")
			b.waitText("#messages", "привяжите лицевой счёт") // the menu; a bare number starts linking
			b.send("1000000004")
			b.waitText("#messages", "+7 *** ***-**-04")
			newest, ok := sb.phones.Last(phone)
			for !ok || !strings.HasPrefix(newest.Text, "Код") {
				time.Sleep(50 * time.Millisecond)
				newest, ok = sb.phones.Last(phone)
			}
			b.openPhone()
			card := fmt.Sprintf(".sms-phone[data-phone=%q]", phone)
			b.waitCount(card+" .sms", 10)

			if got := strings.TrimSpace(b.text(card + " .sms:first-child .sms-text")); got != newest.Text {
				t.Errorf("the first SMS of %s is %q, not the newest %q", phone, got, newest.Text)
			}
			if n := b.count(card + " .sms.latest"); n != 1 {
				t.Errorf("%d SMS of %s are marked the newest, want 1", n, phone)
			}
			if got := b.text(card + " .sms.latest .sms-code"); got == "" || !strings.Contains(newest.Text, got) {
				t.Errorf("the highlighted code is %q; the newest SMS is %q", got, newest.Text)
			}
			// The newest is wholly on screen, inside the panel.
			inView := func(sel string) bool {
				v, err := eval[bool](b, fmt.Sprintf(`(() => {
					const e = document.querySelector(%s), list = document.querySelector("#phone-list");
					if (!e) return false;
					const r = e.getBoundingClientRect(), l = list.getBoundingClientRect();
					return r.height > 0 && r.top >= Math.max(0, l.top) - 1 && r.bottom <= Math.min(innerHeight, l.bottom) + 1 &&
						r.left >= -1 && r.right <= innerWidth + 1;
				})()`, jsString(sel)))
				if err != nil {
					t.Fatalf("in view %s: %v", sel, err)
				}
				return v
			}
			if !inView(card + " .sms.latest") {
				t.Error("the newest SMS is not wholly in view in the phone panel")
			}
			b.screenshot("1-newest-first.png")

			// The oldest is at the bottom, reached by scrolling the panel.
			if _, err := eval[bool](b, `(() => { const l = document.querySelector("#phone-list"); l.scrollTop = l.scrollHeight; return true; })()`); err != nil {
				t.Fatal(err)
			}
			b.do(chromedp.Sleep(200 * time.Millisecond))
			if got := strings.TrimSpace(b.text(card + " .sms:last-child .sms-text")); got != oldest {
				t.Errorf("the last SMS of %s is %q, not the oldest %q", phone, got, oldest)
			}
			if !inView(card + " .sms:last-child") {
				t.Error("the oldest SMS cannot be scrolled into view: the panel cuts it off")
			}
			b.screenshot("2-scrolled-to-oldest.png")

			// The highlighted code links the account.
			code := b.readCode(phone)
			b.closePhone()
			b.send(code)
			b.waitText("#messages", "Лицевой счёт 1000000004 привязан")
		})
	}
}

// longText is a text of n characters of Russian words in lines of a few
// sentences, as a person might paste.
func longText(n int) string {
	const sentence = "Съешь же ещё этих мягких французских булок, да выпей чаю."
	var b strings.Builder
	units := 0
	for i := 0; ; i++ {
		sep := " "
		if i%5 == 4 {
			sep = "\n"
		}
		piece := []rune(sentence + sep)
		if units+len(piece) >= n {
			b.WriteString(string(piece[:n-units]))
			return b.String()
		}
		b.WriteString(string(piece))
		units += len(piece)
	}
}

// TestSandboxSplitsLongText: a text over Telegram's 4,096 characters goes
// as consecutive messages of at most 4,096 characters each, cut at a line
// break or a space, as Telegram's apps do, and no error shows (issue 8, #14).
func TestSandboxSplitsLongText(t *testing.T) {
	for _, tc := range sandboxSizes {
		t.Run(tc.name, func(t *testing.T) {
			sb := startSandbox(t)
			b := newBrowser(t, tc.width, tc.height, tc.mobile)
			b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
			b.pressText("persona", "Анна")
			if tc.mobile {
				b.do(chromedp.Sleep(400 * time.Millisecond))
			}
			b.press("#start")
			b.waitText("#messages", "привяжите лицевой счёт") // the menu; a bare number starts linking
			hash, err := eval[string](b, `location.hash.slice(1)`)
			if err != nil {
				t.Fatal(err)
			}
			var chatID int64
			fmt.Sscan(hash, &chatID)

			text := longText(5000)
			if n := len([]rune(text)); n != 5000 {
				t.Fatalf("the text has %d characters", n)
			}
			// Pasted, not typed: 5,000 key presses would take a while.
			if _, err := eval[bool](b, fmt.Sprintf(`(() => { const i = document.querySelector("#input"); i.value = %s; i.dispatchEvent(new Event("input")); return true; })()`, jsString(text))); err != nil {
				t.Fatal(err)
			}
			b.press("#send")
			b.waitCount(".msg.out", 3) // /start and two parts
			b.do(chromedp.Sleep(500 * time.Millisecond))

			var parts []string
			for _, m := range sb.emu.Messages(chatID) {
				if !m.FromBot && m.Text != "/start" {
					parts = append(parts, m.Text)
				}
			}
			if len(parts) != 2 {
				t.Fatalf("the person sent %d messages, want 2", len(parts))
			}
			for i, p := range parts {
				if n := len([]rune(p)); n > 4096 {
					t.Errorf("part %d has %d characters", i+1, n)
				}
			}
			if n := len([]rune(parts[0])); n < 4000 {
				t.Errorf("the first part has %d characters: not cut near the limit", n)
			}
			if !strings.HasSuffix(parts[0], ".") || !strings.HasPrefix(text, parts[0]) {
				t.Errorf("the first part does not end at a break between sentences: …%q", string([]rune(parts[0])[len([]rune(parts[0]))-30:]))
			}
			if rest := strings.TrimSpace(strings.TrimPrefix(text, parts[0])); rest != parts[1] {
				t.Errorf("the second part is not the rest of the text")
			}
			if b.visible("#toast") {
				t.Errorf("a toast shows: %q", b.text("#toast"))
			}
			if v, _ := eval[string](b, `document.querySelector("#input").value`); v != "" {
				t.Errorf("the input still holds %d characters", len([]rune(v)))
			}
			if n := b.count(".system.error"); n != 0 {
				t.Errorf("%d red lines:\n%s", n, b.screenText())
			}
			b.screenshot("1-long-text-answered.png")
			// Where the text was cut: the end of the first message and the
			// start of the second.
			if _, err := eval[bool](b, `(() => { const second = document.querySelectorAll(".msg.out")[2]; second.scrollIntoView({block: "start"}); document.querySelector("#messages").scrollTop -= 160; return true; })()`); err != nil {
				t.Fatal(err)
			}
			b.do(chromedp.Sleep(200 * time.Millisecond))
			b.screenshot("2-the-cut.png")
		})
	}
}

// hhmm is the first "15:04" time in s.
var hhmm = regexp.MustCompile(`\b\d{2}:\d{2}\b`)

// sameMinute reports whether the clock time got ("15:04") is that of one of
// the instants around, in loc: the minute may turn while a test runs.
func sameMinute(got string, loc *time.Location, around ...time.Time) bool {
	for _, at := range around {
		if at.In(loc).Format("15:04") == got {
			return true
		}
	}
	return false
}

// TestSandboxProviderTimeAndLinkedPersona: the page writes message and SMS
// times in the provider's time zone (TIME_ZONE, Europe/Moscow by default),
// as the bot writes its own ("Обновлено в 13:35"), not in the browser's; and
// once a persona has linked an account, the persona list says so, from the
// bot's database (issue 8, #15).
func TestSandboxProviderTimeAndLinkedPersona(t *testing.T) {
	msk := moscow(t)
	for _, tc := range sandboxSizes {
		t.Run(tc.name, func(t *testing.T) {
			sb := startSandbox(t)
			b := newBrowser(t, tc.width, tc.height, tc.mobile)
			b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
			if got := b.textAll(".persona"); !strings.Contains(got, "3 accounts linked") {
				t.Errorf("Сергей's accounts are not in the persona list:\n%s", got)
			}
			b.pressText("persona", "Анна")
			if tc.mobile {
				b.do(chromedp.Sleep(400 * time.Millisecond))
			}
			b.press("#start")
			b.waitText("#messages", "привяжите лицевой счёт") // the menu; a bare number starts linking
			b.send("1000000004")
			b.waitText("#messages", "+7 *** ***-**-04")
			b.openPhone()
			code := b.readCode("+79000000004")
			sms, _ := sb.phones.Last("+79000000004")
			smsTime := hhmm.FindString(b.text(`.sms-phone[data-phone="+79000000004"] .sms.latest .sms-time`))
			if !sameMinute(smsTime, msk, sms.At) {
				t.Errorf("the SMS sent at %s Moscow time shows %q", sms.At.In(msk).Format("15:04"), smsTime)
			}
			b.closePhone()
			before := time.Now()
			b.send(code)
			text := b.waitText("#messages", "Обновлено в")
			after := time.Now()

			// The balance's "Обновлено в 13:35" and the time under it agree.
			bot := hhmm.FindString(text[strings.Index(text, "Обновлено в"):])
			meta := hhmm.FindString(b.text(`.msg.in:has(.text i) .meta`))
			b.screenshot("1-provider-time.png")
			if !sameMinute(meta, msk, before, after) {
				t.Errorf("the balance message shows the time %q; in Moscow it is %s", meta, after.In(msk).Format("15:04"))
			}
			if meta != bot && !sameMinute(bot, msk, before, after) {
				t.Errorf("the bot wrote «Обновлено в %s» next to the message time %s", bot, meta)
			}

			// The persona list says Анна has linked 1000000004.
			if tc.mobile {
				b.press("#open-personas")
				b.do(chromedp.Sleep(400 * time.Millisecond))
			}
			anna := `(//li[contains(concat(" ", @class, " "), " persona ")][.//*[contains(@class, "name")][normalize-space(.)="Анна"]])[1]`
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, _ := eval[string](b, fmt.Sprintf(`document.evaluate(%s, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue?.innerText ?? ""`, jsString(anna)))
				if strings.Contains(got, "linked 1000000004") {
					break
				}
				if time.Now().After(deadline) {
					b.screenshot("2-persona-list.png")
					t.Fatalf("the persona list does not say Анна linked 1000000004: %q", got)
				}
				time.Sleep(100 * time.Millisecond)
			}
			b.screenshot("2-persona-list.png")
		})
	}

	// TIME_ZONE set: the page follows it.
	t.Run("TIME_ZONE", func(t *testing.T) {
		vvo, err := time.LoadLocation("Asia/Vladivostok")
		if err != nil {
			t.Fatal(err)
		}
		sb := startSandboxWith(t, map[string]string{"TIME_ZONE": "Asia/Vladivostok"})
		b := newBrowser(t, 1100, 800, false)
		b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
		b.pressText("persona", "Alex")
		before := time.Now()
		b.press("#start")
		b.waitText("#messages", "Hello!")
		after := time.Now()
		if got := hhmm.FindString(b.text(".msg.out .meta")); !sameMinute(got, vvo, before, after) {
			t.Errorf("/start shows the time %q; in Vladivostok it is %s", got, after.In(vvo).Format("15:04"))
		}
	})
}

// TestSandboxShowsRejectedRequests: a request the emulator rejects appears in
// the chat as a red system line, at once.
func TestSandboxShowsRejectedRequests(t *testing.T) {
	sb := startSandbox(t)
	b := newBrowser(t, 1100, 800, false)
	b.do(chromedp.Navigate(sb.url), chromedp.WaitVisible(chromedp.CSS(".persona")))
	b.clickText("persona", "Alex")
	b.click("#start")
	b.waitText("#messages", "Hello!")
	hash, err := eval[string](b, `location.hash.slice(1)`)
	if err != nil || hash == "" {
		t.Fatalf("the page names no persona in its address: %q %v", hash, err)
	}

	// Broken HTML, as a buggy bot would send it: the real Bot API refuses it.
	resp, err := http.PostForm(sb.emu.URL()+"/bot"+sb.emu.Token()+"/sendMessage", url.Values{
		"chat_id": {hash}, "text": {"<b>Balance"}, "parse_mode": {"HTML"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the emulator answered broken HTML with %d", resp.StatusCode)
	}
	line := b.waitText(".system.error", "can't parse entities")
	if !strings.Contains(line, "sendMessage") || !strings.Contains(line, "400") {
		t.Errorf("the red line does not name the method and the code: %q", line)
	}
	color, _ := eval[string](b, `getComputedStyle(document.querySelector(".system.error")).color`)
	if color != "rgb(198, 40, 40)" {
		t.Errorf("the error line's colour is %s, not red", color)
	}

	// The bot's own reply refused (as when Telegram has trouble): also red.
	sb.emu.FailNext("sendMessage", 1, http.StatusBadRequest, "Bad Request: chat not found", 0)
	b.send("/help")
	b.waitText("#messages", "chat not found")
	if n := b.count(".system.error"); n != 2 {
		t.Errorf("%d red lines, want 2:\n%s", n, b.screenText())
	}
	b.screenshot("rejected.png")
	if !bytes.Contains([]byte(sb.logs.String()), []byte("Telegram refused a reply")) {
		t.Error("the bot did not log the refused reply")
	}
}

// TestSandboxNeedsPostgresAndRedis: when one of them does not answer, the
// sandbox says so in one line that names the address and what to do.
func TestSandboxNeedsPostgresAndRedis(t *testing.T) {
	closed := freeAddr(t) // nothing listens there any more
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"postgres", map[string]string{"DATABASE_URL": "postgres://postgres@" + closed + "/kabinet?sslmode=disable"}, "PostgreSQL at " + closed + " is not reachable"},
		{"redis", map[string]string{"DATABASE_URL": pgtest.AdminURL(), "REDIS_URL": "redis://" + closed + "/0"}, "Redis at " + closed + " is not reachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"sandbox"}, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if err == nil {
				t.Fatal("the sandbox started without it")
			}
			msg := err.Error()
			for _, want := range []string{tc.want, "docker compose up -d postgres redis", "DATABASE_URL / REDIS_URL"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the error lacks %q: %s", want, msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("the error is not one line: %q", msg)
			}
		})
	}
}
