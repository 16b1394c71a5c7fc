package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/semaphore"

	"github.com/seatline/seatline/eventstore"
)

// StreamReader reads a stream's commits from the log, to fill gaps.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, after, atLeast int64) ([]eventstore.Commit, error)
}

// Head is the part of a stream document that tracks what it reflects.
type Head struct {
	Version  int64 `bson:"version" json:"-"`
	Position int64 `bson:"position" json:"position"`
}

func (h *Head) head() *Head { return h }

type headed interface{ head() *Head }

// streamModel is a read model with one document per stream of one kind
// (stream ids "<prefix><id>", document _id "<id>").
type streamModel[D any, PD interface {
	*D
	headed
}] struct {
	name       string
	prefix     string
	target     *Target
	collection string
	log        StreamReader
	// apply folds one event into the document.
	apply func(d PD, c eventstore.Commit, e eventstore.Event)
	// before runs before a batch of advanced documents is written, for side
	// documents derived from the same events; it must be idempotent.
	before func(ctx context.Context, changed []Changed[PD]) error
	// flushSide writes side documents a buffered model kept in memory.
	flushSide func(ctx context.Context) error
	// buf, when set, keeps documents in memory across batches: a rebuild
	// into an empty database, written by Flush.
	buf *docBuffer[PD]
	// cache holds the documents written last (see docCache); onRefresh
	// empties the caches of side documents at a new lease term.
	cache     docCache[PD]
	onRefresh func()
}

type docBuffer[PD any] struct {
	docs   map[string]PD
	dirty  map[string]bool
	stored map[string]bool
}

// Name implements relay.Handler.
func (m *streamModel[D, PD]) Name() string { return m.name }

func (m *streamModel[D, PD]) coll() *mongo.Collection { return m.target.DB().Collection(m.collection) }

