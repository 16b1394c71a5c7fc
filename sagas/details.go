package sagas

import (
	"context"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/notifications"
)

// Details finds, from the log, what email templates show of a booking.
type Details struct{ Cmd *commands.Handlers }

// Booking implements notifications.Details.
func (d Details) Booking(ctx context.Context, id string) (notifications.BookingInfo, notifications.ShowInfo, bool, error) {
	b, _, err := d.Cmd.Booking(ctx, id)
	if err != nil || !b.Exists() {
		return notifications.BookingInfo{}, notifications.ShowInfo{}, false, err
	}
	st := b.State()
	bi := notifications.BookingInfo{ID: id, Code: booking.Code(id), UserID: st.UserID, Seats: st.Seats, Amount: st.Amount,
		RefundAmount: st.Payment.RefundAmount, Currency: st.Currency, ExpiresAt: st.ExpiresAt, Status: string(st.Status),
		PaymentReason: st.Payment.Reason, ShowID: st.ShowID}
	s, _, err := d.Cmd.Show(ctx, st.ShowID)
	if err != nil {
		return notifications.BookingInfo{}, notifications.ShowInfo{}, false, err
	}
	sum := s.Summary()
	si := notifications.ShowInfo{ID: st.ShowID, StartsAt: sum.StartsAt}
	if m, ok, err := d.Cmd.Movie(ctx, sum.MovieID); err != nil {
		return bi, si, false, err
	} else if ok {
		si.MovieTitle = m.Title
	}
	if v, ok, err := d.Cmd.Venue(ctx, sum.VenueID); err != nil {
		return bi, si, false, err
	} else if ok {
		si.VenueName, si.City = v.Name, v.City
	}
	return bi, si, true, nil
}
