package projections

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seatline/seatline/eventstore"
)

// liveDocs keeps in memory the read-model documents of the streams this
// process was asked about, folded from every commit of the process's feed,
// so that the hottest reads of a sale (everyone looking at the same seat
// map, every customer polling their booking) cost no database round trip.
// A document is loaded the first time it is asked for: its stored version,
// then the rest of its stream from the log; from then on the feed keeps
// it current, reading from the log any commit the feed handed over out of
// order.
//
// A reader that waited for the feed to reach a position (Feed.Wait) finds
// every commit up to it in these documents: the feed moves its mark only
// once its listeners are done with a commit.
type liveDocs[D any, PD interface {
	*D
	headed
}] struct {
	prefix string
	// adopt keeps a stream's document from its first commit on, without
	// a load: a new booking is read by its customer moments later.
	adopt  bool
	apply  func(PD, eventstore.Commit, eventstore.Event)
	clone  func(PD) PD // a copy apply may change without the original changing
	stored func(ctx context.Context, id string) (D, bool, error)
	log    StreamReader
	max    int

	applying sync.Mutex // one Apply at a time: folds of a stream never race

	mu      sync.Mutex
	docs    map[string]*liveDoc[PD]
	loading map[string]*loadingDoc
}

type liveDoc[PD any] struct {
	doc  PD // replaced, never changed in place: readers may hold it
	used time.Time
}

// loadingDoc collects the commits the feed brings for a stream while its
// document is being loaded; done is closed when the load ended.
type loadingDoc struct {
	commits []eventstore.Commit
	done    chan struct{}
}

func newLiveDocs[D any, PD interface {
	*D
	headed
}](prefix string, apply func(PD, eventstore.Commit, eventstore.Event), clone func(PD) PD,
	stored func(context.Context, string) (D, bool, error), log StreamReader, max int) *liveDocs[D, PD] {
	if max <= 0 {
		max = 1000
	}
	return &liveDocs[D, PD]{prefix: prefix, apply: apply, clone: clone, stored: stored, log: log, max: max,
		docs: map[string]*liveDoc[PD]{}, loading: map[string]*loadingDoc{}}
}

// Apply takes commits from the feed (any order, duplicates allowed).
func (l *liveDocs[D, PD]) Apply(ctx context.Context, commits []eventstore.Commit) {
	l.applying.Lock()
	defer l.applying.Unlock()
	byID := map[string][]eventstore.Commit{}
	for _, c := range commits {
		if id, ok := strings.CutPrefix(c.StreamID, l.prefix); ok {
			byID[id] = append(byID[id], c)
		}
	}
	for id, cs := range byID {
		l.mu.Lock()
		if ld, ok := l.loading[id]; ok {
			ld.commits = append(ld.commits, cs...)
			l.mu.Unlock()
			continue
		}
		m, ok := l.docs[id]
		if !ok && l.adopt && slices.ContainsFunc(cs, func(c eventstore.Commit) bool { return c.Base == 0 }) {
			m = &liveDoc[PD]{doc: PD(new(D)), used: time.Now()}
			l.evict()
			l.docs[id] = m
			ok = true
		}
		l.mu.Unlock()
		if ok {
			l.fold(ctx, id, m, cs)
		}
	}
}

// fold brings m up to the newest of cs, reading from the log whatever the
// commits do not connect to.
func (l *liveDocs[D, PD]) fold(ctx context.Context, id string, m *liveDoc[PD], cs []eventstore.Commit) {
	cs = sortedByBase(cs)
	l.mu.Lock()
	v := m.doc.head().Version
	l.mu.Unlock()
	if cs[len(cs)-1].Version <= v {
		return
	}
	if !connected(v, cs) {
		missing, err := l.log.ReadStream(ctx, l.prefix+id, v, cs[0].Base)
		if err != nil {
			l.forget(id) // loaded again, whole, by the next reader
			return
		}
		cs = sortedByBase(append(missing, cs...))
	}
	next := l.clone(m.doc)
	if _, err := fold(next, cs, l.apply); err != nil {
		l.forget(id)
		return
	}
	l.mu.Lock()
	m.doc = next
	l.mu.Unlock()
}

func (l *liveDocs[D, PD]) forget(id string) {
	l.mu.Lock()
	delete(l.docs, id)
	l.mu.Unlock()
}

// get returns the document of stream prefix+id, loading it the first
// time; ok is false if the stream does not exist.
func (l *liveDocs[D, PD]) get(ctx context.Context, id string) (PD, bool, error) {
	for {
		l.mu.Lock()
		if m, ok := l.docs[id]; ok {
			m.used = time.Now()
			d := m.doc
			l.mu.Unlock()
			return d, true, nil
		}
		if ld, ok := l.loading[id]; ok {
			l.mu.Unlock()
			select {
			case <-ld.done:
				continue
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		ld := &loadingDoc{done: make(chan struct{})}
		l.loading[id] = ld
		l.mu.Unlock()
		d, ok, err := l.load(ctx, id)
		l.mu.Lock()
		delete(l.loading, id)
		close(ld.done)
		if err != nil || !ok {
			l.mu.Unlock()
			return nil, false, err
		}
		if _, err := fold(d, sortedByBase(ld.commits), l.apply); err == nil {
			l.evict()
			l.docs[id] = &liveDoc[PD]{doc: d, used: time.Now()}
		}
		l.mu.Unlock()
		return d, true, nil
	}
}

// load reads a stream's stored document and the rest of its stream.
func (l *liveDocs[D, PD]) load(ctx context.Context, id string) (PD, bool, error) {
	stored, _, err := l.stored(ctx, id)
	if err != nil {
		return nil, false, err
	}
	d := PD(&stored)
	rest, err := l.log.ReadStream(ctx, l.prefix+id, d.head().Version, 0)
	if err != nil {
		return nil, false, err
	}
	if _, err := fold(d, rest, l.apply); err != nil {
		return nil, false, err
	}
	if d.head().Version == 0 {
		return nil, false, nil // no such stream
	}
	return d, true, nil
}

// evict makes room for one more document: the least recently read goes.
func (l *liveDocs[D, PD]) evict() {
	if len(l.docs) < l.max {
		return
	}
	var oldest string
	var at time.Time
	for id, m := range l.docs {
		if oldest == "" || m.used.Before(at) {
			oldest, at = id, m.used
		}
	}
	delete(l.docs, oldest)
}

func sortedByBase(cs []eventstore.Commit) []eventstore.Commit {
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b eventstore.Commit) int { return cmp.Compare(a.Base, b.Base) })
	return cs
}
