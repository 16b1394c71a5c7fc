package app_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
)

var confirmLink = regexp.MustCompile(`https?://\S+/api/v1(/newsletter/confirm\?token=\S+)`)

// apiPath turns a link of the engine into the path a Client takes.
func apiPath(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(strings.Trim(link, "<>"))
	if err != nil || !strings.HasPrefix(u.Path, "/api/v1/") {
		t.Fatalf("not an API link: %q", link)
	}
	return strings.TrimPrefix(u.Path, "/api/v1") + "?" + u.RawQuery
}

// TestNewsletterDoubleOptInAndOneClickUnsubscribe follows a guest from the
// sign-up form to a campaign and out again with the RFC 8058 one-click
// POST, without ever logging in; a second guest who never confirms gets
// nothing.
func TestNewsletterDoubleOptInAndOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	testenv.RequireMailpit(t)
	e := apptest.Start(t, apptest.Options{Mail: true, Tune: func(c *app.Config) { c.NewsletterRate = 500 }})
	guest := e.Client(t)
	id := testenv.ID()
	reader, lurker := "reader-"+id+"@example.com", "lurker-"+id+"@example.com"

	guest.Must(202, "POST", "/newsletter/subscribe", map[string]string{"email": strings.ToUpper(reader)})
	guest.Must(202, "POST", "/newsletter/subscribe", map[string]string{"email": lurker})
	if r := guest.Do("POST", "/newsletter/subscribe", map[string]string{"email": "not an address"}); r.Status != 422 {
		t.Fatalf("a bad address: %d %s", r.Status, r.Raw)
	}
	ms := testenv.WaitMail(t, reader, "Confirm your subscription", 15*time.Second)
	m := confirmLink.FindStringSubmatch(testenv.MailText(t, ms[0].ID))
	if m == nil {
		t.Fatalf("no confirmation link in %q", testenv.MailText(t, ms[0].ID))
	}
	if r := guest.Do("GET", "/newsletter/confirm?token=forged", nil); r.Status != 422 {
		t.Fatalf("a forged confirmation: %d %s", r.Status, r.Raw)
	}
	if r := guest.Must(200, "GET", m[1], nil); r.Body["email"] != reader || r.Body["status"] != "confirmed" {
		t.Fatalf("confirm answered %v", r.Body)
	}
	// Browsers get a page.
	if r := guest.Must(200, "GET", m[1], nil, "Accept", "text/html"); !strings.Contains(string(r.Raw), "Subscribed") {
		t.Fatalf("confirmation page %s", r.Raw)
	}
	// Subscribing a confirmed address again sends nothing new.
	guest.Must(202, "POST", "/newsletter/subscribe", map[string]string{"email": reader})

	admin := e.Admin(t)
	user, _ := e.NewUser(t)
	user.Must(403, "POST", "/admin/newsletters", map[string]string{"subject": "x", "text": "y"})
	if r := admin.Do("POST", "/admin/newsletters", map[string]string{"subject": "", "text": "y"}); r.Status != 422 || !strings.Contains(string(r.Raw), "subject") {
		t.Fatalf("an empty subject: %d %s", r.Status, r.Raw)
	}
	subject := "Premieres this week " + id
	c := admin.Must(202, "POST", "/admin/newsletters", map[string]string{"subject": subject,
		"html": `<h1>Premieres</h1><p onclick="steal()">Book <b>now</b> &amp; save</p><script>steal()</script>`})
	cid := c.Body["id"].(string)
	waitCampaign(t, admin, cid, 20*time.Second)
	got := admin.Must(200, "GET", "/admin/newsletters/"+cid, nil).Body
	if got["total"] != 1.0 || got["sent"] != 1.0 || got["remaining"] != 0.0 || got["failed"] != 0.0 {
		t.Fatalf("campaign progress %v (only the confirmed address counts)", got)
	}
	ms = testenv.WaitMail(t, reader, subject, 15*time.Second)
	if n := testenv.CountMail(testenv.Mails(t, lurker), subject); n != 0 {
		t.Fatalf("an unconfirmed address got %d campaign emails", n)
	}
	var mail testenv.Mail
	for _, x := range ms {
		if strings.Contains(x.Subject, subject) {
			mail = x
		}
	}
	html := testenv.MailHTML(t, mail.ID)
	if strings.Contains(html, "<script") || strings.Contains(html, "onclick") || !strings.Contains(html, "<b>now</b>") {
		t.Fatalf("campaign HTML not sanitised as promised: %s", html)
	}
	if text := testenv.MailText(t, mail.ID); !strings.Contains(text, "Book now & save") {
		t.Fatalf("derived text part %q", text)
	}
	h := testenv.MailHeaders(t, mail.ID)
	if len(h["List-Unsubscribe"]) != 1 || len(h["List-Unsubscribe-Post"]) != 1 || h["List-Unsubscribe-Post"][0] != "List-Unsubscribe=One-Click" {
		t.Fatalf("unsubscribe headers %v", h)
	}
	path := apiPath(t, h["List-Unsubscribe"][0])

	// GET only asks; a forged token is refused; the one-click POST, as a
	// mail client sends it, needs no login.
	if r := guest.Must(200, "GET", path, nil, "Accept", "text/html"); !strings.Contains(string(r.Raw), `method="post"`) {
		t.Fatalf("unsubscribe page %s", r.Raw)
	}
	if r := guest.Must(200, "GET", path, nil); r.Body["status"] != "confirmed" {
		t.Fatalf("GET changed the subscription: %v", r.Body)
	}
	forged := strings.Replace(path, "token=", "token=x", 1)
	if r := guest.Do("POST", forged, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded"); r.Status != 422 {
		t.Fatalf("a forged unsubscribe: %d %s", r.Status, r.Raw)
	}
	for range 2 { // idempotent
		r := guest.Must(200, "POST", path, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
		if r.Body["status"] != "unsubscribed" || r.Body["email"] != reader {
			t.Fatalf("one-click answered %v", r.Body)
		}
	}
	if st, _ := e.App.Newsletter.Status(context.Background(), reader); st != "unsubscribed" {
		t.Fatalf("status after unsubscribe %q", st)
	}
	second := admin.Must(202, "POST", "/admin/newsletters", map[string]string{"subject": "Second " + subject, "text": "More films"})
	waitCampaign(t, admin, second.Body["id"].(string), 20*time.Second)
	if n := testenv.CountMail(testenv.Mails(t, reader), "Second "+subject); n != 0 {
		t.Fatal("an unsubscribed address got the next campaign")
	}
	admin.Must(404, "GET", "/admin/newsletters/nope", nil)
	user.Must(403, "GET", "/admin/newsletters/"+cid, nil)
}

