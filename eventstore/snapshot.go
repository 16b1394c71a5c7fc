package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// SaveSnapshot stores state as the snapshot of stream at version. A racing
// writer may replace it with an older one; that only costs the next load a
// few more events, because a snapshot is a starting point, not the truth.
func (s *Store) SaveSnapshot(ctx context.Context, stream string, version int64, state any) error {
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("eventstore: encode snapshot of %s: %w", stream, err)
	}
	_, err = s.snaps.ReplaceOne(ctx, bson.D{{Key: "_id", Value: stream}},
		snapshotDoc{StreamID: stream, Version: version, Data: string(data), Time: s.opts.Now().UTC()},
		options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("eventstore: save snapshot of %s: %w", stream, err)
	}
	return nil
}

// LoadSnapshot decodes the latest snapshot of stream into state and returns
// its version, or 0 and false if there is none.
func (s *Store) LoadSnapshot(ctx context.Context, stream string, state any) (int64, bool, error) {
	var d snapshotDoc
	err := s.snaps.FindOne(ctx, bson.D{{Key: "_id", Value: stream}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("eventstore: load snapshot of %s: %w", stream, err)
	}
	if err := json.Unmarshal([]byte(d.Data), state); err != nil {
		return 0, false, fmt.Errorf("eventstore: decode snapshot of %s: %w", stream, err)
	}
	return d.Version, true, nil
}
