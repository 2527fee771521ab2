// Package app is Kabinet's `serve`: the whole bot wired from the
// environment. cmd/kabinet runs it for `serve` and `sandbox`, the
// end-to-end tests run it in their own process, and cmd/loadgen runs it as
// one of the bots it measures, so that every one of them runs exactly what
// production runs.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/bot"
	"github.com/kabinet-bot/kabinet/charts"
	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/locales"
	"github.com/kabinet-bot/kabinet/metrics"
	"github.com/kabinet-bot/kabinet/notices"
	"github.com/kabinet-bot/kabinet/offices"
	"github.com/kabinet-bot/kabinet/otp"
	"github.com/kabinet-bot/kabinet/payments"
	"github.com/kabinet-bot/kabinet/ratelimit"
	"github.com/kabinet-bot/kabinet/sms"
	"github.com/kabinet-bot/kabinet/state"
	"github.com/kabinet-bot/kabinet/support"
)

// allowedUpdates are the update types the bot handles; Telegram sends no others.
var allowedUpdates = []string{"message", "edited_message", "callback_query", "my_chat_member"}

// Hooks let the sandbox, the tests and the load tool reach into a running
// server: the SMS sender to use instead of the configured one, a callback
// with the HTTP address once it listens, the clock, and what watches the
// Redis and PostgreSQL calls. nil in production.
type Hooks struct {
	SMS       sms.Sender
	Listening func(addr string)
	Now       func() time.Time
	// Redis is added to the Redis client (redis.Hook), DB is the
	// PostgreSQL pool's query tracer: the load tool counts round trips
	// with them.
	Redis redis.Hook
	DB    pgx.QueryTracer
	// Listener, when set, is where the HTTP server listens instead of
	// HTTP_ADDR (which must name its address, for the webhook): a test
	// opens it before serve starts, so no other test takes the port in
	// between. serve closes it when it stops.
	Listener net.Listener
}

// noticeSenders is how many notices one instance has in flight at once:
// each waits for its slot of the one rate every instance shares, so this
// only hides the Bot API's round trip (4 × 1/RTT ≫ 30 a second).
const noticeSenders = 4

