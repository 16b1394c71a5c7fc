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
			switch {
			case h.Sold:
				v.State, v.BookingID = Sold, b
			case now.Before(h.Until):
				v.State, v.BookingID, v.Until = Held, b, h.Until
			}
		}
		out[i] = v
	}
	return out
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
