package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/eventstore"
)

// store is what the contract suite needs of an event store.
type store interface {
	Append(ctx context.Context, stream string, expected int64, events []eventstore.Pending) (eventstore.Commit, error)
	ReadStream(ctx context.Context, stream string, after, atLeast int64) ([]eventstore.Commit, error)
	ReadCommit(ctx context.Context, pos int64) (eventstore.Commit, error)
	ReadRange(ctx context.Context, from, to int64) ([]eventstore.Commit, error)
	Scan(ctx context.Context, after int64, fn func(eventstore.Commit) error) error
	Head(ctx context.Context) (int64, error)
	KnownHead() int64
	OnCommit(fn func([]eventstore.Commit))
	Registry() *eventstore.Registry
	SaveSnapshot(ctx context.Context, stream string, version int64, state any) error
	LoadSnapshot(ctx context.Context, stream string, state any) (int64, bool, error)
	Close()
}

var (
	_ store = (*eventstore.Store)(nil)
	_ store = (*eventstore.Memory)(nil)
)

// runContract runs the event store contract over an implementation. open
// returns a new, empty store built on registry() and closed when the test
// ends. Every case runs in parallel on its own store.
func runContract(t *testing.T, open func(t *testing.T) store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store)
	}{
		{"appended commits are read back by stream and by position", appendedCommitsAreReadBack},
		{"an append at a stale version fails and leaves no gap", staleAppendFails},
		{"concurrent appenders get one winner per stream version and a gap-free log", func(t *testing.T, s store) { raceAppenders(t, []store{s}) }},
		{"of two appends racing for one version one wins and the other conflicts", racingPairsHaveOneWinner},
		{"listeners see every commit once in position order", listenersSeeCommitsInOrder},
		{"the head follows appends and not failed ones", headFollowsAppends},
		{"the latest snapshot is loaded", snapshots},
		{"an event written under an old name is read as the current version", upcasting},
		{"a scan reads the log in order after a position", scanReadsInOrder},
		{"reads of missing things find nothing", readsOfMissingThings},
		{"an event the registry does not know is refused and nothing is written", unknownEventsAreRefused},
		{"malformed appends are refused and nothing is written", malformedAppendsAreRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

// happened is the event the contract tests append: Seq of Of within one commit.
type happened struct {
	Stream string `json:"stream"`
	Seq    int    `json:"seq"`
	Of     int    `json:"of"`
	Writer string `json:"writer,omitempty"`
}

func (happened) Name() string { return "test.Happened.v2" }

// happenedV1 is how an older release wrote happened.
type happenedV1 struct {
	S   string `json:"s"`
	Seq int    `json:"seq"`
	Of  int    `json:"of"`
}

func (happenedV1) Name() string { return "test.Happened.v1" }

// unregistered is an event no registry of these tests knows.
type unregistered struct{}

func (unregistered) Name() string { return "test.Unregistered.v1" }

// registry knows happened, and still writes happenedV1 (as an old release
// would) but reads it as happened.
func registry() *eventstore.Registry {
	r := eventstore.NewRegistry(happened{}, happenedV1{})
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

func appendedCommitsAreReadBack(t *testing.T, s store) {
	ctx := context.Background()
	c1, err := s.Append(ctx, "order-1", 0, eventstore.With(eventstore.Metadata{CorrelationID: "corr", CausationID: "cause", Actor: "tester"}, evs("order-1", 3)...))
	if err != nil {
		t.Fatal(err)
	}
	if c1.Position != 1 || c1.Base != 0 || c1.Version != 3 || len(c1.Events) != 3 || c1.Events[2].Version != 3 {
		t.Fatalf("first commit %+v", c1)
	}
	if c1.StreamID != "order-1" || c1.CommitID == "" || c1.Time.IsZero() || c1.Time.Location() != time.UTC || !c1.Time.Equal(c1.Time.Truncate(time.Millisecond)) {
		t.Fatalf("first commit's stream, id or time: %+v", c1)
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
	if c3.CommitID == c1.CommitID {
		t.Fatalf("two commits have the id %s", c1.CommitID)
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
	e := got[0].Events[1]
	var data happened
	if err := json.Unmarshal(e.Data, &data); err != nil || data != (happened{Stream: "order-1", Seq: 2, Of: 3}) || e.Name != "test.Happened.v2" || e.Meta.CausationID != "cause" {
		t.Fatalf("stored event %s %s %+v: %v", e.Name, e.Data, e.Meta, err)
	}
	tail, err := s.ReadStream(ctx, "order-1", 3, 0)
	if err != nil || len(tail) != 1 || tail[0].Position != 3 {
		t.Fatalf("tail after 3: %+v %v", tail, err)
	}
	byPos, err := s.ReadCommit(ctx, 1)
	if err != nil || byPos.StreamID != "order-1" || byPos.CommitID != c1.CommitID || !byPos.Time.Equal(c1.Time) || byPos.Version != 3 || len(byPos.Events) != 3 {
		t.Fatalf("ReadCommit(1) = %+v %v, appended %+v", byPos, err, c1)
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

func staleAppendFails(t *testing.T, s store) {
	ctx := context.Background()
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
	if cs, err := s.ReadStream(ctx, "a", 0, 0); err != nil || len(cs) != 1 || cs[0].Version != 2 {
		t.Fatalf("stream a after the conflicts: %+v %v", cs, err)
	}
}

func snapshots(t *testing.T, s store) {
	ctx := context.Background()
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
	if err := s.SaveSnapshot(ctx, "y", 1, func() {}); err == nil {
		t.Fatal("a state that is not JSON was saved")
	}
	var wrong []int
	if _, _, err := s.LoadSnapshot(ctx, "x", &wrong); err == nil {
		t.Fatal("a snapshot decoded into the wrong type")
	}
}

func upcasting(t *testing.T, s store) {
	ctx := context.Background()
	c, err := s.Append(ctx, "u", 0, []eventstore.Pending{{Event: happenedV1{S: "u", Seq: 1, Of: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	read, err := s.ReadCommit(ctx, c.Position)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []eventstore.Event{c.Events[0], read.Events[0]} {
		if h, ok := e.Event.(happened); !ok || h.Stream != "u" || e.Name != "test.Happened.v2" {
			t.Fatalf("upcast %+v", e)
		}
	}
}

func scanReadsInOrder(t *testing.T, s store) {
	ctx := context.Background()
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
	for i, p := range got {
		if p != int64(6+i) {
			t.Fatalf("scan after 5: %v", got)
		}
	}
	stop := errors.New("stop")
	n := 0
	err = s.Scan(ctx, 0, func(eventstore.Commit) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("a scan whose callback fails: %d calls, %v", n, err)
	}
}

func readsOfMissingThings(t *testing.T, s store) {
	ctx := context.Background()
	if h, err := s.Head(ctx); err != nil || h != 0 || s.KnownHead() != 0 {
		t.Fatalf("head of an empty log: %d %v, known %d", h, err, s.KnownHead())
	}
	for _, pos := range []int64{0, 1, 3} {
		if _, err := s.ReadCommit(ctx, pos); !errors.Is(err, eventstore.ErrNotFound) {
			t.Fatalf("ReadCommit(%d) of an empty log = %v", pos, err)
		}
	}
	for v := int64(0); v < 2; v++ {
		if _, err := s.Append(ctx, "m", v, events("m", 1, "")); err != nil {
			t.Fatal(err)
		}
	}
	if cs, err := s.ReadStream(ctx, "m", 2, 0); err != nil || len(cs) != 0 {
		t.Fatalf("after the end of a stream: %+v %v", cs, err)
	}
	if cs, err := s.ReadStream(ctx, "m", 0, 5); err == nil {
		t.Fatalf("a stream at 2 read to at least 5: %+v", cs)
	}
	if cs, err := s.ReadStream(ctx, "none", 0, 1); err == nil {
		t.Fatalf("a missing stream read to at least 1: %+v", cs)
	}
	if cs, err := s.ReadRange(ctx, 1, 5); err != nil || len(cs) != 2 || cs[0].Position != 1 || cs[1].Position != 2 {
		t.Fatalf("ReadRange(1, 5) over 2 commits: %+v %v", cs, err)
	}
	if cs, err := s.ReadRange(ctx, 3, 5); err != nil || len(cs) != 0 {
		t.Fatalf("ReadRange past the head: %+v %v", cs, err)
	}
	if cs, err := s.ReadRange(ctx, 2, 1); err != nil || len(cs) != 0 {
		t.Fatalf("ReadRange(2, 1): %+v %v", cs, err)
	}
	calls := 0
	if err := s.Scan(ctx, 2, func(eventstore.Commit) error { calls++; return nil }); err != nil || calls != 0 {
		t.Fatalf("scan after the head: %d calls, %v", calls, err)
	}
}

func unknownEventsAreRefused(t *testing.T, s store) {
	ctx := context.Background()
	for _, batch := range [][]eventstore.Pending{
		{{Event: unregistered{}}},
		append(events("r", 2, ""), eventstore.Pending{Event: unregistered{}}),
	} {
		if _, err := s.Append(ctx, "r", 0, batch); !errors.Is(err, eventstore.ErrUnknownEvent) {
			t.Fatalf("append of %d events, one unknown: %v", len(batch), err)
		}
	}
	if h, _ := s.Head(ctx); h != 0 {
		t.Fatalf("head %d after refused appends", h)
	}
	if c, err := s.Append(ctx, "r", 0, events("r", 1, "")); err != nil || c.Position != 1 {
		t.Fatalf("append after the refusals: %+v %v", c, err)
	}
}

func malformedAppendsAreRefused(t *testing.T, s store) {
	ctx := context.Background()
	for _, a := range []struct {
		why      string
		stream   string
		expected int64
		events   []eventstore.Pending
	}{
		{"a stream id with @", "bad@id", 0, events("x", 1, "")},
		{"an empty stream id", "", 0, events("x", 1, "")},
		{"a stream id of 201 bytes", strings.Repeat("x", 201), 0, events("x", 1, "")},
		{"no events", "x", 0, nil},
		{"a negative version", "x", -1, events("x", 1, "")},
	} {
		_, err := s.Append(ctx, a.stream, a.expected, a.events)
		if err == nil || errors.Is(err, eventstore.ErrConcurrency) {
			t.Fatalf("append with %s: %v", a.why, err)
		}
	}
	if h, _ := s.Head(ctx); h != 0 {
		t.Fatalf("head %d after refused appends", h)
	}
}
