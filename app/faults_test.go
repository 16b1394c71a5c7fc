package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/payments"
)

// waitConfirmed polls a booking until it is confirmed. Unlike waitBooking
// it accepts 404 meanwhile: the bookings read model may not have caught up
// with a booking made a moment ago (or during an outage) yet.
func waitConfirmed(t *testing.T, u *apptest.Client, id string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "booking "+id+" confirmed", func() bool {
		r := u.Do("GET", "/bookings/"+id, nil)
		return r.Status == 200 && r.Body["status"] == "confirmed"
	})
}

// phaseCounts tallies answers per phase of a fault test, keeping the
// first few unexpected ones to show.
type phaseCounts struct {
	mu      sync.Mutex
	ok      map[string]int
	failed  map[string]int
	samples map[string][]string
}

func newPhaseCounts() *phaseCounts {
	return &phaseCounts{ok: map[string]int{}, failed: map[string]int{}, samples: map[string][]string{}}
}

func (p *phaseCounts) add(phase string, want int, r apptest.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Status == want {
		p.ok[phase]++
		return
	}
	p.failed[phase]++
	if len(p.samples[phase]) < 5 {
		p.samples[phase] = append(p.samples[phase], fmt.Sprintf("%d %s", r.Status, r.Raw))
	}
}

// TestRedisDownTenSecondsUnderLoad keeps customers booking and paying
// through an API process while the deployment's Redis is killed for ten
// seconds and started again empty (it keeps nothing on disk): every hold
// and checkout still succeeds, because the event store is the truth; once
// Redis is back the relay publishes what it missed, the worker's
// consumers recreate their groups and catch up, every approved payment
// ends confirmed, and the read models match the log.
func TestRedisDownTenSecondsUnderLoad(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedisServer(t)
	db := testenv.DBName(t)
	opts := func(role string) apptest.Options {
		return apptest.Options{DB: db, Redis: true, RedisURL: srv.URL(), RedisPrefix: "outage:", Tune: func(c *app.Config) {
			c.Role = role
			fastLeases(c)
			c.ExpiryCheckInterval = 100 * time.Millisecond
		}}
	}
	api := apptest.Start(t, opts(app.RoleAPI))
	apptest.Start(t, opts(app.RoleWorker))
	admin := api.Admin(t)
	show := apptest.Show(t, admin, 40, 50)
	users := make([]*apptest.Client, 4)
	for i := range users {
		users[i], _ = api.NewUser(t)
	}

	var (
		phase   atomic.Value
		next    atomic.Int64
		holds   = newPhaseCounts()
		pays    = newPhaseCounts()
		mu      sync.Mutex
		paid    = map[string]*apptest.Client{}
		made    = map[*apptest.Client][]string{}
		stop    = make(chan struct{})
		workers sync.WaitGroup
	)
	phase.Store("before")
	for w := range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			u := users[w%len(users)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := next.Add(1) - 1
				if n >= 2000 {
					return
				}
				seat := fmt.Sprintf("%s%d", row(int(n/50)), 1+n%50)
				ph := phase.Load().(string)
				r := u.Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
				holds.add(ph, 201, r)
				if r.Status != 201 {
					continue
				}
				id := r.Body["id"].(string)
				mu.Lock()
				made[u] = append(made[u], id)
				mu.Unlock()
				if n%3 == 0 {
					c := u.Do("POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
					pays.add(ph, 202, c)
					if c.Status == 202 {
						mu.Lock()
						paid[id] = u
						mu.Unlock()
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	srv.Stop()
	phase.Store("redis down")
	time.Sleep(10 * time.Second)
	srv.Start()
	phase.Store("after")
	time.Sleep(3 * time.Second)
	close(stop)
	workers.Wait()

	for _, ph := range []string{"before", "redis down", "after"} {
		t.Logf("%s: %d holds, %d checkouts", ph, holds.ok[ph], pays.ok[ph])
		if holds.failed[ph] > 0 || pays.failed[ph] > 0 {
			t.Fatalf("%s: %d holds and %d checkouts failed: %v %v", ph, holds.failed[ph], pays.failed[ph], holds.samples[ph], pays.samples[ph])
		}
		if holds.ok[ph] == 0 || pays.ok[ph] == 0 {
			t.Fatalf("%s: no holds or checkouts went through", ph)
		}
	}
	recovered := time.Now()
	for id, u := range paid {
		waitConfirmed(t, u, id, 60*time.Second)
	}
	t.Logf("every approved payment confirmed %v after the load stopped", time.Since(recovered).Round(time.Millisecond))
	readModelsMatchLog(t, api, []string{show}, made)
}

// TestClockSkewBetweenProcesses runs two processes whose clocks are four
// seconds apart on short holds: the fast one (+2s) runs the sagas, so it
// is the one that expires holds, and its customers race for the seats of
// holds the slow one (-2s) placed as they lapse. With CLOCK_TOLERANCE
// covering the skew, no hold is expired or taken over before its deadline
// in real time (the log's commit times), no seat is held twice, payments
// confirm, and the read models match the log.
func TestClockSkewBetweenProcesses(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	start := func(role string, skew time.Duration) *apptest.Engine {
		return apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, HoldTTL: 3 * time.Second, Clock: clock.NewOffset(skew), Tune: func(c *app.Config) {
			c.Role, c.ClockTolerance = role, 5*time.Second
			c.ExpiryCheckInterval = 100 * time.Millisecond
		}})
	}
	fast := start(app.RoleAll, 2*time.Second)
	slow := start(app.RoleAPI, -2*time.Second)
	show := apptest.Show(t, fast.Admin(t), 2, 10)
	seat := func(i int) string { return fmt.Sprintf("%s%d", row(i/10), 1+i%10) }
	made := map[*apptest.Client][]string{}
	paid := map[string]*apptest.Client{}
	// The slow process holds every seat; a third of them are paid for.
	for i := range 20 {
		u, _ := slow.NewUser(t)
		r := u.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat(i)}})
		id := r.Body["id"].(string)
		made[u] = append(made[u], id)
		if i%3 == 0 {
			u.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
			paid[id] = u
		}
	}
	// Customers of the fast process try for the seats until they get them.
	var wg sync.WaitGroup
	var won atomic.Int64
	for i := range 20 {
		if i%3 == 0 {
			continue
		}
		u, _ := fast.NewUser(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if r := u.Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat(i)}}); r.Status == 201 {
					won.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if won.Load() == 0 {
		t.Fatal("no lapsed seat was taken over")
	}
	for id, u := range paid {
		waitConfirmed(t, u, id, 30*time.Second)
	}
	readModelsMatchLog(t, fast, []string{show}, made)
}

