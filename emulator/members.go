package emulator

import (
	"encoding/json"
	"fmt"

	"github.com/go-telegram/bot/models"
)

// member is a person in a group: an operator of the support desk.
type member struct {
	user   User
	rights *models.ChatAdministratorRights // nil: an ordinary member
}

// DefaultBotRights are the rights AddGroup gives the bot: what a support
// group's owner grants a relay bot (manage topics, delete messages, pin).
func DefaultBotRights() *models.ChatAdministratorRights {
	return &models.ChatAdministratorRights{
		CanManageChat:     true,
		CanDeleteMessages: true,
		CanInviteUsers:    true,
		CanPinMessages:    true,
		CanManageTopics:   true,
	}
}

// groupAnonymousBot is who Telegram names as the actor when an anonymous
// administrator changes something (@GroupAnonymousBot); SetBotRights uses it
// as the one who promoted or demoted the bot, since the emulator has no group
// owner.
var groupAnonymousBot = models.User{ID: 1087968824, IsBot: true, FirstName: "Group", Username: "GroupAnonymousBot"}

// group finds a group for a test helper.
func (s *Server) group(chatID int64) (*chat, error) {
	c := s.chats[chatID]
	if c == nil || c.private() {
		return nil, fmt.Errorf("emulator: no group %d (AddGroup first)", chatID)
	}
	return c, nil
}

// SetBotRights makes the bot an administrator of a group with these rights,
// or an ordinary member when rights is nil, and queues the my_chat_member
// update Telegram sends the bot then. Without can_manage_topics the bot can't
// create topics, nor edit, close or reopen those it did not create; without
// can_delete_messages it can't delete others' messages or their topics; and
// as an ordinary member it sees only some of the group's messages (privacy
// mode, see PostText).
func (s *Server) SetBotRights(chatID int64, rights *models.ChatAdministratorRights) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.group(chatID)
	if err != nil {
		return 0, err
	}
	bot := s.bot
	old := memberJSON(bot, c.botRights, false)
	if rights != nil {
		r := *rights
		rights = &r
	}
	c.botRights = rights
	update := map[string]any{
		"chat":            c.info,
		"from":            groupAnonymousBot,
		"date":            s.now().Unix(),
		"old_chat_member": old,
		"new_chat_member": memberJSON(bot, c.botRights, false),
	}
	return s.enqueueLocked("my_chat_member", c.info.ID, func(id int64) ([]byte, error) {
		return json.Marshal(map[string]any{"update_id": id, "my_chat_member": update})
	})
}

// AddMember puts a person into a group, as if they had been there before the
// test began (no service message, no update): an operator who may then post
// with PostText and the like. Adding someone again updates their name.
func (s *Server) AddMember(chatID int64, u User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.group(chatID)
	if err != nil {
		return err
	}
	if m := c.members[u.ID]; m != nil {
		m.user = u
		return nil
	}
	c.members[u.ID] = &member{user: u}
	c.memberOrder = append(c.memberOrder, u.ID)
	return nil
}

// SetMemberRights makes a member an administrator with these rights, or an
// ordinary member again when rights is nil. An administrator with
// can_manage_topics may post into a closed topic.
func (s *Server) SetMemberRights(chatID, userID int64, rights *models.ChatAdministratorRights) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.group(chatID)
	if err != nil {
		return err
	}
	m := c.members[userID]
	if m == nil {
		return fmt.Errorf("emulator: user %d is not a member of group %d (AddMember first)", userID, chatID)
	}
	if rights != nil {
		r := *rights
		rights = &r
	}
	m.rights = rights
	return nil
}

// botManagesTopics tells whether the bot has can_manage_topics in a group.
func (c *chat) botManagesTopics() bool {
	return c.botRights != nil && c.botRights.CanManageTopics
}

// botDeletes tells whether the bot may delete others' messages in a group.
func (c *chat) botDeletes() bool {
	return c.botRights != nil && c.botRights.CanDeleteMessages
}