// TestNewsletterAtMe: a user with a verified address subscribes from the
// profile at once, sees the state on /me and leaves the same way.
func TestNewsletterAtMe(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	user, _, email := e.NewUserWithEmail(t)
	if r := user.Must(200, "GET", "/me", nil); r.Body["newsletter"] != "none" {
		t.Fatalf("a new user's newsletter %v", r.Body["newsletter"])
	}
	if r := user.Must(200, "PATCH", "/me", map[string]any{"newsletter": true}); r.Body["newsletter"] != "confirmed" {
		t.Fatalf("after subscribing %v", r.Body)
	}
	if st, _ := e.App.Newsletter.Status(context.Background(), email); st != "confirmed" {
		t.Fatalf("stored status %q", st)
	}
	if r := user.Do("PATCH", "/me", map[string]any{"newsletter": "yes"}); r.Status != 400 {
		t.Fatalf("a non-boolean: %d %s", r.Status, r.Raw)
	}
	if r := user.Must(200, "PATCH", "/me", map[string]any{"newsletter": false}); r.Body["newsletter"] != "unsubscribed" {
		t.Fatalf("after unsubscribing %v", r.Body)
	}
	// An unverified address goes through the double opt-in instead.
	other, _, _ := e.NewUnverifiedUser(t)
	if r := other.Must(200, "PATCH", "/me", map[string]any{"newsletter": true}); r.Body["newsletter"] != "pending" {
		t.Fatalf("an unverified address %v", r.Body)
	}
	e.Client(t).Must(401, "PATCH", "/me", map[string]any{"newsletter": true})
}

