package bot

import (
	"errors"
	"time"

	tgbot "github.com/go-telegram/bot"
)

// retryAfter tells whether err is Telegram's 429 and how long to wait: its
// retry_after, never less, and a second when it names none.
func retryAfter(err error) (time.Duration, bool) {
	var tooMany *tgbot.TooManyRequestsError
	if !errors.As(err, &tooMany) {
		return 0, false
	}
	if tooMany.RetryAfter <= 0 {
		return time.Second, true
	}
	return time.Duration(tooMany.RetryAfter) * time.Second, true
}
