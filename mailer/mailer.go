// Package mailer sends email: over SMTP with go-mail, or into the log in
// the embedded default (where the outbox keeps a copy for the admin).
package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"
)

// Message is one email.
type Message struct {
	To, ToName string
	Subject    string
	Text, HTML string
	// MessageID is set as the Message-ID header, so that a message sent
	// twice (a crash after sending) shows as one in mail clients.
	MessageID string
	Headers   map[string]string
}

// Sender sends messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent wraps errors that retrying will not fix (a malformed
// address, a rejected recipient).
var ErrPermanent = errors.New("mailer: permanent failure")

// SMTP sends through an SMTP server.
type SMTP struct {
	host, from, fromName string
	opts                 []mail.Option
}

// NewSMTP parses smtp://user:pass@host:port[?tls=none|opportunistic|mandatory]
// (default opportunistic) and returns a sender with from as the sender.
func NewSMTP(rawURL, from, fromName string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("mailer: SMTP_URL must be smtp://[user:pass@]host:port")
	}
	port := 25
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("mailer: bad port %q", p)
		}
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTimeout(15 * time.Second)}
	switch u.Query().Get("tls") {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "mandatory":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "", "opportunistic":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	default:
		return nil, fmt.Errorf("mailer: tls must be none, opportunistic or mandatory")
	}
	if u.Scheme == "smtps" {
		opts = append(opts, mail.WithSSL())
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(u.User.Username()), mail.WithPassword(pw))
	}
	if from == "" {
		return nil, errors.New("mailer: MAIL_FROM is required with SMTP_URL")
	}
	return &SMTP{host: u.Hostname(), from: from, fromName: fromName, opts: opts}, nil
}

// Send implements Sender with one connection per message.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := mail.NewMsg()
	if err := msg.FromFormat(s.fromName, s.from); err != nil {
		return fmt.Errorf("%w: from: %v", ErrPermanent, err)
	}
	if err := msg.AddToFormat(m.ToName, m.To); err != nil {
		return fmt.Errorf("%w: to %q: %v", ErrPermanent, m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	}
	for k, v := range m.Headers {
		msg.SetGenHeader(mail.Header(k), v)
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	c, err := mail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mailer: send to %s: %w", m.To, err)
	}
	return nil
}

// Log writes messages to the log instead of sending them.
type Log struct{ Logger *slog.Logger }

// Send implements Sender.
func (l Log) Send(_ context.Context, m Message) error {
	l.Logger.Info("email (not sent: no SMTP_URL)", "to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}
