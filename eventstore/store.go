package eventstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collection names.
const (
	CommitsCollection   = "commits"
	LinksCollection     = "stream_links"
	SnapshotsCollection = "snapshots"
)

// Options tune a Store. Zero values take defaults.
type Options struct {
	// MaxBatch is the most commits one group-commit InsertMany carries
	// (default and maximum 96). FerretDB v1 splits inserts into sub-batches
	// of 100 documents and, after a duplicate key in one sub-batch, goes on
	// with the next one, which would break the ordered-insert semantics the
	// gap-free log relies on. Staying under 100 keeps one sub-batch.
	MaxBatch int
	// Now is the clock that stamps commits (time.Now).
	Now func() time.Time
	// Logger receives warnings about retries and repairs.
	Logger *slog.Logger
	// OpTimeout bounds each database call of the writer (10s).
	OpTimeout time.Duration
	// Snapshots is the database of the snapshots collection (the log's
	// when nil). Apart from the log, a snapshot of a big aggregate never
	// holds the lock the group commit needs on SQLite.
	Snapshots *mongo.Database
	// OnWrite, if set, is told how long each group commit took (inserting
	// the commits and their links) and how many commits it wrote.
	OnWrite func(commits int, d time.Duration)
}

func (o *Options) defaults() {
	if o.MaxBatch <= 0 || o.MaxBatch > 96 {
		o.MaxBatch = 96
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 10 * time.Second
	}
}

// Store is the MongoDB event store. It is safe for concurrent use, and any
// number of Stores (in any number of processes) may share one database.
type Store struct {
	commits, links, snaps *mongo.Collection
	reg                   *Registry
	opts                  Options

	head atomic.Int64 // highest position known to exist

	reqs      chan *appendReq
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once

	mu        sync.RWMutex
	listeners []func([]Commit)
}

// Open prepares the collections and indexes, finds the head of the log and
// starts the group-commit writer. Close stops it.
func Open(ctx context.Context, db *mongo.Database, reg *Registry, opts Options) (*Store, error) {
	opts.defaults()
	s := &Store{
		commits: db.Collection(CommitsCollection),
		links:   db.Collection(LinksCollection),
		snaps:   cmp.Or(opts.Snapshots, db).Collection(SnapshotsCollection),
		reg:     reg,
		opts:    opts,
		reqs:    make(chan *appendReq, 4*opts.MaxBatch),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	_, err := s.commits.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "stream_id", Value: 1}, {Key: "base", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("stream_base"),
	})
	if err != nil {
		return nil, fmt.Errorf("eventstore: create index: %w", err)
	}
	if _, err := s.Head(ctx); err != nil {
		return nil, err
	}
	go s.writeLoop()
	return s, nil
}

// Close stops the writer after the appends already queued.
func (s *Store) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.stopped
}

// Registry returns the registry the store decodes with.
func (s *Store) Registry() *Registry { return s.reg }

// OnCommit registers fn to receive, in position order, every batch of
// commits this Store has written. fn runs on the writer goroutine and must
// not block.
func (s *Store) OnCommit(fn func([]Commit)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// KnownHead returns the highest position this Store knows to exist, without
// asking the database.
func (s *Store) KnownHead() int64 { return s.head.Load() }

// Head returns the position of the latest commit in the log, asking the
// database for commits other writers made since the last look.
func (s *Store) Head(ctx context.Context) (int64, error) {
	h, err := s.probeForward(ctx, s.head.Load())
	if err != nil {
		return 0, err
	}
	s.raiseHead(h)
	return s.head.Load(), nil
}

func (s *Store) raiseHead(h int64) {
	for {
		cur := s.head.Load()
		if h <= cur || s.head.CompareAndSwap(cur, h) {
			return
		}
	}
}

// probeForward finds the last existing position at or after known (which
// must exist, or be 0) using _id lookups only: it doubles the step until it
// misses, then bisects. This relies on the log having no gaps.
func (s *Store) probeForward(ctx context.Context, known int64) (int64, error) {
	lo, step := known, int64(1)
	var hi int64
	for {
		ok, err := s.exists(ctx, lo+step)
		if err != nil {
			return 0, err
		}
		if !ok {
			hi = lo + step
			break
		}
		lo += step
		step *= 2
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := s.exists(ctx, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

func (s *Store) exists(ctx context.Context, pos int64) (bool, error) {
	err := s.commits.FindOne(ctx, bson.D{{Key: "_id", Value: positionID(pos)}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("eventstore: probe %d: %w", pos, err)
	}
	return true, nil
}

// Append commits events to a stream whose current version the caller
// expects to be expected (0 for a new stream). It returns ErrConcurrency if
// another commit got there first. All events are committed or none.
//
// If ctx ends while the append is queued or in flight, Append returns the
// context's error and the commit may or may not have happened.
func (s *Store) Append(ctx context.Context, stream string, expected int64, events []Pending) (Commit, error) {
	if !ValidStreamID(stream) {
		return Commit{}, fmt.Errorf("eventstore: invalid stream id %q", stream)
	}
	if expected < 0 || len(events) == 0 {
		return Commit{}, fmt.Errorf("eventstore: append to %s needs events and a version >= 0", stream)
	}
	doc := commitDoc{
		StreamID: stream, Base: expected, CommitID: newCommitID(), Time: s.opts.Now().UTC().Truncate(time.Millisecond),
		Events: make([]eventDoc, len(events)),
	}
	for i, e := range events {
		name, data, err := s.reg.Encode(e.Event)
		if err != nil {
			return Commit{}, err
		}
		doc.Events[i] = eventDoc{Name: name, Data: string(data),
			Correlation: e.Meta.CorrelationID, Causation: e.Meta.CausationID, Actor: e.Meta.Actor}
	}
	req := &appendReq{doc: doc, done: make(chan appendResult, 1)}
	select { // closed: refuse at once (below, a free queue slot could win the race)
	case <-s.stop:
		return Commit{}, ErrClosed
	default:
	}
	select {
	case s.reqs <- req:
	case <-s.stop:
		return Commit{}, ErrClosed
	case <-ctx.Done():
		return Commit{}, ctx.Err()
	}
	select {
	case r := <-req.done:
		if r.err != nil {
			return Commit{}, r.err
		}
		return r.commit, nil
	case <-ctx.Done():
		return Commit{}, ctx.Err()
	}
}

func newCommitID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
