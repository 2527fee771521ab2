package emulator

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

func emojiReaction(e string) models.ReactionType {
	return models.ReactionType{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Emoji: e}}
}

// The bot marks an operator's answer as relayed with a reaction; only the
// Bot API's emoji are accepted, one at a time.
func TestSetMessageReaction(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	thread := newTopic(t, srv, "Заявка")
	answer, _ := srv.PostText(supportGroup, thread, operator, "Перезагрузите роутер")

	tests := []struct {
		name      string
		reactions []models.ReactionType
		want      string // error; "" for success
		now       []string
	}{
		{"a thumbs-up", []models.ReactionType{emojiReaction("👍")}, "", []string{"👍"}},
		{"another replaces it", []models.ReactionType{emojiReaction("✍")}, "", []string{"✍"}},
		{"a check mark is not a reaction", []models.ReactionType{emojiReaction("✅")}, "Bad Request: REACTION_INVALID", []string{"✍"}},
		{"a heart with a variation selector", []models.ReactionType{emojiReaction("❤️")}, "Bad Request: REACTION_INVALID", []string{"✍"}},
		{"a custom emoji", []models.ReactionType{{Type: models.ReactionTypeTypeCustomEmoji,
			ReactionTypeCustomEmoji: &models.ReactionTypeCustomEmoji{CustomEmojiID: "5368324170671202286"}}}, "Bad Request: REACTION_INVALID", []string{"✍"}},
		{"two at once", []models.ReactionType{emojiReaction("👍"), emojiReaction("🔥")}, "Bad Request: REACTIONS_TOO_MANY", []string{"✍"}},
		{"none removes it", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := b.SetMessageReaction(ctx, &bot.SetMessageReactionParams{ChatID: supportGroup, MessageID: answer.MessageID, Reaction: tt.reactions})
			if tt.want != "" {
				wantAPIError(t, err, tt.want)
			} else if err != nil || !ok {
				t.Fatalf("setMessageReaction: %v", err)
			}
			if got := srv.Reactions(supportGroup, answer.MessageID); !reflect.DeepEqual(got, tt.now) && (len(got) != 0 || len(tt.now) != 0) {
				t.Errorf("reactions = %q, want %q", got, tt.now)
			}
		})
	}

	wantError(t, callJSON(t, srv, "setMessageReaction", map[string]any{"chat_id": supportGroup, "message_id": answer.MessageID, "reaction": `[{"type":"paid"}]`}),
		http.StatusBadRequest, "Bad Request: can't parse ReactionType: invalid reaction type specified")
	wantError(t, callJSON(t, srv, "setMessageReaction", map[string]any{"chat_id": supportGroup, "message_id": 999, "reaction": `[{"type":"emoji","emoji":"👍"}]`}),
		http.StatusBadRequest, "Bad Request: message to react not found")
	wantError(t, callJSON(t, srv, "setMessageReaction", map[string]any{"chat_id": -100555, "message_id": 1}),
		http.StatusBadRequest, "Bad Request: chat not found")

	// On an album, the reaction goes to its first message.
	album, err := srv.PostAlbum(supportGroup, thread, operator, []AlbumItem{{Kind: "photo"}, {Kind: "photo"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetMessageReaction(ctx, &bot.SetMessageReactionParams{ChatID: supportGroup, MessageID: album[1].MessageID,
		Reaction: []models.ReactionType{emojiReaction("👌")}}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Reactions(supportGroup, album[0].MessageID); len(got) != 1 || got[0] != "👌" || len(srv.Reactions(supportGroup, album[1].MessageID)) != 0 {
		t.Errorf("album reactions: first %q, second %q", got, srv.Reactions(supportGroup, album[1].MessageID))
	}

	// A reaction stays through an edit, and shows in the chat's view.
	own, _ := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: supportGroup, MessageThreadID: thread, Text: "Принято"})
	b.SetMessageReaction(ctx, &bot.SetMessageReactionParams{ChatID: supportGroup, MessageID: own.ID, Reaction: []models.ReactionType{emojiReaction("👍")}})
	if _, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: supportGroup, MessageID: own.ID, Text: "Принято, ждите"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := srv.Message(supportGroup, own.ID); len(v.Reactions) != 1 || v.Reactions[0] != "👍" {
		t.Errorf("reactions after an edit = %q", v.Reactions)
	}
}
