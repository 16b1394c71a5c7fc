package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/notifications"
	"github.com/seatline/seatline/projections"
)

type cancelShowRequest struct {
	Reason string `json:"reason"`
}

// cancelShow cancels a show; its bookings are cancelled or refunded and
// their holders told, in the background.
func (a *api) cancelShow(c *gin.Context) {
	var req cancelShowRequest
	if c.Request.ContentLength != 0 && !bind(c, &req) {
		return
	}
	res, err := a.Commands.CancelShow(c, c.Param("id"), req.Reason, meta(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": c.Param("id"), "status": "cancelled", "version": res.Version, "position": res.Position})
}

type patchShowRequest struct {
	StartsAt *time.Time `json:"starts_at"`
}

// patchShow reschedules a show; holders are told and may cancel for a
// full refund.
func (a *api) patchShow(c *gin.Context) {
	var req patchShowRequest
	if !bind(c, &req) {
		return
	}
	if req.StartsAt == nil {
		fail(c, domain.NewInvalid("missing-field", "starts_at", "starts_at is the field a show can change"))
		return
	}
	id := c.Param("id")
	res, err := a.Commands.RescheduleShow(c, id, *req.StartsAt, meta(c))
	if err != nil {
		fail(c, err)
		return
	}
	s, _, err := a.Commands.Show(c, id)
	if err != nil {
		fail(c, err)
		return
	}
	sum := s.Summary()
	free := 0
	for _, seat := range s.SeatMap(a.Now()) {
		if seat.State == show.Free {
			free++
		}
	}
	status := projections.ShowScheduled
	if s.Cancelled() {
		status = projections.ShowCancelled
	}
	c.JSON(http.StatusOK, showResponse{ID: id, MovieID: sum.MovieID, VenueID: sum.VenueID, StartsAt: sum.StartsAt, EndsAt: sum.EndsAt,
		Prices: sum.Prices, Currency: sum.Currency, Capacity: sum.Capacity, Available: free, Status: status, Version: res.Version, Position: res.Position})
}

type broadcastRequest struct {
	Audience string `json:"audience"`
	ShowID   string `json:"show_id"`
	Subject  string `json:"subject"`
	Text     string `json:"text"`
}

// sendBroadcast queues a message to a show's ticket holders or to all
// users; GET /admin/notifications/{id} shows its progress.
func (a *api) sendBroadcast(c *gin.Context) {
	var req broadcastRequest
	if !bind(c, &req) {
		return
	}
	id := uuid.NewString()
	res, err := a.Commands.SendBroadcast(c, commands.Broadcast{ID: id, Audience: req.Audience, ShowID: req.ShowID,
		Subject: req.Subject, Text: req.Text, By: principal(c).UserID, Meta: meta(c)})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"id": id, "status": "queued", "version": res.Version, "position": res.Position})
}

type broadcastProgress struct {
	ID       string `json:"id"`
	Status   string `json:"status"` // queued (recipients not resolved yet), sending, done
	Audience string `json:"audience,omitempty"`
	ShowID   string `json:"show_id,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Total    int    `json:"total"`
	Sent     int    `json:"sent"`
	Failed   int    `json:"failed"`
	Skipped  int    `json:"skipped"`
	Pending  int    `json:"pending"`
}

func (a *api) getBroadcast(c *gin.Context) {
	id := c.Param("id")
	d, ok, err := a.Broadcasts.Broadcast(c, id)
	if err != nil {
		fail(c, err)
		return
	}
	if !ok {
		// Not resolved yet, or no such broadcast.
		if _, v, err := a.Commands.BroadcastExists(c, id); err != nil || v == 0 {
			if err != nil {
				fail(c, err)
				return
			}
			fail(c, errNotFound)
			return
		}
		c.JSON(http.StatusOK, broadcastProgress{ID: id, Status: "queued"})
		return
	}
	recs, err := a.Outbox.Records(c, notifications.RecordFilter{BroadcastID: id})
	if err != nil {
		fail(c, err)
		return
	}
	p := broadcastProgress{ID: id, Audience: d.Audience, ShowID: d.ShowID, Subject: d.Subject, Total: d.Total}
	for _, r := range recs {
		switch r.Status {
		case notifications.Sent:
			p.Sent++
		case notifications.Failed:
			p.Failed++
		case notifications.Skipped:
			p.Skipped++
		}
	}
	p.Pending = p.Total - p.Sent - p.Failed - p.Skipped
	p.Status = "sending"
	if p.Pending <= 0 {
		p.Status, p.Pending = "done", 0
	}
	c.JSON(http.StatusOK, p)
}

// listEmails shows the email history (admins), filtered by booking_id,
// broadcast_id, user_id or status.
func (a *api) listEmails(c *gin.Context) {
	n := 100
	if s := c.Query("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 1000 {
			fail(c, invalidParam("limit", "an integer from 1 to 1000"))
			return
		}
		n = v
	}
	recs, err := a.Outbox.Records(c, notifications.RecordFilter{BookingID: c.Query("booking_id"), BroadcastID: c.Query("broadcast_id"),
		UserID: c.Query("user_id"), Status: c.Query("status"), Limit: n})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[notifications.Record]{Items: nonNil(recs)})
}
