package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Memory is an event store held in process memory, for tests and tools that
// need the event store without MongoDB: unit tests of command handlers,
// sagas and the relay. It is not durable: the log dies with the value.
//
// It keeps the contract of Store, and runs the same contract suite: one
// commit per Append at the next gap-free position from 1, ErrConcurrency
// when the expected stream version is already taken, ErrClosed after Close,
// events encoded and decoded through the Registry (an unknown event fails
// the same way, upcasters run on every read), and OnCommit listeners called
// with every commit in position order before its Append returns. A listener
// may read the store but, as with Store, must not append to it.
//
// It is stricter than Store in one way: an append must name the stream's
// current version exactly. Store only refuses a version at which a commit
// of the stream starts, so it accepts a version inside the last commit (the
// stream then overlaps itself) or above the end (the stream has a hole);
// Memory refuses the first with ErrConcurrency and the second with a plain
// error. Memory is safe for concurrent use.
type Memory struct {
	reg *Registry
	now func() time.Time

	mu        sync.Mutex
	log       []commitDoc      // log[p-1] is the commit at position p
	versions  map[string]int64 // stream → current version
	starts    map[string]int64 // linkID(stream, base) → position
	snaps     map[string]memorySnapshot
	listeners []func([]Commit)
	closed    bool

	// turn hands out listener turns in position order: delivered is the
	// position whose listeners have all run. It is separate from mu so
	// that listeners run with mu unlocked.
	turn      *sync.Cond
	delivered int64
}

type memorySnapshot struct {
	version int64
	data    []byte
}

// NewMemory returns an empty in-memory store that encodes and decodes with
// reg and stamps commits with now (time.Now if nil).
func NewMemory(reg *Registry, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		reg: reg, now: now,
		versions: map[string]int64{}, starts: map[string]int64{}, snaps: map[string]memorySnapshot{},
		turn: sync.NewCond(&sync.Mutex{}),
	}
}

// Close makes later appends fail with ErrClosed. Reads go on working.
func (m *Memory) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
}

// Registry returns the registry the store encodes and decodes with.
func (m *Memory) Registry() *Registry { return m.reg }

// OnCommit registers fn to receive every later commit, one at a time, in
// position order, before the Append that made it returns. fn must not
// block or append to the store.
func (m *Memory) OnCommit(fn func([]Commit)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listeners = append(m.listeners, fn)
}

// KnownHead returns the position of the latest commit.
func (m *Memory) KnownHead() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.log))
}

// Head returns the position of the latest commit.
func (m *Memory) Head(context.Context) (int64, error) { return m.KnownHead(), nil }

// Append commits events to a stream whose current version the caller
// expects to be expected (0 for a new stream). It returns ErrConcurrency if
// another commit got there first. All events are committed or none.
func (m *Memory) Append(ctx context.Context, stream string, expected int64, events []Pending) (Commit, error) {
	if !ValidStreamID(stream) {
		return Commit{}, fmt.Errorf("eventstore: invalid stream id %q", stream)
	}
	if expected < 0 || len(events) == 0 {
		return Commit{}, fmt.Errorf("eventstore: append to %s needs events and a version >= 0", stream)
	}
	doc := commitDoc{StreamID: stream, Base: expected, CommitID: newCommitID(), Events: make([]eventDoc, len(events))}
	for i, e := range events {
		name, data, err := m.reg.Encode(e.Event)
		if err != nil {
			return Commit{}, err
		}
		doc.Events[i] = eventDoc{Name: name, Data: string(data),
			Correlation: e.Meta.CorrelationID, Causation: e.Meta.CausationID, Actor: e.Meta.Actor}
	}
	if err := ctx.Err(); err != nil {
		return Commit{}, err
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Commit{}, ErrClosed
	}
	if cur := m.versions[stream]; expected != cur {
		m.mu.Unlock()
		if expected < cur {
			return Commit{}, fmt.Errorf("%w: %s at version %d", ErrConcurrency, stream, expected)
		}
		return Commit{}, fmt.Errorf("eventstore: append to %s at version %d, but the stream is at version %d", stream, expected, cur)
	}
	doc.Position = int64(len(m.log)) + 1
	doc.ID = positionID(doc.Position)
	doc.Time = m.now().UTC().Truncate(time.Millisecond)
	c, err := m.reg.decodeCommit(doc)
	if err != nil { // an upcaster refused what Encode wrote: commit nothing
		m.mu.Unlock()
		return Commit{}, err
	}
	m.log = append(m.log, doc)
	m.versions[stream] = c.Version
	m.starts[linkID(stream, expected)] = doc.Position
	listeners := m.listeners
	m.mu.Unlock()

	m.deliver(c, listeners)
	return c, nil
}

