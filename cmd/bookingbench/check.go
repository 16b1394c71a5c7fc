package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/invariants"
)

// CheckReport is the verdict of the final check.
type CheckReport struct {
	OK                bool     `json:"ok"`
	Commits           int      `json:"commits"`
	Holds             int      `json:"holds"`
	Sales             int      `json:"sales"`
	Expiries          int      `json:"expiries"`
	Releases          int      `json:"releases"`
	Bookings          int      `json:"bookings"`
	Confirmed         int      `json:"confirmed"`
	Paid              int      `json:"paid"`
	Violations        []string `json:"violations"`
	SeatMapsCompared  int      `json:"seat_maps_compared"`
	SeatsCompared     int      `json:"seats_compared"`
	BookingsCompared  int      `json:"bookings_compared"`
	ReadModelMismatch []string `json:"read_model_mismatches"`
	Seconds           float64  `json:"seconds"`
	// ConfirmedPerSecond is the confirmed bookings of the run over the
	// time from its first hold to its last confirmation, both as the log
	// records them.
	ConfirmedPerSecond float64   `json:"confirmed_per_second"`
	FirstHold          time.Time `json:"first_hold"`
	LastConfirmation   time.Time `json:"last_confirmation"`
}

// confirmedRate finds the run's first hold and last confirmation in the
// log and the rate of confirmations between them.
func confirmedRate(rep *CheckReport, all commits) {
	n := 0
	for _, c := range all {
		for _, e := range c.Events {
			switch e.Event.(type) {
			case show.SeatsHeld:
				if rep.FirstHold.IsZero() {
					rep.FirstHold = c.Time
				}
			case booking.Confirmed:
				n++
				rep.LastConfirmation = c.Time
			}
		}
	}
	if d := rep.LastConfirmation.Sub(rep.FirstHold).Seconds(); n > 0 && d > 0 {
		rep.ConfirmedPerSecond = float64(n) / d
	}
}

// commits is the log read over HTTP, decoded, in order.
type commits []eventstore.Commit

