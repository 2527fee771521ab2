package emulator

import (
	"regexp"

	"github.com/go-telegram/bot/models"
)

// CommandScope names whom a list of bot commands is for, as BotCommandScope
// does: Type is "default", "all_private_chats", "all_group_chats",
// "all_chat_administrators", "chat", "chat_administrators" or "chat_member";
// ChatID and UserID are set for the types that need them.
type CommandScope struct {
	Type   string
	ChatID int64
	UserID int64
}

// commandKey is where one list of commands is kept: Telegram keeps a list per
// scope and language, and an empty language is the fallback for a scope.
type commandKey struct {
	scope CommandScope
	lang  string
}

var languageCode = regexp.MustCompile(`^[a-z]{2}$`)

// commandKeyOf reads scope and language_code of the *MyCommands methods.
func (s *Server) commandKeyOf(p params) (commandKey, *apiError) {
	key := commandKey{scope: CommandScope{Type: "default"}, lang: p.str("language_code")}
	if key.lang != "" && !languageCode.MatchString(key.lang) {
		return key, badRequest("language_code must be a two-letter ISO 639-1 code")
	}
	obj, ok := p.typed["scope"].(map[string]any)
	if !ok {
		return key, nil
	}
	key.scope.Type, _ = obj["type"].(string)
	if v, present := obj["chat_id"]; present {
		chatParams := params{typed: map[string]any{"chat_id": v}}
		c, err := s.targetChat(chatParams)
		if err != nil {
			return key, err
		}
		key.scope.ChatID = c.info.ID
	}
	if v, ok := obj["user_id"].(int64); ok {
		key.scope.UserID = v
	}
	return key, nil
}

func (s *Server) setMyCommands(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list, _ := p.typed["commands"].([]any)
	if err := checkBotCommands(list); err != nil {
		return result{}, err
	}
	key, err := s.commandKeyOf(p)
	if err != nil {
		return result{}, err
	}
	var commands []models.BotCommand
	if err := p.decode("commands", &commands); err != nil {
		return result{}, badRequest("can't parse commands JSON object")
	}
	if len(commands) == 0 {
		delete(s.commands, key)
	} else {
		s.commands[key] = commands
	}
	return result{value: true}, nil
}

func (s *Server) getMyCommands(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, err := s.commandKeyOf(p)
	if err != nil {
		return result{}, err
	}
	commands := s.commands[key]
	if commands == nil {
		commands = []models.BotCommand{}
	}
	return result{value: commands}, nil
}

func (s *Server) deleteMyCommands(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, err := s.commandKeyOf(p)
	if err != nil {
		return result{}, err
	}
	delete(s.commands, key)
	return result{value: true}, nil
}

// Commands returns the list set for exactly this scope and language (no
// fallback), nil when none.
func (s *Server) Commands(scope CommandScope, languageCode string) []models.BotCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	if scope.Type == "" {
		scope.Type = "default"
	}
	return append([]models.BotCommand(nil), s.commands[commandKey{scope: scope, lang: languageCode}]...)
}

// CommandsFor returns the commands a person sees in the menu of their private
// chat with the bot, found the way Telegram does: this chat, then all private
// chats, then the default scope; in each, the person's language first.
func (s *Server) CommandsFor(u User) []models.BotCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	scopes := []CommandScope{
		{Type: "chat", ChatID: u.ID},
		{Type: "all_private_chats"},
		{Type: "default"},
	}
	for _, scope := range scopes {
		for _, lang := range []string{u.LanguageCode, ""} {
			if list, ok := s.commands[commandKey{scope: scope, lang: lang}]; ok {
				return append([]models.BotCommand(nil), list...)
			}
		}
	}
	return nil
}
