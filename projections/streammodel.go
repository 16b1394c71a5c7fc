package projections

import (
	"context"
	"errors"
	"fmt"
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
	// saved runs after the document was written, for side documents that
	// must be idempotent themselves (applied holds the events just folded in).
	saved func(ctx context.Context, d PD, applied []eventstore.Event) error
}

// Name implements relay.Handler.
func (m *streamModel[D, PD]) Name() string { return m.name }

// Handle implements relay.Handler.
func (m *streamModel[D, PD]) Handle(ctx context.Context, c eventstore.Commit) error {
	id, ok := strings.CutPrefix(c.StreamID, m.prefix)
	if !ok {
		return nil
	}
	d, err := m.find(ctx, id)
	if err != nil {
		return err
	}
	h := d.head()
	if h.Version >= c.Version {
		return nil // already applied
	}
	commits := []eventstore.Commit{c}
	if h.Version < c.Base {
		commits, err = m.log.ReadStream(ctx, c.StreamID, h.Version, c.Base)
		if err != nil {
			return fmt.Errorf("%s: fill %s from %d: %w", m.name, c.StreamID, h.Version, err)
		}
	}
	applied := fold(d, commits, m.apply)
	if _, err := m.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, d, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("%s: write %s: %w", m.name, id, err)
	}
	if m.saved != nil && len(applied) > 0 {
		return m.saved(ctx, d, applied)
	}
	return nil
}

// fold applies the events of commits newer than d's version, in order.
func fold[D any, PD interface {
	*D
	headed
}](d PD, commits []eventstore.Commit, apply func(PD, eventstore.Commit, eventstore.Event)) []eventstore.Event {
	var applied []eventstore.Event
	h := d.head()
	for _, c := range commits {
		for _, e := range c.Events {
			if e.Version <= h.Version {
				continue
			}
			apply(d, c, e)
			h.Version, h.Position = e.Version, c.Position
			applied = append(applied, e)
		}
	}
	return applied
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
