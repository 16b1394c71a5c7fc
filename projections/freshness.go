package projections

import (
	"context"
	"sync"
	"time"

	"github.com/seatline/seatline/coord"
)

// Freshness answers whether a read model has caught up with a log
// position: its consumer group has handled every commit up to it. It is
// what read-your-writes waits on.
type Freshness struct {
	progress coord.Progress
	floors   func(context.Context) (map[string]int64, error)
	mu       sync.Mutex
	marks    map[string]int64
	floorsAt time.Time
}

// NewFreshness returns a Freshness over the consumer progress. floors, if
// not nil, reads durable checkpoints (the relay's, in MongoDB): the
// progress in Redis is a cache that a Redis restart empties, and the
// checkpoints, read at most every half second, keep the watermarks from
// falling back to zero then.
func NewFreshness(p coord.Progress, floors func(context.Context) (map[string]int64, error)) *Freshness {
	return &Freshness{progress: p, floors: floors, marks: map[string]int64{}}
}

// Watermark returns the position up to which group has handled every commit.
func (f *Freshness) Watermark(ctx context.Context, group string) (int64, error) {
	f.mu.Lock()
	due := f.floors != nil && time.Since(f.floorsAt) >= 500*time.Millisecond
	if due {
		f.floorsAt = time.Now()
	}
	f.mu.Unlock()
	if due {
		if marks, err := f.floors(ctx); err == nil {
			for g, pos := range marks {
				f.SetFloor(g, pos)
			}
		}
	}
	f.mu.Lock()
	from := f.marks[group]
	f.mu.Unlock()
	w, err := f.progress.Consumed(ctx, group, from)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	if w > f.marks[group] {
		f.marks[group] = w
	}
	f.mu.Unlock()
	return w, nil
}

// SetFloor tells Freshness that group is known to have handled everything
// up to pos (for example from a stored checkpoint).
func (f *Freshness) SetFloor(group string, pos int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pos > f.marks[group] {
		f.marks[group] = pos
	}
}

// Wait blocks until every group has reached pos, or until timeout. It
// reports whether they did.
func (f *Freshness) Wait(ctx context.Context, pos int64, timeout time.Duration, groups ...string) (bool, error) {
	if pos <= 0 {
		return true, nil
	}
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		behind := false
		for _, g := range groups {
			w, err := f.Watermark(ctx, g)
			if err != nil {
				return false, err
			}
			if w < pos {
				behind = true
				break
			}
		}
		if !behind {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}
