package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/internal/app"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/notices"
	"github.com/kabinet-bot/kabinet/sandbox"
	"github.com/kabinet-bot/kabinet/sms"
)

// DefaultSandboxAddr is where the sandbox page listens unless SANDBOX_ADDR
// says otherwise: this machine only, since the page has no login.
const DefaultSandboxAddr = "localhost:8080"

// linkedPhone and linkedAccounts are the demo subscriber whose three
// accounts the "already linked" persona holds (billing/postgres/DEMO.md).
const linkedPhone = "79000000001"

var linkedAccounts = []string{"1000000001", "1000000002", "1000000003"}

// freshPhones are given in turn to the personas added from the page: open
// demo accounts, one per phone, so "share my phone number" finds one.
var freshPhones = []string{
	"79000000004", "79000000005", "79000000007", "79000000009", "79000000011",
	"79000000013", "79000000014", "79000000016", "79000000019", "79000000020",
}

// sandboxHooks lets the browser tests reach into a running sandbox: the page's
// URL, the emulator and the phones' SMS, once the bot is polling. nil
// outside tests.
type sandboxHooks struct {
	ready func(pageURL string, emu *emulator.Server, phones *sms.Memory)
}

// runSandbox runs the bot exactly as `serve` does, against the built-in Bot
// API emulator instead of Telegram, with SMS kept in memory, and serves the
// chat page at SANDBOX_ADDR until ctx is cancelled.
func runSandbox(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer, hooks *sandboxHooks) error {
	cfg, err := config.Load(getenv, false)
	if err != nil {
		return err
	}
	addr := strings.TrimSpace(getenv("SANDBOX_ADDR"))
	if addr == "" {
		addr = DefaultSandboxAddr
	}

	// One line that says what to do, before anything else is tried.
	if err := reachable(ctx, cfg.DatabaseURL, cfg.RedisURL); err != nil {
		return err
	}
	pool, err := app.OpenDB(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := app.LoadDemo(ctx, pool); err != nil {
		return err
	}
	personas, err := sandboxPersonas(ctx, pool, cfg.MaxAccounts)
	if err != nil {
		return err
	}

	// A bot id of its own per run keeps the Redis keys of runs apart
	// ("kabinet:<bot id>:"), so a restarted sandbox starts with clean chats.
	emu := emulator.New(emulator.Options{BotUser: emulator.User{ID: randomBotID(), FirstName: "Kabinet", Username: "kabinet_sandbox_bot"}})
	defer emu.Close()
	desk, err := sandboxSupport(emu)
	if err != nil {
		return err
	}
	env, err := sandboxEnv(getenv, emu, desk.ChatID)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("SANDBOX_ADDR %s: %w (is another sandbox running? set SANDBOX_ADDR to another address)", addr, err)
	}
	pageURL := "http://" + displayAddr(addr, ln.Addr())

	phones := sms.NewMemory()
	store := dialogs.NewAccounts(postgres.New(pool), kabinetdb.NewLinks(pool))
	page := sandbox.New(sandbox.Options{
		Emulator:    emu,
		Phones:      phones,
		Personas:    personas,
		FreshPhones: freshPhones,
		// What each persona has linked, from the bot's own database.
		Linked: func(ctx context.Context, userID int64) ([]string, error) {
			accounts, err := store.LinkedAccounts(ctx, userID)
			numbers := make([]string, 0, len(accounts))
			for _, a := range accounts {
				numbers = append(numbers, a.Number)
			}
			return numbers, err
		},
		TimeZone: cfg.TimeZone,
		Support:  desk,
	})
	pageSrv := &http.Server{Handler: page, ReadHeaderTimeout: 10 * time.Second}
	pageErr := make(chan error, 1)
	go func() { pageErr <- pageSrv.Serve(ln) }()

	botCtx, stopBot := context.WithCancel(ctx)
	defer stopBot()
	botDone := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		botDone <- app.Run(botCtx, env, stderr, &app.Hooks{
			SMS:       phones,
			Listening: func(string) { close(ready) },
		})
	}()

	var runErr error
	select {
	case <-ready:
		fmt.Fprintf(stdout, "Kabinet sandbox: open %s (Ctrl+C stops it)\n", pageURL)
		if hooks != nil && hooks.ready != nil {
			hooks.ready(pageURL, emu, phones)
		}
		select {
		case <-ctx.Done():
		case err := <-pageErr:
			runErr = fmt.Errorf("sandbox page: %w", err)
		case err := <-botDone:
			botDone <- err // read again below
		}
	case err := <-pageErr:
		runErr = fmt.Errorf("sandbox page: %w", err)
	case err := <-botDone:
		botDone <- err
	case <-ctx.Done():
	}

	stopBot()
	if err := <-botDone; err != nil && runErr == nil {
		runErr = err
	} else if err == nil && runErr == nil && ctx.Err() == nil {
		runErr = errors.New("the bot stopped unexpectedly")
	}
	// Closing the emulator ends the pages' event streams, so the page
	// server can shut down at once.
	emu.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = pageSrv.Shutdown(shutdownCtx)
	return runErr
}

