// Package history writes a booking history straight into an event log,
// for rebuild tests, benchmarks and demos: movies, venues, shows, and
// bookings that are held, then cancelled, paid and confirmed, or left to
// expire. The events come from the domain aggregates, so the log is one
// the engine could have written. Each booking is one commit and show
// events go in commits of up to 100, so a large log is written quickly.
package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/seating"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// Log is what the writer needs of the event store.
type Log interface {
	Append(ctx context.Context, stream string, expected int64, events []eventstore.Pending) (eventstore.Commit, error)
}

// Options shape the history.
type Options struct {
	Events  int // write at least this many events (10,000)
	Shows   int // shows (32; each booking keeps about one seat, so 1,000 seats take ~4,500 events)
	Rows    int // rows of 50 seats per show (20)
	Users   int // distinct customers (500)
	Workers int // concurrent writers (8)
	Seed    uint64
}

// Stats describe what was written.
type Stats struct {
	Commits, Events int64
	Bookings        int64
	Shows           []string
}

var meta = eventstore.Metadata{CorrelationID: "history", CausationID: "history", Actor: "system:history"}

// Write appends a history of at least o.Events events to log.
func Write(ctx context.Context, log Log, o Options) (Stats, error) {
	if o.Events <= 0 {
		o.Events = 10_000
	}
	if o.Shows <= 0 {
		o.Shows = 32
	}
	if o.Rows <= 0 {
		o.Rows = 20
	}
	if o.Users <= 0 {
		o.Users = 500
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	w := &writer{log: log, now: now}
	var rows []string
	for i := range o.Rows {
		rows = append(rows, strings.Repeat(string(rune('A'+i%26)), i/26+1))
	}
	sections := []seating.Section{{Category: "standard", Rows: rows, SeatsPerRow: 50}}
	var movies, venues []string
	for i := range 4 {
		id := fmt.Sprintf("hist-movie-%d-%d", o.Seed, i)
		m := catalog.NewMovie(id)
		if err := m.Add(catalog.MovieDetails{Title: fmt.Sprintf("History Movie %d", i), Genres: []string{"drama"}, Language: "en", DurationMinutes: 120}); err != nil {
			return Stats{}, err
		}
		if err := w.append(ctx, catalog.MovieStreamPrefix+id, 0, m.Changes()); err != nil {
			return Stats{}, err
		}
		movies = append(movies, id)
		vid := fmt.Sprintf("hist-venue-%d-%d", o.Seed, i)
		v := catalog.NewVenue(vid)
		if err := v.Add(catalog.VenueDetails{Name: fmt.Sprintf("History Hall %d", i), City: "Pune", Sections: sections}); err != nil {
			return Stats{}, err
		}
		if err := w.append(ctx, catalog.VenueStreamPrefix+vid, 0, v.Changes()); err != nil {
			return Stats{}, err
		}
		venues = append(venues, vid)
	}
	shows := make([]*showState, o.Shows)
	var st Stats
	for i := range shows {
		id := fmt.Sprintf("hist-show-%d-%d", o.Seed, i)
		s := show.New(id)
		err := s.Schedule(show.Spec{MovieID: movies[i%len(movies)], VenueID: venues[i%len(venues)], StartsAt: now.Add(time.Duration(48+i) * time.Hour),
			Duration: 2 * time.Hour, Sections: sections, Prices: map[string]int64{"standard": 25000}, Currency: "INR"}, now)
		if err != nil {
			return Stats{}, err
		}
		ss := &showState{id: id, s: s}
		for _, seat := range seating.Seats(sections) {
			ss.free = append(ss.free, seat.ID)
		}
		shows[i] = ss
		st.Shows = append(st.Shows, id)
	}
	var wg sync.WaitGroup
	errs := make(chan error, o.Workers)
	for k := range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.Seed, uint64(k)))
			var mine []*showState
			for i := k; i < len(shows); i += o.Workers {
				mine = append(mine, shows[i])
			}
			for n := 0; w.events.Load() < int64(o.Events) && len(mine) > 0; n++ {
				i := n % len(mine)
				if len(mine[i].free) < 4 { // sold out
					if err := w.flush(ctx, mine[i]); err != nil {
						errs <- err
						return
					}
					mine = append(mine[:i], mine[i+1:]...)
					continue
				}
				if err := w.booking(ctx, mine[i], rng, o, k, n); err != nil {
					errs <- err
					return
				}
			}
			for _, s := range mine {
				if err := w.flush(ctx, s); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return st, err
	}
	st.Commits, st.Events, st.Bookings = w.commits.Load(), w.events.Load(), w.bookings.Load()
	return st, nil
}

