package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/eventstore"
)

// The contract cases about positions and order: concurrent appenders,
// the head, and listeners.

// raceAppenders races many goroutines, spread over stores that share one
// log (as processes would), over a few streams. Every stream version has
// exactly one winner, positions are 1..N without gaps, and a reader
// walking positions never sees a commit before the one below it.
func raceAppenders(t *testing.T, stores []store) {
	ctx := context.Background()
	const streams, workers, perWorker = 4, 12, 15
	var wins, conflicts atomic.Int64
	stopWatch := make(chan struct{})
	watchErr := make(chan error, 1)
	go func() { watchErr <- watchOrder(ctx, stores[0], stopWatch) }()

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := stores[w%len(stores)]
			known := map[string]int64{} // what this worker has read of each stream
			for i := 0; i < perWorker; i++ {
				stream := fmt.Sprintf("s%d", (w+i)%streams)
				commits, err := s.ReadStream(ctx, stream, known[stream], 0)
				if err != nil {
					t.Error(err)
					return
				}
				if len(commits) > 0 {
					known[stream] = commits[len(commits)-1].Version
				}
				_, err = s.Append(ctx, stream, known[stream], events(stream, 1+i%3, fmt.Sprint(w)))
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, eventstore.ErrConcurrency):
					conflicts.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(stopWatch)
	if err := <-watchErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commits, %d conflicts", wins.Load(), conflicts.Load())
	if conflicts.Load() == 0 {
		t.Log("no conflicts happened; the race was not exercised this run")
	}

	last := stores[len(stores)-1]
	head, err := last.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != wins.Load() {
		t.Fatalf("head %d, successful appends %d", head, wins.Load())
	}
	all, err := stores[0].ReadRange(ctx, 1, head)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(all)) != head {
		t.Fatalf("positions 1..%d hold %d commits: the log has gaps", head, len(all))
	}
	versions := map[string]int64{}
	for _, c := range all {
		if c.Base != versions[c.StreamID] {
			t.Fatalf("commit %d of %s starts at %d, stream was at %d", c.Position, c.StreamID, c.Base, versions[c.StreamID])
		}
		versions[c.StreamID] = c.Version
	}
	for stream, v := range versions {
		commits, err := last.ReadStream(ctx, stream, 0, v)
		if err != nil {
			t.Fatal(err)
		}
		if commits[len(commits)-1].Version != v {
			t.Fatalf("stream %s read to %d, log says %d", stream, commits[len(commits)-1].Version, v)
		}
	}
}

// watchOrder walks positions upwards as they appear and fails if position
// p+1 is ever visible while p is not.
func watchOrder(ctx context.Context, s store, stop chan struct{}) error {
	var seen int64
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if _, err := s.ReadCommit(ctx, seen+1); err == nil {
			seen++
			continue
		}
		if _, err := s.ReadCommit(ctx, seen+2); err == nil {
			if _, err := s.ReadCommit(ctx, seen+1); err != nil {
				return fmt.Errorf("position %d visible before %d", seen+2, seen+1)
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// racingPairsHaveOneWinner makes 200 appends at once, half of them doomed:
// pairs race for one version. (On Store they share group commits.)
func racingPairsHaveOneWinner(t *testing.T, s store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var ok, conflict atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.Append(ctx, fmt.Sprintf("g%d", i/2), 0, events("g", 2, ""))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, eventstore.ErrConcurrency):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if ok.Load() != 100 || conflict.Load() != 100 {
		t.Fatalf("%d appended, %d conflicts; want 100 and 100", ok.Load(), conflict.Load())
	}
	if h, _ := s.Head(ctx); h != 100 {
		t.Fatalf("head %d, want 100", h)
	}
}

func listenersSeeCommitsInOrder(t *testing.T, s store) {
	ctx := context.Background()
	var mu sync.Mutex
	var seen, seenToo []int64
	s.OnCommit(func(cs []eventstore.Commit) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			seen = append(seen, c.Position)
		}
	})
	s.OnCommit(func(cs []eventstore.Commit) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			seenToo = append(seenToo, c.Position)
		}
	})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := s.Append(ctx, fmt.Sprintf("o%d", i), 0, events("o", 1, ""))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range seen {
				if p == c.Position {
					return
				}
			}
			t.Errorf("Append of commit %d returned before the listeners saw it", c.Position)
		}(i)
	}
	wg.Wait()
	if _, err := s.Append(ctx, "o0", 0, events("o", 1, "")); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("conflicting append: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 50 || len(seenToo) != 50 {
		t.Fatalf("saw %d and %d commits, want 50", len(seen), len(seenToo))
	}
	for i, p := range seen {
		if p != int64(i+1) || seenToo[i] != p {
			t.Fatalf("commit %d seen as number %d: %v and %v", p, i+1, seen, seenToo)
		}
	}
}

func headFollowsAppends(t *testing.T, s store) {
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := s.Append(ctx, fmt.Sprintf("h%d", i), 0, events("h", 2, "")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, "h0", 0, events("h", 1, "")); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("conflicting append: %v", err)
	}
	if h, err := s.Head(ctx); err != nil || h != 3 || s.KnownHead() != 3 {
		t.Fatalf("head %d %v, known head %d; want 3", h, err, s.KnownHead())
	}
	if c, err := s.Append(ctx, "h0", 2, events("h", 1, "")); err != nil || c.Position != 4 || s.KnownHead() != 4 {
		t.Fatalf("append after the conflict: %+v %v, known head %d", c, err, s.KnownHead())
	}
}
