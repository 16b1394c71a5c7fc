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

// CheckoutStarted is recorded when the customer pays: the payment token
// goes to the gateway and the hold is extended to Deadline once.
type CheckoutStarted struct {
	PaymentToken string    `json:"payment_token"`
	Deadline     time.Time `json:"deadline"`
	At           time.Time `json:"at"`
}

// PaymentSucceeded is recorded when the gateway took the money.
type PaymentSucceeded struct {
	ChargeID string    `json:"charge_id"`
	Amount   int64     `json:"amount"`
	At       time.Time `json:"at"`
}

// PaymentFailed is recorded when the gateway declined the payment.
type PaymentFailed struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Confirmed is recorded when the seats of a paid booking were sold to it.
type Confirmed struct {
	At time.Time `json:"at"`
}

// Cancelled is recorded when a held booking is cancelled before payment.
type Cancelled struct {
	By     string `json:"by"` // "user", "admin" or "system"
	Reason string `json:"reason,omitempty"`
}

// Expired is recorded when a booking passed its deadline unpaid.
type Expired struct {
	At time.Time `json:"at"`
}

// RefundRequested is recorded when money taken must go back: a confirmed
// booking cancelled, a cancelled show, or a payment that arrived too late.
type RefundRequested struct {
	Amount int64     `json:"amount"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// Refunded is recorded when the gateway returned the money.
type Refunded struct {
	RefundID string    `json:"refund_id"`
	Amount   int64     `json:"amount"`
	At       time.Time `json:"at"`
}

func (Placed) Name() string           { return "booking.Placed.v1" }
func (CheckoutStarted) Name() string  { return "booking.CheckoutStarted.v1" }
func (PaymentSucceeded) Name() string { return "booking.PaymentSucceeded.v1" }
func (PaymentFailed) Name() string    { return "booking.PaymentFailed.v1" }
func (Confirmed) Name() string        { return "booking.Confirmed.v1" }
func (Cancelled) Name() string        { return "booking.Cancelled.v1" }
func (Expired) Name() string          { return "booking.Expired.v1" }
func (RefundRequested) Name() string  { return "booking.RefundRequested.v1" }
func (Refunded) Name() string         { return "booking.Refunded.v1" }

// Events lists a zero value of every booking event, for the event registry.
func Events() []domain.Event {
	return []domain.Event{Placed{}, CheckoutStarted{}, PaymentSucceeded{}, PaymentFailed{}, Confirmed{},
		Cancelled{}, Expired{}, RefundRequested{}, Refunded{}}
}
