package emulator_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/emulator"
)

// A person writes to the bot, the bot answers with a button, the person
// presses it.
func Example() {
	srv := emulator.New(emulator.Options{})
	defer srv.Close()
	b, err := bot.New(srv.Token(), bot.WithServerURL(srv.URL()), bot.WithSkipGetMe())
	if err != nil {
		panic(err)
	}

	person := emulator.User{ID: 42, FirstName: "Анна", LanguageCode: "ru"}
	srv.SendCommand(person, "/start")

	ctx := context.Background()
	sent, err := b.SendMessage(ctx, &bot.SendMessageParams{
		ChatID:    person.ID,
		Text:      "Баланс: <b>100 ₽</b>",
		ParseMode: models.ParseModeHTML,
		ReplyMarkup: &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{
			{{Text: "Пополнить", CallbackData: "pay"}},
		}},
	})
	if err != nil {
		panic(err)
	}
	press := srv.PressButton(person, sent.ID, "pay")
	q, _ := srv.CallbackQueryFor(press)
	if _, err := b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: q.ID}); err != nil {
		panic(err)
	}

	for _, m := range srv.Messages(person.ID) {
		fmt.Printf("%d bot=%v %q\n", m.ID, m.FromBot, m.Text)
	}
	q, _ = srv.CallbackQueryFor(press)
	fmt.Println("answered:", q.Answered, "errors:", len(srv.Errors()))
	// Output:
	// 1 bot=false "/start"
	// 2 bot=true "Баланс: 100 ₽"
	// answered: true errors: 0
}

// TestHandlerUnderPrefix mounts the emulator in another server, as the
// sandbox does.
func TestHandlerUnderPrefix(t *testing.T) {
	srv := emulator.New(emulator.Options{})
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/telegram/", srv.Handler())
	site := httptest.NewServer(mux)
	defer site.Close()

	b, err := bot.New(srv.Token(), bot.WithServerURL(site.URL+"/telegram"),
		bot.WithHTTPClient(time.Second, &http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatalf("bot.New through the mounted handler: %v", err)
	}
	srv.SendText(emulator.User{ID: 7, FirstName: "A"}, "hi")
	if _, err := b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: 7, Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	if last, _ := srv.LastMessage(7); !last.FromBot || !strings.HasPrefix(last.Text, "hello") {
		t.Errorf("last message = %+v", last)
	}
}
