// Package sms sends short text messages (one-time codes, "a Telegram account
// was linked" notices) to the phone on a subscriber's contract.
//
// One small interface, Sender, has several providers chosen by configuration:
// Log for development, HTTP for an SMS gateway with a JSON API, SMPP for an
// operator's SMS centre, and Memory for tests and the sandbox. New builds the
// one that Config names.
//
// No provider writes a phone number or a message text into an error or a log
// line (except Log, whose whole purpose is to show the text to a developer),
// because codes and phone numbers are personal data.
package sms

import (
	"context"
	"errors"
)

// Sender sends one SMS text to a phone number in E.164 form (+79161234567).
// It is declared here, next to its providers, because New returns it; a
// consumer such as dialogs may declare its own identical interface.
type Sender interface {
	Send(ctx context.Context, to, text string) error
}

// Errors every provider returns before contacting anyone, so that a caller's
// mistake is told apart from a provider's failure.
var (
	// ErrBadNumber: the number is not "+" followed by 7 to 15 digits. The
	// number itself is not in the message, because it is personal data.
	ErrBadNumber = errors.New("sms: phone number is not in E.164 form")
	// ErrEmptyText: there is nothing to send.
	ErrEmptyText = errors.New("sms: empty text")
)

// checkMessage rejects what no provider can deliver.
func checkMessage(to, text string) error {
	if !isE164(to) {
		return ErrBadNumber
	}
	if text == "" {
		return ErrEmptyText
	}
	return nil
}

// isE164 reports whether s is "+", a non-zero digit and 6 to 14 more digits.
func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
