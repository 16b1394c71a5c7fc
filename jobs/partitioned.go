package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/clock"
)

// Partitioned is one queue per partition of a consumer group: the jobs a
// saga adds while it handles a commit of partition p go to queue p, which
// runs in the process that consumes partition p, so timed work spreads
// over the workers with the partitions. Partition 0 keeps the collection's
// plain name (where jobs of every partition lived before the split, which
// its runner then runs once); partition p > 0 uses name_p<p>.
type Partitioned[T any] struct {
	qs []*Queue[T]
}

// NewPartitioned returns parts queues (at least 1) named after name in db.
func NewPartitioned[T any](db *mongo.Database, name string, parts int, clk clock.Clock, log *slog.Logger) *Partitioned[T] {
	p := &Partitioned[T]{qs: make([]*Queue[T], max(parts, 1))}
	for i := range p.qs {
		coll := name
		if i > 0 {
			coll = fmt.Sprintf("%s_p%d", name, i)
		}
		p.qs[i] = New[T](db.Collection(coll), clk, log)
	}
	return p
}

// Of returns partition p's queue.
func (p *Partitioned[T]) Of(part int) *Queue[T] { return p.qs[part%len(p.qs)] }

// Stats adds up the queues' counts (scans: for admin pages and metrics).
func (p *Partitioned[T]) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	for _, q := range p.qs {
		st, err := q.Stats(ctx)
		if err != nil {
			return s, err
		}
		s.Pending, s.Dead = s.Pending+st.Pending, s.Dead+st.Dead
		if !st.OldestDue.IsZero() && (s.OldestDue.IsZero() || st.OldestDue.Before(s.OldestDue)) {
			s.OldestDue = st.OldestDue
		}
	}
	return s, nil
}
