package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

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
	name   string
	prefix string
	coll   *mongo.Collection
	log    StreamReader
	// apply folds one event into the document.
	apply func(d PD, c eventstore.Commit, e eventstore.Event)
	// before runs before a batch of advanced documents is written, for side
	// documents derived from the same events; it must be idempotent.
	before func(ctx context.Context, changed []Changed[PD]) error
}

// Name implements relay.Handler.
func (m *streamModel[D, PD]) Name() string { return m.name }

// Handle implements relay.Handler: commits of one stream are folded into
// its document, which is read once per batch (reads run in parallel) and
// written with the others in one bulk write.
func (m *streamModel[D, PD]) Handle(ctx context.Context, batch []eventstore.Commit) error {
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
	err := parallel(ctx, len(order), 8, func(ctx context.Context, i int) error {
		var err error
		docs[i], applied[i], err = m.advance(ctx, order[i], byStream[order[i]])
		return err
	})
	if err != nil {
		return err
	}
	var writes []mongo.WriteModel
	var changed []Changed[PD]
	for i, d := range docs {
		if len(applied[i]) == 0 {
			continue
		}
		id := order[i][len(m.prefix):]
		writes = append(writes, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetReplacement(d).SetUpsert(true))
		changed = append(changed, Changed[PD]{Doc: d, Applied: applied[i]})
	}
	if len(writes) == 0 {
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
	if _, err := m.coll.BulkWrite(ctx, writes, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("%s: write %d documents: %w", m.name, len(writes), err)
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
	err := m.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(d)
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
