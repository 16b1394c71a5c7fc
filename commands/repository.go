package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/eventstore"
)

// EventLog is what repositories need of the event store.
type EventLog interface {
	Append(ctx context.Context, stream string, expected int64, events []eventstore.Pending) (eventstore.Commit, error)
	ReadStream(ctx context.Context, stream string, after, atLeast int64) ([]eventstore.Commit, error)
	LoadSnapshot(ctx context.Context, stream string, state any) (int64, bool, error)
	SaveSnapshot(ctx context.Context, stream string, version int64, state any) error
}

// Aggregate is what repositories need of an aggregate. Decision methods
// either record events or return an error, never both.
type Aggregate[A any] interface {
	Apply(domain.Event)
	Changes() []domain.Event
	ClearChanges()
	Clone() A
}

// Result is what a command returns: the stream version after it and the
// log position of the commit that carried it (for read-your-writes).
type Result struct {
	Version  int64
	Position int64
	// FirstEvent is the index in the commit at Position of the first
	// event this command recorded (commands decided together share a
	// commit), for the causation ids of what reacts to it.
	FirstEvent int
}

// ErrBusy is returned when a command kept losing races with other
// processes for the same stream and gave up.
var ErrBusy = &domain.Error{Kind: domain.Unavailable, Code: "busy", Msg: "commands: too much contention, try again"}

// Options tune a Repository.
type Options struct {
	MaxRetries    int // decisions redone after conflicts with other processes (10)
	MaxBatch      int // commands decided into one commit (64)
	CacheSize     int // aggregates kept in memory (10000)
	SnapshotEvery int // events between snapshots (100); negative disables them
	Logger        *slog.Logger
	// Observe, OnConflict and OnBatch report each command's latency, each
	// decision redone after a concurrent append, and commands per commit
	// (metrics); the command is the Handlers method that sent it.
	Observe    func(command string, d time.Duration, err error)
	OnConflict func(command string)
	OnBatch    func(commands int)
}

