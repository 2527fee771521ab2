package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// SMPPConfig holds what an operator's SMS centre gives a client: an address,
// credentials and the sender name or number subscribers will see.
type SMPPConfig struct {
	Addr       string // host:port of the SMS centre
	SystemID   string // login
	Password   string // may be empty for centres that trust the IP address
	SystemType string // optional; some centres want a value here
	// SourceAddr is what the subscriber sees as the sender: an alphanumeric
	// name such as "Kabinet" (at most 11 characters) or a number.
	SourceAddr string
	// Transmitter binds as a transmitter only, for centres that refuse a
	// transceiver bind. The default is a transceiver.
	Transmitter bool

	// Timeout bounds connecting and each Send. Default DefaultTimeout.
	Timeout time.Duration
	// EnquireLink is how often the link is checked, so a dead connection is
	// noticed before a code must go through it. Default 30 s.
	EnquireLink time.Duration
	// RebindInterval is the pause between reconnection attempts. Default 5 s.
	RebindInterval time.Duration
	// Logger receives connection events (never numbers or texts). Default: discard.
	Logger *slog.Logger
}

// Limits of one SMS, in the units of its coding: GSM 7-bit septets or UCS2
// 16-bit units. A part of a long message loses room to its 6-byte header.
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
	maxParts   = 255 // the part counter in the header is one byte
)

// SMPP sends messages to an SMS centre over SMPP 3.4. One bound session is
// shared by all Send calls; gosmpp rebinds it by itself after a network
// failure. Send returns only after the centre accepted (or refused) every
// part, so the caller knows whether the code went out.
type SMPP struct {
	session *gosmpp.Session
	source  pdu.Address
	timeout time.Duration
	logger  *slog.Logger
	ref     atomic.Uint32 // concatenation reference of the next long message

	mu      sync.Mutex
	pending map[int32]chan error // submit_sm sequence number -> its waiting Send
}

// NewSMPP connects and binds to the SMS centre. It fails when the centre is
// unreachable or refuses the credentials, so a wrong setting shows at start.
func NewSMPP(cfg SMPPConfig) (*SMPP, error) {
	source, err := sourceAddress(cfg.SourceAddr)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.EnquireLink <= 0 {
		cfg.EnquireLink = 30 * time.Second
	}
	if cfg.RebindInterval <= 0 {
		cfg.RebindInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	s := &SMPP{
		source:  source,
		timeout: cfg.Timeout,
		logger:  cfg.Logger,
		pending: make(map[int32]chan error),
	}
	s.ref.Store(rand.Uint32())

	auth := gosmpp.Auth{SMSC: cfg.Addr, SystemID: cfg.SystemID, Password: cfg.Password, SystemType: cfg.SystemType}
	dial := timeoutDialer(cfg.Timeout)
	connector := gosmpp.TRXConnector(dial, auth)
	if cfg.Transmitter {
		connector = gosmpp.TXConnector(dial, auth)
	}
	settings := gosmpp.Settings{
		EnquireLink:  cfg.EnquireLink,
		ReadTimeout:  2 * cfg.EnquireLink, // silence this long means the link is dead
		WriteTimeout: cfg.Timeout,
		OnPDU:        s.onPDU,
		OnSubmitError: func(p pdu.PDU, err error) {
			s.finish(p.GetSequenceNumber(), fmt.Errorf("write: %w", err))
		},
		OnReceivingError: func(err error) {
			s.logger.Warn("sms.smpp.receive_failed", slog.Any("err", err))
		},
		OnRebindingError: func(err error) {
			s.logger.Warn("sms.smpp.rebind_failed", slog.Any("err", err))
		},
		OnClosed: func(state gosmpp.State) {
			s.logger.Warn("sms.smpp.closed", slog.String("state", state.String()))
			s.failAll(errors.New("connection to the SMS centre closed"))
		},
		OnRebind: func() {
			s.logger.Info("sms.smpp.rebound")
		},
	}
	s.session, err = gosmpp.NewSession(connector, settings, cfg.RebindInterval)
	if err != nil {
		return nil, fmt.Errorf("sms smpp: bind to %s: %w", cfg.Addr, err)
	}
	return s, nil
}

// timeoutDialer bounds the dial and the bind exchange that follows it: gosmpp's
// own dialer has no timeout and waits for bind_resp forever. gosmpp sets fresh
// read and write deadlines before every later read and write.
func timeoutDialer(timeout time.Duration) gosmpp.Dialer {
	return func(addr string) (net.Conn, error) {
		conn, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return nil, err
		}
		if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return conn, nil
	}
}

// Close unbinds and closes the connection. Send fails afterwards.
func (s *SMPP) Close() error {
	return s.session.Close()
}

// Send submits text to the number to, split into concatenated parts when it
// does not fit one SMS, and waits for the centre's answer to each part.
func (s *SMPP) Send(ctx context.Context, to, text string) error {
	if err := checkMessage(to, text); err != nil {
		return err
	}
	parts, err := s.submits(to, text)
	if err != nil {
		return fmt.Errorf("sms smpp: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for i, p := range parts {
		if err := s.submit(ctx, p); err != nil {
			return fmt.Errorf("sms smpp: part %d of %d: %w", i+1, len(parts), err)
		}
	}
	return nil
}

// submit sends one submit_sm and waits for its submit_sm_resp.
func (s *SMPP) submit(ctx context.Context, p *pdu.SubmitSM) error {
	seq := p.GetSequenceNumber()
	done := make(chan error, 1)
	s.mu.Lock()
	s.pending[seq] = done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, seq)
		s.mu.Unlock()
	}()

	if err := s.session.Transmitter().Submit(p); err != nil {
		return fmt.Errorf("submit: %w", err) // not bound at the moment: rebinding or closed
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for submit_sm_resp: %w", ctx.Err())
	}
}