// Refresh implements relay.Refresher: a process that takes the projector
// (or one of its partitions) over first moves to the model's current
// generation, so that it never writes into one a rebuild replaced.
func (m *streamModel[D, PD]) Refresh(ctx context.Context) {
	m.cache.clear()
	if m.onRefresh != nil {
		m.onRefresh()
	}
	for ctx.Err() == nil {
		if err := m.target.Refresh(ctx); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// withBuffer makes m build in memory (see Flush) if buffered.
func withBuffer[D any, PD interface {
	*D
	headed
}](m *streamModel[D, PD], buffered bool) *streamModel[D, PD] {
	if buffered {
		m.buf = newBuffer[PD]()
	}
	return m
}

// Flush writes the documents a buffered model changed since the last
// Flush.
func (m *streamModel[D, PD]) Flush(ctx context.Context) error {
	if m.flushSide != nil {
		if err := m.flushSide(ctx); err != nil {
			return err
		}
	}
	if m.buf == nil {
		return nil
	}
	if err := m.buf.flush(ctx, m.coll()); err != nil {
		return fmt.Errorf("%s: flush: %w", m.name, err)
	}
	return nil
}

// flush writes the changed documents: new ones with inserts, the others
// with replaces.
func (b *docBuffer[PD]) flush(ctx context.Context, coll *mongo.Collection) error {
	var inserts []any
	var replaces []mongo.WriteModel
	for id := range b.dirty {
		if b.stored[id] {
			replaces = append(replaces, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetReplacement(b.docs[id]))
		} else {
			inserts = append(inserts, b.docs[id])
		}
	}
	if err := writeChunks(ctx, coll, inserts, replaces); err != nil {
		return err
	}
	for id := range b.dirty {
		b.stored[id] = true
	}
	clear(b.dirty)
	return nil
}

func newBuffer[PD any]() *docBuffer[PD] {
	return &docBuffer[PD]{docs: map[string]PD{}, dirty: map[string]bool{}, stored: map[string]bool{}}
}

// maxUpdates is the most update statements sent in one command, and
// updateSlots the most this process has in flight per database. FerretDB
// v1.24.2 on SQLite keeps one connection per statement that matched a
// document until the command ends, from a pool of 100 per database: an
// update command with more than 99 matching statements waits forever
// (measured: 99 take 50ms, 101 never return), and so do concurrent
// commands that together pass 100, which partitioned consumers (several
// per read model, in several workers) would. 16 per command and 32 per
// process and database keep three worker processes under the limit.
const (
	maxUpdates  = 16
	updateSlots = 32
)

var inFlight sync.Map // database name → *semaphore.Weighted

func slots(coll *mongo.Collection) *semaphore.Weighted {
	s, _ := inFlight.LoadOrStore(coll.Database().Name(), semaphore.NewWeighted(updateSlots))
	return s.(*semaphore.Weighted)
}

// writeChunks inserts docs in chunks of 500 and applies writes in chunks of
// maxUpdates, unordered.
func writeChunks(ctx context.Context, coll *mongo.Collection, docs []any, writes []mongo.WriteModel) error {
	for i := 0; i < len(docs); i += 500 {
		if _, err := coll.InsertMany(ctx, docs[i:min(i+500, len(docs))], options.InsertMany().SetOrdered(false)); err != nil {
			return err
		}
	}
	sem := slots(coll)
	for i := 0; i < len(writes); i += maxUpdates {
		chunk := writes[i:min(i+maxUpdates, len(writes))]
		if err := sem.Acquire(ctx, int64(len(chunk))); err != nil {
			return err
		}
		_, err := coll.BulkWrite(ctx, chunk, options.BulkWrite().SetOrdered(false))
		sem.Release(int64(len(chunk)))
		if err != nil {
			return err
		}
	}
	return nil
}

// Handle implements relay.Handler: commits of one stream are folded into
// its document, which is read once per batch (reads run in parallel)
// unless the projector wrote it last (its cache), and written with the
// others in one bulk write.
func (m *streamModel[D, PD]) Handle(ctx context.Context, batch []eventstore.Commit) (err error) {
	byStream := map[string][]eventstore.Commit{}
	var order []string
	for _, c := range batch {
		if !strings.HasPrefix(c.StreamID, m.prefix) {
			continue
		}
		if _, ok := byStream[c.StreamID]; !ok {
			order = append(order, c.StreamID)
		}
		byStream[c.StreamID] = append(byStream[c.StreamID], c)
	}
	if len(order) == 0 {
		return nil
	}
	docs := make([]PD, len(order))
	applied := make([][]eventstore.Event, len(order))
	if m.buf != nil {
		return m.handleBuffered(ctx, order, byStream)
	}
	db := m.target.DB().Name()
	defer func() {
		if err != nil { // some documents may or may not be written
			m.cache.clear()
		}
	}()
	// A stream whose first commit is in the batch is new: its document is
	// folded from nothing and inserted, without a read. If it exists after
	// all (these commits were applied before), the insert fails on its key
	// and the stream takes the read-fold-replace path.
	fresh := make([]bool, len(order))
	err = parallel(ctx, len(order), 8, func(ctx context.Context, i int) error {
		cs := byStream[order[i]]
		var err error
		if slices.ContainsFunc(cs, func(c eventstore.Commit) bool { return c.Base == 0 }) {
			fresh[i] = true
			docs[i], applied[i], err = m.advanceDoc(ctx, order[i], PD(new(D)), cs)
			return err
		}
		if d, ok := m.cache.get(db, order[i][len(m.prefix):]); ok {
			docs[i], applied[i], err = m.advanceDoc(ctx, order[i], d, cs)
			return err
		}
		docs[i], applied[i], err = m.advance(ctx, order[i], cs)
		return err
	})
	if err != nil {
		return err
	}
	var inserts []any
	var insertIdx []int
	var writes []mongo.WriteModel
	var changed []Changed[PD]
	for i, d := range docs {
		if len(applied[i]) == 0 {
			continue
		}
		changed = append(changed, Changed[PD]{Doc: d, Applied: applied[i]})
		if fresh[i] {
			inserts, insertIdx = append(inserts, d), append(insertIdx, i)
			continue
		}
		writes = append(writes, m.replace(order[i], d))
	}
	if len(changed) == 0 {
		return nil
	}
	// Side documents first: if the process dies between the two writes, the
	// stream document still has its old version, so the redelivered commits
	// are folded in again and the (idempotent) side update is repeated. The
	// other order would lose the side update for good.
	if m.before != nil {
		if err := m.before(ctx, changed); err != nil {
			return err
		}
	}
	dups, err := insertNew(ctx, m.coll(), inserts)
	if err != nil {
		return fmt.Errorf("%s: insert %d documents: %w", m.name, len(inserts), err)
	}
	for _, k := range dups {
		i := insertIdx[k]
		d, ap, err := m.advance(ctx, order[i], byStream[order[i]])
		if err != nil {
			return err
		}
		docs[i], applied[i] = d, ap // what is stored now, for the cache
		if len(ap) > 0 {
			writes = append(writes, m.replace(order[i], d))
		}
	}
	if err := writeChunks(ctx, m.coll(), nil, writes); err != nil {
		return fmt.Errorf("%s: write %d documents: %w", m.name, len(writes), err)
	}
	for i, d := range docs {
		if len(applied[i]) > 0 {
			m.cache.put(db, order[i][len(m.prefix):], d)
		}
	}
	return nil
}

func (m *streamModel[D, PD]) replace(stream string, d PD) mongo.WriteModel {
	return mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: stream[len(m.prefix):]}}).SetReplacement(d).SetUpsert(true)
}

