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

// SeatsReleased is recorded when a booking gives its held seats back before
// its deadline (cancelled by the user, payment failed).
type SeatsReleased struct {
	BookingID string   `json:"booking_id"`
	Seats     []string `json:"seats"`
	Reason    string   `json:"reason"`
}

func (Scheduled) Name() string     { return "show.Scheduled.v1" }
func (SeatsHeld) Name() string     { return "show.SeatsHeld.v1" }
func (HoldExpired) Name() string   { return "show.HoldExpired.v1" }
func (SeatsReleased) Name() string { return "show.SeatsReleased.v1" }

// Events lists a zero value of every show event, for the event registry.
func Events() []domain.Event {
	return []domain.Event{Scheduled{}, SeatsHeld{}, HoldExpired{}, SeatsReleased{}}
}
