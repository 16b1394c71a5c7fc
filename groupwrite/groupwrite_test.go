package groupwrite_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/groupwrite"
	"github.com/seatline/seatline/internal/testenv"
)

// TestConcurrentInsertsShareCommandsAndKeepTheirOutcomes: 200 goroutines
// insert 200 documents, 20 of them twice; each caller learns whether its
// own document was new, every document is stored once, and far fewer
// insert commands than documents reach the database.
func TestConcurrentInsertsShareCommandsAndKeepTheirOutcomes(t *testing.T) {
	t.Parallel()
	var commands atomic.Int64
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "insert" {
			commands.Add(1)
		}
	}}
	c, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	ctx := context.Background()
	db := c.Database(testenv.DBName(t))
	defer func() { _ = db.Drop(ctx) }()
	coll := db.Collection("docs")
	ins := groupwrite.NewInserter(coll, 0)
	var wg sync.WaitGroup
	var dups, errs atomic.Int64
	for i := range 220 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ins.Insert(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("d%03d", i%200)}})
			switch {
			case mongo.IsDuplicateKeyError(err):
				dups.Add(1)
			case err != nil:
				errs.Add(1)
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil || n != 200 || dups.Load() != 20 || errs.Load() != 0 {
		t.Fatalf("%d documents, %d duplicates, %d errors (%v)", n, dups.Load(), errs.Load(), err)
	}
	if got := commands.Load(); got >= 100 {
		t.Fatalf("%d insert commands for 220 inserts: they did not share", got)
	}
	t.Logf("220 inserts in %d commands", commands.Load())
}
