package emulator

import "net/http"

// FailChat makes every call addressed to chat (its chat_id) fail with code
// and Telegram's usual description for it, until RestoreChat: one chat
// whose messages Telegram cannot take while the others go on.
func (s *Server) FailChat(chat int64, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chatFaults == nil {
		s.chatFaults = map[int64]*apiError{}
	}
	s.chatFaults[chat] = &apiError{code: code, description: http.StatusText(code)}
}

// RestoreChat ends FailChat for chat.
func (s *Server) RestoreChat(chat int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.chatFaults, chat)
}

// chatFault is the failure planned for the chat a call addresses, if any.
func (s *Server) chatFault(p params) *apiError {
	id, ok := p.typed["chat_id"].(int64)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chatFaults[id]
}
