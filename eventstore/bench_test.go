package eventstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/testenv"
)

// BenchmarkAppend measures single appends from parallel goroutines, each to
// its own stream (group commit batches them).
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	s := open(b, testenv.Database(b))
	var mu sync.Mutex
	n := 0
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		n++
		stream := fmt.Sprintf("bench-%d", n)
		mu.Unlock()
		var v int64
		for pb.Next() {
			if _, err := s.Append(ctx, stream, v, events(stream, 1, "")); err != nil {
				b.Fatal(err)
			}
			v++
		}
	})
}

// BenchmarkAppendSerial measures one append at a time: the latency floor.
func BenchmarkAppendSerial(b *testing.B) {
	ctx := context.Background()
	s := open(b, testenv.Database(b))
	for i := 0; b.Loop(); i++ {
		if _, err := s.Append(ctx, "serial", int64(i), events("serial", 1, "")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendTwoStores is BenchmarkAppend with two Store instances
// sharing the database, as two processes would.
func BenchmarkAppendTwoStores(b *testing.B) {
	ctx := context.Background()
	name := testenv.DBName(b)
	stores := []*eventstore.Store{open(b, testenv.Client(b).Database(name)), open(b, testenv.Client(b).Database(name))}
	var mu sync.Mutex
	n := 0
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		n++
		stream, s := fmt.Sprintf("bench-%d", n), stores[n%2]
		mu.Unlock()
		var v int64
		for pb.Next() {
			if _, err := s.Append(ctx, stream, v, events(stream, 1, "")); err != nil {
				b.Fatal(err)
			}
			v++
		}
	})
}

// BenchmarkReadMissingStream measures the cheapest read: one link lookup
// that misses, in a log of 20,000 commits.
func BenchmarkReadMissingStream(b *testing.B) {
	ctx := context.Background()
	s := open(b, testenv.Database(b))
	fill(b, s, 20000)
	for i := 0; b.Loop(); i++ {
		if _, err := s.ReadStream(ctx, fmt.Sprintf("nope-%d", i), 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCommit measures an _id lookup of a commit in a log of 20,000.
func BenchmarkReadCommit(b *testing.B) {
	ctx := context.Background()
	s := open(b, testenv.Database(b))
	fill(b, s, 20000)
	for i := 0; b.Loop(); i++ {
		if _, err := s.ReadCommit(ctx, int64(1+i%20000)); err != nil {
			b.Fatal(err)
		}
	}
}

func fill(b *testing.B, s *eventstore.Store, n int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < n/50; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("fill-%d-%d", w, i), 0, events("f", 1, "")); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	b.ResetTimer()
}

// BenchmarkRawInsertOne is the database's ceiling for single inserts of a
// commit-sized document from parallel goroutines: what an append costs
// without the event store's work.
func BenchmarkRawInsertOne(b *testing.B) {
	ctx := context.Background()
	coll := testenv.Database(b).Collection("raw")
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%019d", i)}, {Key: "stream_id", Value: fmt.Sprintf("s-%d", i)},
				{Key: "events", Value: bson.A{bson.D{{Key: "name", Value: "test.Happened.v2"}, {Key: "data", Value: `{"stream":"s","seq":1,"of":1}`}}}}})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRawInsertMany is the ceiling for batched inserts (96 documents
// per InsertMany, the group commit's largest batch), per document.
func BenchmarkRawInsertMany(b *testing.B) {
	ctx := context.Background()
	coll := testenv.Database(b).Collection("raw")
	i := 0
	for b.Loop() {
		batch := make([]any, 96)
		for k := range batch {
			i++
			batch[k] = bson.D{{Key: "_id", Value: fmt.Sprintf("%019d", i)}, {Key: "stream_id", Value: fmt.Sprintf("s-%d", i)},
				{Key: "events", Value: bson.A{bson.D{{Key: "name", Value: "test.Happened.v2"}, {Key: "data", Value: `{"stream":"s","seq":1,"of":1}`}}}}}
		}
		if _, err := coll.InsertMany(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/doc")
}
