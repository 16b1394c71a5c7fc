package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/domain/booking"
)

// bookingTimeline shows everything that happened to a booking, across
// streams, with correlation and causation ids.
func (a *api) bookingTimeline(c *gin.Context) {
	t, ok, err := a.Timeline.Build(c, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if !ok {
		fail(c, booking.ErrNotFound)
		return
	}
	c.JSON(http.StatusOK, t)
}
