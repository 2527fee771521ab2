package bot

import (
	"context"
	"errors"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// memberAPI answers getChatMember from a table and counts the calls.
type memberAPI struct {
	status map[int64]models.ChatMember
	calls  int
	err    error
}

func (a *memberAPI) GetChatMember(_ context.Context, p *tgbot.GetChatMemberParams) (*models.ChatMember, error) {
	a.calls++
	if a.err != nil {
		return nil, a.err
	}
	cm, ok := a.status[p.UserID]
	if !ok {
		return &models.ChatMember{Type: models.ChatMemberTypeLeft}, nil
	}
	return &cm, nil
}

func TestMembersTellsWhoMayActInAGroup(t *testing.T) {
	const group = -100777
	api := &memberAPI{status: map[int64]models.ChatMember{
		1: {Type: models.ChatMemberTypeOwner},
		2: {Type: models.ChatMemberTypeAdministrator},
		3: {Type: models.ChatMemberTypeMember},
		4: {Type: models.ChatMemberTypeRestricted, Restricted: &models.ChatMemberRestricted{IsMember: true}},
		5: {Type: models.ChatMemberTypeRestricted, Restricted: &models.ChatMemberRestricted{IsMember: false}},
		6: {Type: models.ChatMemberTypeBanned},
	}}
	m := NewMembers(api, []int64{group})
	for user, want := range map[int64]bool{1: true, 2: true, 3: true, 4: true, 5: false, 6: false, 7: false} {
		got, err := m.IsMember(context.Background(), group, user)
		if err != nil || got != want {
			t.Errorf("user %d: member %v (%v), want %v", user, got, err, want)
		}
	}
	calls := api.calls
	if got, _ := m.IsMember(context.Background(), -100999, 3); got || api.calls != calls {
		t.Errorf("a chat that is not an operators' group: member %v after %d calls, want false without asking", got, api.calls-calls)
	}
}

func TestMembersRemembersAMemberLongerThanAStranger(t *testing.T) {
	const group = -100777
	api := &memberAPI{status: map[int64]models.ChatMember{3: {Type: models.ChatMemberTypeMember}}}
	m := NewMembers(api, []int64{group})
	now := time.Unix(1_800_000_000, 0)
	m.now = func() time.Time { return now }
	ask := func(user int64) bool {
		t.Helper()
		ok, err := m.IsMember(context.Background(), group, user)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	ask(3)
	ask(9)
	if api.calls != 2 {
		t.Fatalf("%d calls for two people, want 2", api.calls)
	}
	now = now.Add(30 * time.Second)
	ask(3)
	ask(9) // a stranger is asked again after ten seconds: they may have joined
	if api.calls != 3 {
		t.Fatalf("after 30 s: %d calls, want 3 (the stranger asked again, the member remembered)", api.calls)
	}
	// An operator removed from the team stops acting within a minute.
	delete(api.status, 3)
	now = now.Add(time.Minute)
	if ask(3) {
		t.Fatal("a removed operator is still a member after a minute")
	}
}

func TestMembersFailsClosedWhenTelegramDoesNotAnswer(t *testing.T) {
	api := &memberAPI{err: errors.New("timeout")}
	m := NewMembers(api, []int64{-100777})
	if ok, err := m.IsMember(context.Background(), -100777, 3); ok || err == nil {
		t.Fatalf("member %v, err %v: want not a member and the error, so the update is tried again", ok, err)
	}
}
