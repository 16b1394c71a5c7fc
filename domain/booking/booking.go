// Package booking owns the lifecycle of one booking: held, then paid and
// confirmed, or released (cancelled, expired, payment failed). The seats
// themselves belong to the show; a booking records what the customer was
// promised and what happened to it.
package booking

import (
	"slices"
	"time"

	"github.com/seatline/seatline/domain"
)

// Status is where a booking is in its lifecycle.
type Status string

// The booking statuses of the API contract.
const (
	StatusNone           Status = ""
	StatusHeld           Status = "held"
	StatusPaymentPending Status = "payment_pending"
	StatusConfirmed      Status = "confirmed"
	StatusPaymentFailed  Status = "payment_failed"
	StatusExpired        Status = "expired"
	StatusCancelled      Status = "cancelled"
	StatusRefunded       Status = "refunded"
)

// Errors returned by Booking's decisions.
var (
	ErrNotFound      = &domain.Error{Kind: domain.NotFound, Code: "booking-not-found", Msg: "booking: not found"}
	ErrAlreadyPlaced = &domain.Error{Kind: domain.Conflict, Code: "booking-exists", Msg: "booking: already placed with other details"}
	ErrHoldExpired   = &domain.Error{Kind: domain.Conflict, Code: "hold-expired", Msg: "booking: the hold has expired"}
	ErrNotCancelable = &domain.Error{Kind: domain.Conflict, Code: "not-cancelable", Msg: "booking: cannot be cancelled in its current status"}
)

// Booking is the booking aggregate.
type Booking struct {
	domain.Recorder
	s State
}

// State is everything a Booking knows; it is what snapshots store.
type State struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	ShowID    string    `json:"show_id"`
	Seats     []string  `json:"seats"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	ExpiresAt time.Time `json:"expires_at"`
	PlacedAt  time.Time `json:"placed_at"`
	Status    Status    `json:"status"`
}

// New returns an empty booking with the given id, to load events into.
func New(id string) *Booking { return &Booking{s: State{ID: id}} }

// FromState rebuilds a booking from a snapshot.
func FromState(s State) *Booking {
	s.Seats = slices.Clone(s.Seats)
	return &Booking{s: s}
}

// State returns a copy of the booking's state.
func (b *Booking) State() State {
	s := b.s
	s.Seats = slices.Clone(s.Seats)
	return s
}

// Clone returns an independent copy without recorded changes.
func (b *Booking) Clone() *Booking { return FromState(b.s) }

// Exists reports whether the booking has been placed.
func (b *Booking) Exists() bool { return b.s.Status != StatusNone }

// Owner is the id of the user the booking belongs to.
func (b *Booking) Owner() string { return b.s.UserID }

// ShowID is the show whose seats the booking holds.
func (b *Booking) ShowID() string { return b.s.ShowID }

// Status returns the booking's status at now: a held booking whose
// deadline has passed is expired even before its expiry is recorded.
func (b *Booking) Status(now time.Time) Status {
	return EffectiveStatus(b.s.Status, b.s.ExpiresAt, now)
}

// Placement is what a booking is created from: a hold on its show.
type Placement struct {
	UserID    string
	ShowID    string
	Seats     []string
	Amount    int64
	Currency  string
	ExpiresAt time.Time
}

// Place creates the booking. Placing it again with the same user, show and
// seats changes nothing (a retried request); other details are a conflict.
func (b *Booking) Place(p Placement, now time.Time) error {
	if b.Exists() {
		if b.s.UserID == p.UserID && b.s.ShowID == p.ShowID && slices.Equal(b.s.Seats, p.Seats) {
			return nil
		}
		return ErrAlreadyPlaced
	}
	b.record(Placed{
		BookingID: b.s.ID, UserID: p.UserID, ShowID: p.ShowID, Seats: slices.Clone(p.Seats),
		Amount: p.Amount, Currency: p.Currency, ExpiresAt: p.ExpiresAt.UTC(), PlacedAt: now.UTC(),
	})
	return nil
}

// Cancel cancels a held booking before its deadline. Cancelling a cancelled
// booking changes nothing; a lapsed hold fails with ErrHoldExpired.
func (b *Booking) Cancel(by, reason string, now time.Time) error {
	switch b.Status(now) {
	case StatusNone:
		return ErrNotFound
	case StatusCancelled:
		return nil
	case StatusExpired:
		return ErrHoldExpired
	case StatusHeld:
		b.record(Cancelled{By: by, Reason: reason})
		return nil
	default:
		return ErrNotCancelable.With("status", string(b.s.Status))
	}
}

// Expire records that a held booking passed its deadline unpaid. Anything
// else, including a hold still running, is left alone.
func (b *Booking) Expire(now time.Time) error {
	if b.s.Status != StatusHeld || now.Before(b.s.ExpiresAt) {
		return nil
	}
	b.record(Expired{At: now.UTC()})
	return nil
}

func (b *Booking) record(e domain.Event) {
	b.apply(e)
	b.Record(e)
}

// Apply applies a committed event; it is how a booking is loaded from its stream.
func (b *Booking) Apply(e domain.Event) { b.apply(e) }

func (b *Booking) apply(e domain.Event) {
	switch e := e.(type) {
	case Placed:
		b.s.UserID, b.s.ShowID, b.s.Seats = e.UserID, e.ShowID, e.Seats
		b.s.Amount, b.s.Currency = e.Amount, e.Currency
		b.s.ExpiresAt, b.s.PlacedAt = e.ExpiresAt, e.PlacedAt
		b.s.Status = StatusHeld
	case Cancelled:
		b.s.Status = StatusCancelled
	case Expired:
		b.s.Status = StatusExpired
	}
}

// EffectiveStatus is the status a booking recorded as status has at now:
// a hold past its deadline counts as expired before its expiry is recorded.
func EffectiveStatus(status Status, expiresAt, now time.Time) Status {
	if status == StatusHeld && !now.Before(expiresAt) {
		return StatusExpired
	}
	return status
}

// StreamPrefix starts the event stream id of every booking: "booking-<id>".
const StreamPrefix = "booking-"