// onPDU receives what the centre sends. gosmpp itself answers enquire_link,
// unbind and deliver_sm; only the answers to our submits matter here.
func (s *SMPP) onPDU(p pdu.PDU, _ bool) {
	switch p.(type) {
	case *pdu.SubmitSMResp, *pdu.GenericNack:
	default:
		return
	}
	var err error
	if status := p.GetHeader().CommandStatus; status != data.ESME_ROK {
		err = fmt.Errorf("rejected by the SMS centre: %s (%s)", status, status.Desc())
	} else if p.IsGNack() {
		err = errors.New("rejected by the SMS centre: generic_nack")
	}
	s.finish(p.GetSequenceNumber(), err)
}

// finish hands the outcome of one submit to the Send waiting for it, if any
// still is (a late answer after a timeout is dropped).
func (s *SMPP) finish(seq int32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if done, ok := s.pending[seq]; ok {
		select {
		case done <- err:
		default: // already has an outcome
		}
	}
}

// failAll ends every waiting Send: after the connection is lost no answer
// will come, and a caller should learn that now rather than at its timeout.
func (s *SMPP) failAll(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, done := range s.pending {
		select {
		case done <- err:
		default:
		}
	}
}

// submits builds the submit_sm PDUs of one message.
func (s *SMPP) submits(to, text string) ([]*pdu.SubmitSM, error) {
	dest := pdu.NewAddressWithTonNpi(data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164)
	if err := dest.SetAddress(strings.TrimPrefix(to, "+")); err != nil {
		return nil, ErrBadNumber
	}
	enc, segments := splitText(text)
	if len(segments) > maxParts {
		return nil, fmt.Errorf("text needs %d SMS, more than %d", len(segments), maxParts)
	}
	ref := byte(s.ref.Add(1))

	parts := make([]*pdu.SubmitSM, 0, len(segments))
	for i, seg := range segments {
		p := pdu.NewSubmitSM().(*pdu.SubmitSM) // assigns a fresh sequence number
		p.SourceAddr = s.source
		p.DestAddr = dest
		if err := p.Message.SetMessageWithEncoding(seg, enc); err != nil {
			return nil, fmt.Errorf("encode part %d: %w", i+1, err)
		}
		if len(segments) > 1 {
			p.EsmClass |= data.SM_UDH_GSM
			p.Message.SetUDH(pdu.UDH{pdu.NewIEConcatMessage(byte(len(segments)), byte(i+1), ref)})
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// splitText picks the coding of text and cuts it into the pieces of one SMS
// each. GSM 7-bit holds 160 Latin characters; anything outside its alphabet
// (Cyrillic, for one) needs UCS2, 70 characters. Cuts fall between
// characters, never inside an escape sequence or a surrogate pair.
func splitText(text string) (data.Encoding, []string) {
	enc, cost, single, part := data.UCS2, ucs2Units, ucs2Single, ucs2Part
	if len(data.ValidateGSM7String(text)) == 0 {
		enc, cost, single, part = data.GSM7BIT, gsm7Septets, gsm7Single, gsm7Part
	}

	total := 0
	for _, r := range text {
		total += cost(r)
	}
	if total <= single {
		return enc, []string{text}
	}

	var segments []string
	start, used := 0, 0
	for i, r := range text {
		if used+cost(r) > part {
			segments = append(segments, text[start:i])
			start, used = i, 0
		}
		used += cost(r)
	}
	return enc, append(segments, text[start:])
}

// gsm7Septets is the room r takes in GSM 7-bit: characters of the extension
// table ({, €, ...) are sent as an escape and the character.
func gsm7Septets(r rune) int {
	if data.IsEscapeChar(r) {
		return 2
	}
	return 1
}

// ucs2Units is the room r takes in UTF-16: characters beyond the basic plane
// (emoji) take a surrogate pair.
func ucs2Units(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}

// sourceAddress turns the configured sender into an SMPP address: a number
// ("+74951234567" or "74951234567") is international (TON 1, NPI 1); anything
// else is an alphanumeric sender id (TON 5, NPI 0), which phones show as is.
func sourceAddress(s string) (pdu.Address, error) {
	if s == "" {
		return pdu.Address{}, errors.New("sms smpp: source address is empty")
	}
	digits := strings.TrimPrefix(s, "+")
	if isDigits(digits) {
		if len(digits) > 15 {
			return pdu.Address{}, errors.New("sms smpp: source number is longer than 15 digits")
		}
		return pdu.NewAddressWithTonNpiAddr(data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164, digits)
	}
	if len(s) > 11 || len(data.ValidateGSM7String(s)) > 0 {
		return pdu.Address{}, errors.New("sms smpp: alphanumeric source address must be at most 11 Latin letters, digits or spaces")
	}
	return pdu.NewAddressWithTonNpiAddr(data.GSM_TON_ALPHANUMERIC, data.GSM_NPI_UNKNOWN, s)
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
