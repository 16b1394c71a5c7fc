// Package clock tells the time that business rules and timed work go by:
// hold deadlines, checkout grace, expiry and payment jobs, email retries.
// Production runs on the wall clock (System). Tests run on an Offset clock
// that flows with real time and that they move forward, so a deadline
// passes when the test says so instead of when a sleep happens to end on a
// loaded machine. Infrastructure timing (leases, heartbeats, timeouts of
// calls) stays on real time: it is about processes, not about business.
package clock

import (
	"sync"
	"time"
)

// Clock is a source of business time.
type Clock interface {
	// Now is the current time, in UTC, to the millisecond: what JSON
	// clients and BSON dates keep, so decisions and stored values agree.
	Now() time.Time
	// After returns a channel that receives once d has passed on this
	// clock (at once for d <= 0).
	After(d time.Duration) <-chan time.Time
}

// System is the wall clock.
type System struct{}

// Now implements Clock.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// After implements Clock.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Offset is the wall clock shifted by an offset that Advance grows: time
// keeps flowing, and jumps forward when told to. A process whose clock is
// skewed against others' is an Offset clock too. Safe for concurrent use.
type Offset struct {
	mu     sync.Mutex
	offset time.Duration
	moved  chan struct{} // closed and replaced on every Advance
}

// NewOffset returns a clock that runs offset ahead of the wall clock
// (behind, if negative).
func NewOffset(offset time.Duration) *Offset {
	return &Offset{offset: offset, moved: make(chan struct{})}
}

// Now implements Clock.
func (c *Offset) Now() time.Time {
	c.mu.Lock()
	off := c.offset
	c.mu.Unlock()
	return time.Now().Add(off).UTC().Truncate(time.Millisecond)
}

// Advance moves the clock forward by d and wakes every After that d
// brought due.
func (c *Offset) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	close(c.moved)
	c.moved = make(chan struct{})
	c.mu.Unlock()
}

// After implements Clock: it fires when d has passed, by the flow of real
// time or by Advance, whichever comes first.
func (c *Offset) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	until := c.Now().Add(d)
	go func() {
		for {
			c.mu.Lock()
			moved := c.moved
			c.mu.Unlock()
			now := c.Now()
			left := until.Sub(now)
			if left <= 0 {
				ch <- now
				return
			}
			t := time.NewTimer(left)
			select {
			case <-t.C:
			case <-moved:
				t.Stop()
			}
		}
	}()
	return ch
}
