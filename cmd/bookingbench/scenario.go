package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// booked is a booking the run created: who owns it, for the final check.
type booked struct {
	ID    string
	Show  string
	Token string
	Card  string // the payment token of its checkout, if any
}

// runner drives the virtual users of one run.
type runner struct {
	cs      []*client // one per API instance; virtual users spread over them
	f       *fixture
	st      *stats
	abandon float64 // share of holds left to expire
	decline float64 // share of checkouts paid with a declining card
	browse  float64 // mixed: share of iterations that browse instead of booking
	// affinity sends a show's booking commands (hold, checkout) to one API
	// instance, by the show id's hash, as a load balancer with show
	// affinity would; reads stay spread.
	affinity bool

	mu       sync.Mutex
	bookings []booked
	paying   map[string]booked // checkouts whose outcome no one has seen yet

	free     atomic.Int64 // free seats in the last seat map of the first show
	soldOut  atomic.Bool  // the hot show has nothing free or held
	inFlight atomic.Int64 // checkouts waiting for their outcome
}

func (r *runner) remember(b booked) {
	r.mu.Lock()
	r.bookings = append(r.bookings, b)
	r.mu.Unlock()
}

// seatMap is the part of GET /shows/{id}/seats a customer looks at.
type seatMap struct {
	Version int64 `json:"version"`
	Seats   []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"seats"`
}

// vu is one virtual user: a customer who looks at a seat map, holds one
// to four adjacent free seats, and then pays (approve or decline) or walks
// away, again and again until ctx ends.
func (r *runner) vu(ctx context.Context, scenario string, n int) {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(time.Now().UnixNano())))
	u := r.f.users[n%len(r.f.users)]
	c := r.cs[n%len(r.cs)]
	var (
		free  []string
		mapAt time.Time
	)
	for ctx.Err() == nil {
		showID := r.f.shows[0]
		switch scenario {
		case "browse":
			r.browseOnce(ctx, c, rng, u)
			continue
		case "mixed":
			if rng.Float64() < r.browse {
				r.browseOnce(ctx, c, rng, u)
				continue
			}
			showID = r.f.shows[rng.IntN(len(r.f.shows))]
			free = nil // another show each time: look at its map
		}
		if free == nil || time.Since(mapAt) > 2*time.Second {
			m, ok := r.seatMap(ctx, c, u, showID)
			if !ok {
				sleep(ctx, 100*time.Millisecond)
				continue
			}
			free, mapAt = nil, time.Now()
			held := 0
			for _, s := range m.Seats {
				switch s.State {
				case "free":
					free = append(free, s.ID)
				case "held":
					held++
				}
			}
			if showID == r.f.shows[0] {
				r.free.Store(int64(len(free)))
				if len(free) == 0 && held == 0 && scenario == "hot-show" {
					r.soldOut.Store(true)
					return
				}
			}
		}
		if len(free) == 0 {
			free = nil
			sleep(ctx, 250*time.Millisecond) // wait for abandoned holds to expire
			continue
		}
		k := 1 + rng.IntN(4)
		at := rng.IntN(len(free))
		seats := free[at:min(len(free), at+k)]
		cmd := c
		if r.affinity {
			cmd = r.cs[int(crc32.ChecksumIEEE([]byte(showID))%uint32(len(r.cs)))]
		}
		res := cmd.do(ctx, u.token, "POST", "/bookings", map[string]any{"show_id": showID, "seats": seats})
		if ctx.Err() != nil {
			return
		}
		r.st.record("hold", res)
		// What this customer saw is gone either way.
		free = append(free[:at:at], free[min(len(free), at+k):]...)
		if !res.OK() {
			if res.Status == 409 {
				r.st.count("holds lost to another customer", 1)
			}
			continue
		}
		var b struct {
			ID string `json:"id"`
		}
		if res.decode(&b) != nil {
			continue
		}
		r.st.count("holds", 1)
		r.st.count("seats held", len(seats))
		r.remember(booked{ID: b.ID, Show: showID, Token: u.token})
		p := rng.Float64()
		if p < r.abandon {
			r.st.count("abandoned (left to expire)", 1)
			continue
		}
		token := "tok_approve"
		if p < r.abandon+r.decline {
			token = "tok_decline"
		}
		r.checkout(ctx, cmd, u, b.ID, token)
	}
}

// checkout pays for a booking and waits until its outcome shows, as a
// customer's page would: it first asks for the booking as of the
// checkout's position (read-your-writes), then looks again every second.
func (r *runner) checkout(ctx context.Context, c *client, u user, id, token string) {
	start := time.Now()
	res := c.do(ctx, u.token, "POST", "/bookings/"+id+"/checkout", map[string]string{"payment_token": token})
	r.st.record("checkout", res)
	if !res.OK() {
		return
	}
	var at struct {
		Position int64 `json:"position"`
	}
	_ = res.decode(&at)
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	r.mu.Lock()
	r.paying[id] = booked{ID: id, Token: u.token, Card: token}
	r.mu.Unlock()
	headers := []string{"X-Min-Position", strconv.FormatInt(at.Position, 10)}
	for ctx.Err() == nil {
		g := c.do(ctx, u.token, "GET", "/bookings/"+id, nil, headers...)
		if ctx.Err() != nil {
			return
		}
		headers = nil
		r.st.record("booking", g)
		if r.outcome(g, id, time.Since(start), token) {
			return
		}
		if time.Since(start) > 60*time.Second {
			r.st.latency("pay→confirmed", time.Since(start), false, "no-outcome-in-60s")
			return
		}
		sleep(ctx, time.Second)
	}
}

// outcome records the answer of GET /bookings/{id} if it shows the
// booking's outcome, and reports whether it did.
func (r *runner) outcome(g result, id string, waited time.Duration, token string) bool {
	var b struct {
		Status string `json:"status"`
	}
	if !g.OK() || g.decode(&b) != nil {
		return false
	}
	switch b.Status {
	case "confirmed":
		r.st.latency("pay→confirmed", waited, token == "tok_approve", "unexpected-confirmation")
		r.st.count("confirmed", 1)
	case "payment_failed", "expired", "cancelled":
		r.st.latency("pay→failed", waited, token == "tok_decline", "unexpected-"+b.Status)
		r.st.count(b.Status, 1)
	default:
		return false
	}
	r.mu.Lock()
	delete(r.paying, id)
	r.mu.Unlock()
	return true
}

// finish waits, after the load, until every checkout has its outcome, as
// the customers still looking at their booking pages would see it. It
// returns how long that took and how many had none within limit.
func (r *runner) finish(ctx context.Context, limit time.Duration, progress func(string)) (time.Duration, int) {
	start := time.Now()
	c := r.cs[0]
	for {
		r.mu.Lock()
		left := make([]booked, 0, len(r.paying))
		for _, b := range r.paying {
			left = append(left, b)
		}
		r.mu.Unlock()
		if len(left) == 0 || ctx.Err() != nil || time.Since(start) > limit {
			return time.Since(start), len(left)
		}
		progress(fmt.Sprintf("waiting for %d checkouts to end", len(left)))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, b := range left {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				g := c.do(ctx, b.Token, "GET", "/bookings/"+b.ID, nil)
				r.st.record("booking", g)
				r.outcome(g, b.ID, time.Since(start), b.Card)
			}()
		}
		wg.Wait()
		sleep(ctx, 250*time.Millisecond)
	}
}

func (r *runner) seatMap(ctx context.Context, c *client, u user, showID string) (seatMap, bool) {
	res := c.do(ctx, u.token, "GET", "/shows/"+showID+"/seats", nil)
	if ctx.Err() != nil {
		return seatMap{}, false
	}
	r.st.record("seat map", res)
	var m seatMap
	return m, res.OK() && res.decode(&m) == nil
}

// browseOnce is a customer looking around: a search, a show, its seats.
func (r *runner) browseOnce(ctx context.Context, c *client, rng *rand.Rand, u user) {
	queries := []string{"/shows", "/shows?city=Pune", "/shows?q=bench", "/shows?genre=thriller", "/shows?city=Mumbai&limit=5"}
	res := c.do(ctx, "", "GET", queries[rng.IntN(len(queries))], nil)
	if ctx.Err() != nil {
		return
	}
	r.st.record("search", res)
	id := r.f.shows[rng.IntN(len(r.f.shows))]
	res = c.do(ctx, "", "GET", "/shows/"+id, nil)
	if ctx.Err() != nil {
		return
	}
	r.st.record("show", res)
	r.seatMap(ctx, c, u, id)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
