package commands

import (
	"context"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// CancelBooking is a request to cancel a booking before payment.
type CancelBooking struct {
	BookingID string
	UserID    string // who asks
	Admin     bool   // admins may cancel anyone's booking
	Reason    string
	Meta      eventstore.Metadata
}

// CancelBooking cancels a held booking and gives its seats back. A user
// may only cancel their own bookings; anyone else's is not found. If the
// process dies between the two steps, the booking-seats saga releases the
// seats from the booking's Cancelled event.
func (h *Handlers) CancelBooking(ctx context.Context, cmd CancelBooking) (Result, error) {
	by := "user"
	if cmd.Admin {
		by = "admin"
	}
	var showID string
	res, err := h.bookings.Update(ctx, cmd.BookingID, cmd.Meta, func(b *booking.Booking) error {
		if !b.Exists() || (b.Owner() != cmd.UserID && !cmd.Admin) {
			return booking.ErrNotFound
		}
		showID = b.ShowID()
		return b.Cancel(by, cmd.Reason, h.cfg.Now())
	})
	if err != nil {
		return Result{}, err
	}
	rel, err := h.ReleaseSeats(ctx, showID, cmd.BookingID, "cancelled", cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	res.Position = max(res.Position, rel.Position)
	return res, nil
}

// ReleaseSeats gives back the seats a booking holds on a show; it is
// idempotent.
func (h *Handlers) ReleaseSeats(ctx context.Context, showID, bookingID, reason string, meta eventstore.Metadata) (Result, error) {
	return h.shows.Update(ctx, showID, meta, func(s *show.Show) error { return s.Release(bookingID, reason) })
}
