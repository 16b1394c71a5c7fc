package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type appendReq struct {
	doc  commitDoc
	done chan appendResult
}

type appendResult struct {
	commit Commit
	err    error
}

// maxWriteRetries bounds how often the writer retries a batch after errors
// that are not a key collision (a lost connection, a timeout).
const maxWriteRetries = 5

// writeLoop is the group-commit writer: it takes every append queued so far
// and writes them with one ordered InsertMany.
func (s *Store) writeLoop() {
	defer close(s.stopped)
	for {
		var first *appendReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			s.drainClosed()
			return
		}
		batch := []*appendReq{first}
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.writeBatch(batch)
	}
}

func (s *Store) drainClosed() {
	for {
		select {
		case r := <-s.reqs:
			r.done <- appendResult{err: ErrClosed}
		default:
			return
		}
	}
}

// writeBatch commits the batch in order. On a duplicate key it finds out
// which key collided with an _id lookup: a taken position means another
// writer got there first (move on), a free one means the stream version was
// taken (that append fails with ErrConcurrency, the rest go on).
func (s *Store) writeBatch(batch []*appendReq) {
	if s.opts.OnWrite != nil {
		start := time.Now()
		defer func() { s.opts.OnWrite(len(batch), time.Since(start)) }()
	}
	var written []Commit
	var writtenReqs []*appendReq
	pending := batch
	retries := 0
	for len(pending) > 0 {
		next := s.head.Load() + 1
		docs := make([]any, len(pending))
		for i, r := range pending {
			r.doc.Position = next + int64(i)
			r.doc.ID = positionID(r.doc.Position)
			docs[i] = r.doc
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.OpTimeout)
		_, err := s.commits.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
		cancel()
		if err == nil {
			for _, r := range pending {
				written, writtenReqs = s.done(r, written, writtenReqs)
			}
			break
		}
		idx, dup := failedIndex(err)
		for _, r := range pending[:idx] {
			written, writtenReqs = s.done(r, written, writtenReqs)
		}
		pending = pending[idx:]
		if !dup {
			retries++
			if retries > maxWriteRetries {
				s.opts.Logger.Error("eventstore: append failed", "err", err, "commits", len(pending))
				for _, r := range pending {
					r.done <- appendResult{err: fmt.Errorf("eventstore: append: %w", err)}
				}
				pending = nil
				break
			}
			s.opts.Logger.Warn("eventstore: retrying append", "err", err, "attempt", retries)
			time.Sleep(time.Duration(retries*retries) * 20 * time.Millisecond)
			continue
		}
		r := pending[0]
		taken, err := s.commitAt(r.doc.Position)
		switch {
		case err != nil:
			retries++
			if retries > maxWriteRetries {
				for _, r := range pending {
					r.done <- appendResult{err: err}
				}
				pending = nil
			}
		case taken == nil:
			r.done <- appendResult{err: fmt.Errorf("%w: %s at version %d", ErrConcurrency, r.doc.StreamID, r.doc.Base)}
			pending = pending[1:]
		case taken.CommitID == r.doc.CommitID:
			// Our own insert from a try whose answer was lost.
			written, writtenReqs = s.done(r, written, writtenReqs)
			pending = pending[1:]
		default:
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.OpTimeout)
			h, err := s.probeForward(ctx, r.doc.Position)
			cancel()
			if err != nil {
				retries++
				if retries > maxWriteRetries {
					for _, r := range pending {
						r.done <- appendResult{err: err}
					}
					pending = nil
				}
				continue
			}
			s.raiseHead(h)
		}
	}
	if len(written) == 0 {
		return
	}
	s.insertLinks(written)
	s.mu.RLock()
	for _, fn := range s.listeners {
		fn(written)
	}
	s.mu.RUnlock()
	for i, r := range writtenReqs {
		r.done <- appendResult{commit: written[i]}
	}
}

// done records that r was committed at its position.
func (s *Store) done(r *appendReq, written []Commit, reqs []*appendReq) ([]Commit, []*appendReq) {
	s.raiseHead(r.doc.Position)
	c, err := s.reg.decodeCommit(r.doc)
	if err != nil { // cannot happen: the payload was encoded by this registry
		panic(err)
	}
	return append(written, c), append(reqs, r)
}

// failedIndex returns how many documents of an ordered InsertMany were
// written before it failed, and whether it failed on a duplicate key.
func failedIndex(err error) (int, bool) {
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 && bwe.WriteConcernError == nil {
		we := bwe.WriteErrors[0]
		return we.Index, we.Code == 11000 || mongo.IsDuplicateKeyError(we)
	}
	return 0, false
}

func (s *Store) commitAt(pos int64) (*commitDoc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.OpTimeout)
	defer cancel()
	var d commitDoc
	err := s.commits.FindOne(ctx, bson.D{{Key: "_id", Value: positionID(pos)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: read %d: %w", pos, err)
	}
	return &d, nil
}

// insertLinks records where each written commit starts in its stream. A
// link that already exists (a repair got there first) is fine; a link that
// cannot be written now is repaired by the first reader that misses it.
func (s *Store) insertLinks(cs []Commit) {
	docs := make([]any, len(cs))
	for i, c := range cs {
		docs[i] = linkDoc{ID: linkID(c.StreamID, c.Base), Position: c.Position}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.OpTimeout)
	defer cancel()
	_, err := s.links.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		s.opts.Logger.Warn("eventstore: stream links not written; readers will repair them", "err", err)
	}
}

func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}
