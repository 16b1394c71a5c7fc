package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/testenv"
)

// The MongoDB store runs the contract suite, plus the tests that only make
// sense with a database: several Stores sharing one, lost stream links and
// documents written by older releases. crash_test.go kills writers.

func open(t testing.TB, db *mongo.Database) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(context.Background(), db, registry(), eventstore.Options{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestMongoStoreContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) store { return open(t, testenv.Database(t)) })
}

// TestConcurrentAppendersFromTwoStores races many goroutines on two Store
// instances (as two processes would) over a few streams. Every stream
// version has exactly one winner, positions are 1..N without gaps, and a
// reader walking positions never sees a commit before the one below it.
func TestConcurrentAppendersFromTwoStores(t *testing.T) {
	t.Parallel()
	name := testenv.DBName(t)
	stores := []store{
		open(t, testenv.Client(t).Database(name)),
		open(t, testenv.Client(t).Database(name)),
	}
	t.Cleanup(func() { _ = testenv.Client(t).Database(name).Drop(context.Background()) })
	raceAppenders(t, stores)
}

func TestANewStoreFindsTheHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Database(t)
	s := open(t, db)
	for i := 0; i < 37; i++ {
		if _, err := s.Append(ctx, fmt.Sprintf("h%d", i), 0, events("h", 1, "")); err != nil {
			t.Fatal(err)
		}
	}
	s2 := open(t, db)
	if s2.KnownHead() != 37 {
		t.Fatalf("a new store found head %d, want 37", s2.KnownHead())
	}
	if c, err := s2.Append(ctx, "h0", 1, events("h", 1, "")); err != nil || c.Position != 38 {
		t.Fatalf("append on the new store: %+v %v", c, err)
	}
	if _, err := s.Append(ctx, "h1", 1, events("h", 1, "")); err != nil {
		t.Fatalf("the first store, whose head is stale, could not append: %v", err)
	}
	if h, _ := s.Head(ctx); h != 39 {
		t.Fatalf("head %d, want 39", h)
	}
}

func TestAMissingLinkIsRepaired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Database(t)
	s := open(t, db)
	for v := int64(0); v < 3; v++ {
		if _, err := s.Append(ctx, "l", v, events("l", 1, "")); err != nil {
			t.Fatal(err)
		}
	}
	// As if the writer died between inserting commit 2 and its link.
	if _, err := db.Collection(eventstore.LinksCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: "l@1"}}); err != nil {
		t.Fatal(err)
	}
	short, err := s.ReadStream(ctx, "l", 0, 0)
	if err != nil || len(short) != 1 {
		t.Fatalf("without a hint the read stops at the gap: %d commits, %v", len(short), err)
	}
	// An append at the stale version conflicts, which tells the caller the
	// stream goes further; reading with that knowledge repairs the link.
	if _, err := s.Append(ctx, "l", 1, events("l", 1, "")); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("stale append: %v", err)
	}
	full, err := s.ReadStream(ctx, "l", 1, 2)
	if err != nil || len(full) != 2 || full[1].Version != 3 {
		t.Fatalf("read with atLeast: %+v %v", full, err)
	}
	if n, _ := db.Collection(eventstore.LinksCollection).CountDocuments(ctx, bson.D{{Key: "_id", Value: "l@1"}}); n != 1 {
		t.Fatal("the link was not repaired")
	}
}

func TestUpcastingOldEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Database(t)
	s := open(t, db)
	// An event written by an older release, in the v1 shape.
	_, err := db.Collection(eventstore.CommitsCollection).InsertOne(ctx, bson.D{
		{Key: "_id", Value: "0000000000000000001"}, {Key: "position", Value: int64(1)}, {Key: "stream_id", Value: "u"}, {Key: "base", Value: int64(0)},
		{Key: "commit_id", Value: "old"}, {Key: "time", Value: time.Now()},
		{Key: "events", Value: bson.A{bson.D{{Key: "name", Value: "test.Happened.v1"}, {Key: "data", Value: `{"s":"u","seq":1,"of":1}`}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.ReadCommit(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := c.Events[0].Event.(happened); !ok || e.Stream != "u" || c.Events[0].Name != "test.Happened.v2" {
		t.Fatalf("upcast %+v", c.Events[0])
	}
}

// TestAStoredEventOfAnUnknownNameFailsToRead reads a commit whose event
// this release does not know (written by a newer one, say).
func TestAStoredEventOfAnUnknownNameFailsToRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Database(t)
	s := open(t, db)
	_, err := db.Collection(eventstore.CommitsCollection).InsertOne(ctx, bson.D{
		{Key: "_id", Value: "0000000000000000001"}, {Key: "position", Value: int64(1)}, {Key: "stream_id", Value: "n"}, {Key: "base", Value: int64(0)},
		{Key: "commit_id", Value: "new"}, {Key: "time", Value: time.Now()},
		{Key: "events", Value: bson.A{bson.D{{Key: "name", Value: "test.Happened.v9"}, {Key: "data", Value: `{}`}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadCommit(ctx, 1); !errors.Is(err, eventstore.ErrUnknownEvent) {
		t.Fatalf("ReadCommit of an unknown event: %v", err)
	}
	if err := s.Scan(ctx, 0, func(eventstore.Commit) error { return nil }); !errors.Is(err, eventstore.ErrUnknownEvent) {
		t.Fatalf("Scan over an unknown event: %v", err)
	}
}