// Scan implements invariants.Scanner.
func (cs commits) Scan(_ context.Context, after int64, fn func(eventstore.Commit) error) error {
	for _, c := range cs {
		if c.Position > after {
			if err := fn(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// logView is the log read so far over GET /admin/events, with each
// stream's commits, so that a stream's state at any version can be rebuilt.
type logView struct {
	c       *client
	token   string
	reg     *eventstore.Registry
	all     commits
	streams map[string][]int // stream → indexes into all
	next    int64            // last position read
}

func newLogView(c *client, token string) *logView {
	return &logView{c: c, token: token, reg: app.Registry(), streams: map[string][]int{}}
}

// readMore pages from the last position read to the head, decoding every
// event with the engine's registry.
func (l *logView) readMore(ctx context.Context, progress func(string)) error {
	last := time.Now()
	for {
		var page struct {
			Items []eventstore.Commit `json:"items"`
			Next  int64               `json:"next"`
			Head  int64               `json:"head"`
		}
		if err := l.c.call(ctx, l.token, "GET", fmt.Sprintf("/admin/events?after=%d&limit=1000", l.next), nil, 200, &page); err != nil {
			return err
		}
		for _, cm := range page.Items {
			for i, e := range cm.Events {
				ev, err := l.reg.Decode(e.Name, e.Data)
				if err != nil {
					return fmt.Errorf("position %d: %w", cm.Position, err)
				}
				cm.Events[i].Event = ev
			}
			l.streams[cm.StreamID] = append(l.streams[cm.StreamID], len(l.all))
			l.all = append(l.all, cm)
		}
		if page.Next >= page.Head {
			return nil
		}
		if page.Next == l.next { // an append in flight: its position will fill
			sleep(ctx, 50*time.Millisecond)
		}
		l.next = page.Next
		if time.Since(last) > time.Second {
			last = time.Now()
			progress(fmt.Sprintf("reading the log: %d/%d", l.next, page.Head))
		}
	}
}

// version is the last version of stream read so far.
func (l *logView) version(stream string) int64 {
	ix := l.streams[stream]
	if len(ix) == 0 {
		return 0
	}
	return l.all[ix[len(ix)-1]].Version
}

// apply feeds stream's events up to version to fn; it reports whether the
// log holds that version exactly.
func (l *logView) apply(stream string, version int64, fn func(domain.Event)) bool {
	for _, i := range l.streams[stream] {
		if l.all[i].Version > version {
			return false
		}
		for _, e := range l.all[i].Events {
			fn(e.Event)
		}
		if l.all[i].Version == version {
			return true
		}
	}
	return version == 0
}

// check verifies the run from the event log: the invariants over every
// commit (no seat held or sold twice, each confirmed booking paid exactly
// once…), then that the read models agree with the log: every seat map of
// the run's shows and every booking the run created, once the read model
// has reached the stream version the log ends at.
func check(ctx context.Context, c *client, adminToken string, f *fixture, made []booked, settle time.Duration, progress func(string)) (CheckReport, error) {
	start := time.Now()
	log := newLogView(c, adminToken)
	if err := log.readMore(ctx, progress); err != nil {
		return CheckReport{}, err
	}
	progress(fmt.Sprintf("log read: %d commits", len(log.all)))
	inv, err := invariants.CheckLog(ctx, log.all)
	if err != nil {
		return CheckReport{}, err
	}
	rep := CheckReport{Commits: inv.Commits, Holds: inv.Holds, Sales: inv.Sales, Expiries: inv.Expiries, Releases: inv.Releases,
		Bookings: inv.Bookings, Confirmed: inv.Confirmed, Paid: inv.Charged, Violations: inv.Violations}
	if rep.Violations == nil {
		rep.Violations = []string{}
	}
	confirmedRate(&rep, log.all)
	progress(fmt.Sprintf("invariants: %d commits, %d holds, %d sales, %d confirmed, %d violations", inv.Commits, inv.Holds, inv.Sales, inv.Confirmed, len(inv.Violations)))

	// The engine keeps moving (payments finishing, holds expiring), so each
	// read model is compared with the log at the version the read model is
	// at, once it has reached at least where the log stood at the end of
	// the run. States are compared as of the moment the server answered,
	// which lies between before and after: a seat or booking whose state
	// in the log changes in between (a deadline passing) is skipped.
	var logMu, mu sync.Mutex
	mismatch := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(rep.ReadModelMismatch) < 50 {
			rep.ReadModelMismatch = append(rep.ReadModelMismatch, fmt.Sprintf(format, args...))
		}
	}
	deadline := time.Now().Add(settle)
	// catchUp reads more of the log when a read model is ahead of it.
	catchUp := func(stream string, v int64) (int64, error) {
		logMu.Lock()
		defer logMu.Unlock()
		if log.version(stream) < v {
			if err := log.readMore(ctx, progress); err != nil {
				return 0, err
			}
		}
		return log.version(stream), nil
	}
	ended := map[string]int64{}
	for stream := range log.streams {
		ended[stream] = log.version(stream)
	}
	for _, id := range f.shows {
		stream := show.StreamPrefix + id
		var m struct {
			Version int64 `json:"version"`
			Seats   []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"seats"`
		}
		var before, after time.Time
		for {
			before = time.Now()
			err := c.call(ctx, adminToken, "GET", "/shows/"+id+"/seats", nil, 200, &m)
			after = time.Now()
			if err != nil {
				return rep, err
			}
			if m.Version >= ended[stream] || time.Now().After(deadline) {
				break
			}
			sleep(ctx, 200*time.Millisecond)
		}
		if m.Version < ended[stream] {
			mismatch("show %s: seat map stuck at version %d, the log at %d", id, m.Version, ended[stream])
			continue
		}
		if _, err := catchUp(stream, m.Version); err != nil {
			return rep, err
		}
		s := show.New(id)
		if !log.apply(stream, m.Version, s.Apply) {
			mismatch("show %s: seat map at version %d, which the log does not have", id, m.Version)
			continue
		}
		logSeats := map[string][2]string{}
		for _, v := range s.SeatMap(before) {
			logSeats[v.ID] = [2]string{v.State}
		}
		for _, v := range s.SeatMap(after) {
			logSeats[v.ID] = [2]string{logSeats[v.ID][0], v.State}
		}
		rep.SeatMapsCompared++
		for _, seat := range m.Seats {
			rep.SeatsCompared++
			v, ok := logSeats[seat.ID]
			if !ok {
				mismatch("show %s seat %s: in the seat map, not in the log's layout", id, seat.ID)
				continue
			}
			if v[0] != v[1] {
				continue
			}
			if v[0] != seat.State {
				mismatch("show %s seat %s: %s in the seat map, %s in the log", id, seat.ID, seat.State, v[0])
			}
		}
	}
	progress(fmt.Sprintf("seat maps: %d compared", rep.SeatMapsCompared))

	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var compared atomic.Int64
	for _, b := range made {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			stream := booking.StreamPrefix + b.ID
			if ended[stream] == 0 {
				mismatch("booking %s: answered 201 but is not in the log", b.ID)
				return
			}
			var got struct {
				Status  string `json:"status"`
				Version int64  `json:"version"`
			}
			var before, after time.Time
			for {
				before = time.Now()
				r := c.do(ctx, b.Token, "GET", "/bookings/"+b.ID, nil)
				after = time.Now()
				if r.Status != 200 && r.Status != 404 {
					mismatch("booking %s: GET answered %s", b.ID, r.key())
					return
				}
				if r.Status == 200 {
					if err := r.decode(&got); err != nil {
						mismatch("booking %s: %v", b.ID, err)
						return
					}
				}
				if got.Version >= ended[stream] || time.Now().After(deadline) {
					break
				}
				sleep(ctx, 200*time.Millisecond)
			}
			if got.Version < ended[stream] {
				mismatch("booking %s: read model stuck at version %d, the log at %d", b.ID, got.Version, ended[stream])
				return
			}
			if _, err := catchUp(stream, got.Version); err != nil {
				mismatch("booking %s: %v", b.ID, err)
				return
			}
			agg := booking.New(b.ID)
			logMu.Lock()
			ok := log.apply(stream, got.Version, agg.Apply)
			logMu.Unlock()
			if !ok {
				mismatch("booking %s: read model at version %d, which the log does not have", b.ID, got.Version)
				return
			}
			compared.Add(1)
			st := string(agg.Status(before))
			if st != string(agg.Status(after)) {
				return
			}
			if st != got.Status {
				mismatch("booking %s: %s in the read model, %s in the log", b.ID, got.Status, st)
			}
		}()
	}
	wg.Wait()
	rep.BookingsCompared = int(compared.Load())
	progress(fmt.Sprintf("bookings: %d compared", rep.BookingsCompared))
	if rep.ReadModelMismatch == nil {
		rep.ReadModelMismatch = []string{}
	}
	rep.OK = len(rep.Violations) == 0 && len(rep.ReadModelMismatch) == 0
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}
