package app_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/history"
	"github.com/seatline/seatline/internal/testenv"
)

// BenchmarkRebuild measures, in one run on one log of 100,000+ events,
// the raw sorted scan of the log (the ceiling), the event store's decoding
// scan, and a full rebuild of each read model, one at a time with nothing
// else running, and reports each rebuild as a ratio to the raw scan:
//
//	go test -run XXX -bench Rebuild -benchtime 1x ./app/
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	rc, prefix := testenv.Redis(b)
	db := testenv.DBName(b)
	store, err := eventstore.Open(ctx, testenv.Client(b).Database(db), app.Registry(), eventstore.Options{Logger: testenv.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	st, err := history.Write(ctx, store, history.Options{Events: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	head, _ := store.Head(ctx)
	// Every group handled the history long ago: the engine stays idle and
	// only the rebuilds work.
	all := make([]int64, head)
	for i := range all {
		all[i] = int64(i + 1)
	}
	marks := coord.NewRedis(rc, prefix)
	for _, g := range append(app.Groups(), "") {
		if err := marks.MarkConsumed(ctx, g, all...); err != nil {
			b.Fatal(err)
		}
	}
	rawScan := func() float64 {
		start := time.Now()
		cur, err := testenv.Client(b).Database(db).Collection("commits").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(1000))
		if err != nil {
			b.Fatal(err)
		}
		events := 0
		for cur.Next(ctx) {
			var d struct {
				Events []bson.Raw `bson:"events"`
			}
			if err := cur.Decode(&d); err != nil {
				b.Fatal(err)
			}
			events += len(d.Events)
		}
		return float64(events) / time.Since(start).Seconds()
	}
	b.ResetTimer()
	for range b.N {
		raw := rawScan()
		start := time.Now()
		n := 0
		if err := store.Scan(ctx, 0, func(c eventstore.Commit) error { n += len(c.Events); return nil }); err != nil {
			b.Fatal(err)
		}
		decoded := float64(n) / time.Since(start).Seconds()
		b.ReportMetric(raw, "raw-scan-events/s")
		b.ReportMetric(decoded/raw, "decoding-scan/raw")
		b.Logf("log: %d events in %d commits; raw sorted scan %.0f events/s, decoding scan %.0f events/s", st.Events, st.Commits, raw, decoded)

		e := apptest.Start(b, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: func(c *app.Config) { c.Rebuild.DropAfter = time.Second }})
		admin := e.Admin(b)
		for _, name := range []string{"bookings", "seatmaps", "shows"} {
			raw := rawScan() // the ceiling, again just before: the machine is noisy
			admin.Must(202, "POST", "/admin/projections/"+name+"/rebuild", nil)
			var rb map[string]any
			for end := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
				rb = admin.Must(200, "GET", "/admin/projections/"+name+"/rebuild", nil).Body
				if rb["status"] == "done" || rb["status"] == "failed" || time.Now().After(end) {
					break
				}
			}
			if rb["status"] != "done" {
				b.Fatalf("rebuild of %s: %v", name, rb)
			}
			rate := rb["events_per_second"].(float64)
			b.ReportMetric(rate/raw, "rebuild-"+name+"/raw")
			b.Logf("rebuild of %s: %.0f events at %.0f events/s; raw scan just before %.0f events/s; ratio %.2f", name, rb["events"], rate, raw, rate/raw)
		}
		e.Stop()
	}
}
