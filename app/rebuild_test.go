package app_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/history"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/projections"
)

// seedHistory writes a history of at least events events into db's log, as
// if the engine had run for a while: the sagas handled it long ago (their
// progress is marked), the read models have yet to be built.
func seedHistory(t *testing.T, db, prefix string, events int) (history.Stats, int64) {
	t.Helper()
	ctx := context.Background()
	store, err := eventstore.Open(ctx, testenv.Client(t).Database(db), app.Registry(), eventstore.Options{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	start := time.Now()
	st, err := history.Write(ctx, store, history.Options{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := testenv.Redis(t)
	marks := coord.NewRedis(rc, prefix)
	all := make([]int64, head)
	for i := range all {
		all[i] = int64(i + 1)
	}
	for _, g := range app.Groups() {
		if strings.HasPrefix(g, "saga.") {
			if err := marks.MarkConsumed(ctx, g, all...); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("history: %d events in %d commits (%d bookings) written in %v", st.Events, st.Commits, st.Bookings, time.Since(start).Round(time.Millisecond))
	return st, head
}

// rebuildHistory is the size of the logs rebuild tests start from: enough
// commits for scans in batches, catch-ups and thousands of documents to
// compare. The 100,000-event log belongs to BenchmarkRebuild.
const rebuildHistory = 12_000

// TestRebuildUnderLoad rebuilds the bookings and seat-map read models from
// a log of thousands of bookings while customers keep booking and reading
// through two API instances. At the switch, with the projectors paused,
// the rebuilt models must equal the live ones document for document; no
// query may fail; progress is reported; the old generation is dropped;
// and the only emails sent are those of the live bookings.
func TestRebuildUnderLoad(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	hist, head := seedHistory(t, db, prefix, rebuildHistory)
	if hist.Events < rebuildHistory {
		t.Fatalf("history has %d events", hist.Events)
	}
	// Each rebuild stops at its first progress report until the test has
	// seen that progress through the API.
	paused, resume := make(chan projections.Rebuild), make(chan struct{})
	var seen sync.Map
	onProgress := func(ctx context.Context, rb projections.Rebuild) {
		if _, again := seen.LoadOrStore(rb.ID, true); again {
			return
		}
		select {
		case paused <- rb:
		case <-ctx.Done():
			return
		}
		select {
		case <-resume:
		case <-ctx.Done():
		}
	}
	var compared atomic.Int64
	tune := func(c *app.Config) {
		fastLeases(c)
		c.Rebuild.DropAfter = time.Second
	}
	onSwitch := func(ctx context.Context, m projections.Model, old, new *mongo.Database) error {
		n, err := sameDocuments(ctx, m.Collections, old, new)
		compared.Add(int64(n))
		return err
	}
	w := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: tune,
		Hooks: app.Hooks{OnSwitch: onSwitch, OnRebuildProgress: onProgress}})
	api2 := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: func(c *app.Config) {
		c.Role = app.RoleAPI
		fastLeases(c)
	}})
	admin := w.Admin(t)
	start := time.Now()
	waitProjected(t, admin, head, 2*time.Minute)
	t.Logf("live projectors built the read models from %d commits in %v", head, time.Since(start).Round(time.Millisecond))

	// Traffic: holds through both instances, reads of seat maps, bookings
	// and lists through both, until the rebuilds are done.
	show := apptest.Show(t, admin, 8, 50)
	for _, e := range []*apptest.Engine{w, api2} { // customers find the show before they book
		c := e.Client(t)
		waitFor(t, time.Minute, "the new show's seat map served", func() bool { return c.Do("GET", "/shows/"+show+"/seats", nil).Status == 200 })
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var booked []map[string]any // id, seat, client
	var failures []string
	var reads atomic.Int64
	users := make([]*apptest.Client, 4)
	for i := range users {
		users[i], _ = w.NewUser(t)
	}
	onB := func(c *apptest.Client) *apptest.Client {
		cc := c.As(c.Token)
		cc.Base = api2.URL + "/api/v1"
		return cc
	}
	for i, u := range users {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				seat := fmt.Sprintf("%s%d", string(rune('A'+i*2+n/50%2)), n%50+1)
				c := u
				if n%2 == 1 {
					c = onB(u)
				}
				r, err := c.Try("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
				mu.Lock()
				if err != nil || r.Status != 201 {
					failures = append(failures, fmt.Sprintf("hold %s: %v %d %s", seat, err, r.Status, r.Raw))
				} else {
					booked = append(booked, map[string]any{"id": r.Body["id"], "seat": seat, "user": i, "position": r.Body["position"]})
				}
				mu.Unlock()
				if n >= 99 {
					<-stop
					return
				}
				time.Sleep(40 * time.Millisecond)
			}
		}()
		go func() { // reader
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				c := u
				if n%2 == 1 {
					c = onB(u)
				}
				// A booking is read as its owner would after making it: at
				// least at the position the hold answered with.
				paths := [][2]string{{"/shows/" + show + "/seats", "0"}, {"/bookings", "0"}, {"/shows/" + hist.Shows[n%len(hist.Shows)] + "/seats", "0"}}
				mu.Lock()
				for _, b := range booked {
					if b["user"] == i {
						paths = append(paths, [2]string{"/bookings/" + b["id"].(string), jsonNumber(b["position"])})
						break
					}
				}
				mu.Unlock()
				for _, pp := range paths {
					p := pp[0]
					r, err := c.Try("GET", p, nil, "X-Min-Position", pp[1])
					reads.Add(1)
					if err != nil || r.Status != 200 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("GET %s: %v %d %s", p, err, r.Status, r.Raw))
						mu.Unlock()
					}
				}
			}
		}()
	}

	// Rebuild two models at once.
	names := []string{"bookings", "seatmaps"}
	for _, n := range names {
		r := admin.Must(202, "POST", "/admin/projections/"+n+"/rebuild", nil)
		if r.Body["status"] != "queued" || r.Body["projection"] != "projection."+n {
			t.Fatalf("rebuild answered %v", r.Body)
		}
	}
	admin.Must(409, "POST", "/admin/projections/bookings/rebuild", nil)
	admin.Must(404, "POST", "/admin/projections/nope/rebuild", nil)
	for range names {
		var at projections.Rebuild
		select {
		case at = <-paused:
		case <-time.After(2 * time.Minute):
			t.Fatal("no rebuild reported progress")
		}
		rb := admin.Must(200, "GET", "/admin/projections/"+at.Projection+"/rebuild", nil).Body
		if rb["status"] != "running" || rb["percent"].(float64) <= 0 || rb["events_per_second"].(float64) <= 0 || rb["events"].(float64) <= 0 {
			t.Errorf("progress of %s while it runs: %v", at.Projection, rb)
		}
		resume <- struct{}{}
	}
	final := map[string]map[string]any{}
	deadline := time.Now().Add(4 * time.Minute)
	for len(final) < len(names) {
		if time.Now().After(deadline) {
			t.Fatalf("rebuilds not done: %v", final)
		}
		for _, n := range names {
			if final[n] != nil {
				continue
			}
			rb := admin.Must(200, "GET", "/admin/projections/"+n+"/rebuild", nil).Body
			switch rb["status"] {
			case "done", "failed", "cancelled":
				final[n] = rb
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, n := range names {
		rb := final[n]
		if rb["status"] != "done" || rb["events"].(float64) < float64(hist.Events) {
			t.Fatalf("rebuild of %s ended %v", n, rb)
		}
		t.Logf("rebuild of %s: %.0f events at %.0f events/s, into %s", n, rb["events"], rb["events_per_second"], rb["new_db"])
	}
	if compared.Load() < int64(hist.Bookings) {
		t.Fatalf("the switch compared %d documents; the history has %d bookings", compared.Load(), hist.Bookings)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during the rebuilds, first: %s", len(failures), reads.Load(), failures[0])
	}
	t.Logf("%d reads and %d holds went through during the rebuilds", reads.Load(), len(booked))

	// Readers and projectors are on the new generation; the old one is gone.
	for _, n := range names {
		waitFor(t, 30*time.Second, "the old generation of "+n+" dropped", func() bool {
			return admin.Must(200, "GET", "/admin/projections/"+n+"/rebuild", nil).Body["old_dropped"] == true
		})
	}
	items := admin.Must(200, "GET", "/admin/projections", nil).Body["items"].([]any)
	for _, it := range items {
		p := it.(map[string]any)
		for _, n := range names {
			if p["name"] == "projection."+n {
				if p["db"] != final[n]["new_db"] || p["state"] == "rebuilding" {
					t.Fatalf("after the rebuild %v", p)
				}
				old := testenv.Client(t).Database(final[n]["old_db"].(string))
				colls, _ := old.ListCollectionNames(context.Background(), bson.D{})
				if slices.Contains(colls, strings.TrimPrefix(n, "projection.")) {
					t.Errorf("the old generation of %s still has %v", n, colls)
				}
			}
		}
	}
	// Holds made after the switch reached the new generation.
	for _, b := range booked {
		c := users[b["user"].(int)]
		got := onB(c).Must(200, "GET", "/bookings/"+b["id"].(string), nil, "X-Min-Position", jsonNumber(b["position"])).Body
		if got["status"] != "held" {
			t.Fatalf("booking %v after the rebuild: %v", b, got)
		}
	}
	seats := seatStateMap(admin.Must(200, "GET", "/shows/"+show+"/seats", nil).Body)
	for _, b := range booked {
		if seats[b["seat"].(string)] != "held" {
			t.Fatalf("seat %s is %s after the rebuild", b["seat"], seats[b["seat"].(string)])
		}
	}
	// No email but the live holds' (and the test users' account emails):
	// neither the history nor the rebuild sent any.
	settle(t, w)
	emails := testenv.Client(t).Database(db + "_notifications").Collection("emails")
	notAccount := bson.D{{Key: "template", Value: bson.D{{Key: "$ne", Value: "verify_email"}}}}
	if n, err := emails.CountDocuments(context.Background(), notAccount); err != nil || n != int64(len(booked)) {
		t.Fatalf("%d emails for %d live holds (%v)", n, len(booked), err)
	}
	rawScan(t, db, head)
}

// rawScan logs the rate of a plain sorted scan of the log, the ceiling a
// rebuild is measured against.
func rawScan(t *testing.T, db string, head int64) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	cur, err := testenv.Client(t).Database(db).Collection("commits").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	var commits, events int
	for cur.Next(ctx) {
		var d struct {
			Events []bson.Raw `bson:"events"`
		}
		if err := cur.Decode(&d); err != nil {
			t.Fatal(err)
		}
		commits++
		events += len(d.Events)
	}
	el := time.Since(start)
	t.Logf("raw sorted scan of the log: %d commits, %d events in %v = %.0f events/s", commits, events, el.Round(time.Millisecond), float64(events)/el.Seconds())
}

// waitProjected waits until every read model has applied the log up to pos.
func waitProjected(t *testing.T, admin *apptest.Client, pos int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		behind := ""
		for _, it := range admin.Must(200, "GET", "/admin/projections", nil).Body["items"].([]any) {
			p := it.(map[string]any)
			if p["checkpoint"].(float64) < float64(pos) {
				behind = fmt.Sprintf("%v at %v of %d", p["name"], p["checkpoint"], pos)
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read models not caught up: %s", behind)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sameDocuments compares two generations of a model's collections document
// for document and returns how many it compared.
func sameDocuments(ctx context.Context, colls []string, a, b *mongo.Database) (int, error) {
	n := 0
	for _, c := range colls {
		x, err := docsByID(ctx, a.Collection(c))
		if err != nil {
			return n, err
		}
		y, err := docsByID(ctx, b.Collection(c))
		if err != nil {
			return n, err
		}
		if len(x) != len(y) {
			return n, fmt.Errorf("%s: %d documents live, %d rebuilt", c, len(x), len(y))
		}
		for id, dx := range x {
			if !reflect.DeepEqual(dx, y[id]) {
				return n, fmt.Errorf("%s/%s differs:\nlive    %v\nrebuilt %v", c, id, dx, y[id])
			}
			n++
		}
	}
	return n, nil
}

func docsByID(ctx context.Context, c *mongo.Collection) (map[string]any, error) {
	cur, err := c.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var docs []bson.D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(docs))
	for _, d := range docs {
		m := normalize(d).(map[string]any)
		out[fmt.Sprint(m["_id"])] = m
	}
	return out, nil
}

// normalize turns documents into maps, so that field order (which follows
// Go map order for map fields) does not count.
func normalize(v any) any {
	switch x := v.(type) {
	case bson.D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = normalize(e.Value)
		}
		return m
	case bson.A:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// TestRebuildCancel cancels a running rebuild: it stops before switching,
// readers stay on the current generation and the partial one is dropped.
func TestRebuildCancel(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	_, head := seedHistory(t, db, prefix, 3_000)
	// The rebuild stops at its first progress report until the cancel is in.
	running, cancelled := make(chan projections.Rebuild, 1), make(chan struct{})
	var once sync.Once
	onProgress := func(ctx context.Context, rb projections.Rebuild) {
		once.Do(func() {
			running <- rb
			select {
			case <-cancelled:
			case <-ctx.Done():
			}
		})
	}
	e := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Tune: fastLeases,
		Hooks: app.Hooks{OnRebuildProgress: onProgress}})
	admin := e.Admin(t)
	waitProjected(t, admin, head, 2*time.Minute)
	admin.Must(409, "POST", "/admin/projections/shows/rebuild/cancel", nil)
	admin.Must(404, "GET", "/admin/projections/shows/rebuild", nil)
	admin.Must(202, "POST", "/admin/projections/shows/rebuild", nil)
	var newDB string
	select {
	case rb := <-running:
		newDB = rb.NewDB
	case <-time.After(time.Minute):
		t.Fatal("the rebuild never started")
	}
	if rb := admin.Must(200, "GET", "/admin/projections/shows/rebuild", nil).Body; rb["status"] != "running" || rb["new_db"] != newDB {
		t.Fatalf("a running rebuild shows %v", rb)
	}
	r := admin.Must(202, "POST", "/admin/projections/shows/rebuild/cancel", nil)
	close(cancelled)
	if r.Body["cancel_requested"] != true {
		t.Fatalf("cancel answered %v", r.Body)
	}
	var rb map[string]any
	for end := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		rb = admin.Must(200, "GET", "/admin/projections/shows/rebuild", nil).Body
		if rb["status"] != "running" && rb["status"] != "queued" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("not cancelled: %v", rb)
		}
	}
	if rb["status"] != "cancelled" {
		t.Fatalf("after cancel: %v", rb)
	}
	names, err := testenv.Client(t).ListDatabaseNames(context.Background(), bson.D{})
	if err != nil || slices.Contains(names, newDB) {
		t.Fatalf("the partial generation %s is still there (%v)", newDB, err)
	}
	for _, it := range admin.Must(200, "GET", "/admin/projections", nil).Body["items"].([]any) {
		if p := it.(map[string]any); p["name"] == "projection.shows" && p["db"] != db+"_shows" {
			t.Fatalf("readers moved after a cancelled rebuild: %v", p)
		}
	}
	// The listing still answers from the current generation.
	if items := admin.Must(200, "GET", "/shows?include_past=true", nil).Body["items"].([]any); len(items) == 0 {
		t.Fatal("no shows after the cancelled rebuild")
	}
}
