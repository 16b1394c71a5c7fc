package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/payments"
)

type checkoutRequest struct {
	PaymentToken string `json:"payment_token"`
}

type checkoutResponse struct {
	ID        string         `json:"id"`
	Status    booking.Status `json:"status"`
	ExpiresAt time.Time      `json:"expires_at"`
	Version   int64          `json:"version"`
	Position  int64          `json:"position"`
}

// checkout starts paying for a held booking: 202, the outcome follows
// asynchronously (GET /bookings/{id} shows it).
func (a *api) checkout(c *gin.Context) {
	var req checkoutRequest
	if !bind(c, &req) || !required(c, "payment_token", req.PaymentToken) {
		return
	}
	id := c.Param("id")
	out, err := a.Commands.Checkout(c, commands.Checkout{BookingID: id, UserID: principal(c).UserID, PaymentToken: req.PaymentToken, Meta: meta(c)})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, checkoutResponse{ID: id, Status: out.Booking.Status, ExpiresAt: out.Booking.ExpiresAt,
		Version: out.Result.Version, Position: out.Result.Position})
}

var (
	errBadSignature = &domain.Error{Kind: domain.Unauthorized, Code: "invalid-signature", Msg: "the webhook signature does not verify"}
	errBadWebhook   = domain.NewInvalid("invalid-webhook", "data", "the webhook event is incomplete or does not match the booking")
)

// webhook takes a payment provider's notification: HMAC-SHA256 signed
// with a timestamp (payments.SignatureHeader), handled once per event id.
func (a *api) webhook(c *gin.Context) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, errMalformed.Withf("%v", err))
		return
	}
	if err := a.Webhooks.Verify(c.GetHeader(payments.SignatureHeader), body, a.Now()); err != nil {
		fail(c, errBadSignature)
		return
	}
	var ev payments.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		fail(c, errMalformed.Withf("%v", err))
		return
	}
	if ev.ID == "" || ev.Data.BookingID == "" {
		fail(c, errBadWebhook)
		return
	}
	seen, err := a.Webhooks.Seen(c, ev.ID)
	if err != nil {
		fail(c, err)
		return
	}
	if seen {
		c.JSON(http.StatusOK, gin.H{"status": "duplicate"})
		return
	}
	b, _, err := a.Commands.Booking(c, ev.Data.BookingID)
	if err != nil {
		fail(c, err)
		return
	}
	if !b.Exists() {
		fail(c, booking.ErrNotFound)
		return
	}
	m := meta(c)
	m.Actor, m.CausationID = "provider:webhook", ev.ID
	st := b.State()
	switch ev.Type {
	case payments.EventPaymentSucceeded:
		if ev.Data.ChargeID == "" || ev.Data.Amount != st.Amount || (ev.Data.Currency != "" && ev.Data.Currency != st.Currency) {
			fail(c, errBadWebhook)
			return
		}
		_, err = a.Commands.RecordPayment(c, ev.Data.BookingID, ev.Data.ChargeID, ev.Data.Amount, m)
	case payments.EventPaymentFailed:
		_, err = a.Commands.RecordPaymentFailure(c, ev.Data.BookingID, or(ev.Data.Reason, "declined"), m)
	case payments.EventRefundSucceeded:
		_, err = a.Commands.RecordRefund(c, ev.Data.BookingID, ev.Data.RefundID, m)
	default:
		fail(c, domain.NewInvalid("invalid-webhook", "type", "unknown webhook event type"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	if err := a.Webhooks.MarkSeen(c, ev.ID); err != nil {
		fail(c, errors.Join(errors.New("mark webhook seen"), err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "processed"})
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
