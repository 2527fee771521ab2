package sms

import (
	"context"
	"log/slog"

	"github.com/kabinet-bot/kabinet/billing"
)

// Log is the development provider: it sends nothing and writes the message to
// the log instead, so a developer can read the code without a phone. It is the
// one place allowed to log a message text; never configure it in production.
type Log struct {
	logger *slog.Logger
}

// NewLog returns a Log provider writing to logger.
func NewLog(logger *slog.Logger) *Log {
	return &Log{logger: logger}
}

// Send logs the text and the masked number.
func (l *Log) Send(ctx context.Context, to, text string) error {
	if err := checkMessage(to, text); err != nil {
		return err
	}
	l.logger.InfoContext(ctx, "sms.log.sent",
		slog.String("to", billing.MaskPhone(to)),
		slog.String("text", text), // the point of this provider; see the type's comment
	)
	return nil
}
