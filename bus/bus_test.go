package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/seatline/seatline/bus"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/testenv"
)

// TestClosedSubscriptionHandsBackItsMessages reads messages in a group
// without acknowledging them and closes the subscription (a worker giving
// a partition to another): the next subscriber of the group gets them at
// once, not after the 30 s claim threshold that covers crashed consumers.
func TestClosedSubscriptionHandsBackItsMessages(t *testing.T) {
	c, prefix := testenv.Redis(t)
	b, err := bus.NewRedis(c, bus.RedisOptions{Prefix: prefix, ClaimIdle: 30 * time.Second, Partitions: 2}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Streams that land in partition 1.
	var commits []eventstore.Commit
	for i := 0; len(commits) < 5; i++ {
		id := fmt.Sprintf("show-%d", i)
		if b.Partition(id) == 1 {
			commits = append(commits, eventstore.Commit{Position: int64(len(commits) + 1), StreamID: id, Version: 1, CommitID: id})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, stop := context.WithCancel(ctx)
	msgs, err := b.Subscribe(first, "g", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(commits...); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		_ = m // read, never acknowledged
	case <-ctx.Done():
		t.Fatal("nothing delivered")
	}
	stop()
	for range msgs { // closes once the pending messages are handed back
	}
	start := time.Now()
	again, err := b.Subscribe(ctx, "g", 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < len(commits) {
		select {
		case m := <-again:
			c, err := bus.Decode(eventstore.NewRegistry(), m)
			if err != nil {
				t.Fatal(err)
			}
			seen[c.StreamID] = true
			m.Ack()
		case <-ctx.Done():
			t.Fatalf("after %v the next subscriber has %d of %d messages", time.Since(start), len(seen), len(commits))
		}
	}
}
