package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/relay"
)

// Queues is what the API needs to show and work the bus.
type Queues interface {
	Topic() string
	Queues(ctx context.Context) ([]relay.QueueReport, error)
	DeadLetters(ctx context.Context) ([]relay.DeadLetter, error)
	RetryDeadLetter(ctx context.Context, id string) (relay.DeadLetter, error)
	RetryAllDeadLetters(ctx context.Context) (int, error)
}

var errUnknownTopic = errNotFound.Withf("no such topic").With("field", "topic")

// topic checks the {topic} of a queue route: the bus's stream, by its key
// or its short name ("events"). It is the middleware of those routes.
func (a *api) topic(c *gin.Context) {
	t, key := c.Param("topic"), a.Queues.Topic()
	if i := strings.LastIndexByte(t, '.'); i >= 0 { // a partition's stream, "<topic>.<p>"
		if _, err := strconv.Atoi(t[i+1:]); err == nil {
			t = t[:i]
		}
	}
	if t != key && !strings.HasSuffix(key, ":"+t) {
		fail(c, errUnknownTopic) // aborts
		return
	}
	c.Next()
}

// listQueues shows every stream and consumer group: length, pending,
// oldest pending age, consumers, lag, dead letters and reclaims.
func (a *api) listQueues(c *gin.Context) {
	q, err := a.Queues.Queues(c)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": q})
}

// listDeadLetters shows the commits consumer groups gave up on, with the
// error and the commit.
func (a *api) listDeadLetters(c *gin.Context) {
	items, err := a.Queues.DeadLetters(c)
	if err != nil {
		fail(c, err)
		return
	}
	if items == nil {
		items = []relay.DeadLetter{}
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// retryDeadLetter asks the group's consumer to handle a dead letter again.
func (a *api) retryDeadLetter(c *gin.Context) {
	dl, err := a.Queues.RetryDeadLetter(c, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, dl)
}

// retryAllDeadLetters asks for a retry of every dead letter.
func (a *api) retryAllDeadLetters(c *gin.Context) {
	n, err := a.Queues.RetryAllDeadLetters(c)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"retry_requested": n})
}
