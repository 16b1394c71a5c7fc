package app_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/relay"
)

// poisoned wraps the bookings projector so that it fails on the placement
// of any booking holding seat while broken is set: a poison message.
type poisoned struct {
	relay.Handler
	seat   string
	broken *atomic.Bool
}

func (p poisoned) Handle(ctx context.Context, batch []eventstore.Commit) error {
	for _, c := range batch {
		for _, e := range c.Events {
			if pl, ok := e.Event.(booking.Placed); ok && p.broken.Load() && slices.Contains(pl.Seats, p.seat) {
				return errors.New("poison: cannot project a booking of seat " + p.seat)
			}
		}
	}
	return p.Handler.Handle(ctx, batch)
}

// TestPoisonMessageGoesToDeadLettersAndRetries: a commit the bookings
// projector keeps failing on lands in the dead letters after its tries,
// visible with its error and payload, while the rest flows; once the cause
// is fixed, a retry by id (and "retry all") projects it.
func TestPoisonMessageGoesToDeadLettersAndRetries(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	var broken atomic.Bool
	broken.Store(true)
	e := apptest.Start(t, apptest.Options{Redis: true, RedisPrefix: prefix, Hooks: app.Hooks{
		WrapHandler: func(h relay.Handler) relay.Handler {
			if h.Name() == "projection.bookings" {
				for _, seat := range []string{"A5", "A6"} {
					h = poisoned{Handler: h, seat: seat, broken: &broken}
				}
			}
			return h
		},
	}})
	admin := e.Admin(t)
	show := apptest.Show(t, admin, 1, 8)
	user, _ := e.NewUser(t)
	bad1 := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A5"}}).Body["id"].(string)
	bad2 := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A6"}}).Body["id"].(string)
	good := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}})
	// The good one is projected: the poison holds the group up only for its
	// tries, then goes aside.
	waitFor(t, 30*time.Second, "the healthy booking projected", func() bool {
		r := user.Do("GET", "/bookings/"+good.Body["id"].(string), nil)
		return r.Status == 200 && r.Body["status"] == "held"
	})
	var letters []any
	for end := time.Now().Add(30 * time.Second); len(letters) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("dead letters: %v", letters)
		}
		letters = admin.Must(200, "GET", "/admin/queues/events/dead-letters", nil).Body["items"].([]any)
	}
	first := letters[0].(map[string]any)
	commit, _ := first["commit"].(map[string]any)
	if first["group"] != "projection.bookings" || first["attempts"].(float64) < 5 || commit == nil || len(commit["events"].([]any)) == 0 {
		t.Fatalf("dead letter %v", first)
	}
	if msg := first["error"].(string); msg == "" {
		t.Fatal("dead letter without its error")
	}
	q := admin.Must(200, "GET", "/admin/queues", nil).Body["items"].([]any)[0].(map[string]any)
	for _, g := range q["groups"].([]any) {
		if g := g.(map[string]any); g["name"] == "projection.bookings" && g["dead_letters"].(float64) != 2 {
			t.Fatalf("queue report %v", g)
		}
	}
	// The booking read model lacks it (API instances serve bookings from
	// memory, fed by the log, so customers see it all the same).
	stored := func(id string) bool {
		_, ok, err := e.App.Bookings.Get(context.Background(), id, time.Now())
		return ok && err == nil
	}
	if stored(bad1) {
		t.Fatal("a dead-lettered booking is in the read model")
	}
	user.Must(403, "GET", "/admin/queues", nil)
	admin.Must(404, "GET", "/admin/queues/nope/dead-letters", nil)
	admin.Must(404, "POST", "/admin/queues/events/dead-letters/nope/retry", nil)

	// Fix the cause, retry one by id, then the rest.
	broken.Store(false)
	var id1 string
	for _, l := range letters {
		if l := l.(map[string]any); l["stream_id"] == booking.StreamPrefix+bad1 {
			id1 = l["id"].(string)
		}
	}
	if r := admin.Must(202, "POST", "/admin/queues/events/dead-letters/"+id1+"/retry", nil); r.Body["retry_requested"] != true {
		t.Fatalf("retry answered %v", r.Body)
	}
	waitFor(t, 15*time.Second, "the retried booking projected", func() bool { return stored(bad1) })
	if n := len(admin.Must(200, "GET", "/admin/queues/events/dead-letters", nil).Body["items"].([]any)); n != 1 {
		t.Fatalf("%d dead letters after one retry", n)
	}
	if r := admin.Must(202, "POST", "/admin/queues/events/dead-letters/retry", nil); r.Body["retry_requested"] != 1.0 {
		t.Fatalf("retry all answered %v", r.Body)
	}
	waitFor(t, 15*time.Second, "the second booking projected", func() bool {
		return stored(bad2) &&
			len(admin.Must(200, "GET", "/admin/queues/events/dead-letters", nil).Body["items"].([]any)) == 0
	})
}

