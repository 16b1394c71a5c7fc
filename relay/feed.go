package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/seatline/seatline/bus"
	"github.com/seatline/seatline/eventstore"
)

// FeedLog is what the feed reads from the log to fill gaps.
type FeedLog interface {
	Head(ctx context.Context) (int64, error)
	ReadRange(ctx context.Context, from, to int64) ([]eventstore.Commit, error)
}

// Feed gives every listener in this process every commit from a start
// position on, for in-memory views that each API instance keeps (the show
// search index, live seat maps). It listens to the bus outside any
// consumer group (each process gets its own copy) and reads from the log
// whatever the bus did not bring within a short while, so it misses
// nothing. Listeners get commits in rough position order, possibly twice;
// they must apply each stream's events by version.
type Feed struct {
	bus  *bus.Bus
	reg  *eventstore.Registry
	log  FeedLog
	logr *slog.Logger
	gap  time.Duration

	offered chan []eventstore.Commit // this process's own commits, straight from the store

	mu        sync.Mutex
	listeners []func([]eventstore.Commit)
	mark      int64              // every position up to here was applied by every listener
	seen      map[int64]struct{} // positions above mark handed to listeners
	applied   map[int64]struct{} // positions above mark the listeners are done with
	missing   time.Time          // when mark+1 was first found missing
	waiters   []waiter
}

type waiter struct {
	pos  int64
	done chan struct{}
}

// NewFeed returns a feed that starts after position from; a position the
// bus has not brought after gap (300ms) is read from the log.
func NewFeed(b *bus.Bus, reg *eventstore.Registry, log FeedLog, from int64, gap time.Duration, logger *slog.Logger) *Feed {
	if gap <= 0 {
		gap = 300 * time.Millisecond
	}
	return &Feed{bus: b, reg: reg, log: log, logr: logger, gap: gap, mark: from, offered: make(chan []eventstore.Commit, 256), seen: map[int64]struct{}{}, applied: map[int64]struct{}{}}
}

// Listen adds a listener; call it before Run.
func (f *Feed) Listen(fn func([]eventstore.Commit)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listeners = append(f.listeners, fn)
}

// Mark is the position up to which every commit was dispatched.
func (f *Feed) Mark() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mark
}

// Wait blocks until every commit up to pos was dispatched, or timeout.
func (f *Feed) Wait(ctx context.Context, pos int64, timeout time.Duration) bool {
	f.mu.Lock()
	if f.mark >= pos {
		f.mu.Unlock()
		return true
	}
	w := waiter{pos: pos, done: make(chan struct{})}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return f.Mark() >= pos
}

// Offer hands the feed commits this process wrote (a Store.OnCommit
// listener): they reach the listeners without waiting for the bus. It
// never blocks; what does not fit comes by the bus or from the log.
func (f *Feed) Offer(cs []eventstore.Commit) {
	select {
	case f.offered <- cs:
	default:
	}
}

// Run feeds listeners until ctx ends.
func (f *Feed) Run(ctx context.Context) {
	go f.fill(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case cs := <-f.offered:
				f.dispatch(cs)
			}
		}
	}()
	for ctx.Err() == nil {
		msgs, err := f.bus.SubscribeAll(ctx)
		if err != nil {
			f.logr.Warn("feed: subscribe", "err", err)
			time.Sleep(time.Second)
			continue
		}
		for m := range msgs {
			m.Ack()
			c, err := bus.Decode(f.reg, m)
			if err == nil {
				f.dispatch([]eventstore.Commit{c})
			}
		}
	}
}

// fill reads from the log the positions the bus did not bring in time.
func (f *Feed) fill(ctx context.Context) {
	t := time.NewTicker(f.gap / 3)
	defer t.Stop()
	var head int64
	lastHead := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(lastHead) > time.Second {
			if h, err := f.log.Head(ctx); err == nil {
				head, lastHead = h, time.Now()
			}
		}
		f.mu.Lock()
		mark := f.mark
		for p := range f.seen {
			head = max(head, p)
		}
		if mark >= head {
			f.missing = time.Time{}
			f.mu.Unlock()
			continue
		}
		if f.missing.IsZero() {
			f.missing = time.Now()
		}
		due := time.Since(f.missing) >= f.gap
		f.mu.Unlock()
		if !due {
			continue
		}
		cs, err := f.log.ReadRange(ctx, mark+1, min(head, mark+500))
		if err != nil {
			f.logr.Warn("feed: read the log", "err", err)
			continue
		}
		f.dispatch(cs)
	}
}

// dispatch hands commits not yet dispatched to the listeners and moves
// the mark.
func (f *Feed) dispatch(cs []eventstore.Commit) {
	f.mu.Lock()
	var fresh []eventstore.Commit
	for _, c := range cs {
		if c.Position <= f.mark {
			continue
		}
		if _, dup := f.seen[c.Position]; dup {
			continue
		}
		f.seen[c.Position] = struct{}{}
		fresh = append(fresh, c)
	}
	listeners := f.listeners
	f.mu.Unlock()
	if len(fresh) > 0 {
		for _, fn := range listeners {
			fn(fresh)
		}
	}
	f.mu.Lock()
	// The mark moves only over positions every listener is done with: a
	// reader that waited for it finds them in the views.
	for _, c := range fresh {
		f.applied[c.Position] = struct{}{}
	}
	moved := false
	for {
		if _, ok := f.applied[f.mark+1]; !ok {
			break
		}
		delete(f.seen, f.mark+1)
		delete(f.applied, f.mark+1)
		f.mark++
		moved = true
	}
	if moved {
		f.missing = time.Time{}
		kept := f.waiters[:0]
		for _, w := range f.waiters {
			if w.pos <= f.mark {
				close(w.done)
			} else {
				kept = append(kept, w)
			}
		}
		f.waiters = kept
	}
	f.mu.Unlock()
}
