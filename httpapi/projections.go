package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// listProjections shows every read model's checkpoint, lag and rebuild.
func (a *api) listProjections(c *gin.Context) {
	items, err := a.Rebuilder.Overview(c, a.Freshness, a.Now())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// rebuildProjection queues a blue/green rebuild of a read model from the
// log; a worker runs it while the current model keeps serving.
func (a *api) rebuildProjection(c *gin.Context) {
	rb, err := a.Rebuilder.Request(c, c.Param("name"), principal(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/admin/projections/"+rb.Projection+"/rebuild")
	c.JSON(http.StatusAccepted, rb)
}

// getRebuild shows the progress of a read model's latest rebuild.
func (a *api) getRebuild(c *gin.Context) {
	rb, ok, err := a.Rebuilder.Latest(c, c.Param("name"))
	if err != nil {
		fail(c, err)
		return
	}
	if !ok {
		fail(c, errNoRebuild)
		return
	}
	c.JSON(http.StatusOK, rb)
}

// cancelRebuild stops a queued or running rebuild before it switches.
func (a *api) cancelRebuild(c *gin.Context) {
	rb, err := a.Rebuilder.Cancel(c, c.Param("name"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, rb)
}
