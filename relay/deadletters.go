package relay

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/eventstore"
)

// DeadLetters keeps commits that a group failed to handle MaxAttempts
// times, one document per (group, position), for an operator to inspect and
// retry. The group's consumer is the only writer of its dead letters; an
// operator's retry request is a document of its own.
type DeadLetters struct {
	coll, retries *mongo.Collection

	// The retry requests, read at most once a second for every consumer
	// of the process (they look for them every second).
	mu      sync.Mutex
	asked   []string
	askedAt time.Time
}

// NewDeadLetters returns the dead-letter store in db.
func NewDeadLetters(db *mongo.Database) *DeadLetters {
	return &DeadLetters{coll: db.Collection("dead_letters"), retries: db.Collection("dead_letter_retries")}
}

// DeadLetter is a commit a group could not handle.
type DeadLetter struct {
	ID             string             `bson:"_id" json:"id"` // group:position
	Group          string             `bson:"group" json:"group"`
	Position       int64              `bson:"position" json:"position"`
	StreamID       string             `bson:"stream_id" json:"stream_id"`
	Error          string             `bson:"error" json:"error"`
	Attempts       int                `bson:"attempts" json:"attempts"`
	Time           time.Time          `bson:"time" json:"time"`
	Retries        int                `bson:"retries" json:"retries"`
	RetryRequested bool               `bson:"-" json:"retry_requested"`
	Commit         *eventstore.Commit `bson:"-" json:"commit,omitempty"`
}

// ErrNoDeadLetter is returned for an unknown dead letter.
var ErrNoDeadLetter = &domain.Error{Kind: domain.NotFound, Code: "dead-letter-not-found", Msg: "no such dead letter"}

func deadLetterID(group string, pos int64) string { return group + ":" + strconv.FormatInt(pos, 10) }

// Add records a dead letter; recording it twice keeps the first.
func (d *DeadLetters) Add(ctx context.Context, group string, c eventstore.Commit, attempts int, cause error) error {
	_, err := d.coll.InsertOne(ctx, DeadLetter{
		ID: deadLetterID(group, c.Position), Group: group, Position: c.Position,
		StreamID: c.StreamID, Error: cause.Error(), Attempts: attempts, Time: time.Now().UTC(),
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return err
	}
	return nil
}

// List returns the dead letters (of one group, or all with ""), oldest
// first. The collection only holds what failed: a cold path.
func (d *DeadLetters) List(ctx context.Context, group string) ([]DeadLetter, error) {
	cur, err := d.coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var all []DeadLetter
	if err := cur.All(ctx, &all); err != nil {
		return nil, err
	}
	out := all[:0]
	for _, dl := range all {
		if group != "" && dl.Group != group {
			continue
		}
		err := d.retries.FindOne(ctx, bson.D{{Key: "_id", Value: dl.ID}}).Err()
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return nil, err
		}
		dl.RetryRequested = err == nil
		out = append(out, dl)
	}
	slices.SortFunc(out, func(a, b DeadLetter) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Counts returns how many dead letters each group has.
func (d *DeadLetters) Counts(ctx context.Context) (map[string]int, error) {
	all, err := d.List(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, dl := range all {
		out[dl.Group]++
	}
	return out, nil
}

// RequestRetry asks the group's consumer to handle a dead letter again.
func (d *DeadLetters) RequestRetry(ctx context.Context, id string) (DeadLetter, error) {
	var dl DeadLetter
	err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&dl)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return dl, ErrNoDeadLetter
	}
	if err != nil {
		return dl, err
	}
	_, err = d.retries.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "at", Value: time.Now().UTC()}})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return dl, err
	}
	dl.RetryRequested = true
	return dl, nil
}

// RequestRetryAll asks for a retry of every dead letter.
func (d *DeadLetters) RequestRetryAll(ctx context.Context) (int, error) {
	all, err := d.List(ctx, "")
	if err != nil {
		return 0, err
	}
	for _, dl := range all {
		if _, err := d.RequestRetry(ctx, dl.ID); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// requested returns the dead letters of group an operator asked to retry.
func (d *DeadLetters) requested(ctx context.Context, group string) ([]DeadLetter, error) {
	ids, err := d.retryRequests(ctx)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	for _, id := range ids {
		if !strings.HasPrefix(id, group+":") {
			continue
		}
		var dl DeadLetter
		err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&dl)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // resolved meanwhile
		}
		if err != nil {
			return nil, err
		}
		dl.RetryRequested = true
		out = append(out, dl)
	}
	return out, nil
}

// retryRequests returns the ids of the dead letters an operator asked to
// retry, as read at most a second ago (one small scan).
func (d *DeadLetters) retryRequests(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.askedAt) < time.Second {
		return slices.Clone(d.asked), nil
	}
	cur, err := d.retries.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	d.asked = d.asked[:0]
	for _, doc := range docs {
		d.asked = append(d.asked, doc.ID)
	}
	d.askedAt = time.Now()
	return slices.Clone(d.asked), nil
}

// forgetRequests makes the next look read the requests again.
func (d *DeadLetters) forgetRequests() {
	d.mu.Lock()
	d.askedAt = time.Time{}
	d.mu.Unlock()
}

// resolved removes a dead letter that was handled on retry.
func (d *DeadLetters) resolved(ctx context.Context, dl DeadLetter) error {
	if _, err := d.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: dl.ID}}); err != nil {
		return err
	}
	_, err := d.retries.DeleteOne(ctx, bson.D{{Key: "_id", Value: dl.ID}})
	d.forgetRequests()
	return err
}

// failedAgain records another failed retry and clears the request.
func (d *DeadLetters) failedAgain(ctx context.Context, dl DeadLetter, attempts int, cause error) error {
	dl.Error, dl.Attempts, dl.Retries, dl.Time = cause.Error(), dl.Attempts+attempts, dl.Retries+1, time.Now().UTC()
	if _, err := d.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: dl.ID}}, dl); err != nil {
		return err
	}
	_, err := d.retries.DeleteOne(ctx, bson.D{{Key: "_id", Value: dl.ID}})
	d.forgetRequests()
	return err
}
