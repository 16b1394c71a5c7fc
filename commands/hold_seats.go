package commands

import (
	"context"
	"slices"
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// ErrIdempotencyKeyReused is returned when a request reuses an
// Idempotency-Key of an earlier request with other details.
var ErrIdempotencyKeyReused = &domain.Error{Kind: domain.Invalid, Code: "idempotency-key-reused",
	Msg: "commands: the Idempotency-Key was used for a different booking request"}

// HoldSeats is a user's request to hold seats of a show.
type HoldSeats struct {
	BookingID string
	UserID    string
	ShowID    string
	Seats     []string
	Meta      eventstore.Metadata
	// Retry says the booking id may name an earlier request (it was
	// derived from an Idempotency-Key); a fresh random id skips the check.
	Retry bool
}

// Held is the booking a hold created.
type Held struct {
	Booking  booking.State
	Result   Result
	Replayed bool // an earlier request with the same booking id created it
}

// HoldSeats holds the seats on the show (all or nothing), then places the
// booking. If the process dies between the two, the booking-seats saga
// places the booking from the show's SeatsHeld event; a retry with the same
// booking id finishes the job too. A retry of a request that already
// created its booking returns that booking.
func (h *Handlers) holdSeats(ctx context.Context, cmd HoldSeats) (Held, error) {
	if cmd.Retry {
		if held, done, err := h.replay(ctx, cmd); done || err != nil {
			return held, err
		}
	}
	var placement booking.Placement
	_, err := h.shows.Update(ctx, cmd.ShowID, cmd.Meta, func(s *show.Show) error {
		now := h.cfg.Now()
		if err := s.WithClockTolerance(h.cfg.ClockTolerance).Hold(cmd.BookingID, cmd.UserID, cmd.Seats, now, now.Add(h.cfg.HoldTTL), h.cfg.MaxSeatsPerBooking); err != nil {
			return err
		}
		hold, _ := s.HoldOf(cmd.BookingID)
		placement = booking.Placement{UserID: cmd.UserID, ShowID: cmd.ShowID, Seats: slices.Clone(cmd.Seats),
			Amount: s.Quote(cmd.Seats), Currency: s.Currency(), ExpiresAt: hold.Until}
		return nil
	})
	if err != nil {
		return Held{}, err
	}
	// A random booking id names a new stream: no need to read it first. The
	// state the decision ends with is the booking as committed.
	place := h.bookings.Update
	if !cmd.Retry {
		place = h.bookings.Create
	}
	var st booking.State
	res, err := place(ctx, cmd.BookingID, cmd.Meta, func(b *booking.Booking) error {
		if err := b.Place(placement, h.placedAt(placement)); err != nil {
			return err
		}
		st = b.State()
		st.Status = b.Status(h.cfg.Now())
		return nil
	})
	if err != nil {
		return Held{}, err
	}
	return Held{Booking: st, Result: res}, nil
}

// replay returns the booking an earlier request with the same booking id
// created, if there is one (done), or ErrIdempotencyKeyReused if that
// request asked for something else.
func (h *Handlers) replay(ctx context.Context, cmd HoldSeats) (Held, bool, error) {
	b, _, err := h.bookings.Load(ctx, cmd.BookingID)
	if err != nil || !b.Exists() {
		return Held{}, false, err
	}
	st := b.State()
	if st.UserID != cmd.UserID || st.ShowID != cmd.ShowID || !sameSeats(st.Seats, cmd.Seats) {
		return Held{}, true, ErrIdempotencyKeyReused
	}
	st.Status = b.Status(h.cfg.Now())
	return Held{Booking: st, Replayed: true}, true, nil
}

// PlaceBooking records a booking for a hold that exists on its show. It is
// idempotent: placing the same booking again changes nothing. A booking
// that exists at all decides it (a no-op, or a conflict no later state
// undoes), so any cached version of it is recent enough.
func (h *Handlers) placeBooking(ctx context.Context, id string, p booking.Placement, meta eventstore.Metadata) (Result, error) {
	return h.bookings.UpdateAt(ctx, id, 1, meta, func(b *booking.Booking) error {
		return b.Place(p, h.placedAt(p))
	})
}

// placedAt is when a booking is placed: now, but never after its hold
// expires (a saga may place it late after a crash).
func (h *Handlers) placedAt(p booking.Placement) time.Time {
	now := h.cfg.Now()
	if now.After(p.ExpiresAt) {
		return p.ExpiresAt
	}
	return now
}

func sameSeats(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
