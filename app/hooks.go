package app

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/projections"
	"github.com/seatline/seatline/relay"
)

// Hooks are the seams through which tests steer a process. A production
// process passes the zero value; nothing in the environment sets them
// (cmd/bookingd reads FAILPOINTS only when built with the failpoints tag).
type Hooks struct {
	// Clock is business time: hold deadlines, checkout grace, expiry,
	// payment and email jobs (the wall clock). Tests move an Offset clock
	// forward instead of sleeping until a deadline passes.
	Clock clock.Clock
	// WrapHandler wraps every consumer's handler (tests inject failures).
	WrapHandler func(relay.Handler) relay.Handler
	// OnSwitch runs when a rebuild switches a read model over, with the
	// projectors paused (tests compare the old and the new generation).
	OnSwitch func(ctx context.Context, m projections.Model, old, new *mongo.Database) error
	// OnRebuildProgress runs each time a rebuild records its progress,
	// before it checks for a cancel (tests pause a rebuild here).
	OnRebuildProgress func(ctx context.Context, rb projections.Rebuild)
	// Failpoint is called at named points of the flow (for example
	// "payment.after-charge"); crash tests kill the process there.
	Failpoint func(name string)
}

func (h Hooks) withDefaults() Hooks {
	if h.Clock == nil {
		h.Clock = clock.System{}
	}
	if h.Failpoint == nil {
		h.Failpoint = func(string) {}
	}
	return h
}