// memberJSON is a ChatMember as the Bot API writes it for a supergroup:
// "administrator" with every right spelled out (true or false), or "member".
// The library's own types drop false rights (omitempty), which the real
// server never does, so the emulator writes its own.
func memberJSON(u models.User, rights *models.ChatAdministratorRights, canBeEdited bool) map[string]any {
	if rights == nil {
		return map[string]any{"user": u, "status": "member"}
	}
	return map[string]any{
		"user":                   u,
		"status":                 "administrator",
		"can_be_edited":          canBeEdited,
		"can_manage_chat":        rights.CanManageChat,
		"can_change_info":        rights.CanChangeInfo,
		"can_delete_messages":    rights.CanDeleteMessages,
		"can_invite_users":       rights.CanInviteUsers,
		"can_restrict_members":   rights.CanRestrictMembers,
		"can_pin_messages":       rights.CanPinMessages,
		"can_manage_topics":      rights.CanManageTopics,
		"can_promote_members":    rights.CanPromoteMembers,
		"can_manage_video_chats": rights.CanManageVideoChats,
		"can_post_stories":       rights.CanPostStories,
		"can_edit_stories":       rights.CanEditStories,
		"can_delete_stories":     rights.CanDeleteStories,
		// can_manage_tags defaults to can_pin_messages (Bot API 10.1).
		"can_manage_tags": rights.CanPinMessages,
		"is_anonymous":    rights.IsAnonymous,
		// The server still writes the field's old name too.
		"can_manage_voice_chats": rights.CanManageVideoChats,
	}
}

// knownUserLocked finds a person the emulator has seen: in a private chat
// with the bot or in a group.
func (s *Server) knownUserLocked(id int64) (User, bool) {
	if c := s.chats[id]; c != nil && c.user != nil {
		return *c.user, true
	}
	for _, chatID := range s.sortedChatIDs() {
		if m := s.chats[chatID].members[id]; m != nil {
			return m.user, true
		}
	}
	return User{}, false
}

func (s *Server) getChatMember(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.targetChat(p)
	if err != nil {
		return result{}, err
	}
	userID := p.int("user_id")
	if userID <= 0 {
		return result{}, badRequest("invalid user_id specified")
	}
	if userID == s.bot.ID {
		if c.private() {
			return result{value: memberJSON(s.bot, nil, false)}, nil
		}
		return result{value: memberJSON(s.bot, c.botRights, false)}, nil
	}
	if c.private() && c.user != nil && c.user.ID == userID {
		return result{value: memberJSON(c.user.model(), nil, false)}, nil
	}
	if m := c.members[userID]; m != nil {
		return result{value: memberJSON(m.user.model(), m.rights, c.botRights != nil && c.botRights.CanPromoteMembers)}, nil
	}
	// Someone Telegram knows but who is not in the chat is "left". A user id
	// the bot has never met is assumed to answer "user not found" (not
	// checked against Telegram: it may answer "left" for any real account).
	u, ok := s.knownUserLocked(userID)
	if !ok {
		return result{}, badRequest("user not found")
	}
	return result{value: map[string]any{"user": u.model(), "status": "left"}}, nil
}

// getChatAdministrators lists the bot, when it is an administrator, and the
// members made administrators, in the order they joined. A real group also
// lists its creator; the emulator's groups have none.
func (s *Server) getChatAdministrators(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.targetChat(p)
	if err != nil {
		return result{}, err
	}
	if c.private() {
		return result{}, badRequest("there are no administrators in the private chat")
	}
	admins := []map[string]any{}
	if c.botRights != nil {
		admins = append(admins, memberJSON(s.bot, c.botRights, false))
	}
	for _, id := range c.memberOrder {
		if m := c.members[id]; m.rights != nil {
			admins = append(admins, memberJSON(m.user.model(), m.rights, c.botRights != nil && c.botRights.CanPromoteMembers))
		}
	}
	return result{value: admins}, nil
}

// getChat describes a chat the bot is in (ChatFullInfo): its id, type,
// title and whether it is a forum; the other fields Telegram fills are not
// modelled. accent_color_id and max_reaction_count are always present there.
func (s *Server) getChat(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.targetChat(p)
	if err != nil {
		return result{}, err
	}
	info := map[string]any{"id": c.info.ID, "type": c.info.Type, "accent_color_id": 0, "max_reaction_count": 11}
	if c.info.Title != "" {
		info["title"] = c.info.Title
	}
	if c.info.IsForum {
		info["is_forum"] = true
	}
	if c.private() && c.user != nil {
		info["first_name"] = c.user.FirstName
	}
	return result{value: info}, nil
}