// TestCampaignSurvivesSenderKill sends a campaign to 1,000 subscribers from
// a worker process, kills it with SIGKILL in the middle and starts
// another: the campaign completes, no address receives two copies, and
// every address is accounted for (sent, or unknown if the kill fell
// between the handover to SMTP and its record).
func TestCampaignSurvivesSenderKill(t *testing.T) {
	t.Parallel()
	testenv.RequireMailpit(t)
	bin := testenv.Bookingd(t)
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	api := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: func(c *app.Config) {
		c.Role = app.RoleAPI
		fastLeases(c)
	}})
	const n = 1000
	id := testenv.ID()
	var emails []string
	for i := range n {
		emails = append(emails, fmt.Sprintf("fan%04d-%s@campaign.example", i, id))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := api.App.Newsletter.AddConfirmed(ctx, emails); err != nil {
		t.Fatal(err)
	}
	admin := api.Admin(t)
	subject := "Big campaign " + id
	cid := admin.Must(202, "POST", "/admin/newsletters", map[string]string{"subject": subject, "html": "<p>Hello fans</p>"}).Body["id"].(string)

	env := append(childEnv(t, db, prefix, app.RoleWorker), "SMTP_URL="+testenv.MailpitSMTP(), "NEWSLETTER_RATE=400")
	first := testenv.Start(t, bin, env)
	if !first.WaitOutput(ctx, "worker running") {
		t.Fatalf("worker did not start:\n%s", first.Output())
	}
	for {
		p := admin.Must(200, "GET", "/admin/newsletters/"+cid, nil).Body
		if p["sent"].(float64) >= 300 {
			if p["status"] == "done" {
				t.Fatal("the campaign finished before the kill")
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the campaign made no progress: %v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Kill()
	before := len(testenv.SearchMail(t, `subject:"`+subject+`"`))
	second := testenv.Start(t, bin, env)
	if !second.WaitOutput(ctx, "worker running") {
		t.Fatalf("second worker did not start:\n%s", second.Output())
	}
	p := waitCampaign(t, admin, cid, 2*time.Minute)
	sent, unknown := int(p["sent"].(float64)), int(p["unknown"].(float64))
	if p["total"] != float64(n) || p["failed"] != 0.0 || p["remaining"] != 0.0 || sent+unknown != n || unknown > 1 {
		t.Fatalf("campaign after the restart: %v", p)
	}
	// Every email recorded as sent was handed to SMTP before its record.
	var copies map[string]int
	waitFor(t, 30*time.Second, "Mailpit lists every email sent", func() bool {
		copies = map[string]int{}
		for _, m := range testenv.SearchMail(t, `subject:"`+subject+`"`) {
			for _, to := range m.To {
				copies[to.Address]++
			}
		}
		return len(copies) >= sent
	})
	for addr, k := range copies {
		if k > 1 {
			t.Errorf("%s got %d copies", addr, k)
		}
	}
	if len(copies) < sent || len(copies) > n {
		t.Fatalf("%d addresses received the campaign; %d recorded as sent", len(copies), sent)
	}
	t.Logf("killed after %d emails; %d sent, %d unknown, %d addresses received it", before, sent, unknown, len(copies))
}

func waitCampaign(t *testing.T, admin *apptest.Client, id string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p := admin.Must(200, "GET", "/admin/newsletters/"+id, nil).Body
		if p["status"] == "done" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s not done within %v: %v", id, timeout, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
