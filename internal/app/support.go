package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// checkSupportGroups tells, at start, which operators' group the bot
// cannot work in and why: a group that is not a forum, where the bot is not
// an administrator, or lacks the right to manage topics. The bot still
// starts (everything else works); requests routed to such a group wait in
// its outbox until an administrator fixes it.
func checkSupportGroups(ctx context.Context, api *tgbot.Bot, me *models.User, groups []int64, log *slog.Logger) []string {
	var problems []string
	slices.Sort(groups)
	for _, g := range slices.Compact(groups) {
		problem := supportGroupProblem(ctx, api, me, g)
		if problem != "" {
			log.Error("support group not usable", "chat_id", g, "problem", problem)
			problems = append(problems, fmt.Sprintf("%d: %s", g, problem))
		}
	}
	return problems
}

func supportGroupProblem(ctx context.Context, api *tgbot.Bot, me *models.User, group int64) string {
	chat, err := api.GetChat(ctx, &tgbot.GetChatParams{ChatID: group})
	if err != nil {
		return "the bot cannot see the group (is it a member? is the id right?): " + err.Error()
	}
	if !chat.IsForum {
		return "topics are off: turn on Topics in the group's settings"
	}
	m, err := api.GetChatMember(ctx, &tgbot.GetChatMemberParams{ChatID: group, UserID: me.ID})
	if err != nil {
		return "the bot's membership cannot be read: " + err.Error()
	}
	switch {
	case m.Type == models.ChatMemberTypeOwner:
		return ""
	case m.Type != models.ChatMemberTypeAdministrator || m.Administrator == nil:
		return "the bot is not an administrator: make it one with the right to manage topics"
	case !m.Administrator.CanManageTopics:
		return "the bot lacks the administrator right to manage topics"
	}
	return ""
}
