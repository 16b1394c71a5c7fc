package commands

import (
	"context"

	"github.com/seatline/seatline/domain/broadcast"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// Broadcast is an admin's message to a show's ticket holders or to all users.
type Broadcast struct {
	ID, Audience, ShowID, Subject, Text, By string
	Meta                                    eventstore.Metadata
}

// SendBroadcast records a broadcast; the notifications saga sends it.
func (h *Handlers) SendBroadcast(ctx context.Context, cmd Broadcast) (Result, error) {
	ctx = named(ctx, "SendBroadcast")
	if cmd.Audience == broadcast.ShowHolders && cmd.ShowID != "" {
		s, _, err := h.shows.Load(ctx, cmd.ShowID)
		if err != nil {
			return Result{}, err
		}
		if !s.Exists() {
			return Result{}, show.ErrNotFound
		}
	}
	return h.broadcasts.Update(ctx, cmd.ID, cmd.Meta, func(b *broadcast.Broadcast) error {
		return b.Request(cmd.Audience, cmd.ShowID, cmd.Subject, cmd.Text, cmd.By, h.cfg.Now())
	})
}

// BroadcastExists reports whether a broadcast was requested (version > 0).
func (h *Handlers) BroadcastExists(ctx context.Context, id string) (*broadcast.Broadcast, int64, error) {
	return h.broadcasts.Load(ctx, id)
}