// deliver waits for the listeners of the commit before c to finish, then
// runs the listeners of c.
func (m *Memory) deliver(c Commit, listeners []func([]Commit)) {
	m.turn.L.Lock()
	for m.delivered != c.Position-1 {
		m.turn.Wait()
	}
	m.turn.L.Unlock()
	defer func() {
		m.turn.L.Lock()
		m.delivered = c.Position
		m.turn.L.Unlock()
		m.turn.Broadcast()
	}()
	for _, fn := range listeners {
		fn([]Commit{c})
	}
}

// ReadStream returns the commits of a stream after version after, in
// version order. It fails if the stream ends below version atLeast.
func (m *Memory) ReadStream(_ context.Context, stream string, after, atLeast int64) ([]Commit, error) {
	m.mu.Lock()
	var docs []commitDoc
	v := after
	for {
		p, ok := m.starts[linkID(stream, v)]
		if !ok {
			break
		}
		d := m.log[p-1]
		docs = append(docs, d)
		v = d.Base + int64(len(d.Events))
	}
	m.mu.Unlock()
	if v < atLeast {
		return nil, fmt.Errorf("eventstore: %s has no commit at version %d though %d was expected", stream, v, atLeast)
	}
	return m.decode(docs)
}

// ReadCommit returns the commit at a position, or ErrNotFound.
func (m *Memory) ReadCommit(_ context.Context, pos int64) (Commit, error) {
	m.mu.Lock()
	if pos < 1 || pos > int64(len(m.log)) {
		m.mu.Unlock()
		return Commit{}, fmt.Errorf("%w: position %d", ErrNotFound, pos)
	}
	d := m.log[pos-1]
	m.mu.Unlock()
	return m.reg.decodeCommit(d)
}

// ReadRange returns the commits at positions from..to (inclusive) that
// exist, in position order.
func (m *Memory) ReadRange(_ context.Context, from, to int64) ([]Commit, error) {
	m.mu.Lock()
	from, to = max(from, 1), min(to, int64(len(m.log)))
	var docs []commitDoc
	if from <= to {
		docs = m.log[from-1 : to]
	}
	m.mu.Unlock()
	return m.decode(docs)
}

// Scan calls fn for every commit after position after, in position order,
// up to the head when Scan started.
func (m *Memory) Scan(ctx context.Context, after int64, fn func(Commit) error) error {
	m.mu.Lock()
	docs := m.log[min(max(after, 0), int64(len(m.log))):]
	m.mu.Unlock()
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := m.reg.decodeCommit(d)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// decode decodes stored commits; the log is append-only, so docs may be a
// slice of it read without the lock.
func (m *Memory) decode(docs []commitDoc) ([]Commit, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	out := make([]Commit, len(docs))
	for i, d := range docs {
		c, err := m.reg.decodeCommit(d)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// SaveSnapshot stores state, encoded as JSON, as the snapshot of stream at
// version, replacing any earlier one.
func (m *Memory) SaveSnapshot(_ context.Context, stream string, version int64, state any) error {
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("eventstore: encode snapshot of %s: %w", stream, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snaps[stream] = memorySnapshot{version: version, data: data}
	return nil
}

// LoadSnapshot decodes the latest snapshot of stream into state and returns
// its version, or 0 and false if there is none.
func (m *Memory) LoadSnapshot(_ context.Context, stream string, state any) (int64, bool, error) {
	m.mu.Lock()
	s, ok := m.snaps[stream]
	m.mu.Unlock()
	if !ok {
		return 0, false, nil
	}
	if err := json.Unmarshal(s.data, state); err != nil {
		return 0, false, fmt.Errorf("eventstore: decode snapshot of %s: %w", stream, err)
	}
	return s.version, true, nil
}
