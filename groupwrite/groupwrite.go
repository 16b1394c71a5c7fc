// Package groupwrite lets concurrent writers of one collection share round
// trips: documents that callers insert at about the same time go to the
// database in one unordered insert command (group commit), and each caller
// learns its own document's outcome.
//
// On FerretDB over SQLite a database is one file with one write lock: many
// concurrent single inserts into it (payment jobs recording their calls,
// the outbox recording sent emails) mostly wait for each other in SQLite's
// busy handler, which sleeps. One command for all of them holds the lock
// once.
package groupwrite

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MaxBatch is the most documents one insert command carries.
const MaxBatch = 96

// Inserter inserts documents into one collection for many goroutines.
type Inserter struct {
	coll   *mongo.Collection
	linger time.Duration

	mu      sync.Mutex
	pending []insert
	running bool
}

type insert struct {
	doc  any
	done chan error
}

// NewInserter returns an inserter into coll that waits up to linger
// (1ms if zero) for more documents before it sends a command.
func NewInserter(coll *mongo.Collection, linger time.Duration) *Inserter {
	if linger <= 0 {
		linger = time.Millisecond
	}
	return &Inserter{coll: coll, linger: linger}
}

// Insert inserts doc, sharing the command with concurrent callers. A
// document whose key exists fails with an error for which
// mongo.IsDuplicateKeyError is true. If ctx ends first, Insert returns its
// error and the document may or may not be written.
func (i *Inserter) Insert(ctx context.Context, doc any) error {
	in := insert{doc: doc, done: make(chan error, 1)}
	i.mu.Lock()
	i.pending = append(i.pending, in)
	start := !i.running
	i.running = true
	i.mu.Unlock()
	if start {
		go i.flush()
	}
	select {
	case err := <-in.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush sends what is pending, batch after batch, until nothing is.
func (i *Inserter) flush() {
	time.Sleep(i.linger)
	for {
		i.mu.Lock()
		n := min(len(i.pending), MaxBatch)
		if n == 0 {
			i.running = false
			i.mu.Unlock()
			return
		}
		batch := i.pending[:n:n]
		i.pending = i.pending[n:]
		i.mu.Unlock()
		i.write(batch)
	}
}

func (i *Inserter) write(batch []insert) {
	docs := make([]any, len(batch))
	for k, in := range batch {
		docs[k] = in.doc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := i.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	errs := make([]error, len(batch))
	var bwe mongo.BulkWriteException
	switch {
	case err == nil:
	case errors.As(err, &bwe) && bwe.WriteConcernError == nil:
		for _, we := range bwe.WriteErrors {
			if we.Index >= 0 && we.Index < len(errs) {
				errs[we.Index] = mongo.WriteException{WriteErrors: []mongo.WriteError{we.WriteError}}
			}
		}
	default:
		for k := range errs {
			errs[k] = err
		}
	}
	for k, in := range batch {
		in.done <- errs[k]
	}
}
