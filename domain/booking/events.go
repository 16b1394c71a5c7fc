package booking

import (
	"time"

	"github.com/seatline/seatline/domain"
)

// Placed is recorded when a booking is created for seats already held on
// its show. The booking starts in status held.
type Placed struct {
	BookingID string    `json:"booking_id"`
	UserID    string    `json:"user_id"`
	ShowID    string    `json:"show_id"`
	Seats     []string  `json:"seats"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	ExpiresAt time.Time `json:"expires_at"`
	PlacedAt  time.Time `json:"placed_at"`
}

// Cancelled is recorded when a held booking is cancelled before payment.
type Cancelled struct {
	By     string `json:"by"` // "user", "admin" or "system"
	Reason string `json:"reason,omitempty"`
}

// Expired is recorded when a held booking passed its deadline unpaid.
type Expired struct {
	At time.Time `json:"at"`
}

func (Placed) Name() string    { return "booking.Placed.v1" }
func (Cancelled) Name() string { return "booking.Cancelled.v1" }
func (Expired) Name() string   { return "booking.Expired.v1" }

// Events lists a zero value of every booking event, for the event registry.
func Events() []domain.Event {
	return []domain.Event{Placed{}, Cancelled{}, Expired{}}
}
