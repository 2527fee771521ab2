package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// The reference: the bare go-telegram/bot echo bot, the least a bot on
// this library can do per update. It answers a message with its text and a
// button press with answerCallbackQuery, one Bot API call per update, with
// the library's defaults for everything else (its HTTP client, its poller,
// its webhook handler, which answers 200 before the update is handled).
//
// targetEcho keeps the library's default: every update in a goroutine of
// its own, so nothing keeps a chat's replies in order. targetOrdered is
// what a bot that must keep them in order does with this library: handlers
// run one at a time in the library's loop, which only hands each update to
// one of orderedWorkers goroutines chosen by its chat, so a chat's updates
// are answered in order and different chats in parallel.

// orderedWorkers is the ordered echo bot's pool.
const orderedWorkers = 32

// webhookPath is where the echo bots take their webhook.
const webhookPath = "/echo/webhook"

func runEcho(ctx context.Context, cfg childConfig, c *counters, ready chan<- string) error {
	echo := func(ctx context.Context, b *tgbot.Bot, upd *models.Update) {
		var err error
		switch {
		case upd.Message != nil:
			_, err = b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: upd.Message.Chat.ID, Text: upd.Message.Text})
		case upd.CallbackQuery != nil:
			_, err = b.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: upd.CallbackQuery.ID})
		}
		if err != nil && ctx.Err() == nil {
			c.errors.Add(1)
			fmt.Fprintln(os.Stderr, "echo:", err)
		}
	}
	opts := []tgbot.Option{
		tgbot.WithServerURL(cfg.APIURL),
		tgbot.WithErrorsHandler(func(err error) {
			if ctx.Err() == nil {
				c.errors.Add(1)
				fmt.Fprintln(os.Stderr, "echo: library:", err)
			}
		}),
	}
	secret := randomHex(16)
	if cfg.Transport == transportWebhook {
		opts = append(opts, tgbot.WithWebhookSecretToken(secret))
	}
	var wg sync.WaitGroup
	if cfg.Target == targetOrdered {
		shards := make([]chan *models.Update, orderedWorkers)
		for i := range shards {
			shards[i] = make(chan *models.Update, 1024)
		}
		opts = append(opts, tgbot.WithNotAsyncHandlers(), tgbot.WithDefaultHandler(func(ctx context.Context, _ *tgbot.Bot, upd *models.Update) {
			select {
			case shards[uint64(chatOf(upd))%orderedWorkers] <- upd:
			case <-ctx.Done():
			}
		}))
		b, err := tgbot.New(cfg.Token, opts...)
		if err != nil {
			return err
		}
		for _, sh := range shards {
			wg.Go(func() {
				for {
					select {
					case upd := <-sh:
						echo(ctx, b, upd)
					case <-ctx.Done():
						return
					}
				}
			})
		}
		return startEcho(ctx, cfg, b, secret, ready, &wg)
	}
	opts = append(opts, tgbot.WithDefaultHandler(echo))
	b, err := tgbot.New(cfg.Token, opts...)
	if err != nil {
		return err
	}
	return startEcho(ctx, cfg, b, secret, ready, &wg)
}

// startEcho runs the bot over cfg's transport until ctx ends.
func startEcho(ctx context.Context, cfg childConfig, b *tgbot.Bot, secret string, ready chan<- string, wg *sync.WaitGroup) error {
	defer wg.Wait()
	if cfg.Transport == transportWebhook {
		ln, err := listen()
		if err != nil {
			return err
		}
		// max_connections: Telegram's limit, as Kabinet asks for it.
		if _, err := b.SetWebhook(ctx, &tgbot.SetWebhookParams{
			URL: "http://" + ln.Addr().String() + webhookPath, SecretToken: secret, MaxConnections: 100,
			AllowedUpdates: []string{"message", "callback_query"},
		}); err != nil {
			_ = ln.Close()
			return fmt.Errorf("setWebhook: %w", err)
		}
		go serveHTTP(ctx, ln, b.WebhookHandler())
		ready <- ln.Addr().String()
		b.StartWebhook(ctx)
		return nil
	}
	if _, err := b.DeleteWebhook(ctx, &tgbot.DeleteWebhookParams{}); err != nil {
		return fmt.Errorf("deleteWebhook: %w", err)
	}
	ready <- ""
	b.Start(ctx)
	return nil
}

// chatOf is the chat an update belongs to, for the ordered bot's shards.
func chatOf(upd *models.Update) int64 {
	switch {
	case upd.Message != nil:
		return upd.Message.Chat.ID
	case upd.CallbackQuery != nil:
		return upd.CallbackQuery.From.ID
	}
	return upd.ID
}
