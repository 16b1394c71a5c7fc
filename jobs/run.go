package jobs

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Options tune Run.
type Options struct {
	Workers     int                             // jobs run at once (4)
	MaxWait     time.Duration                   // longest sleep between checks for due jobs (1s)
	MaxAttempts int                             // failed runs before a job is dead (10)
	Backoff     func(attempt int) time.Duration // wait after a failed run (1s doubling, at most 5m)
	// Rescan reloads the collection this often, for jobs that other
	// processes added (0: only at the start of the term).
	Rescan time.Duration
	// Group, if set, names the group a job belongs to (a booking), for
	// Cancel.
	Group func(payload any) string
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxWait <= 0 {
		o.MaxWait = time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff == nil {
		o.Backoff = func(a int) time.Duration {
			d := time.Second << min(a-1, 9)
			return min(d, 5*time.Minute)
		}
	}
}

// Run runs due jobs with fn until ctx ends. Only one Run per queue may be
// active in a process; across processes a lease must ensure it.
func (q *Queue[T]) Run(ctx context.Context, o Options, fn func(ctx context.Context, j Job[T]) error) error {
	o.defaults()
	r := &runState[T]{known: map[string]bool{}, cancelled: map[string]bool{}, groups: map[string]map[string]bool{},
		wake: make(chan struct{}, 1), group: o.Group}
	r.writes = newWriter(q.coll, q.log, r.forget)
	q.mu.Lock()
	if q.run != nil {
		q.mu.Unlock()
		return errors.New("jobs: queue already running")
	}
	q.run = r
	q.mu.Unlock()
	var wg sync.WaitGroup
	wctx, stopWrites := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		r.writes.run(wctx)
	}()
	defer func() {
		wg.Wait()
		q.mu.Lock()
		q.run = nil
		q.mu.Unlock()
		stopWrites() // flushes what the jobs queued
		<-writerDone
	}()
	if err := q.load(ctx, r); err != nil {
		return err
	}
	sem := make(chan struct{}, o.Workers)
	lastScan := q.clock.Now()
	for {
		now := q.clock.Now()
		if o.Rescan > 0 && now.Sub(lastScan) >= o.Rescan {
			lastScan = now
			if err := q.load(ctx, r); err != nil && ctx.Err() == nil {
				q.log.Warn("jobs: rescan", "err", err)
			}
		}
		for {
			d, ok := r.popDue(now)
			if !ok {
				break
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			wg.Add(1)
			go func(d doc[T]) {
				defer func() { <-sem; wg.Done() }()
				q.runOne(ctx, r, o, d, fn)
			}(d)
		}
		wait := o.MaxWait
		if o.Rescan > 0 {
			wait = min(wait, o.Rescan)
		}
		if next, ok := r.nextDue(); ok {
			wait = min(wait, max(next.Sub(q.clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-q.clock.After(wait):
		}
	}
}

func (q *Queue[T]) load(ctx context.Context, r *runState[T]) error {
	cur, err := q.coll.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("jobs: load: %w", err)
	}
	var docs []doc[T]
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("jobs: load: %w", err)
	}
	for _, d := range docs {
		if !d.Dead {
			r.push(d)
		}
	}
	return nil
}

// runOne runs a job and queues what it left to write: its deletion when
// done, its next try or death when it failed. The job stays known (so it
// is not loaded again by a rescan) until that write is made.
func (q *Queue[T]) runOne(ctx context.Context, r *runState[T], o Options, d doc[T], fn func(context.Context, Job[T]) error) {
	err := fn(ctx, Job[T]{ID: d.ID, Due: d.Due, Attempts: d.Attempts, Payload: d.Payload})
	if ctx.Err() != nil {
		r.forget(d.ID) // the term ended; the next holder runs it again
		return
	}
	if err == nil {
		r.writes.delete(d.ID)
		return
	}
	d.Attempts++
	d.LastError = err.Error()
	var perm permanentError
	if errors.As(err, &perm) || d.Attempts >= o.MaxAttempts {
		d.Dead = true
		q.log.Error("jobs: job is dead", "job", d.ID, "attempts", d.Attempts, "err", err)
	} else {
		d.Due = q.clock.Now().Add(o.Backoff(d.Attempts)).UTC()
		q.log.Warn("jobs: job failed, will retry", "job", d.ID, "attempts", d.Attempts, "due", d.Due, "err", err)
	}
	r.writes.replace(d.ID, d, func() {
		if !d.Dead {
			r.push(d)
		}
	})
}

// Stats describe a queue for monitoring.
type Stats struct {
	Pending   int       `json:"pending"`
	Dead      int       `json:"dead"`
	OldestDue time.Time `json:"oldest_due,omitzero"`
}

// runState is the in-memory schedule of a running queue.
type runState[T any] struct {
	mu        sync.Mutex
	h         docHeap[T]
	known     map[string]bool // queued, running, or waiting for its write
	cancelled map[string]bool // queued jobs to skip
	groups    map[string]map[string]bool
	group     func(any) string
	wake      chan struct{}
	writes    *writer
}

func (r *runState[T]) push(d doc[T]) {
	r.mu.Lock()
	if r.known[d.ID] {
		r.mu.Unlock()
		return
	}
	r.known[d.ID] = true
	delete(r.cancelled, d.ID)
	if r.group != nil {
		if g := r.group(d.Payload); g != "" {
			if r.groups[g] == nil {
				r.groups[g] = map[string]bool{}
			}
			r.groups[g][d.ID] = true
		}
	}
	heap.Push(&r.h, d)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runState[T]) popDue(now time.Time) (doc[T], bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.h) > 0 && !r.h[0].Due.After(now) {
		d := heap.Pop(&r.h).(doc[T])
		r.ungroup(d)
		if r.cancelled[d.ID] {
			delete(r.cancelled, d.ID)
			continue // its deletion is queued; it stays known until written
		}
		return d, true
	}
	return doc[T]{}, false
}

// cancel marks the queued jobs of group, but except, not to run, and
// returns their ids.
func (r *runState[T]) cancel(group, except string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id := range r.groups[group] {
		if id != except && !r.cancelled[id] {
			r.cancelled[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (r *runState[T]) ungroup(d doc[T]) {
	if r.group == nil {
		return
	}
	if g := r.group(d.Payload); g != "" {
		delete(r.groups[g], d.ID)
		if len(r.groups[g]) == 0 {
			delete(r.groups, g)
		}
	}
}

func (r *runState[T]) nextDue() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.h) > 0 && r.cancelled[r.h[0].ID] { // cancelled: never due
		d := heap.Pop(&r.h).(doc[T])
		r.ungroup(d)
		delete(r.cancelled, d.ID)
	}
	if len(r.h) == 0 {
		return time.Time{}, false
	}
	return r.h[0].Due, true
}

func (r *runState[T]) forget(id string) {
	r.mu.Lock()
	delete(r.known, id)
	r.mu.Unlock()
}

type docHeap[T any] []doc[T]

func (h docHeap[T]) Len() int           { return len(h) }
func (h docHeap[T]) Less(i, j int) bool { return h[i].Due.Before(h[j].Due) }
func (h docHeap[T]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *docHeap[T]) Push(x any)        { *h = append(*h, x.(doc[T])) }
func (h *docHeap[T]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