// insertNew inserts docs unordered, 500 at a time, and returns the indexes
// of those whose _id existed already.
func insertNew(ctx context.Context, coll *mongo.Collection, docs []any) ([]int, error) {
	var dups []int
	for i := 0; i < len(docs); i += 500 {
		_, err := coll.InsertMany(ctx, docs[i:min(i+500, len(docs))], options.InsertMany().SetOrdered(false))
		var bwe mongo.BulkWriteException
		switch {
		case err == nil:
		case errors.As(err, &bwe) && bwe.WriteConcernError == nil:
			for _, we := range bwe.WriteErrors {
				if we.Code != 11000 {
					return nil, err
				}
				dups = append(dups, i+we.Index)
			}
		default:
			return nil, err
		}
	}
	return dups, nil
}

// handleBuffered folds a batch into the in-memory documents. The database
// started empty, so a document not in memory is a new one.
func (m *streamModel[D, PD]) handleBuffered(ctx context.Context, order []string, byStream map[string][]eventstore.Commit) error {
	var changed []Changed[PD]
	for _, stream := range order {
		id := stream[len(m.prefix):]
		d, ok := m.buf.docs[id]
		if !ok {
			d = PD(new(D))
		}
		d, applied, err := m.advanceDoc(ctx, stream, d, byStream[stream])
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			m.buf.docs[id], m.buf.dirty[id] = d, true
			changed = append(changed, Changed[PD]{Doc: d, Applied: applied})
		}
	}
	if m.before != nil && len(changed) > 0 {
		return m.before(ctx, changed)
	}
	return nil
}

// Changed is a document a batch advanced, with the events it folded in.
type Changed[PD any] struct {
	Doc     PD
	Applied []eventstore.Event
}

// advance reads one stream's document and folds into it the commits that
// follow its version, reading missing commits from the log when the batch
// does not connect to the document.
func (m *streamModel[D, PD]) advance(ctx context.Context, stream string, commits []eventstore.Commit) (PD, []eventstore.Event, error) {
	d, err := m.find(ctx, stream[len(m.prefix):])
	if err != nil {
		return nil, nil, err
	}
	return m.advanceDoc(ctx, stream, d, commits)
}

// advanceDoc folds into d the commits of its stream that follow d's
// version, reading from the log whatever the commits do not connect to.
func (m *streamModel[D, PD]) advanceDoc(ctx context.Context, stream string, d PD, commits []eventstore.Commit) (PD, []eventstore.Event, error) {
	commits = slices.Clone(commits)
	slices.SortFunc(commits, func(a, b eventstore.Commit) int { return cmp.Compare(a.Base, b.Base) })
	last := commits[len(commits)-1]
	if d.head().Version >= last.Version {
		return d, nil, nil // all applied already
	}
	if !connected(d.head().Version, commits) {
		missing, err := m.log.ReadStream(ctx, stream, d.head().Version, last.Base)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: fill %s from %d: %w", m.name, stream, d.head().Version, err)
		}
		commits = append(missing, commits...)
		slices.SortStableFunc(commits, func(a, b eventstore.Commit) int { return cmp.Compare(a.Base, b.Base) })
	}
	applied, err := fold(d, commits, m.apply)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", m.name, stream, err)
	}
	return d, applied, nil
}

// connected reports whether commits (sorted by base, possibly with
// duplicates and already applied ones) continue version v without a gap.
func connected(v int64, commits []eventstore.Commit) bool {
	for _, c := range commits {
		if c.Base > v {
			return false
		}
		v = max(v, c.Version)
	}
	return true
}

// fold applies the events of commits (sorted by base) that follow d's
// version, in order, skipping those already applied. A gap is an error.
func fold[D any, PD interface {
	*D
	headed
}](d PD, commits []eventstore.Commit, apply func(PD, eventstore.Commit, eventstore.Event)) ([]eventstore.Event, error) {
	var applied []eventstore.Event
	h := d.head()
	for _, c := range commits {
		for _, e := range c.Events {
			if e.Version <= h.Version {
				continue
			}
			if e.Version != h.Version+1 {
				return nil, fmt.Errorf("gap: at version %d, next event is %d", h.Version, e.Version)
			}
			apply(d, c, e)
			h.Version, h.Position = e.Version, c.Position
			applied = append(applied, e)
		}
	}
	return applied, nil
}

func (m *streamModel[D, PD]) find(ctx context.Context, id string) (PD, error) {
	d := PD(new(D))
	err := m.coll().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("%s: read %s: %w", m.name, id, err)
	}
	return d, nil
}

// getDoc reads one document by _id; found is false if there is none.
func getDoc[D any](ctx context.Context, coll *mongo.Collection, id string) (D, bool, error) {
	var d D
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("projections: read %s/%s: %w", coll.Name(), id, err)
	}
	return d, true, nil
}

// allDocs reads a whole collection. Fine for small ones (movies, venues).
func allDocs[D any](ctx context.Context, coll *mongo.Collection) ([]D, error) {
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("projections: scan %s: %w", coll.Name(), err)
	}
	var out []D
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("projections: scan %s: %w", coll.Name(), err)
	}
	return out, nil
}