func (o *Options) defaults() {
	if o.MaxRetries <= 0 {
		o.MaxRetries = 10
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	switch {
	case o.SnapshotEvery < 0:
		o.SnapshotEvery = 0 // disabled
	case o.SnapshotEvery == 0:
		o.SnapshotEvery = 100
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Snapshots tells a repository how to snapshot its aggregate.
type Snapshots[A any] struct {
	State func(A) any
	From  func(id string, decode func(state any) error) (A, error)
}

// Repository loads, caches and saves one kind of aggregate.
type Repository[A Aggregate[A]] struct {
	log    EventLog
	prefix string
	newA   func(id string) A
	snap   *Snapshots[A]
	opts   Options
	cache  *lru[A]

	mu     sync.Mutex
	queues map[string]*queue[A]
}

// NewRepository returns a repository of aggregates whose streams are
// prefix+id, created empty by newA. snap may be nil.
func NewRepository[A Aggregate[A]](log EventLog, prefix string, newA func(id string) A, snap *Snapshots[A], o Options) *Repository[A] {
	o.defaults()
	if snap == nil {
		o.SnapshotEvery = 0
	}
	return &Repository[A]{log: log, prefix: prefix, newA: newA, snap: snap, opts: o,
		cache: newLRU[A](o.CacheSize), queues: map[string]*queue[A]{}}
}

type entry[A any] struct {
	agg      A
	version  int64
	position int64 // of the stream's latest commit
	snapped  int64 // version of the latest snapshot
}

type op[A any] struct {
	decide func(A) error
	// known is a version the caller knows the stream has reached (0:
	// none). A decision that appends nothing, made on a cached state at
	// least that recent, is answered without reading the log again.
	known int64
	meta  eventstore.Metadata
	done  chan opResult
	name  string    // the command, for metrics
	start time.Time // when it was sent
}

type opResult struct {
	res Result
	err error
}

type queue[A any] struct {
	ops []*op[A]
}

// Update runs decide on the current state of aggregate id and appends what
// it records, with meta on every event. decide may run more than once (after
// conflicts) and must not have side effects. A decide that records nothing
// succeeds without a commit.
func (r *Repository[A]) Update(ctx context.Context, id string, meta eventstore.Metadata, decide func(A) error) (Result, error) {
	return r.update(ctx, id, 0, meta, decide, commandName(ctx))
}

// UpdateAt is Update for a caller that knows the stream has reached
// version known (a saga reacting to the stream's event at that version):
// a decision that appends nothing (a no-op, a refusal), made on a cached
// state at least that recent, is answered from the cache, without the read
// of the log Update makes to rule out a newer state in another process. A
// decision that appends is checked by the append's expected version as
// always. known 0 is Update.
func (r *Repository[A]) UpdateAt(ctx context.Context, id string, known int64, meta eventstore.Metadata, decide func(A) error) (Result, error) {
	return r.update(ctx, id, max(known, 0), meta, decide, commandName(ctx))
}

// Create is Update for a stream the caller has good reason to think is
// new (it has a random id): unless it is cached, it is decided on an empty
// aggregate without reading the log. The append's expected version 0
// proves that right; if the stream existed after all, the conflict reloads
// it and decides again.
func (r *Repository[A]) Create(ctx context.Context, id string, meta eventstore.Metadata, decide func(A) error) (Result, error) {
	if _, ok := r.cache.get(id); !ok {
		r.cache.put(id, &entry[A]{agg: r.newA(id)})
	}
	return r.update(ctx, id, 0, meta, decide, commandName(ctx))
}

func (r *Repository[A]) update(ctx context.Context, id string, known int64, meta eventstore.Metadata, decide func(A) error, name string) (Result, error) {
	o := &op[A]{decide: decide, known: known, meta: meta, done: make(chan opResult, 1), name: name, start: time.Now()}
	r.mu.Lock()
	q, running := r.queues[id]
	if !running {
		q = &queue[A]{}
		r.queues[id] = q
	}
	q.ops = append(q.ops, o)
	r.mu.Unlock()
	if !running {
		go r.drain(id, q)
	}
	select {
	case res := <-o.done:
		if r.opts.Observe != nil {
			r.opts.Observe(o.name, time.Since(o.start), res.err)
		}
		return res.res, res.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

type commandKey struct{}

// named returns ctx carrying the name of the command it runs, for metrics.
func named(ctx context.Context, command string) context.Context {
	return context.WithValue(ctx, commandKey{}, command)
}

// commandName is the command ctx runs ("other" if unnamed).
func commandName(ctx context.Context) string {
	if n, ok := ctx.Value(commandKey{}).(string); ok {
		return n
	}
	return "other"
}

// drain decides and commits the queued commands of one stream, batch after
// batch, until the queue is empty.
func (r *Repository[A]) drain(id string, q *queue[A]) {
	for {
		r.mu.Lock()
		n := min(len(q.ops), r.opts.MaxBatch)
		if n == 0 {
			delete(r.queues, id)
			r.mu.Unlock()
			return
		}
		batch := q.ops[:n:n]
		q.ops = q.ops[n:]
		r.mu.Unlock()
		r.commitBatch(id, batch)
	}
}

func (r *Repository[A]) commitBatch(id string, batch []*op[A]) {
	ctx := context.Background()
	stream := r.prefix + id
	e, err := r.current(ctx, id)
	if err != nil {
		finish(batch, opResult{err: err})
		return
	}
	// fresh: e is recent enough for decisions that append nothing (read
	// from the log during this batch, or as recent as every command
	// knows the stream to be).
	fresh := true
	for _, o := range batch {
		fresh = fresh && o.known > 0 && e.version >= o.known
	}
	for attempt := 0; ; attempt++ {
		work, errs, pending, first := r.decideAll(e, batch)
		if !fresh && len(pending) == 0 {
			// Decisions that append nothing (refusals, no-ops) were made on
			// the cached state, which another process may have moved on
			// from (a hold this process never saw): an append would catch
			// that by its expected version, nothing else does. Decide again
			// on the log's latest before answering.
			fresh = true
			latest, err := r.catchUp(ctx, id, e, 0)
			if err != nil {
				finish(batch, opResult{err: err})
				return
			}
			if latest.version != e.version {
				e = latest
				continue
			}
		}
		if len(pending) == 0 {
			for i, o := range batch {
				o.done <- opResult{res: Result{Version: e.version, Position: e.position}, err: errs[i]}
			}
			return
		}
		c, err := r.log.Append(ctx, stream, e.version, pending)
		if err == nil && r.opts.OnBatch != nil {
			r.opts.OnBatch(len(batch))
		}
		if err == nil {
			work.ClearChanges()
			next := &entry[A]{agg: work, version: c.Version, position: c.Position, snapped: e.snapped}
			r.cache.put(id, next)
			r.maybeSnapshot(stream, next)
			for i, o := range batch {
				o.done <- opResult{res: Result{Version: c.Version, Position: c.Position, FirstEvent: first[i]}, err: errs[i]}
			}
			return
		}
		if !errors.Is(err, eventstore.ErrConcurrency) {
			r.cache.remove(id) // the outcome is unknown: reload next time
			finish(batch, opResult{err: fmt.Errorf("append %s: %w", stream, err)})
			return
		}
		if attempt >= r.opts.MaxRetries {
			r.cache.remove(id)
			finish(batch, opResult{err: ErrBusy})
			return
		}
		// Another process appended first: catch up and decide again.
		if r.opts.OnConflict != nil {
			for _, o := range batch {
				r.opts.OnConflict(o.name)
			}
		}
		if e, err = r.catchUp(ctx, id, e, e.version+1); err != nil {
			finish(batch, opResult{err: err})
			return
		}
		fresh = true
	}
}

// decideAll runs every command of the batch on a copy of e's state. A
// command that fails leaves the copy as the commands before it left it.
// first[i] is where command i's events start among the pending ones.
func (r *Repository[A]) decideAll(e *entry[A], batch []*op[A]) (A, []error, []eventstore.Pending, []int) {
	work := e.agg.Clone()
	errs := make([]error, len(batch))
	first := make([]int, len(batch))
	var pending []eventstore.Pending
	for i, o := range batch {
		first[i] = len(pending)
		before := len(work.Changes())
		if errs[i] = o.decide(work); errs[i] != nil {
			if len(work.Changes()) != before { // a decide broke the record-or-fail rule
				work = e.agg.Clone()
				for _, p := range pending {
					work.Apply(p.Event)
				}
			}
			continue
		}
		for _, ev := range work.Changes()[before:] {
			pending = append(pending, eventstore.Pending{Event: ev, Meta: o.meta})
		}
	}
	return work, errs, pending, first
}

func finish[A any](batch []*op[A], res opResult) {
	for _, o := range batch {
		o.done <- res
	}
}

// LoadAt returns a copy of aggregate id at version known or later, and its
// version: the cached state if it is that recent (no read), else the log's
// latest. A caller reacting to the stream's event at version v passes v
// and gets a state at least as new as that event. known 0 accepts any
// cached state of a stream that exists (for details that may lag a
// little, such as a title in an email).
func (r *Repository[A]) LoadAt(ctx context.Context, id string, known int64) (A, int64, error) {
	if e, ok := r.cache.get(id); ok && e.version >= max(known, 1) {
		return e.agg.Clone(), e.version, nil
	}
	e, err := r.current(ctx, id)
	if err != nil {
		var zero A
		return zero, 0, err
	}
	if e.version < known { // current read the log, but a link may be missing
		if e, err = r.catchUp(ctx, id, e, known); err != nil {
			var zero A
			return zero, 0, err
		}
	}
	return e.agg.Clone(), e.version, nil
}

// ViewAt is LoadAt without the copy: it calls fn with the state itself,
// which fn must only read and not keep (cached states are replaced, never
// changed, so reading one races with nothing). Copying a show of
// thousands of seats to read its title is most of the cost of an email.
func (r *Repository[A]) ViewAt(ctx context.Context, id string, known int64, fn func(A)) error {
	if e, ok := r.cache.get(id); ok && e.version >= max(known, 1) {
		fn(e.agg)
		return nil
	}
	a, _, err := r.LoadAt(ctx, id, known)
	if err == nil {
		fn(a)
	}
	return err
}

// Load returns a copy of the current state of aggregate id and its version
// (0 if it has no events), caught up with the log.
func (r *Repository[A]) Load(ctx context.Context, id string) (A, int64, error) {
	e, err := r.current(ctx, id)
	if err != nil {
		var zero A
		return zero, 0, err
	}
	e, err = r.catchUp(ctx, id, e, 0)
	if err != nil {
		var zero A
		return zero, 0, err
	}
	return e.agg.Clone(), e.version, nil
}

// current returns the cached entry, or loads it from snapshot and log.
func (r *Repository[A]) current(ctx context.Context, id string) (*entry[A], error) {
	if e, ok := r.cache.get(id); ok {
		return e, nil
	}
	stream := r.prefix + id
	e := &entry[A]{agg: r.newA(id)}
	if r.snap != nil {
		var raw json.RawMessage
		v, ok, err := r.log.LoadSnapshot(ctx, stream, &raw)
		if err != nil {
			r.opts.Logger.Warn("commands: snapshot unreadable; loading from the log", "stream", stream, "err", err)
		} else if ok {
			agg, err := r.snap.From(id, func(state any) error { return json.Unmarshal(raw, state) })
			if err != nil {
				r.opts.Logger.Warn("commands: snapshot undecodable; loading from the log", "stream", stream, "err", err)
			} else {
				e = &entry[A]{agg: agg, version: v, snapped: v}
			}
		}
	}
	e, err := r.catchUp(ctx, id, e, 0)
	if err != nil {
		return nil, err
	}
	r.cache.put(id, e)
	return e, nil
}

// catchUp applies commits after e's version to a copy of e, reading at
// least up to version atLeast.
func (r *Repository[A]) catchUp(ctx context.Context, id string, e *entry[A], atLeast int64) (*entry[A], error) {
	commits, err := r.log.ReadStream(ctx, r.prefix+id, e.version, atLeast)
	if err != nil {
		return nil, err
	}
	if len(commits) == 0 {
		return e, nil
	}
	next := &entry[A]{agg: e.agg.Clone(), version: e.version, position: e.position, snapped: e.snapped}
	for _, c := range commits {
		for _, ev := range c.Events {
			next.agg.Apply(ev.Event)
		}
		next.version, next.position = c.Version, c.Position
	}
	r.cache.put(id, next)
	return next, nil
}

func (r *Repository[A]) maybeSnapshot(stream string, e *entry[A]) {
	if r.opts.SnapshotEvery == 0 || e.version-e.snapped < int64(r.opts.SnapshotEvery) {
		return
	}
	e.snapped = e.version
	state, version := r.snap.State(e.agg), e.version
	go func() {
		if err := r.log.SaveSnapshot(context.Background(), stream, version, state); err != nil {
			r.opts.Logger.Warn("commands: snapshot failed", "stream", stream, "err", err)
		}
	}()
}
