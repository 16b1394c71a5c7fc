// Package broadcast owns admin messages to many users at once: to every
// ticket holder of a show, or to all users.
package broadcast

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seatline/seatline/domain"
)

// Audiences.
const (
	ShowHolders = "show"
	AllUsers    = "all"
)

// StreamPrefix starts the stream id of every broadcast: "broadcast-<id>".
const StreamPrefix = "broadcast-"

// Requested is recorded when an admin sends a broadcast.
type Requested struct {
	BroadcastID string    `json:"broadcast_id"`
	Audience    string    `json:"audience"`
	ShowID      string    `json:"show_id,omitempty"`
	Subject     string    `json:"subject"`
	Text        string    `json:"text"`
	By          string    `json:"by"`
	At          time.Time `json:"at"`
}

func (Requested) Name() string { return "broadcast.Requested.v1" }

// Events lists a zero value of every broadcast event, for the registry.
func Events() []domain.Event { return []domain.Event{Requested{}} }

// Broadcast is the broadcast aggregate.
type Broadcast struct {
	domain.Recorder
	id        string
	requested bool
}

// New returns an empty broadcast with the given id.
func New(id string) *Broadcast { return &Broadcast{id: id} }

// Clone returns an independent copy without recorded changes.
func (b *Broadcast) Clone() *Broadcast { return &Broadcast{id: b.id, requested: b.requested} }

// Apply applies a committed event.
func (b *Broadcast) Apply(e domain.Event) {
	if _, ok := e.(Requested); ok {
		b.requested = true
	}
}

// Request records the broadcast after checking it. Requesting it twice
// changes nothing.
func (b *Broadcast) Request(audience, showID, subject, text, by string, now time.Time) error {
	if b.requested {
		return nil
	}
	subject, text = strings.TrimSpace(subject), strings.TrimSpace(text)
	switch {
	case audience != ShowHolders && audience != AllUsers:
		return domain.NewInvalid("invalid-audience", "audience", "broadcast: audience must be show or all")
	case audience == ShowHolders && showID == "":
		return domain.NewInvalid("missing-field", "show_id", "broadcast: show_id is required for the show audience")
	case subject == "" || utf8.RuneCountInString(subject) > 200 || strings.ContainsAny(subject, "\r\n"):
		return domain.NewInvalid("invalid-subject", "subject", "broadcast: subject must be one line of 1..200 characters")
	case text == "" || utf8.RuneCountInString(text) > 20000:
		return domain.NewInvalid("invalid-text", "text", "broadcast: text must be 1..20000 characters")
	}
	e := Requested{BroadcastID: b.id, Audience: audience, ShowID: showID, Subject: subject, Text: text, By: by, At: now.UTC()}
	b.Apply(e)
	b.Record(e)
	return nil
}
