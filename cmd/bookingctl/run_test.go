package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/seatline/seatline/internal/apptest"
)

func ctl(t *testing.T, e *apptest.Engine, token string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		switch k {
		case "SEATLINE_URL":
			return e.URL
		case "SEATLINE_TOKEN":
			return token
		}
		return ""
	}
	if code := run(context.Background(), args, env, &out, &errOut); code != 0 {
		t.Fatalf("bookingctl %v: exit %d\n%s%s", args, code, out.String(), errOut.String())
	}
	return out.String()
}

// TestBookingctl drives a deployment with the CLI: demo data, a booking's
// timeline, a rebuild with progress, the log, the queues and promoting a
// user, all through the admin API.
func TestBookingctl(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	admin := e.Admin(t)
	seeded := ctl(t, e, admin.Token, "demo", "seed", "--shows", "2")
	if !strings.Contains(seeded, "4 movies") || !strings.Contains(seeded, "2 venues, 4 shows") || strings.Count(seeded, "customer ") != 2 {
		t.Fatalf("demo seed printed:\n%s", seeded)
	}
	shows := admin.Must(200, "GET", "/shows", nil).Body["items"].([]any)
	if len(shows) != 4 {
		t.Fatalf("%d shows after the seed", len(shows))
	}
	user, _ := e.NewUser(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": shows[0].(map[string]any)["id"], "seats": []string{"C1"}},
		"X-Request-Id", "ctl-hold").Body["id"].(string)

	tl := ctl(t, e, admin.Token, "timeline", id)
	if !strings.Contains(tl, "show.SeatsHeld.v1") || !strings.Contains(tl, "booking.Placed.v1") || !strings.Contains(tl, "ctl-hold") {
		t.Fatalf("timeline printed:\n%s", tl)
	}
	if js := ctl(t, e, admin.Token, "timeline", id, "--json"); !strings.Contains(js, `"booking_id": "`+id+`"`) {
		t.Fatalf("timeline --json printed:\n%s", js)
	}
	list := ctl(t, e, admin.Token, "projections", "list")
	for _, p := range []string{"projection.bookings", "projection.shows", "projection.seatmaps", "projection.movies", "projection.venues"} {
		if !strings.Contains(list, p) {
			t.Fatalf("projections list printed:\n%s", list)
		}
	}
	rb := ctl(t, e, admin.Token, "projections", "rebuild", "shows")
	if !strings.Contains(rb, "rebuilt projection.shows") {
		t.Fatalf("rebuild printed:\n%s", rb)
	}
	if got := admin.Must(200, "GET", "/shows", nil).Body["items"].([]any); len(got) != 4 {
		t.Fatalf("%d shows after the rebuild", len(got))
	}
	tail := ctl(t, e, admin.Token, "events", "tail", "--from", "0")
	if !strings.Contains(tail, "movie.Added.v1") || !strings.Contains(tail, "show.SeatsHeld.v1") {
		t.Fatalf("events tail printed:\n%s", tail)
	}
	if q := ctl(t, e, admin.Token, "queues", "list"); !strings.Contains(q, "saga.notifications") || !strings.Contains(q, "in-process") {
		t.Fatalf("queues list printed:\n%s", q)
	}
	ctl(t, e, admin.Token, "dead-letters", "list")

	_, _, email := e.NewUserWithEmail(t)
	if out := ctl(t, e, admin.Token, "users", "promote", email); !strings.Contains(out, "is now an admin") {
		t.Fatalf("promote printed %s", out)
	}
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "SEATLINE_URL" {
			return e.URL
		}
		return ""
	}
	if code := run(context.Background(), []string{"projections", "list"}, env, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "401") {
		t.Fatalf("without credentials: exit %d %s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"nonsense"}, env, &out, &errOut); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}