// sandboxOperators are the support desk's demo operators, in the order the
// page offers them. Each has a surname and a username, as a real Telegram
// account has, which the subscriber must never see: answers are signed with
// the first name only ("Анна, поддержка").
var sandboxOperators = []emulator.User{
	{FirstName: "Анна", LastName: "Смирнова", Username: "anna_smirnova_support", LanguageCode: "ru"},
	{FirstName: "Олег", LastName: "Кузнецов", Username: "oleg_kuznetsov_support", LanguageCode: "ru"},
}

// sandboxSupport makes the support desk's forum supergroup in the emulator,
// with the bot an administrator that manages topics (AddGroup's default) and
// the demo operators as members. Its id is new on each start, like the bot's:
// the requests of an earlier run stay in the database, and their topics
// must not be taken for this run's.
func sandboxSupport(emu *emulator.Server) (*sandbox.SupportDesk, error) {
	desk := &sandbox.SupportDesk{ChatID: randomGroupID(), Title: "Поддержка"}
	emu.AddGroup(desk.ChatID, desk.Title, true)
	for _, op := range sandboxOperators {
		op.ID = sandbox.RandomUserID()
		if err := emu.AddMember(desk.ChatID, op); err != nil {
			return nil, fmt.Errorf("sandbox support group: %w", err)
		}
		desk.Operators = append(desk.Operators, op)
	}
	return desk, nil
}

// sandboxEnv is the environment serve gets: the caller's, with the Bot API
// pointed at the emulator, long polling, SMS kept in memory, a fresh code
// secret and support in the emulator's group supportChat. Settings serve
// requires and the sandbox has no real value for get development values
// here.
func sandboxEnv(getenv func(string) string, emu *emulator.Server, supportChat int64) (func(string) string, error) {
	var secret, paySecret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("make a code secret: %w", err)
	}
	if _, err := rand.Read(paySecret[:]); err != nil {
		return nil, fmt.Errorf("make a pay link secret: %w", err)
	}
	set := map[string]string{
		"TELEGRAM_TOKEN":   emu.Token(),
		"TELEGRAM_API_URL": emu.URL(),
		"WEBHOOK_URL":      "", // long polling: the emulator cannot reach a webhook from outside
		"WEBHOOK_SECRET":   "",
		"SMS_PROVIDER":     sms.ProviderMemory,
		"CODE_SECRET":      hex.EncodeToString(secret[:]),
		// The emulator has this one group: groups named for real Telegram
		// do not exist in it, so neither do their routes.
		"SUPPORT_CHAT_IDS": strconv.FormatInt(supportChat, 10),
		"SUPPORT_ROUTING":  "round-robin",
	}
	defaults := map[string]string{
		// serve's /healthz on a free port, so a `serve` next to it keeps :8081.
		"HTTP_ADDR":  "127.0.0.1:0",
		"LOG_FORMAT": "text",
		// Pay links are signed; the sandbox's are never checked by a real
		// payment page, so any secret of its own will do.
		"PAY_LINK_SECRET": hex.EncodeToString(paySecret[:]),
		// Turned on in 🔔 Уведомления, Сергей's low-balance notices come
		// within a minute instead of at the next hourly scan.
		"NOTIFY_SCAN_INTERVAL": "30s",
	}
	return func(name string) string {
		if v, ok := set[name]; ok {
			return v
		}
		if v := getenv(name); strings.TrimSpace(v) != "" {
			return v
		}
		return defaults[name]
	}, nil
}