// Run is `kabinet serve`: it runs the bot until ctx is cancelled, then
// finishes the updates in hand and returns. Settings come from getenv,
// the log goes to stderr.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer, hooks *Hooks) error {
	cfg, err := config.Load(getenv, true)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	routeRedisLog(log, redisPassword(cfg.RedisURL))
	// Every instrument of this serve registers here and nowhere else: GET
	// /metrics serves it (README, Metrics).
	reg := metrics.NewRegistry()

	var tracer pgx.QueryTracer = metrics.NewPostgresTracer(reg)
	if hooks != nil && hooks.DB != nil {
		tracer = bothTracers{tracer, hooks.DB}
	}
	pool, err := openDB(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns, tracer)
	if err != nil {
		return err
	}
	defer pool.Close()
	metrics.RegisterPostgresPool(reg, pool)
	if err := Migrate(ctx, pool); err != nil {
		return err
	}
	rdb, err := openRedis(ctx, cfg.RedisURL, cfg.RedisCluster, cfg.Workers)
	if err != nil {
		return err
	}
	defer rdb.Close()
	rdb.AddHook(metrics.NewRedisHook(reg))
	metrics.RegisterRedisPool(reg, rdb)
	if hooks != nil && hooks.Redis != nil {
		rdb.AddHook(hooks.Redis)
	}

	text, err := locales.Load()
	if err != nil {
		return err
	}
	// Every Bot API call, the poller's getUpdates too, goes through one
	// transport that counts it by method and result, with an idle
	// connection kept for every worker.
	apiTransport := bot.MeasureAPI(bot.APITransport(cfg.Workers), reg)
	api, err := tgbot.New(cfg.TelegramToken,
		tgbot.WithServerURL(cfg.TelegramAPIURL),
		tgbot.WithHTTPClient(time.Minute, &http.Client{Timeout: time.Minute, Transport: apiTransport}),
		tgbot.WithErrorsHandler(func(err error) { log.Error("bot client", "err", err) }),
		tgbot.WithCheckInitTimeout(30*time.Second),
	)
	if err != nil {
		return fmt.Errorf("connect to the Bot API at %s: %w", cfg.TelegramAPIURL, redact(err, cfg.TelegramToken))
	}
	me, err := api.GetMe(ctx)
	if err != nil {
		return fmt.Errorf("getMe: %w", redact(err, cfg.TelegramToken))
	}

	now := time.Now
	if hooks != nil && hooks.Now != nil {
		now = hooks.Now
	}
	var sender sms.Sender
	if hooks != nil && hooks.SMS != nil {
		sender = hooks.SMS
	} else {
		s, closer, err := sms.New(cfg.SMS, log)
		if err != nil {
			return err
		}
		defer closer.Close()
		sender = s
	}
	sender = sms.Measure(sender, reg)

	// Keys of several bots (or environments) sharing one Redis never collide.
	prefix := "kabinet:" + strconv.FormatInt(me.ID, 10) + ":"
	codes := otp.New(rdb, sender, func(lang, code string) string {
		return text.T(lang, "sms_code", map[string]any{"Code": code})
	}, cfg.CodeSecret, prefix, now)
	billingStore := postgres.New(pool)
	billingStore.SetClock(now) // PaidUntil is computed at serve's clock
	noticeStore := notices.NewStore(pool, cfg.NotifyDaysBefore)
	// codes also sends the "account linked" notice: once per event, with the
	// same Redis mark a redelivered update finds.
	dlgCodes, notifier, trust, err := crashPoints(getenv, log, codes, codes, billingStore)
	if err != nil {
		return err
	}
	// The dialogs read accounts from the billing and which of them a
	// person linked from Kabinet's own tables.
	accounts := dialogs.NewAccounts(billingStore, kabinetdb.NewLinks(pool))
	engine := dialogs.New(accounts, dlgCodes, notifier, text, dialogs.Config{
		MaxAccounts: cfg.MaxAccounts,
		Location:    cfg.TimeZone,
		Secret:      cfg.CodeSecret,
		// "Send again" is offered exactly when the code service allows it.
		ResendPause: codes.Limits().ResendPause,
	}, now, log)
	engine.WithOffices(offices.NewDirectory(offices.New(pool)), officesConfig(cfg))
	payer, yooKassa, err := newPayments(cfg, billingStore, me.Username, now)
	if err != nil {
		return err
	}
	engine.WithPayments(payer, trust, dialogs.PayConfig{Limit: cfg.PayLimit, Trust: trustSettings(cfg)})
	engine.WithNotices(noticeStore, payer, dialogs.NoticesConfig{BotUsername: me.Username})
	engine.WithSelfService(selfServiceBilling(cfg, billingStore), charts.Drawer{}, dialogs.SelfServiceConfig{Freeze: freezeRules(cfg)})
	billingStore.RegisterSelfServiceMetrics(reg)
	hours, _ := support.ParseHours(cfg.SupportHours) // checked by config.Load
	var supportOpts []support.Option
	if cfg.SupportWebhookURL != "" {
		supportOpts = append(supportOpts, support.WithEvents()) // written only when the webhook below reads them
	}
	supportStore := support.New(pool, supportOpts...)
	supportStore.RegisterMetrics(reg)
	engine.WithSupport(supportStore, dialogs.SupportConfig{Groups: cfg.SupportChats, CityGroups: cfg.SupportCities,
		OpenAt: support.OpenAt(hours), AutoClose: cfg.SupportAutoClose, Lang: cfg.SupportLang})
	store := state.New(rdb, prefix)
	// A restart under the same name takes over its predecessor's chats at
	// once instead of waiting for their locks to expire.
	store.SetInstance(cfg.InstanceID)
	store.SetReplyLane(cfg.ReplyRate, cfg.ReplyBurst)
	defer store.Close()
	processor := bot.NewProcessor(api, store, engine, text, log)
	processor.SetClock(now)
	// Telegram counts a group's messages for the whole bot: every instance
	// books from one budget per group.
	groupRate, groupBurst := bot.GroupLimit(cfg.GroupRate)
	processor.SetGroupLane(ratelimit.New(rdb, prefix, ratelimit.Limit{Rate: groupRate, Burst: groupBurst}))
	processor.SetMembers(bot.NewMembers(api, append(cfg.SupportChats, cityGroups(cfg.SupportCities)...)))

	if err := setCommands(ctx, api, engine); err != nil {
		return redact(err, cfg.TelegramToken)
	}
	checkSupportGroups(ctx, api, me, append(cfg.SupportChats, cityGroups(cfg.SupportCities)...), log)
	// Without its descriptions the bot still works: an empty chat only
	// shows less, so a failure here is no reason not to start.
	if err := setDescriptions(ctx, api, text); err != nil {
		log.Warn("could not set the bot's description", "err", redact(err, cfg.TelegramToken))
	}
	bot.RegisterOutboxGauges(reg, store)
	processor.SetMetrics(reg)
	seq := bot.NewSequencer(bot.MeasureProcessor(processor, reg), cfg.Workers, log)
	// Dialog timers, and the replies that wait: those a crash left unsent
	// (all of them at once at start) and those of chats parked after a
	// failed send.
	backgroundCtx, stopBackground := context.WithCancel(ctx)
	timersDone, outboxDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(timersDone); processor.RunTimers(backgroundCtx, time.Second) }()
	go func() { defer close(outboxDone); processor.RunOutbox(backgroundCtx, 250*time.Millisecond) }()
	defer func() { stopBackground(); <-timersDone; <-outboxDone }()

	// draining is set when the shutdown begins, so that /readyz sends the
	// load balancer elsewhere while the updates in hand are finished.
	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", health())
	mux.Handle("GET /readyz", ready(pool, rdb, &draining))
	mux.Handle("GET /metrics", metrics.Handler(reg, log))
	if yooKassa != nil {
		mux.Handle(yooKassaWebhookPath, payments.WebhookHandler(yooKassa, billingStore, cfg.YooKassaAllowedIPs, log))
	}
	if cfg.WebhookURL != "" {
		u, _ := url.Parse(cfg.WebhookURL) // validated by config
		path := u.Path
		if path == "" {
			path = "/"
		}
		mux.Handle(path, bot.WebhookHandler(seq, cfg.WebhookSecret, log))
	}
	var ln net.Listener
	if hooks != nil && hooks.Listener != nil {
		ln = hooks.Listener
	} else if ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer srv.Close() // on every early return below; Shutdown has run on the normal path
	if cfg.PprofAddr != "" {
		_, stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	var pollErr chan error
	if cfg.WebhookURL != "" {
		// Telegram keeps each chat's updates in order and waits for our 2xx,
		// which we give only after handling: max_connections is the number
		// of chats handled in parallel.
		if _, err := api.SetWebhook(ctx, &tgbot.SetWebhookParams{
			URL: cfg.WebhookURL, SecretToken: cfg.WebhookSecret, AllowedUpdates: allowedUpdates, MaxConnections: 100,
		}); err != nil {
			return fmt.Errorf("setWebhook: %w", redact(err, cfg.TelegramToken))
		}
		log.Info("serving", "mode", "webhook", "http_addr", ln.Addr().String(), "bot_id", me.ID)
	} else {
		if _, err := api.DeleteWebhook(ctx, &tgbot.DeleteWebhookParams{}); err != nil {
			return fmt.Errorf("deleteWebhook: %w", redact(err, cfg.TelegramToken))
		}
		poller := bot.NewPoller(bot.PollerConfig{
			APIURL: cfg.TelegramAPIURL, Token: cfg.TelegramToken, AllowedUpdates: allowedUpdates, Timeout: 25 * time.Second,
			Skipped: processor.Unavailable, Client: &http.Client{Transport: apiTransport},
			// Fetched updates are kept in Redis until handled, so that the
			// offset need not wait for the slowest of them.
			Intake: store, MaxInHand: max(bot.DefaultMaxInHand, 4*cfg.Workers),
		}, seq, log)
		pollErr = make(chan error, 1)
		go func() { pollErr <- poller.Run(ctx) }()
		log.Info("serving", "mode", "polling", "http_addr", ln.Addr().String(), "bot_id", me.ID)
	}

	if hooks != nil && hooks.Listening != nil {
		hooks.Listening(ln.Addr().String())
	}

	// Pushes, trust reminders and expiries; the work is rows in PostgreSQL,
	// so several instances share it and a restart loses none of it.
	// Their rate is the whole bot's: every instance books its pushes in
	// one budget in Redis. A burst of 1 spaces them evenly, as Telegram
	// publishes no burst for its limit.
	pushes := ratelimit.New(rdb, prefix, ratelimit.Limit{Rate: float64(cfg.NotifyRate), Burst: 1})
	pusher := bot.NewNotifier(api, store, pushes, log)
	pusher.SetPaidBroadcast(cfg.NotifyPaidBroadcast)
	scheduler := notices.NewScheduler(billingStore, pusher, text, cfg.SchedulerPoll, cfg.TimeZone, now, log).
		WithNotices(noticeStore, billingStore, notices.Config{
			DaysBefore: cfg.NotifyDaysBefore, Quiet: cfg.NotifyQuiet, ScanInterval: cfg.NotifyScanInterval,
			Rate: float64(cfg.NotifyRate), Senders: noticeSenders,
		})
	scheduler.SetInstance(cfg.InstanceID)
	scheduler.RegisterMetrics(reg)
	schedulerCtx, stopScheduler := context.WithCancel(ctx)
	defer stopScheduler()
	schedulerDone := make(chan struct{})
	go func() {
		defer close(schedulerDone)
		_ = scheduler.Run(schedulerCtx) // returns only when stopped; failures are logged and retried inside
	}()

	// The demo billing's day: freezes, tariff changes, monthly charges.
	cycleDone := make(chan struct{})
	if cfg.BillingCycle > 0 {
		go func() {
			defer close(cycleDone)
			runBillingCycle(schedulerCtx, billingStore, cfg.BillingCycle, now, freezeRules(cfg), log)
		}()
	} else {
		close(cycleDone)
	}

	// The support events for an external helpdesk: rows in PostgreSQL
	// like the scheduler's, so several instances share them.
	hookDone := make(chan struct{})
	if cfg.SupportWebhookURL != "" {
		hook := support.NewWebhook(pool, support.WebhookConfig{URL: cfg.SupportWebhookURL, Secret: cfg.SupportWebhookSecret}, log)
		go func() { defer close(hookDone); hook.Run(schedulerCtx) }()
	} else {
		close(hookDone)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-pollErr:
		runErr = err
		pollErr = nil // it has returned: nothing more will come
	}
	// Graceful shutdown: stop taking updates, finish those in hand. /readyz
	// says so from now on, while the HTTP server still answers.
	draining.Store(true)
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if pollErr != nil {
		<-pollErr // the poller finishes its batch before returning
	}
	_ = srv.Shutdown(shutdownCtx)
	stopScheduler()
	<-schedulerDone
	<-hookDone
	<-cycleDone
	if err := seq.Close(shutdownCtx); err != nil {
		log.Warn("updates still in hand at shutdown", "err", err)
	}
	return runErr
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// setCommands registers the command menu in both languages, for Telegram's
// language_code; Russian is also the default for every other language. A
// language chosen with /language sets the chat's own menu (bot/outbox.go).
func setCommands(ctx context.Context, api *tgbot.Bot, engine *dialogs.Engine) error {
	for _, lang := range []string{"", "ru", "en"} {
		l := lang
		if l == "" {
			l = "ru"
		}
		var cmds []models.BotCommand
		for _, c := range engine.Commands(l) {
			cmds = append(cmds, models.BotCommand{Command: c.Name, Description: c.Description})
		}
		if _, err := api.SetMyCommands(ctx, &tgbot.SetMyCommandsParams{Commands: cmds, LanguageCode: lang}); err != nil {
			return fmt.Errorf("setMyCommands %s: %w", l, err)
		}
	}
	return nil
}

// descriptionTimeout bounds setDescriptions, which must not hold up the
// start for long when Telegram is slow (one request may take a minute).
const descriptionTimeout = 20 * time.Second

// setDescriptions sets the bot's description (what an empty chat shows
// before Start) and short description (its profile, shared links) for
// Russian and English, and Russian as the default for every other language.
//
// Telegram rate-limits these setters, and every start of every instance
// would call them, so each text is first read with getMy* and set only when
// it differs. getMy* answers for a language without a text of its own with
// the default one: a language whose text equals the default is then left
// to the default, which is what its people see either way. The languages
// come before the default so that a bot with no texts yet (getMy* answers
// "") gets a Russian text of its own too.
func setDescriptions(ctx context.Context, api *tgbot.Bot, text *locales.Catalog) error {
	ctx, cancel := context.WithTimeout(ctx, descriptionTimeout)
	defer cancel()
	var errs []error
	for _, lang := range []string{"ru", "en", ""} {
		l, name := lang, lang
		if lang == "" {
			l, name = locales.Languages[0], "default"
		}
		want := text.T(l, "bot_description", nil)
		if got, err := api.GetMyDescription(ctx, &tgbot.GetMyDescriptionParams{LanguageCode: lang}); err != nil {
			errs = append(errs, fmt.Errorf("getMyDescription %s: %w", name, err))
		} else if got.Description != want {
			if _, err := api.SetMyDescription(ctx, &tgbot.SetMyDescriptionParams{Description: want, LanguageCode: lang}); err != nil {
				errs = append(errs, fmt.Errorf("setMyDescription %s: %w", name, err))
			}
		}
		want = text.T(l, "bot_short_description", nil)
		if got, err := api.GetMyShortDescription(ctx, &tgbot.GetMyShortDescriptionParams{LanguageCode: lang}); err != nil {
			errs = append(errs, fmt.Errorf("getMyShortDescription %s: %w", name, err))
		} else if got.ShortDescription != want {
			if _, err := api.SetMyShortDescription(ctx, &tgbot.SetMyShortDescriptionParams{ShortDescription: want, LanguageCode: lang}); err != nil {
				errs = append(errs, fmt.Errorf("setMyShortDescription %s: %w", name, err))
			}
		}
		if ctx.Err() != nil {
			break // the rest would fail the same way
		}
	}
	return errors.Join(errs...)
}

// health is the liveness check: 200 while the process serves. It asks
// neither PostgreSQL nor Redis, so that an outage of theirs does not get a
// healthy process restarted; /readyz takes it out of the load balancer
// instead.
func health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
}

