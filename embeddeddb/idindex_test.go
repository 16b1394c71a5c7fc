package embeddeddb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/embeddeddb"
)

// TestIDLookupsUseAnIndex checks that after IndexIDs SQLite plans the _id
// lookup FerretDB issues as an index search, not a table scan (the timing
// difference is in the package documentation; tests assert plans, not
// timings), and that a second pass has nothing left to do.
func TestIDLookupsUseAnIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := embeddeddb.Start(dir, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	ctx := context.Background()
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	coll := c.Database("x").Collection("docs")
	for i := 0; i < 10; i++ {
		var batch []any
		for j := 0; j < 50; j++ {
			batch = append(batch, bson.D{{Key: "_id", Value: fmt.Sprintf("%d-%d", i, j)}})
		}
		if _, err := coll.InsertMany(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.IndexNow(ctx); err != nil {
		t.Fatal(err)
	}
	plan, err := embeddeddb.LookupPlan(ctx, dir, "x", "docs")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "USING INDEX") {
		t.Fatalf("an _id lookup is planned as %q, want an index search", plan)
	}
	start := time.Now()
	n, err := embeddeddb.IndexIDs(ctx, dir)
	if err != nil || n != 0 {
		t.Fatalf("a second pass created %d indexes: %v", n, err)
	}
	t.Logf("a pass over an indexed directory took %v", time.Since(start))
}