// sandboxPersonas are the users offered at the start: a new Russian one, a
// new English one, and one with the three accounts of +79000000001 already
// linked (linked here directly, as if they had linked them earlier).
func sandboxPersonas(ctx context.Context, pool *pgxpool.Pool, maxAccounts int) ([]sandbox.Persona, error) {
	store := dialogs.NewAccounts(postgres.New(pool), kabinetdb.NewLinks(pool))
	linked := emulator.User{ID: sandbox.RandomUserID(), FirstName: "Сергей", LanguageCode: "ru", PhoneNumber: linkedPhone}
	linked.Username = fmt.Sprintf("sandbox_%d", linked.ID)
	var firstID int64
	for _, number := range linkedAccounts {
		acc, err := store.AccountByNumber(ctx, number)
		if err != nil {
			return nil, fmt.Errorf("sandbox persona: demo account %s: %w", number, err)
		}
		if err := store.Link(ctx, linked.ID, acc.ID, maxAccounts); err != nil {
			return nil, fmt.Errorf("sandbox persona: link %s: %w", number, err)
		}
		if firstID == 0 {
			firstID = acc.ID
		}
	}
	if err := store.SetCurrent(ctx, linked.ID, firstID); err != nil {
		return nil, fmt.Errorf("sandbox persona: %w", err)
	}
	// Сергей's chat starts empty, as every chat of the page does, so the
	// notices that his low balances are owed would find no chat: his
	// low-balance notices start off (🔔 Уведомления turns them on, and
	// the next scan sends them).
	prefs := notices.NewStore(pool, 0)
	for _, number := range linkedAccounts {
		acc, err := store.AccountByNumber(ctx, number)
		if err != nil {
			return nil, fmt.Errorf("sandbox persona: demo account %s: %w", number, err)
		}
		p, err := prefs.NoticePrefs(ctx, linked.ID, acc.ID)
		if err == nil {
			p.Low = false
			err = prefs.SetNoticePrefs(ctx, linked.ID, acc.ID, p)
		}
		if err != nil {
			return nil, fmt.Errorf("sandbox persona: notices of %s: %w", number, err)
		}
	}

	ru := emulator.User{ID: sandbox.RandomUserID(), FirstName: "Анна", LanguageCode: "ru", PhoneNumber: linkedPhone}
	en := emulator.User{ID: sandbox.RandomUserID(), FirstName: "Alex", LanguageCode: "en", PhoneNumber: "79000000005"}
	ru.Username = fmt.Sprintf("sandbox_%d", ru.ID)
	en.Username = fmt.Sprintf("sandbox_%d", en.ID)
	return []sandbox.Persona{
		{User: ru, Note: "new user"},
		{User: en, Note: "new user"},
		{User: linked, Note: "3 accounts linked"},
	}, nil
}

// reachable checks that PostgreSQL and Redis listen at all, so that a
// missing one is reported in one line that says what to do. Anything else
// (a wrong password) is left to app.OpenDB and serve, whose errors say more.
func reachable(ctx context.Context, databaseURL, redisURL string) error {
	const advice = "start PostgreSQL and Redis (e.g. `docker compose up -d postgres redis`) or set DATABASE_URL / REDIS_URL"
	pgCfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if !strings.HasPrefix(pgCfg.Host, "/") { // a Unix socket is left to app.OpenDB
		pgAddr := net.JoinHostPort(pgCfg.Host, fmt.Sprint(pgCfg.Port))
		if err := dial(ctx, pgAddr); err != nil {
			return fmt.Errorf("PostgreSQL at %s is not reachable (%v): %s", pgAddr, err, advice)
		}
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	// A plain dial: go-redis would log each failed attempt on its own.
	if err := dial(ctx, opts.Addr); err != nil {
		//lint:ignore ST1005 the message starts with the service's name, like PostgreSQL's
		return fmt.Errorf("Redis at %s is not reachable (%v): %s", opts.Addr, err, advice)
	}
	return nil
}

func dial(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return shortNetErr(err)
	}
	return conn.Close()
}

// shortNetErr keeps the reason of a network error ("connection refused")
// without the addresses it repeats.
func shortNetErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// displayAddr is the address to print for a listener: the configured host
// (so "localhost" stays "localhost"), or localhost when it listens on all
// interfaces, with the port it really got.
func displayAddr(configured string, actual net.Addr) string {
	host, _, err := net.SplitHostPort(configured)
	_, port, err2 := net.SplitHostPort(actual.String())
	if err != nil || err2 != nil {
		return actual.String()
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// randomGroupID looks like a supergroup's id: -100 and ten digits.
func randomGroupID() int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(9_000_000_000))
	if err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on a working OS
	}
	return -(1_001_000_000_000 + n.Int64())
}

// randomBotID looks like a real bot's id (they start at 7 000 000 000 today).
func randomBotID() int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on a working OS
	}
	return 7_000_000_000 + n.Int64()
}
