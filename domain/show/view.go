package show

import (
	"time"

	"github.com/seatline/seatline/domain/seating"
)

// Seat states as clients see them.
const (
	Free = "free"
	Held = "held"
	Sold = "sold"
)

// SeatView is one seat of the seat map at a moment.
type SeatView struct {
	ID        string
	Category  string
	Price     int64
	State     string
	BookingID string
	Until     time.Time
}

// SeatMap returns every seat in layout order with its effective state at
// now: a hold whose deadline has passed shows as free.
func (s *Show) SeatMap(now time.Time) []SeatView {
	seats := seating.Seats(s.s.Sections)
	out := make([]SeatView, len(seats))
	for i, seat := range seats {
		v := SeatView{ID: seat.ID, Category: seat.Category, Price: s.s.Prices[seat.Category], State: Free}
		if b, ok := s.s.Owner[seat.ID]; ok {
			h := s.s.Holds[b]
			if v.State = SeatState(true, h.Sold, h.Until, now); v.State != Free {
				v.BookingID, v.Until = b, h.Until
			}
		}
		out[i] = v
	}
	return out
}

// SeatState is the state of a seat at now: free unless owned; an owned
// seat is sold, or held until its hold's deadline and free from then on.
func SeatState(owned, sold bool, until, now time.Time) string {
	switch {
	case !owned:
		return Free
	case sold:
		return Sold
	case now.Before(until):
		return Held
	}
	return Free
}

// HoldOf returns booking b's hold, if it has one.
func (s *Show) HoldOf(b string) (Hold, bool) {
	h, ok := s.s.Holds[b]
	return h, ok
}

// StartsAt is when the show starts; sales close then.
func (s *Show) StartsAt() time.Time { return s.s.StartsAt }

// Currency is the currency of the show's prices.
func (s *Show) Currency() string { return s.s.Currency }

// Summary is what a show's schedule says, for answering its creator.
type Summary struct {
	MovieID, VenueID string
	StartsAt, EndsAt time.Time
	Prices           map[string]int64
	Currency         string
	Capacity         int
}

// Summary returns the show's schedule.
func (s *Show) Summary() Summary {
	return Summary{MovieID: s.s.MovieID, VenueID: s.s.VenueID, StartsAt: s.s.StartsAt, EndsAt: s.s.EndsAt,
		Prices: cloneMap(s.s.Prices), Currency: s.s.Currency, Capacity: len(s.s.Category)}
}
