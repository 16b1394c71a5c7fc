package commands

import (
	"time"

	"context"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// Checkout is a customer's request to pay for a held booking.
type Checkout struct {
	BookingID    string
	UserID       string
	PaymentToken string
	Meta         eventstore.Metadata
}

// CheckedOut is a booking whose checkout started, as decided.
type CheckedOut struct {
	Booking booking.State // Status is the effective status when decided
	Result  Result
}

// Checkout starts paying for a held booking before its deadline. The
// hold is extended once by the checkout grace, on the show first (so the
// seats stay the customer's while the payment is in flight) and then on the
// booking, whose CheckoutStarted event the payment saga acts on. A retry
// with the same token changes nothing.
//
// The booking is read from the cache when this process has it: its owner
// and show never change, and a cached state older than the log only
// costs a conflict on the booking's append (another process moved it on),
// after which the decision is made again on the latest state. The hold's
// extension on the show is harmless if that decision then refuses: the
// booking's own deadline, not the show's, decides the payment.
func (h *Handlers) checkout(ctx context.Context, cmd Checkout) (CheckedOut, error) {
	if err := booking.CheckToken(cmd.PaymentToken); err != nil {
		return CheckedOut{}, err
	}
	b, _, err := h.bookings.LoadAt(ctx, cmd.BookingID, 0)
	if err != nil {
		return CheckedOut{}, err
	}
	if !b.Exists() || b.Owner() != cmd.UserID {
		return CheckedOut{}, booking.ErrNotFound
	}
	deadline := b.CheckoutDeadline(h.cfg.CheckoutGrace)
	if b.Status(h.cfg.Now()) == booking.StatusHeld {
		_, err = h.shows.Update(ctx, b.ShowID(), cmd.Meta, func(s *show.Show) error {
			return s.ExtendHold(cmd.BookingID, deadline, h.cfg.Now())
		})
		if err != nil {
			return CheckedOut{}, err
		}
	}
	var out CheckedOut
	out.Result, err = h.bookings.Update(ctx, cmd.BookingID, cmd.Meta, func(b *booking.Booking) error {
		if err := b.StartCheckout(cmd.PaymentToken, deadline, h.cfg.Now()); err != nil {
			return err
		}
		out.Booking = b.State()
		out.Booking.Status = b.Status(h.cfg.Now())
		return nil
	})
	return out, err
}

// RecordPayment records the gateway's success for a booking (a late one
// is refunded in full by the booking's rule).
func (h *Handlers) recordPayment(ctx context.Context, bookingID, chargeID string, amount int64, meta eventstore.Metadata) (Result, error) {
	return h.bookings.Update(ctx, bookingID, meta, func(b *booking.Booking) error {
		return b.RecordPayment(chargeID, amount, h.cfg.Now())
	})
}

// RecordPaymentFailure records the gateway's decline for a booking.
func (h *Handlers) recordPaymentFailure(ctx context.Context, bookingID, reason string, meta eventstore.Metadata) (Result, error) {
	return h.bookings.Update(ctx, bookingID, meta, func(b *booking.Booking) error {
		return b.RecordPaymentFailure(reason, h.cfg.Now())
	})
}

// ConfirmPaid finishes a paid booking: its seats are sold to it on the
// show, then the booking is confirmed. If the seats are no longer its own
// (the hold was taken over, the show was cancelled), the booking is
// refunded instead. Both outcomes are idempotent. known is a version the
// booking is known to have reached (its PaymentSucceeded): a cached state
// that recent is used without reading the log; 0 reads the log.
func (h *Handlers) confirmPaid(ctx context.Context, bookingID string, known int64, meta eventstore.Metadata) (Result, error) {
	load := h.bookings.Load
	if known > 0 {
		load = func(ctx context.Context, id string) (*booking.Booking, int64, error) {
			return h.bookings.LoadAt(ctx, id, known)
		}
	}
	b, _, err := load(ctx, bookingID)
	if err != nil {
		return Result{}, err
	}
	st := b.State()
	if st.Status != booking.StatusPaymentPending || !st.Payment.Paid() {
		return Result{}, nil // confirmed already, or refunded
	}
	_, err = h.shows.Update(ctx, b.ShowID(), meta, func(s *show.Show) error { return s.Sell(bookingID) })
	reason := ""
	switch {
	case err == nil:
	case isErr(err, show.ErrSeatsReleased):
		reason = "seats-released"
	case isErr(err, show.ErrCancelled):
		reason = "show-cancelled"
	default:
		return Result{}, err
	}
	return h.bookings.UpdateAt(ctx, bookingID, known, meta, func(b *booking.Booking) error {
		if reason != "" {
			return b.RequestRefund(reason, "system", h.cfg.Now())
		}
		return b.Confirm(h.cfg.Now())
	})
}

// RecordRefund records the gateway's refund of a booking.
func (h *Handlers) RecordRefund(ctx context.Context, bookingID, refundID string, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "RecordRefund")
	return h.bookings.Update(ctx, bookingID, meta, func(b *booking.Booking) error {
		return b.RecordRefund(refundID, h.cfg.Now())
	})
}

// ClockTolerance is how long past a deadline expiries wait (Config).
func (h *Handlers) ClockTolerance() time.Duration { return h.cfg.ClockTolerance }

// ExpireBooking records that a booking passed its deadline unpaid, and
// then the expiry of its hold on the show. A booking that was paid (or is
// being confirmed) keeps its seats; a deadline that moved changes nothing.
// known is a version the booking is known to have reached (the event that
// set the deadline; 0 if none is known): deadlines only move later and
// paid, cancelled and expired bookings stay so, so a cached state that
// recent which says "nothing to expire" is right without a read.
func (h *Handlers) expireBooking(ctx context.Context, bookingID string, known int64, meta eventstore.Metadata) (Result, error) {
	var st booking.State // as decided: the repository re-decides no-ops on the latest state
	res, err := h.bookings.UpdateAt(ctx, bookingID, known, meta, func(b *booking.Booking) error {
		err := b.WithClockTolerance(h.cfg.ClockTolerance).Expire(h.cfg.Now())
		st = b.State()
		return err
	})
	if err != nil || st.Status != booking.StatusExpired {
		return res, err
	}
	rel, err := h.shows.Update(ctx, st.ShowID, meta, func(s *show.Show) error {
		return s.WithClockTolerance(h.cfg.ClockTolerance).ExpireHold(bookingID, h.cfg.Now())
	})
	if err != nil {
		return Result{}, err
	}
	res.Position = max(res.Position, rel.Position)
	return res, nil
}
