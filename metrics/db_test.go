package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/metrics"
)

// TestDBMonitorCountsEachCommand: every command the driver sends is one
// operation of its database, collection and kind.
func TestDBMonitorCountsEachCommand(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	c, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMonitor(m.DBMonitor()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	db := testenv.DBName(t)
	coll := c.Database(db).Collection("things")
	ctx := context.Background()
	for i := range 3 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 10}}, bson.D{{Key: "_id", Value: 11}}}); err != nil {
		t.Fatal(err)
	}
	_ = coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Err()
	defer func() { _ = c.Database(db).Drop(ctx) }()

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`seatline_db_operations_total{collection="things",database="` + db + `",kind="insert"} 4`,
		`seatline_db_operations_total{collection="things",database="` + db + `",kind="find"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %s in\n%s", want, grep(string(body), "seatline_db_operations_total"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
