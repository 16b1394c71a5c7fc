package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// writeBatch is the most statements one bulk write carries (FerretDB on
// SQLite holds a pooled connection per matching statement until the
// command ends; see projections.maxUpdates).
const writeBatch = 64

// writeLinger is how long a write waits for others to share its round trip.
const writeLinger = 5 * time.Millisecond

// writer makes the runner's writes (deletions of finished jobs, records of
// failed ones) in bulk: one round trip for all that arrive within
// writeLinger, up to writeBatch. A write that fails is tried again until it
// succeeds or the runner stops (then the job runs again in the next term:
// jobs are idempotent). done(id) runs once a job's write is made.
type writer struct {
	coll *mongo.Collection
	log  *slog.Logger
	done func(id string)

	mu      sync.Mutex
	pending []write
	kick    chan struct{}
}

type write struct {
	id    string
	model mongo.WriteModel
	after func() // runs once written, before done
}

func newWriter(coll *mongo.Collection, log *slog.Logger, done func(string)) *writer {
	return &writer{coll: coll, log: log, done: done, kick: make(chan struct{}, 1)}
}

func (w *writer) delete(id string) {
	w.add(write{id: id, model: mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id}})})
}

func (w *writer) replace(id string, d any, after func()) {
	w.add(write{id: id, after: after,
		model: mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetReplacement(d).SetUpsert(true)})
}

func (w *writer) add(wr write) {
	w.mu.Lock()
	w.pending = append(w.pending, wr)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run writes until ctx ends, then makes one last attempt at what is left.
func (w *writer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			w.flush(context.Background(), false)
			return
		case <-w.kick:
		}
		t := time.NewTimer(writeLinger)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		w.flush(ctx, true)
	}
}

// flush writes what is pending, writeBatch at a time; with retry it tries a
// failed batch again until it succeeds or ctx ends.
func (w *writer) flush(ctx context.Context, retry bool) {
	for {
		w.mu.Lock()
		n := min(len(w.pending), writeBatch)
		batch := w.pending[:n:n]
		w.pending = w.pending[n:]
		w.mu.Unlock()
		if n == 0 {
			return
		}
		models := make([]mongo.WriteModel, n)
		for i, wr := range batch {
			models[i] = wr.model
		}
		for attempt := 1; ; attempt++ {
			_, err := w.coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
			if err == nil {
				break
			}
			if !retry || ctx.Err() != nil {
				w.log.Warn("jobs: writes lost; the jobs run again next term", "jobs", n, "err", err)
				for _, wr := range batch {
					w.done(wr.id)
				}
				return
			}
			w.log.Warn("jobs: bulk write failed, retrying", "jobs", n, "attempt", attempt, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(min(attempt, 10)) * 100 * time.Millisecond):
			}
		}
		for _, wr := range batch {
			w.done(wr.id)
			if wr.after != nil {
				wr.after()
			}
		}
	}
}
