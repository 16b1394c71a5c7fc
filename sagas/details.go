package sagas

import (
	"context"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/notifications"
)

// Details finds, from the aggregates, what email templates show of a
// booking: the booking and its show at least as recent as the event that
// caused the email, the movie and venue as cached (a title may lag).
type Details struct{ Cmd *commands.Handlers }

// Booking implements notifications.Details.
func (d Details) Booking(ctx context.Context, r notifications.Request) (notifications.BookingInfo, notifications.ShowInfo, bool, error) {
	id := r.BookingID
	b, _, err := d.Cmd.BookingAt(ctx, id, r.BookingVersion)
	if err != nil || !b.Exists() {
		return notifications.BookingInfo{}, notifications.ShowInfo{}, false, err
	}
	st := b.State()
	bi := notifications.BookingInfo{ID: id, Code: booking.Code(id), UserID: st.UserID, Seats: st.Seats, Amount: st.Amount,
		RefundAmount: st.Payment.RefundAmount, Currency: st.Currency, ExpiresAt: st.ExpiresAt, Status: string(st.Status),
		PaymentReason: st.Payment.Reason, ShowID: st.ShowID}
	sum, err := d.Cmd.ShowSummaryAt(ctx, st.ShowID, r.ShowVersion)
	if err != nil {
		return notifications.BookingInfo{}, notifications.ShowInfo{}, false, err
	}
	si := notifications.ShowInfo{ID: st.ShowID, StartsAt: sum.StartsAt}
	if m, ok, err := d.Cmd.MovieAt(ctx, sum.MovieID, 0); err != nil {
		return bi, si, false, err
	} else if ok {
		si.MovieTitle = m.Title
	}
	if v, ok, err := d.Cmd.VenueAt(ctx, sum.VenueID, 0); err != nil {
		return bi, si, false, err
	} else if ok {
		si.VenueName, si.City = v.Name, v.City
	}
	return bi, si, true, nil
}
