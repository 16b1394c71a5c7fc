package app_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/bus"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/history"
	"github.com/seatline/seatline/internal/invariants"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/projections"
	"github.com/seatline/seatline/relay"
)

// rawInsertRate is the database's ceiling for single inserts of a
// commit-sized document by workers goroutines at once.
func rawInsertRate(b *testing.B, workers, n int) float64 {
	b.Helper()
	ctx := context.Background()
	coll := testenv.Client(b).Database(testenv.DBName(b)).Collection("raw")
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%019d", i)}, {Key: "stream_id", Value: fmt.Sprintf("s-%d", i)},
					{Key: "events", Value: bson.A{bson.D{{Key: "name", Value: "show.SeatsHeld.v1"}, {Key: "data", Value: `{"booking_id":"b","seats":["A1"]}`}}}}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkHotShow races clients over HTTP for the 2,000 seats of one show,
// one seat per hold, until every seat is held, and compares the hold rate
// with the database's single-insert ceiling measured just before with as
// many goroutines. Holds on one show are batched per stream and appended
// together, so the rate can pass the ceiling; it also reports hold
// latency percentiles and checks the log's invariants.
//
//	go test -run XXX -bench HotShow -benchtime 1x ./app/
func BenchmarkHotShow(b *testing.B) {
	for _, bus := range []string{"memory", "redis"} {
		for _, clients := range []int{200, 500} {
			b.Run(fmt.Sprintf("bus=%s/clients=%d", bus, clients), func(b *testing.B) {
				for range b.N {
					hotShow(b, bus == "redis", clients)
				}
			})
		}
	}
}

func hotShow(b *testing.B, redis bool, clients int) {
	e := apptest.Start(b, apptest.Options{Redis: redis})
	admin := e.Admin(b)
	show := apptest.Show(b, admin, 40, 50)
	users := make([]*apptest.Client, clients)
	for i := range users {
		users[i], _ = e.NewUser(b)
	}
	ceiling := rawInsertRate(b, clients, 4000)
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if n >= 2000 {
					return
				}
				seat := fmt.Sprintf("%s%d", row(int(n/50)), 1+n%50)
				t0 := time.Now()
				r := u.Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
				lat[c] = append(lat[c], time.Since(t0))
				if r.Status != 201 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	rate := 2000 / time.Since(start).Seconds()
	all := slices.Concat(lat...)
	if failed.Load() > 0 {
		b.Fatalf("%d holds failed", failed.Load())
	}
	rep, err := invariants.CheckLog(context.Background(), e.App.Store)
	if err != nil || !rep.OK() {
		b.Fatalf("invariants: %v %v", err, rep.Violations)
	}
	b.ReportMetric(rate/ceiling, "holds/insert-one")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds())/1000, "p99-ms")
	b.Logf("%d clients: %.0f holds/s on one show vs %.0f single inserts/s: ratio %.2f; hold latency p50 %v p95 %v p99 %v max %v; %d holds in the log, 0 violations",
		clients, rate, ceiling, rate/ceiling, percentile(all, 0.5).Round(time.Millisecond), percentile(all, 0.95).Round(time.Millisecond),
		percentile(all, 0.99).Round(time.Millisecond), percentile(all, 1).Round(time.Millisecond), rep.Holds)
}

// BenchmarkVisibility offers holds at a steady 250 and 1,000 commands/s
// for five seconds (spread over 20 shows) to an engine on Redis Streams, and
// measures for each the time from its answer until the seat maps' read
// model has handled its position (what read-your-writes waits for).
//
//	go test -run XXX -bench Visibility -benchtime 1x ./app/
func BenchmarkVisibility(b *testing.B) {
	for _, rate := range []int{250, 1000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { visibility(b, rate) })
	}
}

