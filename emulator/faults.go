package emulator

import (
	"net/http"
	"strings"
)

// fault is a planned failure of the next calls to a method.
type fault struct {
	method string // lower case; "*" for any method but getUpdates
	times  int
	err    *apiError
}

// FailNext makes the next `times` calls of method fail with this error code
// and description, before any other check, as when Telegram has trouble.
// method "*" matches every method but getUpdates. An empty description gets
// Telegram's usual one for the code. retryAfter > 0 adds
// parameters.retry_after (with 429: "Too Many Requests: retry after N").
func (s *Server) FailNext(method string, times int, code int, description string, retryAfter int) {
	if times <= 0 {
		return
	}
	if description == "" {
		switch code {
		case http.StatusTooManyRequests:
			description = tooManyRequests(max(retryAfter, 1)).description
		case http.StatusBadRequest:
			description = "Bad Request"
		case http.StatusForbidden:
			description = "Forbidden: bot was blocked by the user"
		case http.StatusConflict:
			description = "Conflict"
		default:
			description = http.StatusText(code)
		}
	}
	if code == http.StatusTooManyRequests && retryAfter <= 0 {
		retryAfter = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{
		method: strings.ToLower(method),
		times:  times,
		err:    &apiError{code: code, description: description, retryAfter: retryAfter},
	})
}

// takeFault returns the planned failure for this call, if any.
func (s *Server) takeFault(method string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	lower := strings.ToLower(method)
	for i, f := range s.faults {
		if f.method != lower && (f.method != "*" || lower == "getupdates") {
			continue
		}
		f.times--
		if f.times == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f.err
	}
	return nil
}