// TestRefusalsAndNoOpsSeeOtherProcessesWrites runs commands in one API
// process on a show it cached before another process changed it. No
// worker runs, so nothing but these commands touches the show. A payment
// confirmed there must sell the seats the other process held (on the
// stale cache the booking holds nothing and would be refunded as "seats
// released"), and a hold on a seat the other process has since released
// must succeed (on the stale cache the seat is taken: a refusal no append
// would have caught).
func TestRefusalsAndNoOpsSeeOtherProcessesWrites(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	apiOnly := func(c *app.Config) { c.Role = app.RoleAPI }
	a := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: apiOnly})
	b := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: apiOnly})
	show := apptest.Show(t, a.Admin(t), 1, 4)
	ctx := context.Background()
	meta := eventstore.Metadata{Actor: "test"}
	if _, _, err := b.App.Commands.Show(ctx, show); err != nil { // b caches the show as it is now
		t.Fatal(err)
	}
	user, _ := a.NewUser(t)
	r := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body
	paid := r["id"].(string)
	user.Must(202, "POST", "/bookings/"+paid+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
	if _, err := a.App.Commands.RecordPayment(ctx, paid, "ch_test", int64(r["amount"].(float64)), meta); err != nil {
		t.Fatal(err)
	}
	if _, err := b.App.Commands.ConfirmPaid(ctx, paid, 0, meta); err != nil {
		t.Fatal(err)
	}
	if got, _, err := a.App.Commands.Booking(ctx, paid); err != nil || got.State().Status != "confirmed" {
		t.Fatalf("a paid booking confirmed on a stale show is %v (%v)", got.State().Status, err)
	}

	held := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A2"}}).Body["id"].(string)
	if _, _, err := b.App.Commands.Show(ctx, show); err != nil { // b caches A2 as held
		t.Fatal(err)
	}
	user.Must(200, "POST", "/bookings/"+held+"/cancel", nil) // through a
	other, _ := b.NewUser(t)
	other.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A2"}})
}
