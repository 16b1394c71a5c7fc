package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/cluster"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/invariants"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/payments"
)

// TestForwardingSurvivesTheDeciderKilled runs three API processes on one
// hot show: two bookingd processes and one in the test. Commands about the
// show go to the process that owns its slot; the test picks a show owned
// by a bookingd process, has customers book through the two others (so
// that everything the owner decides was forwarded to it), and kills the
// owner with SIGKILL mid-load. Holds go on (decided where they arrive
// until the slot's lease moves, then forwarded to the new owner), the slot
// moves within a few lease TTLs, nothing is lost or doubled in the log,
// and the read models match it.
func TestForwardingSurvivesTheDeciderKilled(t *testing.T) {
	t.Parallel()
	bin := testenv.Bookingd(t)
	rc, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	api := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: func(c *app.Config) {
		c.Role = app.RoleAPI
		fastLeases(c)
	}})
	apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: func(c *app.Config) {
		c.Role = app.RoleWorker
		fastLeases(c)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	procs := map[string]*testenv.Process{}
	for range 2 {
		p := testenv.Start(t, bin, childEnv(t, db, prefix, app.RoleAPI))
		if !p.WaitOutput(ctx, "listening on http://") {
			t.Fatalf("api did not start:\n%s", p.Output())
		}
		procs[apiURL(p.Output())] = p
	}
	// The routing table as every process sees it.
	lookup := cluster.New(cluster.Options{Leaser: coord.NewRedis(rc, prefix)})
	admin := api.Admin(t)
	var show, owner string
	waitFor(t, 30*time.Second, "a show whose decider is a bookingd process", func() bool {
		s := apptest.Show(t, admin, 20, 20)
		if o := lookup.Owner(ctx, s); procs[o] != nil {
			show, owner = s, o
			return true
		}
		return false
	})
	urls := []string{api.URL}
	for u := range procs {
		if u != owner {
			urls = append(urls, u)
		}
	}
	users := make([]*apptest.Client, 30)
	for i := range users {
		users[i], _ = api.NewUser(t)
	}

	var (
		killed        atomic.Bool
		before, after atomic.Int64
		mu            sync.Mutex
		made          = map[*apptest.Client][]string{}
		paid          = map[string]*apptest.Client{}
		failures      []string
		wg            sync.WaitGroup
		next          atomic.Int64
		stop          = make(chan struct{})
	)
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := next.Add(1) - 1
				if n >= 400 {
					return
				}
				c := u.As(u.Token)
				base := urls[(i+int(n))%len(urls)]
				c.Base = base + "/api/v1"
				seat := fmt.Sprintf("%s%d", row(int(n/20)), 1+n%20)
				r, err := c.Try("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
				mu.Lock()
				switch {
				case err != nil || r.Status != 201:
					failures = append(failures, fmt.Sprintf("hold %s via %s: %v %d %s", seat, base, err, r.Status, r.Raw))
				default:
					made[u] = append(made[u], r.Body["id"].(string))
					if killed.Load() {
						after.Add(1)
					} else {
						before.Add(1)
					}
				}
				mu.Unlock()
				if err == nil && r.Status == 201 && n%4 == 0 {
					id := r.Body["id"].(string)
					if cr, err := c.Try("POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove}); err == nil && cr.Status == 202 {
						mu.Lock()
						paid[id] = u
						mu.Unlock()
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	waitFor(t, 30*time.Second, "holds before the kill", func() bool { return before.Load() >= 60 })
	if n := forwarded(t, urls); n == 0 {
		t.Fatal("no command was forwarded to the show's decider")
	}
	procs[owner].Kill()
	killed.Store(true)
	killedAt := time.Now()
	t.Logf("killed the decider %s after %d holds", owner, before.Load())
	waitFor(t, 15*time.Second, "the show's slot with a live process", func() bool {
		o := lookup.Owner(ctx, show)
		return o != owner && o != ""
	})
	t.Logf("the slot moved %v after the kill (LEASE_TTL 2s)", time.Since(killedAt).Round(100*time.Millisecond))
	waitFor(t, 60*time.Second, "holds after the kill", func() bool { return after.Load() >= 60 })
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Fatalf("%d holds failed, first: %s", len(failures), failures[0])
	}
	rep, err := invariants.CheckLog(ctx, api.App.Store)
	if err != nil || !rep.OK() {
		t.Fatalf("invariants: %v %v", rep.Violations, err)
	}
	for id, u := range paid {
		waitConfirmed(t, u, id, 60*time.Second)
	}
	readModelsMatchLog(t, api, []string{show}, made)
	t.Logf("%d holds before and %d after the kill; %d paid", before.Load(), after.Load(), len(paid))
}

// forwarded adds up the commands the processes at urls forwarded to a
// show's decider.
func forwarded(t *testing.T, urls []string) int {
	t.Helper()
	n := 0.0
	for _, u := range urls {
		n += metricSum(t, u, `seatline_command_routes_total{command="hold-seats",route="forwarded"}`)
	}
	return int(n)
}
