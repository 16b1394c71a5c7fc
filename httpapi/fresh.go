package httpapi

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// fresh waits until the read models of groups have caught up before a
// query reads them. With X-Min-Position (or ?min_position=) the client
// names the position of its write: the wait is bounded by MinPositionWait
// and ends in 503 with Retry-After if not reached. Without it the query
// waits, more briefly and silently, for the latest position this instance
// knows of, so a client reading through the instance it wrote through sees
// its writes. It writes the error and returns false when the request must
// stop.
func (a *api) fresh(c *gin.Context, groups ...string) bool {
	return a.waitFor(c, func(pos int64, timeout time.Duration) (bool, error) {
		return a.Freshness.Wait(c, pos, timeout, groups...)
	})
}

// freshFeed is fresh for the in-memory views that this instance's commit
// feed keeps (the show search index).
func (a *api) freshFeed(c *gin.Context) bool {
	return a.waitFor(c, func(pos int64, timeout time.Duration) (bool, error) {
		return a.Feed.Wait(c, pos, timeout), nil
	})
}

func (a *api) waitFor(c *gin.Context, wait func(pos int64, timeout time.Duration) (bool, error)) bool {
	raw := c.GetHeader("X-Min-Position")
	if raw == "" {
		raw = c.Query("min_position")
	}
	if raw != "" {
		pos, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || pos < 0 {
			fail(c, invalidParam("X-Min-Position", "a non-negative integer"))
			return false
		}
		ok, err := wait(pos, a.MinPositionWait)
		if err != nil {
			fail(c, err)
			return false
		}
		if !ok {
			fail(c, errNotCaughtUp.With("position", pos))
			return false
		}
		return true
	}
	if a.Head != nil {
		if _, err := wait(a.Head(), a.ReadWait); err != nil {
			fail(c, err)
			return false
		}
	}
	return true
}
