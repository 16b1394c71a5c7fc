package show

import (
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/seating"
)

// Scheduled is recorded when an admin schedules a movie at a venue. It
// copies the venue's layout so that later venue changes do not move seats
// under existing bookings.
type Scheduled struct {
	ShowID   string            `json:"show_id"`
	MovieID  string            `json:"movie_id"`
	VenueID  string            `json:"venue_id"`
	StartsAt time.Time         `json:"starts_at"`
	EndsAt   time.Time         `json:"ends_at"`
	Sections []seating.Section `json:"sections"`
	Prices   map[string]int64  `json:"prices"`
	Currency string            `json:"currency"`
}

// SeatsHeld is recorded when seats are held for a booking pending payment.
type SeatsHeld struct {
	BookingID string    `json:"booking_id"`
	UserID    string    `json:"user_id"`
	Seats     []string  `json:"seats"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	Until     time.Time `json:"until"`
}

// HoldExpired is recorded when a hold's deadline has passed, either by the
// expiry sweep or because another booking takes one of its seats. All the
// hold's seats become free.
type HoldExpired struct {
	BookingID string   `json:"booking_id"`
	Seats     []string `json:"seats"`
}

// SeatsReleased is recorded when a booking gives its seats back: held ones
// (cancelled by the user, payment failed) or sold ones (refunded).
type SeatsReleased struct {
	BookingID string   `json:"booking_id"`
	Seats     []string `json:"seats"`
	Reason    string   `json:"reason"`
}

// HoldExtended is recorded when checkout extends a hold's deadline so that
// a payment in flight is not cut off.
type HoldExtended struct {
	BookingID string    `json:"booking_id"`
	Until     time.Time `json:"until"`
}

// SeatsSold is recorded when a paid booking's held seats become its own.
type SeatsSold struct {
	BookingID string   `json:"booking_id"`
	Seats     []string `json:"seats"`
}

// Cancelled is recorded when an admin cancels the show; bookings on it are
// then cancelled or refunded by a saga.
type Cancelled struct {
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Rescheduled is recorded when an admin moves the show.
type Rescheduled struct {
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Previous time.Time `json:"previous_starts_at"`
	At       time.Time `json:"at"`
}

func (Scheduled) Name() string     { return "show.Scheduled.v1" }
func (SeatsHeld) Name() string     { return "show.SeatsHeld.v1" }
func (HoldExpired) Name() string   { return "show.HoldExpired.v1" }
func (SeatsReleased) Name() string { return "show.SeatsReleased.v1" }
func (HoldExtended) Name() string  { return "show.HoldExtended.v1" }
func (SeatsSold) Name() string     { return "show.SeatsSold.v1" }
func (Cancelled) Name() string     { return "show.Cancelled.v1" }
func (Rescheduled) Name() string   { return "show.Rescheduled.v1" }

// Events lists a zero value of every show event, for the event registry.
func Events() []domain.Event {
	return []domain.Event{Scheduled{}, SeatsHeld{}, HoldExpired{}, SeatsReleased{}, HoldExtended{}, SeatsSold{}, Cancelled{}, Rescheduled{}}
}
