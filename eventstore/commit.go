package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/seatline/seatline/domain"
)

// Errors of the event store.
var (
	// ErrConcurrency means another commit was appended to the stream at the
	// expected version first. Load the stream again and redo the decision.
	ErrConcurrency = errors.New("eventstore: concurrent append to the stream")
	// ErrNotFound means no commit exists at a position.
	ErrNotFound = errors.New("eventstore: not found")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("eventstore: closed")
)

// Metadata travels with every event: who caused it, in answer to what,
// and as part of which larger flow.
type Metadata struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Actor         string `json:"actor,omitempty"`
}

// Commit is one atomic append of events to one stream.
type Commit struct {
	Position int64     `json:"position"`
	StreamID string    `json:"stream_id"`
	Base     int64     `json:"base"`    // stream version before the commit
	Version  int64     `json:"version"` // stream version after the commit
	CommitID string    `json:"commit_id"`
	Time     time.Time `json:"time"`
	Events   []Event   `json:"events"`
}

// Event is a committed event with its place in the stream.
type Event struct {
	Name    string          `json:"name"`
	Version int64           `json:"version"`
	Data    json.RawMessage `json:"data"`
	Meta    Metadata        `json:"meta"`
	Event   domain.Event    `json:"-"`
}

// Pending is an event to append with the metadata of the command that
// decided it. One commit may carry events of several commands.
type Pending struct {
	Event domain.Event
	Meta  Metadata
}

// With pairs every event with the same metadata.
func With(meta Metadata, events ...domain.Event) []Pending {
	out := make([]Pending, len(events))
	for i, e := range events {
		out[i] = Pending{Event: e, Meta: meta}
	}
	return out
}

// EventID is a stable id of the i-th event of the commit, for idempotency
// keys of side effects.
func (c Commit) EventID(i int) string { return fmt.Sprintf("%d.%d", c.Position, i) }

// Domain returns the decoded events of the commit.
func (c Commit) Domain() []domain.Event {
	out := make([]domain.Event, len(c.Events))
	for i, e := range c.Events {
		out[i] = e.Event
	}
	return out
}

// ValidStreamID reports whether id can name a stream: non-empty, at most
// 200 bytes, without '@' (which separates stream and version in link ids).
func ValidStreamID(id string) bool {
	if id == "" || len(id) > 200 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] == '@' {
			return false
		}
	}
	return true
}
