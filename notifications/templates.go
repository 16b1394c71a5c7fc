package notifications

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*
var files embed.FS

// Templates are the email templates: for each name a text file whose first
// line is "Subject: ..." and an HTML file defining "body" for the layout.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// Names of the templates.
const (
	HoldCreated      = "hold_created"
	BookingConfirmed = "booking_confirmed"
	PaymentFailed    = "payment_failed"
	HoldExpired      = "hold_expired"
	BookingCancelled = "booking_cancelled"
	RefundStarted    = "refund_started"
	ShowRescheduled  = "show_rescheduled"
	Broadcast        = "broadcast"
	VerifyEmail      = "verify_email"
	EmailChange      = "email_change"
	ResetPassword    = "reset_password"
	AccountExists    = "account_exists"
	// NewsletterConfirm is the double opt-in email of the newsletter: a
	// guest's request, so it goes to To without a user.
	NewsletterConfirm = "newsletter_confirm"
)

var names = []string{HoldCreated, BookingConfirmed, PaymentFailed, HoldExpired, BookingCancelled, RefundStarted, ShowRescheduled, Broadcast,
	VerifyEmail, EmailChange, ResetPassword, AccountExists, NewsletterConfirm}

func funcs(loc *time.Location) map[string]any {
	return map[string]any{
		"join":  func(s []string) string { return strings.Join(s, ", ") },
		"when":  func(t time.Time) string { return t.In(loc).Format("Mon 2 Jan 2006, 15:04 MST") },
		"clock": func(t time.Time) string { return t.In(loc).Format("15:04 MST") },
		"money": func(minor int64, currency string) string {
			return fmt.Sprintf("%s %d.%02d", currency, minor/100, minor%100)
		},
		"reason": func(code string) string {
			switch code {
			case "card_declined":
				return "the card was declined"
			case "":
				return "the payment was not approved"
			}
			return strings.ReplaceAll(code, "_", " ")
		},
		"paragraphs": func(s string) []string {
			var out []string
			for _, p := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out
		},
	}
}

// LoadTemplates parses the embedded templates; times are shown in loc.
func LoadTemplates(loc *time.Location) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	layout, err := files.ReadFile("templates/layout.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		txt, err := files.ReadFile("templates/" + n + ".txt")
		if err != nil {
			return nil, err
		}
		if t.text[n], err = texttemplate.New(n).Funcs(funcs(loc)).Option("missingkey=error").Parse(string(txt)); err != nil {
			return nil, fmt.Errorf("notifications: %s.txt: %w", n, err)
		}
		body, err := files.ReadFile("templates/" + n + ".html")
		if err != nil {
			return nil, err
		}
		h := htmltemplate.New(n).Funcs(funcs(loc)).Option("missingkey=error")
		if h, err = h.Parse(string(layout)); err == nil {
			h, err = h.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("notifications: %s.html: %w", n, err)
		}
		t.html[n] = h
	}
	return t, nil
}

// Render returns the subject, text and HTML of template name with data.
func (t *Templates) Render(name string, data any) (subject, text, html string, err error) {
	tt, ok := t.text[name]
	if !ok {
		return "", "", "", fmt.Errorf("notifications: no template %q", name)
	}
	var b bytes.Buffer
	if err := tt.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("notifications: render %s: %w", name, err)
	}
	first, rest, _ := strings.Cut(b.String(), "\n")
	subject, ok = strings.CutPrefix(first, "Subject: ")
	if !ok {
		return "", "", "", fmt.Errorf("notifications: %s.txt must start with a Subject: line", name)
	}
	var h bytes.Buffer
	if err := t.html[name].ExecuteTemplate(&h, "layout", data); err != nil {
		return "", "", "", fmt.Errorf("notifications: render %s.html: %w", name, err)
	}
	return strings.TrimSpace(subject), strings.TrimLeft(rest, "\n"), h.String(), nil
}
