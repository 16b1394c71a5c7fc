package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/projections"
)

type bookingRequest struct {
	ShowID string   `json:"show_id"`
	Seats  []string `json:"seats"`
}

type bookingResponse struct {
	ID        string         `json:"id"`
	Status    booking.Status `json:"status"`
	ShowID    string         `json:"show_id"`
	Seats     []string       `json:"seats"`
	Amount    int64          `json:"amount"`
	Currency  string         `json:"currency"`
	ExpiresAt time.Time      `json:"expires_at"`
	CreatedAt time.Time      `json:"created_at"`
	Code      string         `json:"code"`
	Payment   *paymentView   `json:"payment,omitempty"`
	Version   int64          `json:"version,omitempty"`
	Position  int64          `json:"position"`
}

// paymentView is what a customer sees of a booking's money once checkout
// started: status pending, succeeded, failed, refund_pending or refunded,
// and why (a decline reason, or what caused a refund).
type paymentView struct {
	Status       string `json:"status"`
	Reason       string `json:"reason,omitempty"`
	RefundAmount int64  `json:"refund_amount,omitempty"`
}

func paymentOf(status, reason string, refund int64) *paymentView {
	if status == "" {
		return nil
	}
	return &paymentView{Status: status, Reason: reason, RefundAmount: refund}
}

func fromBookingState(s booking.State, res commands.Result) bookingResponse {
	return bookingResponse{ID: s.ID, Status: s.Status, ShowID: s.ShowID, Seats: nonNil(s.Seats), Amount: s.Amount,
		Currency: s.Currency, ExpiresAt: s.ExpiresAt, CreatedAt: s.PlacedAt, Code: booking.Code(s.ID),
		Payment: paymentOf(s.Payment.Status, s.Payment.Reason, s.Payment.RefundAmount), Version: res.Version, Position: res.Position}
}

func toBooking(b projections.Booking) bookingResponse {
	return bookingResponse{ID: b.ID, Status: b.Status, ShowID: b.ShowID, Seats: nonNil(b.Seats), Amount: b.Amount,
		Currency: b.Currency, ExpiresAt: b.ExpiresAt, CreatedAt: b.PlacedAt, Code: booking.Code(b.ID),
		Payment: paymentOf(b.Payment.Status, b.Payment.Reason, b.Payment.RefundAmount), Version: b.Version, Position: b.Position}
}

var errBadIdempotencyKey = domain.NewInvalid("invalid-idempotency-key", "Idempotency-Key", "Idempotency-Key must be 1..255 printable characters")

// createBooking holds seats. With an Idempotency-Key the booking id is
// derived from the user and the key, so a retried request returns the
// booking the first one created (201 again, Idempotent-Replayed: true).
func (a *api) createBooking(c *gin.Context) {
	var req bookingRequest
	if !bind(c, &req) || !required(c, "show_id", req.ShowID, "seats", req.Seats) {
		return
	}
	p := principal(c)
	cmd := commands.HoldSeats{BookingID: uuid.NewString(), UserID: p.UserID, ShowID: req.ShowID, Seats: req.Seats, Meta: meta(c)}
	if key := c.GetHeader("Idempotency-Key"); key != "" {
		if len(key) > 255 || !printable(key) {
			fail(c, errBadIdempotencyKey)
			return
		}
		cmd.BookingID, cmd.Retry = commands.BookingIDFor(p.UserID, key), true
	}
	held, err := a.Commands.HoldSeats(c, cmd)
	if err != nil {
		fail(c, err)
		return
	}
	if held.Replayed {
		c.Header("Idempotent-Replayed", "true")
	} else if a.Metrics != nil {
		a.Metrics.HoldPlaced()
	}
	c.JSON(http.StatusCreated, fromBookingState(held.Booking, held.Result))
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func (a *api) listBookings(c *gin.Context) {
	n, err := limit(c)
	if err != nil {
		fail(c, err)
		return
	}
	cur, ok := a.cursor(c)
	if !ok || !a.fresh(c, projections.BookingsProjection) {
		return
	}
	items, next, err := a.Bookings.ListByUser(c, principal(c).UserID, cur, n, a.Now())
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]bookingResponse, len(items))
	for i, b := range items {
		out[i] = toBooking(b)
	}
	c.JSON(http.StatusOK, list[bookingResponse]{Items: out, NextCursor: a.sealCursor(next)})
}

// getBooking returns a booking to its owner (or an admin); to anyone else
// it does not exist.
func (a *api) getBooking(c *gin.Context) {
	get := a.Bookings.Get
	if a.LiveBookings != nil { // from memory, once the feed has the request's position
		if !a.freshFeed(c) {
			return
		}
		get = a.LiveBookings.Get
	} else if !a.fresh(c, projections.BookingsProjection) {
		return
	}
	b, ok, err := get(c, c.Param("id"), a.Now())
	if err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	if !ok || (b.UserID != p.UserID && !p.IsAdmin()) {
		fail(c, booking.ErrNotFound)
		return
	}
	c.JSON(http.StatusOK, toBooking(b))
}

func (a *api) cancelBooking(c *gin.Context) {
	p := principal(c)
	id := c.Param("id")
	res, err := a.Commands.CancelBooking(c, commands.CancelBooking{BookingID: id, UserID: p.UserID, Admin: p.IsAdmin(), Meta: meta(c)})
	if err != nil {
		fail(c, err)
		return
	}
	b, _, err := a.Commands.Booking(c, id)
	if err != nil {
		fail(c, err)
		return
	}
	if !b.Exists() {
		fail(c, errors.New("cancelled booking vanished"))
		return
	}
	st := b.State()
	st.Status = b.Status(a.Now())
	c.JSON(http.StatusOK, fromBookingState(st, res))
}
