package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/timeline"
)

type eventsPage struct {
	Items []eventstore.Commit `json:"items"`
	Next  int64               `json:"next"` // the after= of the next page
	Head  int64               `json:"head"`
}

// listEvents pages through the log by position, for operators and tools
// (bookingctl events tail): ?after=N&limit=M (100, at most 1000). Personal
// data in payloads is masked as in timelines.
func (a *api) listEvents(c *gin.Context) {
	after, err := strconv.ParseInt(c.DefaultQuery("after", "0"), 10, 64)
	if err != nil || after < 0 {
		fail(c, invalidParam("after", "a non-negative integer"))
		return
	}
	n := 100
	if s := c.Query("limit"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > 1000 {
			fail(c, invalidParam("limit", "an integer from 1 to 1000"))
			return
		}
	}
	head, err := a.Log.Head(c)
	if err != nil {
		fail(c, err)
		return
	}
	page := eventsPage{Items: []eventstore.Commit{}, Next: after, Head: head}
	if after < head {
		cs, err := a.Log.ReadRange(c, after+1, min(head, after+int64(n)))
		if err != nil {
			fail(c, err)
			return
		}
		for i := range cs {
			for j := range cs[i].Events { // personal data masked
				cs[i].Events[j].Data = timeline.MaskJSON(cs[i].Events[j].Data)
			}
		}
		// Stop at a missing position (an append still in flight), so that
		// a follower asking for the next page does not skip it.
		for _, c := range cs {
			if c.Position != page.Next+1 {
				break
			}
			page.Items = append(page.Items, c)
			page.Next = c.Position
		}
	}
	c.JSON(http.StatusOK, page)
}
