package emulator

import (
	"testing"

	"github.com/go-telegram/bot/models"
)

func TestGetChatTellsAForum(t *testing.T) {
	srv := newServer(t, Options{})
	srv.AddGroup(-100777, "Поддержка", true)
	srv.AddGroup(-100778, "Без тем", false)
	got := decodeResult[models.ChatFullInfo](t, callJSON(t, srv, "getChat", map[string]any{"chat_id": -100777}))
	if got.ID != -100777 || !got.IsForum || got.Title != "Поддержка" || got.Type != models.ChatTypeSupergroup {
		t.Fatalf("getChat = %+v", got)
	}
	if plain := decodeResult[models.ChatFullInfo](t, callJSON(t, srv, "getChat", map[string]any{"chat_id": -100778})); plain.IsForum {
		t.Fatal("a group without topics is told a forum")
	}
	wantError(t, callJSON(t, srv, "getChat", map[string]any{"chat_id": -100999}), 400, "Bad Request: chat not found")
}
