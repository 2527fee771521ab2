package sms

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
)

// The providers Config.Provider may name.
const (
	ProviderLog    = "log"
	ProviderHTTP   = "http"
	ProviderSMPP   = "smpp"
	ProviderMemory = "memory"
)

// Config chooses and sets up a provider. The config package fills it from the
// environment variables named in each field's comment; Validate names them
// too, so an engineer knows which one to fix.
type Config struct {
	Provider string // SMS_PROVIDER: "log", "http", "smpp" or "memory"

	HTTPURL   string // SMS_HTTP_URL
	HTTPToken string // SMS_HTTP_TOKEN, optional

	SMPPAddr       string // SMPP_ADDR, host:port
	SMPPSystemID   string // SMPP_SYSTEM_ID
	SMPPPassword   string // SMPP_PASSWORD, optional
	SMPPSourceAddr string // SMPP_SOURCE_ADDR: sender name (at most 11 Latin characters) or number
	// SMPPTransmitter binds as a transmitter instead of a transceiver (SMPP_BIND=tx
	// if the config package offers it); the zero value is a transceiver.
	SMPPTransmitter bool
}

// Validate reports every setting that is missing or malformed, one error
// per environment variable, each starting with the variable's name (joined
// with errors.Join when there are several). It never repeats a value that
// may hold a key or a password.
func (c Config) Validate() error {
	switch c.Provider {
	case "":
		return errors.New("SMS_PROVIDER is required: one of log, http, smpp, memory")
	case ProviderLog, ProviderMemory:
		return nil
	case ProviderHTTP:
		if c.HTTPURL == "" {
			return errors.New("SMS_HTTP_URL is required when SMS_PROVIDER=http")
		}
		u, err := url.Parse(c.HTTPURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("SMS_HTTP_URL must be an http:// or https:// URL") // the value may hold a key: not repeated
		}
		return nil
	case ProviderSMPP:
		var errs []error
		if c.SMPPAddr == "" {
			errs = append(errs, errors.New("SMPP_ADDR is required when SMS_PROVIDER=smpp: the SMS centre's host:port"))
		} else if _, _, err := net.SplitHostPort(c.SMPPAddr); err != nil {
			errs = append(errs, fmt.Errorf("SMPP_ADDR must be host:port, got %q", c.SMPPAddr))
		}
		// SMPP 3.4 limits, counted without the terminating zero byte.
		if c.SMPPSystemID == "" {
			errs = append(errs, errors.New("SMPP_SYSTEM_ID is required when SMS_PROVIDER=smpp: the SMPP login"))
		} else if len(c.SMPPSystemID) > 15 {
			errs = append(errs, errors.New("SMPP_SYSTEM_ID must be at most 15 characters"))
		}
		if len(c.SMPPPassword) > 8 {
			errs = append(errs, errors.New("SMPP_PASSWORD must be at most 8 characters"))
		}
		if c.SMPPSourceAddr == "" {
			errs = append(errs, errors.New("SMPP_SOURCE_ADDR is required when SMS_PROVIDER=smpp: a sender name or number"))
		} else if _, err := sourceAddress(c.SMPPSourceAddr); err != nil {
			errs = append(errs, fmt.Errorf("SMPP_SOURCE_ADDR: %w", err))
		}
		return errors.Join(errs...)
	default:
		return fmt.Errorf("SMS_PROVIDER must be one of log, http, smpp, memory, got %q", c.Provider)
	}
}

// New validates cfg and builds its provider. The returned Closer is always
// non-nil, so the caller can defer Close whatever the provider; only SMPP has
// a connection to close. For "memory" the Sender is a *Memory, which the
// sandbox reads back by a type assertion.
func New(cfg Config, logger *slog.Logger) (Sender, io.Closer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	switch cfg.Provider {
	case ProviderLog:
		logger.Warn("sms.provider_log", slog.String("note", "SMS texts, codes included, go to the log; development only"))
		return NewLog(logger), nopCloser{}, nil
	case ProviderMemory:
		return NewMemory(), nopCloser{}, nil
	case ProviderHTTP:
		return NewHTTP(cfg.HTTPURL, cfg.HTTPToken, &http.Client{Timeout: DefaultTimeout}), nopCloser{}, nil
	default: // ProviderSMPP; Validate allows nothing else
		s, err := NewSMPP(SMPPConfig{
			Addr:        cfg.SMPPAddr,
			SystemID:    cfg.SMPPSystemID,
			Password:    cfg.SMPPPassword,
			SourceAddr:  cfg.SMPPSourceAddr,
			Transmitter: cfg.SMPPTransmitter,
			Logger:      logger,
		})
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
}

// nopCloser lets New return a Closer for providers that hold no connection.
type nopCloser struct{}

func (nopCloser) Close() error { return nil }
