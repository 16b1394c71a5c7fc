// Package jobs is a durable queue of delayed jobs in MongoDB, run by one
// process at a time. A saga adds jobs while it consumes events (a charge to
// make, a deadline to enforce, an email to send) and runs them for as long
// as it holds its consumer group's lease; the next holder loads what is
// left and carries on, so no job is lost to a crash or a restart.
//
// Each job is one document keyed by its id. Add only inserts (adding an id
// that exists is a no-op), and only the runner changes or deletes a
// document, so no document has two writers even on FerretDB. Jobs must be
// idempotent: a job that ran but whose deletion was lost runs again.
package jobs

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/clock"
)

// Job is one unit of work.
type Job[T any] struct {
	ID       string
	Due      time.Time
	Attempts int // failed runs so far
	Payload  T
}

type doc[T any] struct {
	ID        string    `bson:"_id"`
	Due       time.Time `bson:"due"`
	Attempts  int       `bson:"attempts"`
	LastError string    `bson:"last_error,omitempty"`
	Dead      bool      `bson:"dead,omitempty"`
	Created   time.Time `bson:"created"`
	Payload   T         `bson:"payload"`
}

// Permanent wraps an error that retrying cannot fix: the job is marked
// dead at once.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// Queue is a durable job queue in one collection.
type Queue[T any] struct {
	coll  *mongo.Collection
	log   *slog.Logger
	clock clock.Clock

	mu  sync.Mutex
	run *runState[T]
}

// New returns a queue stored in coll whose jobs fall due by clk (nil: the
// wall clock).
func New[T any](coll *mongo.Collection, clk clock.Clock, log *slog.Logger) *Queue[T] {
	if log == nil {
		log = slog.Default()
	}
	if clk == nil {
		clk = clock.System{}
	}
	return &Queue[T]{coll: coll, log: log, clock: clk}
}

// Add schedules a job unless one with the same id exists (pending or
// dead). It reports whether the job is new.
func (q *Queue[T]) Add(ctx context.Context, id string, due time.Time, payload T) (bool, error) {
	d := doc[T]{ID: id, Due: due.UTC(), Created: q.clock.Now().UTC(), Payload: payload}
	if _, err := q.coll.InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		return false, fmt.Errorf("jobs: add %s: %w", id, err)
	}
	q.mu.Lock()
	r := q.run
	q.mu.Unlock()
	if r != nil {
		r.push(d)
	}
	return true, nil
}

// Options tune Run.
type Options struct {
	Workers     int                             // jobs run at once (4)
	MaxWait     time.Duration                   // longest sleep between checks for due jobs (1s)
	MaxAttempts int                             // failed runs before a job is dead (10)
	Backoff     func(attempt int) time.Duration // wait after a failed run (1s doubling, at most 5m)
	// Rescan reloads the collection this often, for jobs that other
	// processes added (0: only at the start of the term).
	Rescan time.Duration
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
	r := &runState[T]{known: map[string]bool{}, wake: make(chan struct{}, 1)}
	q.mu.Lock()
	if q.run != nil {
		q.mu.Unlock()
		return errors.New("jobs: queue already running")
	}
	q.run = r
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.run = nil
		q.mu.Unlock()
	}()
	if err := q.load(ctx, r); err != nil {
		return err
	}
	sem := make(chan struct{}, o.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
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

func (q *Queue[T]) runOne(ctx context.Context, r *runState[T], o Options, d doc[T], fn func(context.Context, Job[T]) error) {
	err := fn(ctx, Job[T]{ID: d.ID, Due: d.Due, Attempts: d.Attempts, Payload: d.Payload})
	if ctx.Err() != nil {
		return // the term ended; the next holder runs it again
	}
	if err == nil {
		for attempt := 0; ; attempt++ {
			_, derr := q.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}})
			if derr == nil || ctx.Err() != nil {
				break
			}
			q.log.Warn("jobs: delete done job", "job", d.ID, "err", derr)
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
		}
		r.forget(d.ID)
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
	if _, werr := q.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true)); werr != nil {
		q.log.Warn("jobs: record failure", "job", d.ID, "err", werr)
	}
	r.forget(d.ID)
	if !d.Dead {
		r.push(d)
	}
}

// Stats describe a queue for monitoring.
type Stats struct {
	Pending   int       `json:"pending"`
	Dead      int       `json:"dead"`
	OldestDue time.Time `json:"oldest_due,omitzero"`
}

// Stats counts the queue's jobs (a scan: for admin pages, not hot paths).
func (q *Queue[T]) Stats(ctx context.Context) (Stats, error) {
	cur, err := q.coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "due", Value: 1}, {Key: "dead", Value: 1}}))
	if err != nil {
		return Stats{}, err
	}
	var docs []struct {
		Due  time.Time `bson:"due"`
		Dead bool      `bson:"dead"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return Stats{}, err
	}
	var s Stats
	for _, d := range docs {
		if d.Dead {
			s.Dead++
			continue
		}
		s.Pending++
		if s.OldestDue.IsZero() || d.Due.Before(s.OldestDue) {
			s.OldestDue = d.Due
		}
	}
	return s, nil
}

// runState is the in-memory schedule of a running queue.
type runState[T any] struct {
	mu    sync.Mutex
	h     docHeap[T]
	known map[string]bool // queued or running
	wake  chan struct{}
}

func (r *runState[T]) push(d doc[T]) {
	r.mu.Lock()
	if r.known[d.ID] {
		r.mu.Unlock()
		return
	}
	r.known[d.ID] = true
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
	if len(r.h) == 0 || r.h[0].Due.After(now) {
		return doc[T]{}, false
	}
	return heap.Pop(&r.h).(doc[T]), true
}

func (r *runState[T]) nextDue() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
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
