// Package jobs is a durable queue of delayed jobs in MongoDB, run by one
// process at a time. A saga adds jobs while it consumes events (a charge to
// make, a deadline to enforce, an email to send) and runs them for as long
// as it holds its consumer group's lease; the next holder loads what is
// left and carries on, so no job is lost to a crash or a restart.
//
// Each job is one document keyed by its id. Adding only inserts (adding an
// id that exists is a no-op), and only the runner changes or deletes a
// document, so no document has two writers even on FerretDB. Jobs must be
// idempotent: a job that ran but whose deletion was lost runs again.
//
// Round trips are shared: AddMany inserts a consumer batch's jobs with one
// command, and the runner deletes finished jobs and records failures in
// bulk writes of up to 64 statements a few milliseconds apart.
package jobs

import (
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

// Item is a job to add.
type Item[T any] struct {
	ID      string
	Due     time.Time
	Payload T
}

// Add schedules a job unless one with the same id exists (pending or
// dead). It reports whether the job is new.
func (q *Queue[T]) Add(ctx context.Context, id string, due time.Time, payload T) (bool, error) {
	n, err := q.AddMany(ctx, []Item[T]{{ID: id, Due: due, Payload: payload}})
	return n == 1, err
}

// AddMany schedules jobs with one insert command, skipping those whose id
// exists (pending or dead). It returns how many are new.
func (q *Queue[T]) AddMany(ctx context.Context, items []Item[T]) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	now := q.clock.Now().UTC()
	docs := make([]any, len(items))
	for i, it := range items {
		docs[i] = doc[T]{ID: it.ID, Due: it.Due.UTC(), Created: now, Payload: it.Payload}
	}
	dup := map[int]bool{}
	if _, err := q.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
			return 0, fmt.Errorf("jobs: add %d: %w", len(items), err)
		}
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 {
				return 0, fmt.Errorf("jobs: add %s: %w", items[we.Index].ID, err)
			}
			dup[we.Index] = true
		}
	}
	q.mu.Lock()
	r := q.run
	q.mu.Unlock()
	added := 0
	for i, d := range docs {
		if dup[i] {
			continue
		}
		added++
		if r != nil {
			r.push(d.(doc[T]))
		}
	}
	return added, nil
}

// Cancel drops the pending jobs of group (see Options.Group) that this
// process runs, except the one with id except: they will not run, and
// their documents are deleted. A job already running finishes. Without a
// runner in this process it does nothing (the jobs run, and must then do
// nothing).
func (q *Queue[T]) Cancel(group, except string) {
	q.mu.Lock()
	r := q.run
	q.mu.Unlock()
	if r == nil || group == "" {
		return
	}
	for _, id := range r.cancel(group, except) {
		r.writes.delete(id)
	}
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
