package bot

import (
	"context"
	"fmt"
	"sync"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// MemberAPI is the Bot API call Members makes.
type MemberAPI interface {
	GetChatMember(ctx context.Context, params *tgbot.GetChatMemberParams) (*models.ChatMember, error)
}

// Members tells whether a person is a member of one of the operators'
// groups, so that only operators act there: in a public supergroup anyone
// can read the topics and press the cards' buttons, and someone removed
// from the team still has old messages on screen. It asks Telegram
// (getChatMember) before the update's turn, never under a lock, and
// remembers the answer a while per instance: a member for a minute, a
// stranger for ten seconds (so that a new operator is not kept waiting).
type Members struct {
	api    MemberAPI
	groups map[int64]bool
	now    func() time.Time

	mu    sync.Mutex
	known map[memberKey]memberAnswer
}

type memberKey struct{ chat, user int64 }

type memberAnswer struct {
	member bool
	until  time.Time
}

// How long an answer is remembered, and how many are kept at most (a
// flood of strangers must not grow the map without bound).
const (
	memberTTL   = time.Minute
	strangerTTL = 10 * time.Second
	membersMax  = 10000
)

// NewMembers checks membership of these groups; any other chat has no
// members as far as it is concerned (the dialogs ignore such chats).
func NewMembers(api MemberAPI, groups []int64) *Members {
	m := &Members{api: api, groups: map[int64]bool{}, now: time.Now, known: map[memberKey]memberAnswer{}}
	for _, g := range groups {
		m.groups[g] = true
	}
	return m
}

// IsMember reports whether user is a member (or an administrator, or the
// creator) of chat. A person who left or was removed, or is restricted
// out of the group, is not.
func (m *Members) IsMember(ctx context.Context, chat, user int64) (bool, error) {
	if !m.groups[chat] || user == 0 {
		return false, nil
	}
	k := memberKey{chat, user}
	now := m.now()
	m.mu.Lock()
	a, ok := m.known[k]
	m.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.member, nil
	}
	cm, err := m.api.GetChatMember(ctx, &tgbot.GetChatMemberParams{ChatID: chat, UserID: user})
	if err != nil {
		return false, fmt.Errorf("getChatMember: %w", err)
	}
	member := isMember(cm)
	ttl := strangerTTL
	if member {
		ttl = memberTTL
	}
	m.mu.Lock()
	if len(m.known) >= membersMax {
		for key, old := range m.known {
			if !now.Before(old.until) {
				delete(m.known, key)
			}
		}
		if len(m.known) >= membersMax {
			clear(m.known)
		}
	}
	m.known[k] = memberAnswer{member: member, until: now.Add(ttl)}
	m.mu.Unlock()
	return member, nil
}

// isMember reads a ChatMember: the owner, an administrator, a member, or a
// restricted person who is still in the group.
func isMember(cm *models.ChatMember) bool {
	switch cm.Type {
	case models.ChatMemberTypeOwner, models.ChatMemberTypeAdministrator, models.ChatMemberTypeMember:
		return true
	case models.ChatMemberTypeRestricted:
		return cm.Restricted != nil && cm.Restricted.IsMember
	}
	return false
}
