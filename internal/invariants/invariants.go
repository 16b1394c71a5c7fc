// Package invariants checks the event log for the promises the engine
// makes, independently of the aggregates that enforce them: it re-reads
// every commit in log order and fails on a seat owned by two bookings at
// once, a hold expired before its deadline, a sale to a booking that does
// not hold the seats, a booking paid twice or confirmed without payment or
// seats, or a booking that disagrees with the hold it came from. Tests and
// the load tool use it.
package invariants

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// Report summarises a checked log.
type Report struct {
	Commits    int
	Holds      int
	Releases   int
	Expiries   int
	Sales      int
	Bookings   int
	Confirmed  int
	Charged    int // bookings with a recorded payment
	Violations []string
}

// OK reports whether no invariant was broken.
func (r Report) OK() bool { return len(r.Violations) == 0 }

type seatOwner struct{ booking string }

type showState struct {
	owner map[string]seatOwner      // seat → booking holding it
	holds map[string]show.SeatsHeld // live holds by booking
	sold  map[string]bool           // bookings whose seats were sold
}

// Scanner reads the whole log in order.
type Scanner interface {
	Scan(ctx context.Context, after int64, fn func(eventstore.Commit) error) error
}

// CheckLog scans the log and checks it.
func CheckLog(ctx context.Context, log Scanner) (Report, error) {
	var r Report
	shows := map[string]*showState{}
	placed := map[string]booking.Placed{}
	heldBy := map[string]show.SeatsHeld{} // booking → the hold that created it (latest)
	charges := map[string]string{}        // booking → its charge
	confirmed := map[string]bool{}
	everSold := map[string]bool{}
	fail := func(format string, args ...any) {
		if len(r.Violations) < 100 {
			r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
		}
	}
	err := log.Scan(ctx, 0, func(c eventstore.Commit) error {
		r.Commits++
		if id, ok := strings.CutPrefix(c.StreamID, show.StreamPrefix); ok {
			st := shows[id]
			if st == nil {
				st = &showState{owner: map[string]seatOwner{}, holds: map[string]show.SeatsHeld{}, sold: map[string]bool{}}
				shows[id] = st
			}
			for _, e := range c.Events {
				switch ev := e.Event.(type) {
				case show.SeatsHeld:
					r.Holds++
					for _, seat := range ev.Seats {
						if o, taken := st.owner[seat]; taken && o.booking != ev.BookingID {
							fail("show %s seat %s held by %s while %s still holds it (position %d)", id, seat, ev.BookingID, o.booking, c.Position)
						}
						st.owner[seat] = seatOwner{booking: ev.BookingID}
					}
					st.holds[ev.BookingID] = ev
					heldBy[ev.BookingID] = ev
				case show.HoldExpired:
					r.Expiries++
					h, ok := st.holds[ev.BookingID]
					if !ok {
						fail("show %s expires hold %s that is not live (position %d)", id, ev.BookingID, c.Position)
					} else if c.Time.Before(h.Until) {
						fail("show %s expires hold %s at %v, before its deadline %v (position %d)", id, ev.BookingID, c.Time, h.Until, c.Position)
					} else if st.sold[ev.BookingID] {
						fail("show %s expires the hold of %s whose seats were sold (position %d)", id, ev.BookingID, c.Position)
					}
					release(st, ev.BookingID, ev.Seats, c.Position, id, fail)
				case show.HoldExtended:
					h, ok := st.holds[ev.BookingID]
					if !ok {
						fail("show %s extends hold %s that is not live (position %d)", id, ev.BookingID, c.Position)
					}
					h.Until = ev.Until
					st.holds[ev.BookingID] = h
				case show.SeatsSold:
					r.Sales++
					h, ok := st.holds[ev.BookingID]
					if !ok || st.sold[ev.BookingID] {
						fail("show %s sells seats to %s, which holds none or bought them already (position %d)", id, ev.BookingID, c.Position)
					}
					for _, seat := range h.Seats {
						if st.owner[seat].booking != ev.BookingID {
							fail("show %s sells seat %s to %s, owned by %s (position %d)", id, seat, ev.BookingID, st.owner[seat].booking, c.Position)
						}
					}
					st.sold[ev.BookingID] = true
					everSold[ev.BookingID] = true
				case show.SeatsReleased:
					r.Releases++
					if _, ok := st.holds[ev.BookingID]; !ok {
						fail("show %s releases %s that holds nothing (position %d)", id, ev.BookingID, c.Position)
					}
					release(st, ev.BookingID, ev.Seats, c.Position, id, fail)
				}
			}
		}
		if id, ok := strings.CutPrefix(c.StreamID, booking.StreamPrefix); ok {
			for _, e := range c.Events {
				switch ev := e.Event.(type) {
				case booking.Placed:
					r.Bookings++
					placed[ev.BookingID] = ev
				case booking.PaymentSucceeded:
					r.Charged++
					if charges[id] != "" {
						fail("booking %s paid twice: %s and %s (position %d)", id, charges[id], ev.ChargeID, c.Position)
					}
					charges[id] = ev.ChargeID
				case booking.Confirmed:
					r.Confirmed++
					confirmed[id] = true
					if charges[id] == "" {
						fail("booking %s confirmed without a payment (position %d)", id, c.Position)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	for id := range confirmed {
		if !everSold[id] {
			fail("booking %s is confirmed but its seats were never sold to it", id)
		}
	}
	for id, p := range placed {
		h, ok := heldBy[id]
		if !ok {
			fail("booking %s was placed without a hold on its show", id)
			continue
		}
		a, b := slices.Clone(h.Seats), slices.Clone(p.Seats)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) || h.Amount != p.Amount || h.UserID != p.UserID {
			fail("booking %s (%v, %d) differs from its hold (%v, %d)", id, p.Seats, p.Amount, h.Seats, h.Amount)
		}
	}
	return r, nil
}

func release(st *showState, b string, seats []string, pos int64, id string, fail func(string, ...any)) {
	h := st.holds[b]
	for _, seat := range seats {
		if !slices.Contains(h.Seats, seat) {
			fail("show %s frees seat %s for %s, which did not hold it (position %d)", id, seat, b, pos)
		}
		if st.owner[seat].booking == b {
			delete(st.owner, seat)
		}
	}
	delete(st.holds, b)
	delete(st.sold, b)
}
