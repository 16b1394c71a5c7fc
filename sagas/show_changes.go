package sagas

import (
	"context"
	"fmt"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// ShowChangesSaga is the consumer group of ShowChanges. It never changes.
const ShowChangesSaga = "saga.show-changes"

// ShowChanges ends the bookings of a cancelled show:
//
//	show.Cancelled → for each booking on the show: held → cancelled, paid → refunded in full
//
// (a payment still in flight ends by itself: a success cannot buy seats of
// a cancelled show and is refunded, a failure releases them).
type ShowChanges struct {
	cmd *commands.Handlers
}

// NewShowChanges returns the saga.
func NewShowChanges(cmd *commands.Handlers) *ShowChanges { return &ShowChanges{cmd: cmd} }

// Name implements relay.Handler.
func (*ShowChanges) Name() string { return ShowChangesSaga }

// Handle implements relay.Handler.
func (s *ShowChanges) Handle(ctx context.Context, batch []eventstore.Commit) error {
	for _, c := range batch {
		for i, e := range c.Events {
			if _, ok := e.Event.(show.Cancelled); !ok {
				continue
			}
			sh, _, err := s.cmd.Show(ctx, c.StreamID[len(show.StreamPrefix):])
			if err != nil {
				return err
			}
			for _, b := range sh.Bookings() {
				if _, err := s.cmd.CancelForShow(ctx, b, causedBy(c, i, ShowChangesSaga)); err != nil {
					return fmt.Errorf("%s: booking %s: %w", ShowChangesSaga, b, err)
				}
			}
		}
	}
	return nil
}