func visibility(b *testing.B, rate int) {
	for range b.N {
		e := apptest.Start(b, apptest.Options{Redis: true})
		admin := e.Admin(b)
		const shows, seconds = 20, 5
		ids := make([]string, shows)
		for i := range ids {
			ids[i] = apptest.Show(b, admin, 40, 50)
		}
		users := make([]*apptest.Client, 50)
		for i := range users {
			users[i], _ = e.NewUser(b)
		}
		type acked struct {
			pos int64
			at  time.Time
		}
		var (
			mu      sync.Mutex
			pending []acked
			visible []time.Duration
			answer  []time.Duration
			failed  atomic.Int64
			wg      sync.WaitGroup
		)
		ctx, stop := context.WithCancel(context.Background())
		watcher := make(chan struct{})
		go func() { // the read model's progress, every millisecond
			defer close(watcher)
			for {
				w, err := e.App.Freshness.Watermark(context.Background(), projections.SeatMapsProjection)
				if err == nil {
					now := time.Now()
					mu.Lock()
					rest := pending[:0]
					for _, a := range pending {
						if a.pos <= w {
							visible = append(visible, now.Sub(a.at))
						} else {
							rest = append(rest, a)
						}
					}
					pending = rest
					mu.Unlock()
				}
				mu.Lock()
				left := len(pending)
				mu.Unlock()
				if ctx.Err() != nil && left == 0 {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		sem := make(chan struct{}, 400)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		start := time.Now()
		for n := 0; n < rate*seconds; n++ {
			<-tick.C
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				show, k := ids[n%shows], n/shows
				seat := fmt.Sprintf("%s%d", row(k/50%40), 1+k%50)
				t0 := time.Now()
				r := users[n%len(users)].Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
				if r.Status != 201 {
					failed.Add(1)
					return
				}
				at := time.Now()
				pos := int64(r.Body["position"].(float64))
				mu.Lock()
				pending = append(pending, acked{pos, at})
				answer = append(answer, at.Sub(t0))
				mu.Unlock()
			}()
		}
		tick.Stop()
		wg.Wait()
		offered := float64(rate*seconds) / time.Since(start).Seconds()
		stop()
		select {
		case <-watcher:
		case <-time.After(60 * time.Second):
			b.Fatal("positions never became visible")
		}
		if failed.Load() > 0 {
			b.Fatalf("%d holds failed", failed.Load())
		}
		st := e.App.Relay.Stats()
		b.Logf("relay: %d published from the hand-off, %d dropped, %d republished by the catch-up", st.Published, st.Dropped, st.Republished)
		b.ReportMetric(float64(percentile(visible, 0.99).Microseconds())/1000, "visible-p99-ms")
		b.ReportMetric(offered, "commands/s")
		b.Logf("%.0f commands/s offered for %ds: answered p50 %v p99 %v; visible in the seat maps after the answer p50 %v p95 %v p99 %v max %v",
			offered, seconds, percentile(answer, 0.5).Round(time.Millisecond), percentile(answer, 0.99).Round(time.Millisecond),
			percentile(visible, 0.5).Round(time.Millisecond), percentile(visible, 0.95).Round(time.Millisecond),
			percentile(visible, 0.99).Round(time.Millisecond), percentile(visible, 1).Round(time.Millisecond))
		e.Stop()
	}
}

// BenchmarkRelayVsXAdd compares the relay's catch-up, publishing a log of
// 20,000+ events nobody has published yet to Redis Streams, with the
// ceiling of XADDs of the same messages from four goroutines.
//
//	go test -run XXX -bench RelayVsXAdd -benchtime 1x ./app/
func BenchmarkRelayVsXAdd(b *testing.B) {
	ctx := context.Background()
	rc, prefix := testenv.Redis(b)
	db := testenv.Client(b).Database(testenv.DBName(b))
	store, err := eventstore.Open(ctx, db, app.Registry(), eventstore.Options{Logger: testenv.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := history.Write(ctx, store, history.Options{Events: 20_000}); err != nil {
		b.Fatal(err)
	}
	head, _ := store.Head(ctx)
	commits, err := store.ReadRange(ctx, 1, head)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		// Ceiling: the same messages, XADDed one call each.
		stream := fmt.Sprintf("%sraw-%d", prefix, time.Now().UnixNano())
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(len(commits)) {
						return
					}
					m, err := bus.Encode(commits[i])
					if err != nil {
						b.Error(err)
						return
					}
					if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"payload": []byte(m.Payload)}}).Err(); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		xadd := float64(len(commits)) / time.Since(start).Seconds()

		p := fmt.Sprintf("%srelay-%d:", prefix, time.Now().UnixNano())
		bs, err := bus.NewRedis(rc, bus.RedisOptions{Prefix: p}, testenv.Logger(b))
		if err != nil {
			b.Fatal(err)
		}
		co := coord.NewRedis(rc, p)
		r := relay.New(store, bs, co, co, db, relay.Options{Groups: []string{"bench"}, Logger: testenv.Logger(b)})
		runCtx, cancel := context.WithCancel(ctx)
		start = time.Now()
		go r.Run(runCtx)
		for {
			miss, err := co.Missing(ctx, "", 0, head)
			if err != nil {
				b.Fatal(err)
			}
			if len(miss) == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		rate := float64(head) / time.Since(start).Seconds()
		cancel()
		b.ReportMetric(rate/xadd, "relay/xadd")
		b.Logf("relay published %d commits at %.0f commits/s; XADD ceiling %.0f messages/s: ratio %.2f", head, rate, xadd, rate/xadd)
	}
}
