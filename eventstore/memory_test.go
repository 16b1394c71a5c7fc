package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/eventstore"
)

func openMemory(t *testing.T, now func() time.Time) *eventstore.Memory {
	m := eventstore.NewMemory(registry(), now)
	t.Cleanup(m.Close)
	return m
}

func TestMemoryStoreContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) store { return openMemory(t, nil) })
}

// TestMemoryStore covers what the contract leaves to each implementation:
// the clock, Close (Store.Append after Close sometimes queues the commit and
// waits for its context instead of failing with ErrClosed, so ErrClosed is
// not in the contract yet), listeners that read the store, and appends at versions
// that are not the end of a commit (which Store accepts as long as no commit
// starts at that version, leaving a hole in or an overlap of the stream).
func TestMemoryStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := time.Date(2031, 5, 6, 20, 30, 0, 123456789, time.FixedZone("CEST", 2*60*60))
	tests := []struct {
		name string
		run  func(t *testing.T, m *eventstore.Memory)
	}{
		{"commits are stamped by the clock in UTC to the millisecond", func(t *testing.T, m *eventstore.Memory) {
			c, err := m.Append(ctx, "t", 0, events("t", 1, ""))
			want := at.UTC().Truncate(time.Millisecond)
			if err != nil || c.Time != want {
				t.Fatalf("commit time %v %v, want %v", c.Time, err, want)
			}
			if read, _ := m.ReadCommit(ctx, 1); read.Time != want {
				t.Fatalf("read commit time %v, want %v", read.Time, want)
			}
		}},
		{"appends after Close fail with ErrClosed and reads go on", func(t *testing.T, m *eventstore.Memory) {
			if _, err := m.Append(ctx, "c", 0, events("c", 1, "")); err != nil {
				t.Fatal(err)
			}
			m.Close()
			m.Close()
			if _, err := m.Append(ctx, "c", 1, events("c", 1, "")); !errors.Is(err, eventstore.ErrClosed) {
				t.Fatalf("append after Close: %v", err)
			}
			if cs, err := m.ReadStream(ctx, "c", 0, 1); err != nil || len(cs) != 1 {
				t.Fatalf("read after Close: %+v %v", cs, err)
			}
		}},
		{"an append with an ended context commits nothing", func(t *testing.T, m *eventstore.Memory) {
			ended, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := m.Append(ended, "x", 0, events("x", 1, "")); !errors.Is(err, context.Canceled) {
				t.Fatalf("append with a canceled context: %v", err)
			}
			if m.KnownHead() != 0 {
				t.Fatalf("head %d", m.KnownHead())
			}
		}},
		{"an append above the stream's version is refused without a conflict", func(t *testing.T, m *eventstore.Memory) {
			if _, err := m.Append(ctx, "a", 0, events("a", 1, "")); err != nil {
				t.Fatal(err)
			}
			_, err := m.Append(ctx, "a", 3, events("a", 1, ""))
			if err == nil || errors.Is(err, eventstore.ErrConcurrency) {
				t.Fatalf("append at 3 to a stream at 1: %v", err)
			}
			if m.KnownHead() != 1 {
				t.Fatalf("head %d", m.KnownHead())
			}
		}},
		{"an append at a version inside the stream's last commit conflicts", func(t *testing.T, m *eventstore.Memory) {
			if _, err := m.Append(ctx, "a", 0, events("a", 2, "")); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Append(ctx, "a", 1, events("a", 1, "")); !errors.Is(err, eventstore.ErrConcurrency) {
				t.Fatalf("append at 1 to a stream whose one commit took it from 0 to 2: %v", err)
			}
		}},
		{"listeners may read the store while others append", func(t *testing.T, m *eventstore.Memory) {
			var mu sync.Mutex
			var read []int64
			m.OnCommit(func(cs []eventstore.Commit) {
				for _, c := range cs {
					got, err := m.ReadCommit(ctx, c.Position)
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := m.ReadStream(ctx, c.StreamID, 0, c.Version); err != nil {
						t.Error(err)
					}
					mu.Lock()
					read = append(read, got.Position)
					mu.Unlock()
				}
			})
			var wg sync.WaitGroup
			for i := 0; i < 50; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					if _, err := m.Append(ctx, fmt.Sprintf("l%d", i), 0, events("l", 1, "")); err != nil {
						t.Error(err)
					}
				}(i)
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			for i, p := range read {
				if p != int64(i+1) {
					t.Fatalf("listeners read %v", read)
				}
			}
			if len(read) != 50 {
				t.Fatalf("listeners read %d commits", len(read))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, openMemory(t, func() time.Time { return at }))
		})
	}
}
