package sagas

import (
	"context"
	"fmt"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// BookingSeatsSaga is the consumer group of BookingSeats. It never changes.
const BookingSeatsSaga = "saga.booking-seats"

// BookingSeats keeps a booking and its seats in step when a process died
// between the two appends of a command: seats held for a booking that was
// never placed get their booking placed, and a cancelled booking whose seats
// are still held gets them released. In the normal case the command already
// did both and every step here is a no-op.
type BookingSeats struct {
	cmd *commands.Handlers
}

// NewBookingSeats returns the saga.
func NewBookingSeats(cmd *commands.Handlers) *BookingSeats { return &BookingSeats{cmd: cmd} }

// Name implements relay.Handler.
func (*BookingSeats) Name() string { return BookingSeatsSaga }

// Handle implements relay.Handler.
func (s *BookingSeats) Handle(ctx context.Context, batch []eventstore.Commit) error {
	for _, c := range batch {
		if err := s.handle(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (s *BookingSeats) handle(ctx context.Context, c eventstore.Commit) error {
	for i, e := range c.Events {
		meta := eventstore.Metadata{CorrelationID: e.Meta.CorrelationID, CausationID: c.EventID(i), Actor: "saga:" + BookingSeatsSaga}
		var err error
		switch ev := e.Event.(type) {
		case show.SeatsHeld:
			_, err = s.cmd.PlaceBooking(ctx, ev.BookingID, booking.Placement{
				UserID: ev.UserID, ShowID: c.StreamID[len(show.StreamPrefix):], Seats: ev.Seats,
				Amount: ev.Amount, Currency: ev.Currency, ExpiresAt: ev.Until,
			}, meta)
			if err != nil && isConflict(err) {
				err = nil // the booking id was placed for other seats: not ours to fix
			}
		case booking.Cancelled:
			b, _, lerr := s.cmd.Booking(ctx, c.StreamID[len(booking.StreamPrefix):])
			if lerr != nil {
				return lerr
			}
			_, err = s.cmd.ReleaseSeats(ctx, b.ShowID(), c.StreamID[len(booking.StreamPrefix):], "cancelled", meta)
		}
		if err != nil {
			return fmt.Errorf("%s: commit %d: %w", BookingSeatsSaga, c.Position, err)
		}
	}
	return nil
}
