package projections

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/internal/testenv"
)

// TestConcurrentBulkUpdatesDoNotExhaustTheDatabase runs eight bulk writes
// of 64 matching updates at once against one database, as partitioned
// consumers in several workers do. FerretDB v1 on SQLite holds a pooled
// connection per matching statement until the command ends (100 per
// database) and hangs past that; writeChunks must keep under it.
func TestConcurrentBulkUpdatesDoNotExhaustTheDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	coll := testenv.Database(t).Collection("bulk")
	var docs []any
	for i := range 512 {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("d%03d", i)}, {Key: "n", Value: 0}})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var writes []mongo.WriteModel
			for i := range 64 {
				writes = append(writes, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: fmt.Sprintf("d%03d", w*64+i)}}).
					SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: w + 1}}}}))
			}
			errs <- writeChunks(ctx, coll, nil, writes)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("bulk updates: %v (a hang ends at the deadline)", err)
		}
	}
	n, err := coll.CountDocuments(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: 0}}}})
	if err != nil || n != 512 {
		t.Fatalf("%d of 512 documents updated (%v)", n, err)
	}
}
