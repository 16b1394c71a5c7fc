package eventstore

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ReadStream returns the commits of a stream after version after, in
// version order. It follows stream links (_id lookups). A missing link
// normally means the end of the stream; if the caller knows the stream
// reaches at least version atLeast (for example after ErrConcurrency), a
// missing link below it is looked up by field query and repaired.
func (s *Store) ReadStream(ctx context.Context, stream string, after, atLeast int64) ([]Commit, error) {
	var out []Commit
	v := after
	for {
		d, err := s.commitFrom(ctx, stream, v, v < atLeast)
		if err != nil {
			return nil, err
		}
		if d == nil {
			if v < atLeast {
				return nil, fmt.Errorf("eventstore: %s has no commit at version %d though %d was expected", stream, v, atLeast)
			}
			return out, nil
		}
		c, err := s.reg.decodeCommit(*d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		v = c.Version
	}
}

// commitFrom returns the commit of stream that starts at version base, or
// nil if the stream has none there (yet).
func (s *Store) commitFrom(ctx context.Context, stream string, base int64, mustExist bool) (*commitDoc, error) {
	var l linkDoc
	err := s.links.FindOne(ctx, bson.D{{Key: "_id", Value: linkID(stream, base)}}).Decode(&l)
	switch {
	case err == nil:
		var d commitDoc
		if err := s.commits.FindOne(ctx, bson.D{{Key: "_id", Value: positionID(l.Position)}}).Decode(&d); err != nil {
			return nil, fmt.Errorf("eventstore: read commit %d of %s: %w", l.Position, stream, err)
		}
		if d.StreamID != stream || d.Base != base {
			return nil, fmt.Errorf("eventstore: link %s points at commit %d of %s@%d", l.ID, d.Position, d.StreamID, d.Base)
		}
		return &d, nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return nil, fmt.Errorf("eventstore: read link %s@%d: %w", stream, base, err)
	case !mustExist:
		return nil, nil
	}
	// The link is missing though the commit should exist: a writer died
	// between inserting the commit and its link. Find it the slow way.
	var d commitDoc
	err = s.commits.FindOne(ctx, bson.D{{Key: "stream_id", Value: stream}, {Key: "base", Value: base}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: find %s@%d: %w", stream, base, err)
	}
	_, err = s.links.InsertOne(ctx, linkDoc{ID: linkID(stream, base), Position: d.Position})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		s.opts.Logger.Warn("eventstore: link repair failed", "stream", stream, "base", base, "err", err)
	} else if err == nil {
		s.opts.Logger.Info("eventstore: repaired missing stream link", "stream", stream, "base", base, "position", d.Position)
	}
	return &d, nil
}

// ReadCommit returns the commit at a position, or ErrNotFound.
func (s *Store) ReadCommit(ctx context.Context, pos int64) (Commit, error) {
	var d commitDoc
	err := s.commits.FindOne(ctx, bson.D{{Key: "_id", Value: positionID(pos)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Commit{}, fmt.Errorf("%w: position %d", ErrNotFound, pos)
	}
	if err != nil {
		return Commit{}, fmt.Errorf("eventstore: read %d: %w", pos, err)
	}
	return s.reg.decodeCommit(d)
}

// ReadRange returns the commits at positions from..to (inclusive) that
// exist, looked up by _id with up to 16 lookups in flight: on FerretDB this
// is far cheaper than a range query, which scans the whole collection.
func (s *Store) ReadRange(ctx context.Context, from, to int64) ([]Commit, error) {
	if to < from {
		return nil, nil
	}
	n := int(to - from + 1)
	out := make([]Commit, n)
	found := make([]bool, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			c, err := s.ReadCommit(ctx, from+int64(i))
			if errors.Is(err, ErrNotFound) {
				errs <- nil
				return
			}
			out[i], found[i] = c, err == nil
			errs <- err
		}(i)
	}
	var first error
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	res := out[:0]
	for i := range out {
		if found[i] {
			res = append(res, out[i])
		}
	}
	return res, nil
}

// Scan calls fn for every commit after position after, in position order,
// with one sorted query. It suits rebuilds and audits, not hot paths.
func (s *Store) Scan(ctx context.Context, after int64, fn func(Commit) error) error {
	cur, err := s.commits.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: positionID(after)}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return fmt.Errorf("eventstore: scan: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d commitDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("eventstore: scan decode: %w", err)
		}
		c, err := s.reg.decodeCommit(d)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return cur.Err()
}