type showState struct {
	id      string
	s       *show.Show
	version int64
	free    []string
}

type writer struct {
	log                       Log
	now                       time.Time
	commits, events, bookings atomic.Int64
}

func (w *writer) append(ctx context.Context, stream string, expected int64, events []domain.Event) error {
	c, err := w.log.Append(ctx, stream, expected, eventstore.With(meta, events...))
	if err != nil {
		return fmt.Errorf("history: append to %s: %w", stream, err)
	}
	w.commits.Add(1)
	w.events.Add(int64(len(c.Events)))
	return nil
}

// booking writes one booking's life and queues its show events.
func (w *writer) booking(ctx context.Context, ss *showState, rng *rand.Rand, o Options, worker, n int) error {
	k := 1 + rng.IntN(4)
	seats := append([]string(nil), ss.free[len(ss.free)-k:]...)
	ss.free = ss.free[:len(ss.free)-k]
	id := fmt.Sprintf("hist-%d-%d-%d", o.Seed, worker, n)
	user := fmt.Sprintf("hist-user-%d", rng.IntN(o.Users))
	deadline := w.now.Add(10 * time.Minute)
	if err := ss.s.Hold(id, user, seats, w.now, deadline, 10); err != nil {
		return err
	}
	b := booking.New(id)
	if err := b.Place(booking.Placement{UserID: user, ShowID: ss.id, Seats: seats, Amount: ss.s.Quote(seats), Currency: "INR", ExpiresAt: deadline}, w.now); err != nil {
		return err
	}
	switch r := rng.IntN(100); {
	case r < 55:
		if err := b.Cancel("user", "changed my mind", w.now, booking.CancelPolicy{ShowStartsAt: ss.s.StartsAt(), Cutoff: 2 * time.Hour}); err != nil {
			return err
		}
		if err := ss.s.Release(id, "cancelled"); err != nil {
			return err
		}
		ss.free = append(ss.free, seats...)
	case r < 85:
		until := deadline.Add(5 * time.Minute)
		if err := b.StartCheckout("tok_approve", until, w.now); err != nil {
			return err
		}
		if err := ss.s.ExtendHold(id, until, w.now); err != nil {
			return err
		}
		if err := b.RecordPayment("ch_"+id, b.State().Amount, w.now); err != nil {
			return err
		}
		if err := ss.s.Sell(id); err != nil {
			return err
		}
		if err := b.Confirm(w.now); err != nil {
			return err
		}
	default: // left to expire
	}
	if err := w.append(ctx, booking.StreamPrefix+id, 0, b.Changes()); err != nil {
		return err
	}
	w.bookings.Add(1)
	if len(ss.s.Changes()) >= 100 {
		return w.flush(ctx, ss)
	}
	return nil
}

// flush appends a show's queued events as one commit.
func (w *writer) flush(ctx context.Context, ss *showState) error {
	ch := ss.s.Changes()
	if len(ch) == 0 && ss.version > 0 {
		return nil
	}
	c, err := w.log.Append(ctx, show.StreamPrefix+ss.id, ss.version, eventstore.With(meta, ch...))
	if err != nil {
		return fmt.Errorf("history: append to show %s: %w", ss.id, err)
	}
	ss.s.ClearChanges()
	ss.version = c.Version
	w.commits.Add(1)
	w.events.Add(int64(len(c.Events)))
	return nil
}
