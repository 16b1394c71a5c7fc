package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// MailpitSMTP returns the SMTP_URL of the test Mailpit (MAILPIT_SMTP, or
// 127.0.0.1:1025 without TLS).
func MailpitSMTP() string {
	if u := os.Getenv("MAILPIT_SMTP"); u != "" {
		return u
	}
	return "smtp://127.0.0.1:1025?tls=none"
}

// MailpitAPI returns the base URL of the test Mailpit's API (MAILPIT_API,
// or http://127.0.0.1:8025).
func MailpitAPI() string {
	if u := os.Getenv("MAILPIT_API"); u != "" {
		return u
	}
	return "http://127.0.0.1:8025"
}

// Mail is a message Mailpit received.
type Mail struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
	Snippet   string `json:"Snippet"`
	To        []struct {
		Address string `json:"Address"`
	} `json:"To"`
}

// Mails returns the messages Mailpit received for an address.
func Mails(t testing.TB, to string) []Mail {
	t.Helper()
	q := url.Values{"query": {`to:"` + to + `"`}, "limit": {"200"}}
	resp, err := http.Get(MailpitAPI() + "/api/v1/search?" + q.Encode())
	if err != nil {
		t.Fatalf("testenv: Mailpit does not answer at %s (scripts/test starts it): %v", MailpitAPI(), err)
	}
	defer resp.Body.Close()
	var body struct {
		Messages []Mail `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("testenv: Mailpit search: %v", err)
	}
	return body.Messages
}

// WaitMail waits until Mailpit has a message for to whose subject contains
// subject, and returns every message for to at that moment.
func WaitMail(t testing.TB, to, subject string, timeout time.Duration) []Mail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := Mails(t, to)
		for _, m := range ms {
			if contains(m.Subject, subject) {
				return ms
			}
		}
		if time.Now().After(deadline) {
			var subjects []string
			for _, m := range ms {
				subjects = append(subjects, m.Subject)
			}
			t.Fatalf("no email %q for %s within %v; got %q", subject, to, timeout, subjects)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CountMail counts messages for to whose subject contains subject.
func CountMail(ms []Mail, subject string) int {
	n := 0
	for _, m := range ms {
		if contains(m.Subject, subject) {
			n++
		}
	}
	return n
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

// MailText returns the plain-text body of a message.
func MailText(t testing.TB, id string) string {
	t.Helper()
	var body struct {
		Text string `json:"Text"`
	}
	getJSON(t, "/api/v1/message/"+url.PathEscape(id), &body)
	return body.Text
}

// RequireMailpit fails the test if Mailpit does not answer.
func RequireMailpit(t testing.TB) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(MailpitAPI() + "/api/v1/info")
	if err != nil {
		t.Fatalf("testenv: Mailpit does not answer at %s: %v (scripts/test starts it)", MailpitAPI(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatal(fmt.Errorf("testenv: Mailpit answered %d", resp.StatusCode))
	}
}

// SearchMail returns every message matching a Mailpit search query (for
// example subject:"Spring news"), paging through the results.
func SearchMail(t testing.TB, query string) []Mail {
	t.Helper()
	var all []Mail
	for {
		q := url.Values{"query": {query}, "limit": {"500"}, "start": {fmt.Sprint(len(all))}}
		var body struct {
			Messages []Mail `json:"messages"`
		}
		getJSON(t, "/api/v1/search?"+q.Encode(), &body)
		all = append(all, body.Messages...)
		if len(body.Messages) < 500 {
			return all
		}
	}
}

// MailHTML returns the HTML body of a message.
func MailHTML(t testing.TB, id string) string {
	t.Helper()
	var body struct {
		HTML string `json:"HTML"`
	}
	getJSON(t, "/api/v1/message/"+url.PathEscape(id), &body)
	return body.HTML
}

// MailHeaders returns the headers of a message.
func MailHeaders(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	getJSON(t, "/api/v1/message/"+url.PathEscape(id)+"/headers", &h)
	return h
}

func getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(MailpitAPI() + path)
	if err != nil {
		t.Fatalf("testenv: Mailpit: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("testenv: Mailpit %s answered %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("testenv: Mailpit %s: %v", path, err)
	}
}
