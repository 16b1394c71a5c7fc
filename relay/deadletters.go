package relay

import (
	"context"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/eventstore"
)

// DeadLetters keeps commits that a group failed to handle MaxAttempts
// times, one document per (group, position), for an operator to inspect and
// retry.
type DeadLetters struct{ coll *mongo.Collection }

// NewDeadLetters returns the dead-letter store in db.
func NewDeadLetters(db *mongo.Database) *DeadLetters {
	return &DeadLetters{coll: db.Collection("dead_letters")}
}

type deadLetterDoc struct {
	ID       string    `bson:"_id"`
	Group    string    `bson:"group"`
	Position int64     `bson:"position"`
	StreamID string    `bson:"stream_id"`
	Error    string    `bson:"error"`
	Attempts int       `bson:"attempts"`
	Time     time.Time `bson:"time"`
}

// Add records a dead letter; recording it twice keeps the first.
func (d *DeadLetters) Add(ctx context.Context, group string, c eventstore.Commit, attempts int, cause error) error {
	_, err := d.coll.InsertOne(ctx, deadLetterDoc{
		ID: group + ":" + strconv.FormatInt(c.Position, 10), Group: group, Position: c.Position,
		StreamID: c.StreamID, Error: cause.Error(), Attempts: attempts, Time: time.Now().UTC(),
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return err
	}
	return nil
}
