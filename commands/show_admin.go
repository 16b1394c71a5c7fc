package commands

import (
	"context"
	"time"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// CancelShow cancels a show. The show-changes saga then cancels or refunds
// every booking on it, and each holder is told.
func (h *Handlers) CancelShow(ctx context.Context, showID, reason string, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "CancelShow")
	return h.shows.Update(ctx, showID, meta, func(s *show.Show) error { return s.Cancel(reason, h.cfg.Now()) })
}

// RescheduleShow moves a show; its holders are told and may cancel for a
// full refund until the new start.
func (h *Handlers) RescheduleShow(ctx context.Context, showID string, startsAt time.Time, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "RescheduleShow")
	return h.shows.Update(ctx, showID, meta, func(s *show.Show) error { return s.Reschedule(startsAt, h.cfg.Now()) })
}

// CancelForShow ends one booking of a cancelled show: a held booking is
// cancelled, a confirmed (or paid) one is refunded in full. A booking whose
// payment is still in flight is left to its outcome: a success cannot buy
// the seats of a cancelled show and is refunded, a failure releases them.
func (h *Handlers) CancelForShow(ctx context.Context, bookingID string, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "CancelForShow")
	return h.bookings.Update(ctx, bookingID, meta, func(b *booking.Booking) error {
		now := h.cfg.Now()
		switch st := b.State(); {
		case !b.Exists():
			return nil
		case st.Payment.Paid():
			return b.RequestRefund("show-cancelled", "admin", now)
		case b.Status(now) == booking.StatusHeld:
			return b.Cancel("admin", "show-cancelled", now, booking.CancelPolicy{})
		}
		return nil
	})
}

// RequestRefund asks for a paid booking's money back (idempotent).
func (h *Handlers) RequestRefund(ctx context.Context, bookingID, reason string, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "RequestRefund")
	return h.bookings.Update(ctx, bookingID, meta, func(b *booking.Booking) error {
		return b.RequestRefund(reason, "system", h.cfg.Now())
	})
}
