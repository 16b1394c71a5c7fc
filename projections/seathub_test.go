package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/projections"
)

type noLog struct{}

func (noLog) ReadStream(context.Context, string, int64, int64) ([]eventstore.Commit, error) {
	return nil, nil
}

func commit(pos, base int64, events ...any) eventstore.Commit {
	c := eventstore.Commit{Position: pos, StreamID: show.StreamPrefix + "s1", Base: base, Version: base + int64(len(events))}
	for i, e := range events {
		ev := e.(interface{ Name() string })
		c.Events = append(c.Events, eventstore.Event{Name: ev.Name(), Version: base + int64(i) + 1, Event: e.(show.SeatsHeld)})
	}
	return c
}

func held(seat string) show.SeatsHeld {
	return show.SeatsHeld{BookingID: "b-" + seat, Seats: []string{seat}, Until: time.Now().Add(time.Minute)}
}

// TestSeatHubDropsSlowSubscribers: a subscriber whose buffer is full is
// disconnected (its channel closed) rather than slowing everyone down;
// the others keep receiving, and the remembered changes let a client
// resume from any of them.
func TestSeatHubDropsSlowSubscribers(t *testing.T) {
	ctx := context.Background()
	h := projections.NewSeatHub(noLog{}, 10)
	slow := h.Subscribe("s1", 1)
	fast := h.Subscribe("s1", 10)
	h.Apply(ctx, []eventstore.Commit{commit(10, 0, held("A1")), commit(11, 1, held("A2")), commit(12, 2, held("A3"))})
	got := 0
	for range slow.C {
		got++
	}
	if got != 1 {
		t.Fatalf("the slow subscriber got %d changes before being dropped, want 1", got)
	}
	if len(fast.C) != 3 {
		t.Fatalf("the fast subscriber has %d changes, want 3", len(fast.C))
	}
	since, err := h.Since(ctx, "s1", 2)
	if err != nil || len(since) != 1 || since[0].Position != 12 || since[0].Seats[0].ID != "A3" {
		t.Fatalf("since version 2: %+v %v", since, err)
	}
	// A duplicate or older commit changes nothing.
	h.Apply(ctx, []eventstore.Commit{commit(11, 1, held("A2"))})
	if len(fast.C) != 3 {
		t.Fatal("a duplicate was delivered again")
	}
}