// TestConsumerKilledHoldingPendingMessages kills a worker while its
// notifications consumer holds a message it took off the stream but had
// not acknowledged. The message stays pending for the dead consumer,
// visible at /admin/queues; another worker reclaims it once it is idle
// long enough (with the relay's redelivery out of the way) and the hold's
// email is sent exactly once.
func TestConsumerKilledHoldingPendingMessages(t *testing.T) {
	t.Parallel()
	testenv.RequireMailpit(t)
	bin := testenv.Bookingd(t)
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	api := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: func(c *app.Config) {
		c.Role = app.RoleAPI
		fastLeases(c)
		c.Relay.Redeliver = time.Minute
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	env := append(childEnv(t, db, prefix, app.RoleWorker), "SMTP_URL="+testenv.MailpitSMTP(), "RELAY_REDELIVER=60s", "BUS_CLAIM_IDLE=2s")
	first := testenv.Start(t, bin, env)
	if !first.WaitOutput(ctx, "worker running") {
		t.Fatalf("worker did not start:\n%s", first.Output())
	}
	admin := api.Admin(t)
	show := apptest.Show(t, admin, 1, 4)
	user, _, email := api.NewUserWithEmail(t)
	waitFor(t, 20*time.Second, "the show projected", func() bool { return admin.Do("GET", "/shows/"+show, nil).Status == 200 })
	waitFor(t, 20*time.Second, "the first worker caught up", func() bool { return groupPending(t, admin, "saga.notifications") == 0 })
	first.Stop(10 * time.Second)

	doomed := testenv.Start(t, bin, append(env, "FAILPOINTS=consumer.saga.notifications.before-ack"))
	if !doomed.WaitOutput(ctx, "worker running") {
		t.Fatalf("worker did not start:\n%s", doomed.Output())
	}
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	if !doomed.WaitOutput(ctx, "failpoint consumer.saga.notifications.before-ack") {
		t.Fatalf("the worker never took the message:\n%s", doomed.Output())
	}
	for done, _ := doomed.Exited(); !done; done, _ = doomed.Exited() {
		time.Sleep(10 * time.Millisecond)
	}
	if n := groupPending(t, admin, "saga.notifications"); n < 1 {
		t.Fatalf("no pending message after the kill (%d)", n)
	}
	if n := testenv.CountMail(testenv.Mails(t, email), "Seats held"); n != 0 {
		t.Fatalf("%d emails before the reclaim", n)
	}

	third := testenv.Start(t, bin, env)
	if !third.WaitOutput(ctx, "worker running") {
		t.Fatalf("worker did not start:\n%s", third.Output())
	}
	waitFor(t, 30*time.Second, "the pending message reclaimed", func() bool {
		g := group(t, admin, "saga.notifications")
		return g["pending"].(float64) == 0 && g["reclaimed"].(float64) >= 1
	})
	testenv.WaitMail(t, email, "Seats held", 20*time.Second)
	// Only the notifications group is settled: the killed worker took
	// other groups' messages too, which the relay republishes only after
	// RELAY_REDELIVER (a minute here).
	settle(t, api, "saga.notifications")
	if n := testenv.CountMail(testenv.Mails(t, email), "Seats held"); n != 1 {
		t.Fatalf("%d hold emails after the reclaim", n)
	}
	if b := user.Must(200, "GET", "/bookings/"+id, nil).Body; b["status"] != "held" {
		t.Fatalf("booking %v", b)
	}
}

func group(t *testing.T, admin *apptest.Client, name string) map[string]any {
	t.Helper()
	q := admin.Must(200, "GET", "/admin/queues", nil).Body["items"].([]any)[0].(map[string]any)
	if q["mode"] != "redis" {
		t.Fatalf("queue mode %v", q["mode"])
	}
	for _, g := range q["groups"].([]any) {
		if g := g.(map[string]any); g["name"] == name {
			return g
		}
	}
	t.Fatalf("no group %s in %v", name, q)
	return nil
}

func groupPending(t *testing.T, admin *apptest.Client, name string) int {
	return int(group(t, admin, name)["pending"].(float64))
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
