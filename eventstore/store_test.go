package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/testenv"
)

// happened is the event the contract tests append: Seq of Of within one commit.
type happened struct {
	Stream string `json:"stream"`
	Seq    int    `json:"seq"`
	Of     int    `json:"of"`
	Writer string `json:"writer,omitempty"`
}

func (happened) Name() string { return "test.Happened.v2" }

func registry() *eventstore.Registry {
	r := eventstore.NewRegistry(happened{})
	// v1 called the stream "s"; v2 renamed it.
	r.Upcast("test.Happened.v1", "test.Happened.v2", func(data json.RawMessage) (json.RawMessage, error) {
		var old map[string]any
		if err := json.Unmarshal(data, &old); err != nil {
			return nil, err
		}
		old["stream"] = old["s"]
		delete(old, "s")
		return json.Marshal(old)
	})
	return r
}

func open(t testing.TB, db *mongo.Database) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(context.Background(), db, registry(), eventstore.Options{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func evs(stream string, n int) []domain.Event {
	out := make([]domain.Event, n)
	for i := range out {
		out[i] = happened{Stream: stream, Seq: i + 1, Of: n}
	}
	return out
}

func events(stream string, n int, writer string) []eventstore.Pending {
	out := make([]eventstore.Pending, n)
	for i := range out {
		out[i] = eventstore.Pending{Event: happened{Stream: stream, Seq: i + 1, Of: n, Writer: writer}}
	}
	return out
}

func TestAppendAndReadStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, testenv.Database(t))
	c1, err := s.Append(ctx, "order-1", 0, eventstore.With(eventstore.Metadata{CorrelationID: "corr", Actor: "tester"}, evs("order-1", 3)...))
	if err != nil {
		t.Fatal(err)
	}
	if c1.Position != 1 || c1.Base != 0 || c1.Version != 3 || len(c1.Events) != 3 || c1.Events[2].Version != 3 {
		t.Fatalf("first commit %+v", c1)
	}
	if _, err := s.Append(ctx, "order-2", 0, events("order-2", 1, "")); err != nil {
		t.Fatal(err)
	}
	c3, err := s.Append(ctx, "order-1", 3, events("order-1", 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c3.Position != 3 || c3.Base != 3 || c3.Version != 5 {
		t.Fatalf("third commit %+v", c3)
	}
	got, err := s.ReadStream(ctx, "order-1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Position != 1 || got[1].Position != 3 || got[0].Events[1].Meta.CorrelationID != "corr" || got[0].Events[1].Meta.Actor != "tester" {
		t.Fatalf("stream %+v", got)
	}
	if e := got[1].Events[1].Event.(happened); e.Seq != 2 || e.Of != 2 || got[1].Events[1].Version != 5 {
		t.Fatalf("decoded %+v", got[1].Events[1])
	}
	tail, err := s.ReadStream(ctx, "order-1", 3, 0)
	if err != nil || len(tail) != 1 || tail[0].Position != 3 {
		t.Fatalf("tail after 3: %+v %v", tail, err)
	}
	if none, err := s.ReadStream(ctx, "order-9", 0, 0); err != nil || len(none) != 0 {
		t.Fatalf("missing stream: %+v %v", none, err)
	}
	if _, err := s.ReadCommit(ctx, 4); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("ReadCommit(4) = %v", err)
	}
	if _, err := s.Append(ctx, "bad@id", 0, events("x", 1, "")); err == nil {
		t.Fatal("a stream id with @ was accepted")
	}
}

func TestAppendAtAStaleVersionFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, testenv.Database(t))
	if _, err := s.Append(ctx, "a", 0, events("a", 2, "")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, "a", 0, events("a", 1, ""))
	if !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("append at version 0 again: %v", err)
	}
	// The failed append left no gap: the next commit takes position 2.
	c, err := s.Append(ctx, "b", 0, events("b", 1, ""))
	if err != nil || c.Position != 2 {
		t.Fatalf("next append %+v %v", c, err)
	}
}

// TestConcurrentAppendersFromTwoStores races many goroutines on two Store
// instances (as two processes would) over a few streams. Every stream
// version has exactly one winner, positions are 1..N without gaps, and a
// reader walking positions never sees a commit before the one below it.
func TestConcurrentAppendersFromTwoStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	name := testenv.DBName(t)
	stores := []*eventstore.Store{
		open(t, testenv.Client(t).Database(name)),
		open(t, testenv.Client(t).Database(name)),
	}
	t.Cleanup(func() { _ = testenv.Client(t).Database(name).Drop(context.Background()) })

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
			s := stores[w%2]
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

	head, err := stores[1].Head(ctx)
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
		commits, err := stores[1].ReadStream(ctx, stream, 0, v)
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
func watchOrder(ctx context.Context, s *eventstore.Store, stop chan struct{}) error {
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

func TestGroupCommitKeepsEachAppendersOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, testenv.Database(t))
	// 200 appends at once, half of them doomed: pairs race for one version.
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

func TestOnCommitSeesCommitsInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, testenv.Database(t))
	var mu sync.Mutex
	var seen []int64
	s.OnCommit(func(cs []eventstore.Commit) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			seen = append(seen, c.Position)
		}
	})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := s.Append(ctx, fmt.Sprintf("o%d", i), 0, events("o", 1, "")); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 50 {
		t.Fatalf("saw %d commits", len(seen))
	}
	for i, p := range seen {
		if p != int64(i+1) {
			t.Fatalf("commit %d seen as number %d: %v", p, i+1, seen)
		}
	}
}

func TestANewStoreFindsTheHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Database(t)
	s := open(t, db)
	for i := 0; i < 37; i++ {
		if _, err := s.Append(ctx, fmt.Sprintf("h%d", i), 0, events("h", 1, "")); err != nil {
			t.Fatal(err)
		}
	}
	s2 := open(t, db)
	if s2.KnownHead() != 37 {
		t.Fatalf("a new store found head %d, want 37", s2.KnownHead())
	}
	if c, err := s2.Append(ctx, "h0", 1, events("h", 1, "")); err != nil || c.Position != 38 {
		t.Fatalf("append on the new store: %+v %v", c, err)
	}
	if _, err := s.Append(ctx, "h1", 1, events("h", 1, "")); err != nil {
		t.Fatalf("the first store, whose head is stale, could not append: %v", err)
	}
	if h, _ := s.Head(ctx); h != 39 {
		t.Fatalf("head %d, want 39", h)
	}
}

func TestAMissingLinkIsRepaired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Database(t)
	s := open(t, db)
	for v := int64(0); v < 3; v++ {
		if _, err := s.Append(ctx, "l", v, events("l", 1, "")); err != nil {
			t.Fatal(err)
		}
	}
	// As if the writer died between inserting commit 2 and its link.
	if _, err := db.Collection(eventstore.LinksCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: "l@1"}}); err != nil {
		t.Fatal(err)
	}
	short, err := s.ReadStream(ctx, "l", 0, 0)
	if err != nil || len(short) != 1 {
		t.Fatalf("without a hint the read stops at the gap: %d commits, %v", len(short), err)
	}
	// An append at the stale version conflicts, which tells the caller the
	// stream goes further; reading with that knowledge repairs the link.
	if _, err := s.Append(ctx, "l", 1, events("l", 1, "")); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("stale append: %v", err)
	}
	full, err := s.ReadStream(ctx, "l", 1, 2)
	if err != nil || len(full) != 2 || full[1].Version != 3 {
		t.Fatalf("read with atLeast: %+v %v", full, err)
	}
	if n, _ := db.Collection(eventstore.LinksCollection).CountDocuments(ctx, bson.D{{Key: "_id", Value: "l@1"}}); n != 1 {
		t.Fatal("the link was not repaired")
	}
}

func TestSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, testenv.Database(t))
	type state struct {
		Seats map[string]string `json:"seats"`
	}
	var got state
	if _, ok, err := s.LoadSnapshot(ctx, "x", &got); ok || err != nil {
		t.Fatalf("snapshot of nothing: %v %v", ok, err)
	}
	if err := s.SaveSnapshot(ctx, "x", 7, state{Seats: map[string]string{"A1": "b1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx, "x", 9, state{Seats: map[string]string{"A1": "b2"}}); err != nil {
		t.Fatal(err)
	}
	v, ok, err := s.LoadSnapshot(ctx, "x", &got)
	if err != nil || !ok || v != 9 || got.Seats["A1"] != "b2" {
		t.Fatalf("snapshot %d %v %v %+v", v, ok, err, got)
	}
}

func TestUpcastingOldEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Database(t)
	s := open(t, db)
	// An event written by an older release, in the v1 shape.
	_, err := db.Collection(eventstore.CommitsCollection).InsertOne(ctx, bson.D{
		{Key: "_id", Value: "0000000000000000001"}, {Key: "position", Value: int64(1)}, {Key: "stream_id", Value: "u"}, {Key: "base", Value: int64(0)},
		{Key: "commit_id", Value: "old"}, {Key: "time", Value: time.Now()},
		{Key: "events", Value: bson.A{bson.D{{Key: "name", Value: "test.Happened.v1"}, {Key: "data", Value: `{"s":"u","seq":1,"of":1}`}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.ReadCommit(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := c.Events[0].Event.(happened); !ok || e.Stream != "u" || c.Events[0].Name != "test.Happened.v2" {
		t.Fatalf("upcast %+v", c.Events[0])
	}
}

func TestScanReadsTheLogInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, testenv.Database(t))
	for i := 0; i < 20; i++ {
		if _, err := s.Append(ctx, fmt.Sprintf("sc%d", i%3), int64(i/3), events("sc", 1, "")); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	err := s.Scan(ctx, 5, func(c eventstore.Commit) error { got = append(got, c.Position); return nil })
	if err != nil || len(got) != 15 || got[0] != 6 || got[14] != 20 {
		t.Fatalf("scan after 5: %v %v", got, err)
	}
}
