package sagas

import (
	"context"
	"fmt"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
	"golang.org/x/sync/errgroup"
)

// BookingSeatsSaga is the consumer group of BookingSeats. It never changes.
const BookingSeatsSaga = "saga.booking-seats"

// BookingSeats keeps a booking and its seats on the show in step:
//
//	show.SeatsHeld            → place the booking (if the command died before)
//	booking.PaymentSucceeded  → sell the seats and confirm, or refund if they are gone
//	booking.PaymentFailed     → release the seats
//	booking.Cancelled         → release the seats
//	booking.RefundRequested   → release the (sold) seats
//	booking.Expired           → record the hold's expiry on the show
//
// Commands already do most of this in the request; every step here is
// idempotent and, in the normal case, a no-op.
type BookingSeats struct {
	cmd *commands.Handlers
	hit func(string)
}

// NewBookingSeats returns the saga. hit is the failpoint hook (see
// Failpoints); nil means none.
func NewBookingSeats(cmd *commands.Handlers, hit func(string)) *BookingSeats {
	if hit == nil {
		hit = func(string) {}
	}
	return &BookingSeats{cmd: cmd, hit: hit}
}

// Name implements relay.Handler.
func (*BookingSeats) Name() string { return BookingSeatsSaga }

// Handle implements relay.Handler. Every step concerns one booking and
// bookings do not depend on each other, so the batch's bookings are worked
// on side by side, each booking's events in order.
func (s *BookingSeats) Handle(ctx context.Context, batch []eventstore.Commit) error {
	type step struct {
		c eventstore.Commit
		i int
	}
	var order []string
	steps := map[string][]step{}
	for _, c := range batch {
		for i, e := range c.Events {
			id := c.StreamID[min(len(booking.StreamPrefix), len(c.StreamID)):]
			if held, ok := e.Event.(show.SeatsHeld); ok {
				id = held.BookingID
			}
			if _, ok := steps[id]; !ok {
				order = append(order, id)
			}
			steps[id] = append(steps[id], step{c, i})
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, id := range order {
		g.Go(func() error {
			for _, st := range steps[id] {
				if err := s.handle(ctx, st.c, st.i); err != nil {
					return fmt.Errorf("%s: commit %d: %w", BookingSeatsSaga, st.c.Position, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func (s *BookingSeats) handle(ctx context.Context, c eventstore.Commit, i int) error {
	e := c.Events[i]
	meta := causedBy(c, i, BookingSeatsSaga)
	bookingID := c.StreamID[min(len(booking.StreamPrefix), len(c.StreamID)):]
	var err error
	switch ev := e.Event.(type) {
	case show.SeatsHeld:
		_, err = s.cmd.PlaceBooking(ctx, ev.BookingID, booking.Placement{
			UserID: ev.UserID, ShowID: c.StreamID[len(show.StreamPrefix):], Seats: ev.Seats,
			Amount: ev.Amount, Currency: ev.Currency, ExpiresAt: ev.Until,
		}, meta)
		if isConflict(err) {
			err = nil // the booking id was placed for other seats: not ours to fix
		}
	case booking.PaymentSucceeded:
		s.hit("payment.before-confirm")
		_, err = s.cmd.ConfirmPaid(ctx, bookingID, e.Version, meta)
	case booking.PaymentFailed:
		err = s.release(ctx, bookingID, e.Version, "payment-failed", meta)
	case booking.Cancelled:
		err = s.release(ctx, bookingID, e.Version, "cancelled", meta)
	case booking.RefundRequested:
		err = s.release(ctx, bookingID, e.Version, "refunded", meta)
	case booking.Expired:
		_, err = s.cmd.ExpireBooking(ctx, bookingID, e.Version, meta)
	}
	return err
}

func (s *BookingSeats) release(ctx context.Context, bookingID string, version int64, reason string, meta eventstore.Metadata) error {
	b, _, err := s.cmd.BookingAt(ctx, bookingID, version) // for its show, which never changes
	if err != nil || !b.Exists() {
		return err
	}
	_, err = s.cmd.ReleaseSeats(ctx, b.ShowID(), bookingID, reason, meta)
	return err
}

// causedBy is the metadata of a command a saga sends because of the i-th
// event of c: same correlation, caused by that event.
func causedBy(c eventstore.Commit, i int, saga string) eventstore.Metadata {
	return eventstore.Metadata{CorrelationID: c.Events[i].Meta.CorrelationID, CausationID: c.EventID(i), Actor: "saga:" + saga}
}
