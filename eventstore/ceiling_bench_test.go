package eventstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/testenv"
)

// rawDoc is a commit-sized document: what an append stores, without the
// event store's work around it.
func rawDoc(i int) bson.D {
	return bson.D{{Key: "_id", Value: fmt.Sprintf("%019d", i)}, {Key: "stream_id", Value: fmt.Sprintf("s-%d", i)},
		{Key: "events", Value: bson.A{bson.D{{Key: "name", Value: "test.Happened.v2"}, {Key: "data", Value: `{"stream":"s","seq":1,"of":1}`}}}}}
}

// parallel runs fn(i) for i in 0..n-1 on workers goroutines and returns
// the rate per second.
func parallel(b *testing.B, workers, n int, fn func(i int) error) float64 {
	b.Helper()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkStoreVsCeilings measures, in one run against one database, the
// raw ceilings (single inserts, batched inserts, _id lookups, a sorted
// scan) and beside each the event store operation built on it, and reports
// each as a ratio to its ceiling:
//
//	go test -run XXX -bench StoreVsCeilings -benchtime 1x ./eventstore/
//
// append (64 writers, one event per append, group commit) vs InsertMany of
// 96-document batches; a serial append vs a serial InsertOne; loading a
// stream vs an _id lookup; reading the log in order vs a sorted scan.
func BenchmarkStoreVsCeilings(b *testing.B) {
	ctx := context.Background()
	db := testenv.Database(b)
	const n = 20000
	for range b.N {
		raw := db.Collection(fmt.Sprintf("raw_%d", time.Now().UnixNano()))
		insertOne := parallel(b, 1, 1000, func(i int) error {
			_, err := raw.InsertOne(ctx, rawDoc(i))
			return err
		})
		batched := func() float64 {
			start := time.Now()
			for lo := 1000; lo < 1000+n; lo += 96 {
				batch := make([]any, 0, 96)
				for i := lo; i < min(lo+96, 1000+n); i++ {
					batch = append(batch, rawDoc(i))
				}
				if _, err := raw.InsertMany(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			return n / time.Since(start).Seconds()
		}()
		lookup := parallel(b, 4, 5000, func(int) error {
			return raw.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%019d", rand.IntN(n+1000))}}).Err()
		})
		scan := func() float64 {
			start := time.Now()
			cur, err := raw.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(1000))
			if err != nil {
				b.Fatal(err)
			}
			count := 0
			for cur.Next(ctx) {
				var d struct {
					Events []bson.Raw `bson:"events"`
				}
				if err := cur.Decode(&d); err != nil {
					b.Fatal(err)
				}
				count++
			}
			return float64(count) / time.Since(start).Seconds()
		}()

		s := open(b, testenv.Client(b).Database(testenv.DBName(b)))
		serial := parallel(b, 1, 1000, func(i int) error {
			_, err := s.Append(ctx, "serial", int64(i), events("serial", 1, ""))
			return err
		})
		const writers = 64
		versions := make([]int64, writers)
		appends := parallel(b, writers, n, func(i int) error {
			w := i % writers
			stream := fmt.Sprintf("w-%d", w)
			_, err := s.Append(ctx, stream, versions[w], events(stream, 1, ""))
			versions[w]++
			return err
		})
		load := parallel(b, 4, 5000, func(i int) error {
			_, err := s.ReadStream(ctx, fmt.Sprintf("w-%d", rand.IntN(writers)), versions[0]-5, 0)
			return err
		})
		start := time.Now()
		count := 0
		if err := s.Scan(ctx, 0, func(eventstore.Commit) error { count++; return nil }); err != nil {
			b.Fatal(err)
		}
		read := float64(count) / time.Since(start).Seconds()

		report := func(name string, got, ceiling float64, unit string) {
			b.ReportMetric(got/ceiling, name)
			b.Logf("%-32s %9.0f %s vs ceiling %9.0f: ratio %.2f", name, got, unit, ceiling, got/ceiling)
		}
		report("append-batched/insert-many", appends, batched, "appends/s")
		report("append-serial/insert-one", serial, insertOne, "appends/s")
		report("load-stream/id-lookup", load, lookup, "loads/s")
		report("log-read/sorted-scan", read, scan, "commits/s")
	}
}
