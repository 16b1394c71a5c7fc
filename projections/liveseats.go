package projections

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// LiveSeatMaps keeps in memory the seat maps of the shows this process was
// asked about, folded from every commit of the process's feed, so that the
// hottest read of a sale (every customer looking at the seat map of the
// same show) costs no database round trip and no decoding of a document
// that grows with every booking. A show is loaded the first time it is
// asked for: its stored seat map, then the rest of its stream from the
// log; from then on the feed keeps it current, reading from the log any
// commit of the show the feed handed over out of order.
//
// A reader that waited for the feed to reach a position (Feed.Wait) finds
// every commit up to it in these maps: the feed moves its mark only once
// its listeners are done with a commit.
type LiveSeatMaps struct {
	stored *SeatMaps
	log    StreamReader
	max    int

	applying sync.Mutex // one Apply at a time: folds of a show never race

	mu      sync.Mutex
	docs    map[string]*liveSeatMap
	loading map[string]*loadingShow
}

type liveSeatMap struct {
	doc  *SeatMapDoc
	used time.Time
}

// loadingShow collects the commits the feed brings for a show while it is
// being loaded; done is closed when the load ended.
type loadingShow struct {
	commits []eventstore.Commit
	done    chan struct{}
}

// NewLiveSeatMaps keeps up to max shows in memory (the least recently
// read go first), loading them from stored and log.
func NewLiveSeatMaps(stored *SeatMaps, log StreamReader, max int) *LiveSeatMaps {
	if max <= 0 {
		max = 1000
	}
	return &LiveSeatMaps{stored: stored, log: log, max: max, docs: map[string]*liveSeatMap{}, loading: map[string]*loadingShow{}}
}

// Apply takes commits from the feed (any order, duplicates allowed).
func (l *LiveSeatMaps) Apply(ctx context.Context, commits []eventstore.Commit) {
	l.applying.Lock()
	defer l.applying.Unlock()
	byShow := map[string][]eventstore.Commit{}
	for _, c := range commits {
		if id, ok := strings.CutPrefix(c.StreamID, show.StreamPrefix); ok {
			byShow[id] = append(byShow[id], c)
		}
	}
	for id, cs := range byShow {
		l.mu.Lock()
		if ld, ok := l.loading[id]; ok {
			ld.commits = append(ld.commits, cs...)
			l.mu.Unlock()
			continue
		}
		m, ok := l.docs[id]
		l.mu.Unlock()
		if ok {
			l.fold(ctx, id, m, cs)
		}
	}
}

// fold brings m up to the newest of cs, reading from the log whatever the
// commits do not connect to. It runs under applying; readers take the
// document under mu and it is replaced, never changed in place.
func (l *LiveSeatMaps) fold(ctx context.Context, id string, m *liveSeatMap, cs []eventstore.Commit) {
	slices.SortFunc(cs, func(a, b eventstore.Commit) int { return cmp.Compare(a.Base, b.Base) })
	l.mu.Lock()
	v := m.doc.Version
	l.mu.Unlock()
	if last := cs[len(cs)-1]; last.Version <= v {
		return
	}
	if !connected(v, cs) {
		missing, err := l.log.ReadStream(ctx, show.StreamPrefix+id, v, cs[0].Base)
		if err != nil {
			l.forget(id) // loaded again, whole, by the next reader
			return
		}
		cs = append(missing, cs...)
		slices.SortStableFunc(cs, func(a, b eventstore.Commit) int { return cmp.Compare(a.Base, b.Base) })
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	next := cloneSeatMap(m.doc)
	if _, err := fold(next, cs, applySeatMap); err != nil {
		delete(l.docs, id)
		return
	}
	m.doc = next
}

func (l *LiveSeatMaps) forget(id string) {
	l.mu.Lock()
	delete(l.docs, id)
	l.mu.Unlock()
}

// Get returns the seat map of a show as it is at now, loading the show
// the first time.
func (l *LiveSeatMaps) Get(ctx context.Context, id string, now time.Time) (SeatMap, bool, error) {
	for {
		l.mu.Lock()
		if m, ok := l.docs[id]; ok {
			m.used = time.Now()
			d := m.doc
			l.mu.Unlock()
			return seatView(d, now), true, nil // d is never changed in place
		}
		if ld, ok := l.loading[id]; ok {
			l.mu.Unlock()
			select {
			case <-ld.done:
				continue
			case <-ctx.Done():
				return SeatMap{}, false, ctx.Err()
			}
		}
		ld := &loadingShow{done: make(chan struct{})}
		l.loading[id] = ld
		l.mu.Unlock()
		d, ok, err := l.load(ctx, id)
		l.mu.Lock()
		delete(l.loading, id)
		close(ld.done)
		if err != nil || !ok {
			l.mu.Unlock()
			return SeatMap{}, false, err
		}
		if _, err := fold(d, sortedByBase(ld.commits), applySeatMap); err == nil {
			l.evict()
			l.docs[id] = &liveSeatMap{doc: d, used: time.Now()}
		}
		l.mu.Unlock()
		return seatView(d, now), true, nil
	}
}

// load reads a show's stored seat map and the rest of its stream.
func (l *LiveSeatMaps) load(ctx context.Context, id string) (*SeatMapDoc, bool, error) {
	d, _, err := l.stored.doc(ctx, id)
	if err != nil {
		return nil, false, err
	}
	rest, err := l.log.ReadStream(ctx, show.StreamPrefix+id, d.Version, 0)
	if err != nil {
		return nil, false, err
	}
	if _, err := fold(&d, rest, applySeatMap); err != nil {
		return nil, false, err
	}
	if d.Version == 0 {
		return nil, false, nil // no such show
	}
	return &d, true, nil
}

// evict makes room for one more show: the least recently read goes.
func (l *LiveSeatMaps) evict() {
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

// cloneSeatMap copies what applySeatMap changes, so that readers holding
// the old document never see it change.
func cloneSeatMap(d *SeatMapDoc) *SeatMapDoc {
	c := *d
	c.Holds = make(map[string]HoldDoc, len(d.Holds)+8)
	for k, v := range d.Holds {
		c.Holds[k] = v
	}
	return &c
}
