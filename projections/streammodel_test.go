package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/projections"
)

// A projector inserts the document of a stream that starts in its batch
// without reading it first. Redelivered commits, alone or with later ones,
// must never take a document back to an older state, nor list a booking
// twice for its user.
func TestRedeliveredFirstCommitDoesNotRegress(t *testing.T) {
	ctx := context.Background()
	b := projections.NewBookings(projections.Fixed(testenv.Database(t)), nil)
	p := b.Projector()
	now := time.Now().UTC().Truncate(time.Millisecond)
	placed := eventstore.Commit{Position: 1, StreamID: booking.StreamPrefix + "b1", Base: 0, Version: 1, Time: now,
		Events: []eventstore.Event{{Version: 1, Event: booking.Placed{BookingID: "b1", UserID: "u1", ShowID: "s1", Seats: []string{"A1"},
			Amount: 100, Currency: "INR", ExpiresAt: now.Add(time.Hour), PlacedAt: now}}}}
	cancelled := eventstore.Commit{Position: 2, StreamID: booking.StreamPrefix + "b1", Base: 1, Version: 2, Time: now,
		Events: []eventstore.Event{{Version: 2, Event: booking.Cancelled{By: "user"}}}}
	check := func(step string) {
		t.Helper()
		d, ok, err := b.Get(ctx, "b1", now)
		if err != nil || !ok || d.Version != 2 || d.Status != booking.StatusCancelled {
			t.Fatalf("%s: %+v %v %v", step, d, ok, err)
		}
		list, _, err := b.ListByUser(ctx, "u1", "", 10, now)
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: the user's list has %d bookings (%v)", step, len(list), err)
		}
	}
	for _, batch := range [][]eventstore.Commit{{placed}, {cancelled}} {
		if err := p.Handle(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	check("in order")
	for name, batch := range map[string][]eventstore.Commit{"first again": {placed}, "both again": {placed, cancelled}, "reversed": {cancelled, placed}} {
		if err := p.Handle(ctx, batch); err != nil {
			t.Fatal(err)
		}
		check(name)
	}
}
