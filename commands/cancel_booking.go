package commands

import (
	"context"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// CancelBooking is a request to cancel a booking.
type CancelBooking struct {
	BookingID string
	UserID    string // who asks
	Admin     bool   // admins may cancel anyone's booking
	Reason    string
	Meta      eventstore.Metadata
}

// CancelBooking cancels a held booking (its seats go back) or refunds a
// confirmed one in full while the refund policy allows: until the refund
// cutoff before the show, or until the start if the show was rescheduled.
// A user may only cancel their own bookings; anyone else's is not found.
// If the process dies between the booking and its seats, the booking-seats
// saga releases the seats from the booking's event.
func (h *Handlers) cancelBooking(ctx context.Context, cmd CancelBooking) (Result, error) {
	by := "user"
	if cmd.Admin {
		by = "admin"
	}
	b, _, err := h.bookings.Load(ctx, cmd.BookingID)
	if err != nil {
		return Result{}, err
	}
	if !b.Exists() || (b.Owner() != cmd.UserID && !cmd.Admin) {
		return Result{}, booking.ErrNotFound
	}
	s, _, err := h.shows.Load(ctx, b.ShowID())
	if err != nil {
		return Result{}, err
	}
	policy := booking.CancelPolicy{ShowStartsAt: s.StartsAt(), Cutoff: h.cfg.RefundCutoff, FreeCancel: s.Rescheduled()}
	res, err := h.bookings.Update(ctx, cmd.BookingID, cmd.Meta, func(b *booking.Booking) error {
		return b.Cancel(by, cmd.Reason, h.cfg.Now(), policy)
	})
	if err != nil {
		return Result{}, err
	}
	rel, err := h.releaseSeats(ctx, b.ShowID(), cmd.BookingID, "cancelled", cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	res.Position = max(res.Position, rel.Position)
	return res, nil
}

// ReleaseSeats gives back the seats a booking holds or bought on a show;
// it is idempotent.
func (h *Handlers) releaseSeats(ctx context.Context, showID, bookingID, reason string, meta eventstore.Metadata) (Result, error) {
	return h.shows.Update(ctx, showID, meta, func(s *show.Show) error { return s.Release(bookingID, reason) })
}
