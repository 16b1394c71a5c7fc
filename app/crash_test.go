package app_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
)

func childEnv(t *testing.T, db, prefix, role string) []string {
	return []string{
		"MONGO_URI=" + testenv.MongoURI(t), "MONGO_DB=" + db, "REDIS_URL=" + testenv.RedisURL(), "REDIS_PREFIX=" + prefix,
		"JWT_SECRET=test-secret-test-secret-test-secret!", "ADMIN_EMAIL=" + apptest.AdminEmail, "ADMIN_PASSWORD=" + apptest.AdminPassword,
		"ROLE=" + role, "HTTP_ADDR=127.0.0.1:0", "LEASE_TTL=2s", "RELAY_REDELIVER=2s", "LOG_LEVEL=warn",
	}
}

func fastLeases(c *app.Config) {
	c.Relay.LeaseTTL, c.Relay.Redeliver, c.Relay.Grace = 2*time.Second, 2*time.Second, 300*time.Millisecond
}

// TestWorkerKilledMidStream runs projections and sagas in a separate worker
// process, kills it with SIGKILL while bookings stream in through an API
// process, and starts another worker. The new worker takes the consumer
// leases over and everything ends up projected once: seat maps, listing
// counts (which an event applied twice would skew), booking statuses and
// each user's booking list.
func TestWorkerKilledMidStream(t *testing.T) {
	t.Parallel()
	bin := testenv.Bookingd(t)
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	api := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: func(c *app.Config) {
		c.Role = app.RoleAPI
		fastLeases(c)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	worker := testenv.Start(t, bin, childEnv(t, db, prefix, app.RoleWorker))
	if !worker.WaitOutput(ctx, "worker running") {
		t.Fatalf("worker did not start:\n%s", worker.Output())
	}
	admin := api.Admin(t)
	show := apptest.Show(t, admin, 20, 20)
	users := make([]*apptest.Client, 40)
	for i := range users {
		users[i], _ = api.NewUser(t)
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(700 * time.Millisecond)
		worker.Kill()
		t.Logf("worker killed at log position %d", api.App.Store.KnownHead())
		worker = testenv.Start(t, bin, childEnv(t, db, prefix, app.RoleWorker))
	}()
	made := load(t, users, show, 10, 20, 50*time.Millisecond)
	<-killed
	t.Logf("load done at log position %d", api.App.Store.KnownHead())
	readModelsMatchLog(t, api, []string{show}, made)
}

// TestAPIKilledBeforePublishing kills API processes with SIGKILL while they
// take bookings, so that some commits are in the log but were never put on
// the bus. The catch-up relay (in the worker or the surviving API
// instance, whichever holds its lease) publishes them, and the read models
// end up equal to the log.
func TestAPIKilledBeforePublishing(t *testing.T) {
	t.Parallel()
	bin := testenv.Bookingd(t)
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	engine := func(role string) *apptest.Engine {
		return apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: func(c *app.Config) {
			c.Role = role
			fastLeases(c)
		}})
	}
	worker, api := engine(app.RoleWorker), engine(app.RoleAPI) // api: the test's own calls
	admin := api.Admin(t)
	show := apptest.Show(t, admin, 21, 20) // the load takes rows A-T, row U is left
	users := make([]*apptest.Client, 20)
	for i := range users {
		users[i], _ = api.NewUser(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var made map[*apptest.Client][]string
	for round := 0; round < 3; round++ {
		proc := testenv.Start(t, bin, childEnv(t, db, prefix, app.RoleAPI))
		if !proc.WaitOutput(ctx, "listening on http://") {
			t.Fatalf("api did not start:\n%s", proc.Output())
		}
		url := apiURL(proc.Output())
		done := make(chan struct{})
		go func() {
			defer close(done)
			cs := make([]*apptest.Client, len(users))
			for i, u := range users {
				c := *u
				c.Base = url + "/api/v1"
				cs[i] = &c
			}
			made = mergeLoad(made, loadUntilError(cs, show, round))
		}()
		time.Sleep(400 * time.Millisecond)
		proc.Kill()
		<-done
	}
	// And deterministically: commits written by a process that has no relay
	// at all, as if it died right after each append.
	bare, err := eventstore.Open(ctx, testenv.Client(t).Database(db), app.Registry(), eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	silent := commands.New(bare, commands.Config{HoldTTL: time.Hour, MaxSeatsPerBooking: 10})
	_, userID := api.NewUser(t)
	var silentIDs []string
	for _, seat := range []string{"U1", "U2", "U3"} {
		held, err := silent.HoldSeats(ctx, commands.HoldSeats{BookingID: uuid.NewString(), UserID: userID, ShowID: show, Seats: []string{seat}})
		if err != nil {
			t.Fatal(err)
		}
		silentIDs = append(silentIDs, held.Booking.ID)
	}
	made = mergeLoad(made, map[*apptest.Client][]string{nil: silentIDs})

	readModelsMatchLog(t, api, []string{show}, nil)
	if n := worker.App.Relay.Stats().Republished + api.App.Relay.Stats().Republished; n < 6 {
		t.Fatalf("the catch-up published %d commits; at least the 6 unpublished ones were expected", n)
	}
	t.Logf("relay: worker %+v, api %+v", worker.App.Relay.Stats(), api.App.Relay.Stats())
	for _, ids := range made {
		for _, id := range ids {
			if _, ok, _ := api.App.Bookings.Get(ctx, id, time.Now()); !ok {
				t.Fatalf("booking %s, confirmed to its client, is not in the read model", id)
			}
		}
	}
}

var seatCounter atomic.Int64

// loadUntilError makes every user hold one free seat after another (a seat
// nobody took yet, 400 in all) until the server stops answering, and
// returns the bookings the server confirmed.
func loadUntilError(users []*apptest.Client, show string, round int) map[*apptest.Client][]string {
	var mu sync.Mutex
	made := map[*apptest.Client][]string{}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func(u *apptest.Client) {
			defer wg.Done()
			for {
				n := seatCounter.Add(1) - 1
				if n >= 400 {
					return
				}
				seat := fmt.Sprintf("%c%d", 'A'+n/20, 1+n%20)
				r, err := u.Try("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}}, "X-Request-Id", fmt.Sprintf("r%d-%d", round, n))
				if err != nil || r.Status >= 500 {
					return // the server went away mid-request
				}
				if r.Status == 201 {
					mu.Lock()
					made[u] = append(made[u], r.Body["id"].(string))
					mu.Unlock()
				}
			}
		}(u)
	}
	wg.Wait()
	return made
}

func mergeLoad(a, b map[*apptest.Client][]string) map[*apptest.Client][]string {
	if a == nil {
		a = map[*apptest.Client][]string{}
	}
	for k, v := range b {
		a[k] = append(a[k], v...)
	}
	return a
}

var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

func apiURL(out string) string {
	m := listening.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestEmbeddedRestartLosesNothing stops an engine on the in-process bus,
// appends commits that no running process publishes, and starts a new
// engine on the same data: it republishes from the stored checkpoints and
// its read models match the log.
func TestEmbeddedRestartLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DBName(t)
	first := apptest.Start(t, apptest.Options{DB: db})
	admin := first.Admin(t)
	show := apptest.Show(t, admin, 4, 10)
	users := make([]*apptest.Client, 4)
	for i := range users {
		users[i], _ = first.NewUser(t)
	}
	made := load(t, users, show, 4, 10, 0)
	first.Stop()

	bare, err := eventstore.Open(ctx, testenv.Client(t).Database(db), app.Registry(), eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	silent := commands.New(bare, commands.Config{HoldTTL: time.Hour, MaxSeatsPerBooking: 10})
	owner, _, err := silent.Booking(ctx, made[users[0]][0])
	if err != nil {
		t.Fatal(err)
	}
	held, err := silent.HoldSeats(ctx, commands.HoldSeats{BookingID: uuid.NewString(), UserID: owner.Owner(), ShowID: show, Seats: []string{"D9", "D10"}})
	if err != nil {
		t.Fatal(err)
	}
	bare.Close()
	made[users[0]] = append(made[users[0]], held.Booking.ID)

	second := apptest.Start(t, apptest.Options{DB: db})
	readModelsMatchLog(t, second, []string{show}, made)
}