// redact removes the bot token from an error's text: Go's *url.Error
// prints the whole request URL, and the token is part of it.
func redact(err error, token string) error { return bot.RedactToken(err, token) }

// officesConfig is the seed provider's offices setup with what the
// environment overrides.
func officesConfig(cfg config.Config) dialogs.OfficesConfig {
	oc := dialogs.DefaultOfficesConfig()
	oc.Nearest = dialogs.NearestKinds(cfg.OfficesNearest)
	oc.PageSize = cfg.OfficesPageSize
	links := map[string]*string{
		"whatsapp": &oc.Links.WhatsApp, "telegram": &oc.Links.Telegram, "viber": &oc.Links.Viber,
		"vk": &oc.Links.VK, "ok": &oc.Links.OK, "youtube": &oc.Links.YouTube, "director": &oc.Links.Director,
	}
	for name, v := range cfg.OfficesLinks {
		if v == "none" {
			v = ""
		}
		*links[name] = v
	}
	switch cfg.OfficesHotline {
	case "":
	case "none":
		oc.Hotline = dialogs.Hotline{}
	default:
		oc.Hotline.Phone = cfg.OfficesHotline
	}
	if cfg.OfficesHotlineHours != nil {
		oc.Hotline.Hours = offices.ToDayHours(*cfg.OfficesHotlineHours)
	}
	// The default hours are Moscow time; say so only when they are.
	if cfg.TimeZone == nil || cfg.TimeZone.String() != "Europe/Moscow" {
		oc.Hotline.Zone = ""
	}
	return oc
}

// cityGroups lists the groups of SUPPORT_ROUTING.
func cityGroups(m map[string]int64) []int64 {
	var out []int64
	for _, g := range m {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// bothTracers hands every query to two tracers (the metrics', and a load
// tool's counter).
type bothTracers [2]pgx.QueryTracer

func (b bothTracers) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return b[1].TraceQueryStart(b[0].TraceQueryStart(ctx, c, d), c, d)
}

func (b bothTracers) TraceQueryEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	b[0].TraceQueryEnd(ctx, c, d)
	b[1].TraceQueryEnd(ctx, c, d)
}
