package eventstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

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
