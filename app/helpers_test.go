package app_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/invariants"
	"github.com/seatline/seatline/projections"
)

// load makes each user hold perUser single seats of show one after the
// other (user i takes seats i*perUser .. in row-major order of a layout
// with perRow seats a row), and cancels every second hold. It returns the
// ids of the bookings each user made.
func load(t *testing.T, users []*apptest.Client, show string, perUser, perRow int, pause time.Duration) map[*apptest.Client][]string {
	t.Helper()
	var mu sync.Mutex
	made := map[*apptest.Client][]string{}
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func(i int, u *apptest.Client) {
			defer wg.Done()
			for k := 0; k < perUser; k++ {
				n := i*perUser + k
				seat := fmt.Sprintf("%c%d", 'A'+n/perRow, 1+n%perRow)
				r := u.Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
				if r.Status != 201 {
					t.Errorf("hold %s: %d %s", seat, r.Status, r.Raw)
					return
				}
				id := r.Body["id"].(string)
				mu.Lock()
				made[u] = append(made[u], id)
				mu.Unlock()
				if k%2 == 1 {
					if r := u.Do("POST", "/bookings/"+id+"/cancel", nil); r.Status != 200 {
						t.Errorf("cancel %s: %d %s", id, r.Status, r.Raw)
						return
					}
				}
				time.Sleep(pause)
			}
		}(i, u)
	}
	wg.Wait()
	return made
}

// readModelsMatchLog waits until every consumer group has handled the
// whole log, checks the log's invariants, and compares the read models
// served by e with the aggregates: seat maps, show listing counts, each
// booking's status, and each user's list of bookings (no booking missing,
// none twice).
func readModelsMatchLog(t *testing.T, e *apptest.Engine, shows []string, made map[*apptest.Client][]string) {
	t.Helper()
	ctx := context.Background()
	head, err := e.App.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.App.Freshness.Wait(ctx, head, 60*time.Second, app.Groups()...)
	if err != nil || !ok {
		var marks []string
		for _, g := range app.Groups() {
			w, _ := e.App.Freshness.Watermark(ctx, g)
			marks = append(marks, fmt.Sprintf("%s=%d", g, w))
		}
		t.Fatalf("consumers did not reach position %d: %v (%s)", head, err, strings.Join(marks, " "))
	}
	rep, err := invariants.CheckLog(ctx, e.App.Store)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("invariants broken:\n%s", strings.Join(rep.Violations, "\n"))
	}
	now := time.Now()
	for _, id := range shows {
		agg, _, err := e.App.Commands.Show(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, s := range agg.SeatMap(now) {
			want[s.ID] = s.State
		}
		m, found, err := e.App.SeatMaps.Get(ctx, id, now)
		if err != nil || !found {
			t.Fatalf("seat map of %s: found %v, %v", id, found, err)
		}
		for _, s := range m.Seats {
			if want[s.ID] != s.State {
				t.Fatalf("seat map of %s: %s is %s, the log says %s", id, s.ID, s.State, want[s.ID])
			}
		}
		free := 0
		for _, s := range agg.SeatMap(time.Time{}) { // recorded ownership, see the concurrency test
			if s.State == "free" {
				free++
			}
		}
		listed, _, _ := e.App.Shows.Get(ctx, id)
		if listed.Available != free {
			t.Fatalf("listing of %s: %d available, the log says %d (an event applied twice or lost)", id, listed.Available, free)
		}
	}
	for u, ids := range made {
		if len(ids) == 0 {
			continue
		}
		first, _, err := e.App.Commands.Booking(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		var listed []projections.Booking
		for cursor := ""; ; {
			page, next, err := e.App.Bookings.ListByUser(ctx, first.Owner(), cursor, 100, now)
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		var got []string
		for _, b := range listed {
			got = append(got, b.ID)
			agg, _, err := e.App.Commands.Booking(ctx, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			if b.Status != agg.Status(now) {
				t.Fatalf("booking %s is %s in the read model, %s in the log", b.ID, b.Status, agg.Status(now))
			}
		}
		want := slices.Clone(ids)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("user %v lists %d bookings %v, made %d %v", u != nil, len(got), got, len(want), want)
		}
	}
}
