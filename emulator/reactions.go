package emulator

import "strings"

// reactionEmoji are the emoji a reaction may be, exactly as Bot API 10.1
// lists them under ReactionTypeEmoji (no variation selectors: "❤", not
// "❤️"). Anything else, ✅ among them, is refused with REACTION_INVALID.
var reactionEmoji = func() map[string]bool {
	set := map[string]bool{}
	for _, e := range []string{
		"❤", "👍", "👎", "🔥", "🥰", "👏", "😁", "🤔", "🤯", "😱", "🤬", "😢", "🎉", "🤩", "🤮", "💩", "🙏",
		"👌", "🕊", "🤡", "🥱", "🥴", "😍", "🐳", "❤‍🔥", "🌚", "🌭", "💯", "🤣", "⚡", "🍌", "🏆", "💔", "🤨",
		"😐", "🍓", "🍾", "💋", "🖕", "😈", "😴", "😭", "🤓", "👻", "👨‍💻", "👀", "🎃", "🙈", "😇", "😨", "🤝",
		"✍", "🤗", "🫡", "🎅", "🎄", "☃", "💅", "🤪", "🗿", "🆒", "💘", "🙉", "🦄", "😘", "💊", "🙊", "😎",
		"👾", "🤷‍♂", "🤷", "🤷‍♀", "😡",
	} {
		set[e] = true
	}
	return set
}()

// maxBotReactions is how many reactions a bot may set on one message: bots
// are not premium users, so one.
const maxBotReactions = 1

// setMessageReaction sets the bot's reaction on a message (a ✍ on an
// operator's answer once it is relayed, say), or removes it with an empty
// list. The reactions are checked as the Bot API parses them, then as the
// server judges them: only the listed emoji, at most one, no custom emoji
// (a chat may allow some; the emulator's chats allow none) and no paid
// reactions. A reaction on a message of an album goes to the album's first
// message, as the Bot API documents.
func (s *Server) setMessageReaction(p params) (result, *apiError) {
	var reactions []struct {
		Type  string `json:"type"`
		Emoji string `json:"emoji"`
	}
	if p.has("reaction") {
		if err := p.decode("reaction", &reactions); err != nil {
			return result{}, badRequest("can't parse reaction types JSON object")
		}
	}
	for _, r := range reactions {
		if r.Type != "emoji" && r.Type != "custom_emoji" {
			return result{}, badRequest("can't parse ReactionType: invalid reaction type specified")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.targetChat(p)
	if err != nil {
		return result{}, err
	}
	i, m := c.find(int(p.int("message_id")))
	if m == nil {
		return result{}, badRequest("message to react not found")
	}
	if g := m.msg.MediaGroupID; g != "" {
		for j, other := range c.messages {
			if other.msg.MediaGroupID == g {
				i, m = j, other
				break
			}
		}
	}
	chosen := []string{}
	for _, r := range reactions {
		if r.Type != "emoji" || !reactionEmoji[r.Emoji] {
			return result{}, badRequest("REACTION_INVALID")
		}
		chosen = append(chosen, r.Emoji)
	}
	if len(chosen) > maxBotReactions {
		return result{}, badRequest("REACTIONS_TOO_MANY")
	}
	changed := *m
	changed.reactions = chosen
	c.messages[i] = &changed
	s.notifyLocked(Event{Kind: EventReaction, ChatID: c.info.ID, MessageID: m.msg.ID, Detail: strings.Join(chosen, "")})
	return result{value: true}, nil
}

// Reactions are the bot's reactions on a message now (emoji), empty when
// none.
func (s *Server) Reactions(chatID int64, messageID int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chats[chatID]; c != nil {
		if _, m := c.find(messageID); m != nil {
			return append([]string(nil), m.reactions...)
		}
	}
	return nil
}
