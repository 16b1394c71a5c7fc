package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
)

type sseEvent struct {
	ID, Event string
	Data      map[string]any
}

// openStream connects to a seat stream and returns a channel of its events.
func openStream(t *testing.T, url, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("stream answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev.Data)
			}
		}
	}()
	return out, cancel
}

func next(t *testing.T, ch <-chan sseEvent, what string) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("stream closed waiting for %s", what)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event: %s", what)
	}
	return sseEvent{}
}

func seatsOf(ev sseEvent) map[string]string {
	out := map[string]string{}
	for _, s := range ev.Data["seats"].([]any) {
		m := s.(map[string]any)
		out[m["id"].(string)] = m["state"].(string)
	}
	return out
}

// TestLiveSeatMapAcrossInstances opens a seat stream on one API instance
// while holds go through another; then it disconnects, misses changes,
// and reconnects with Last-Event-ID.
func TestLiveSeatMapAcrossInstances(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	a := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix})
	b := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix})
	show := apptest.Show(t, a.Admin(t), 2, 5)
	user, _ := a.NewUser(t)
	url := b.URL + "/api/v1/shows/" + show + "/seats/stream"
	b.Client(t).Must(200, "GET", "/shows/"+show+"/seats", nil, "X-Min-Position", "1")

	events, stop := openStream(t, url, "")
	snap := next(t, events, "snapshot")
	if snap.Event != "snapshot" || len(snap.Data["seats"].([]any)) != 10 || seatsOf(snap)["A1"] != "free" {
		t.Fatalf("first event %+v", snap)
	}
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1", "A2"}}).Body["id"].(string)
	ev := next(t, events, "the hold made on the other instance")
	if st := seatsOf(ev); ev.Event != "seats" || st["A1"] != "held" || st["A2"] != "held" || ev.ID == "" {
		t.Fatalf("change %+v", ev)
	}
	lastSeen := ev.ID
	stop()

	// While disconnected: a cancellation and another hold.
	user.Must(200, "POST", "/bookings/"+id+"/cancel", nil)
	user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"B5"}})

	events, stop = openStream(t, url, lastSeen)
	defer stop()
	first := next(t, events, "the missed release")
	second := next(t, events, "the missed hold")
	if first.Event != "seats" || seatsOf(first)["A1"] != "free" || seatsOf(second)["B5"] != "held" {
		t.Fatalf("replay after reconnect: %+v then %+v", first, second)
	}
	if pos(t, first.ID) <= pos(t, lastSeen) {
		t.Fatalf("replayed an event the client had: %s after %s", first.ID, lastSeen)
	}
	// And live changes keep coming after the replay.
	user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"B1"}})
	if ev := next(t, events, "a live change after the replay"); seatsOf(ev)["B1"] != "held" {
		t.Fatalf("live after replay: %+v", ev)
	}
	if r := b.Client(t).Do("GET", "/shows/nope/seats/stream", nil); r.Status != 404 {
		t.Fatalf("stream of an unknown show: %d", r.Status)
	}
}

func pos(t *testing.T, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatalf("event id %q is not a log position", id)
	}
	return n
}

// TestReadYourWritesAcrossInstances writes through one API instance and
// reads through another with the write's position: the search index, the
// seat map and the booking all show the write at once. A position nobody
// reached ends in 503 with Retry-After.
func TestReadYourWritesAcrossInstances(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	a := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix})
	b := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix})
	admin, reader := a.Admin(t), b.Admin(t)
	show := apptest.Show(t, admin, 1, 20)
	user, _ := a.NewUser(t)
	onB := user.As(user.Token)
	onB.Base = b.URL + "/api/v1"
	for i := range 10 {
		seat := fmt.Sprintf("A%d", i+1)
		r := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
		p := jsonNumber(r.Body["position"])
		if st := seatStateMap(onB.Must(200, "GET", "/shows/"+show+"/seats?min_position="+p, nil).Body); st[seat] != "held" {
			t.Fatalf("seat %s on the other instance: %v", seat, st[seat])
		}
		if got := onB.Must(200, "GET", "/bookings/"+r.Body["id"].(string), nil, "X-Min-Position", p).Body; got["status"] != "held" {
			t.Fatalf("booking on the other instance %v", got)
		}
		list := onB.Must(200, "GET", "/shows?min_position="+p, nil).Body["items"].([]any)
		var avail float64 = -1
		for _, it := range list {
			if m := it.(map[string]any); m["id"] == show {
				avail = m["available"].(float64)
			}
		}
		if avail != float64(20-i-1) {
			t.Fatalf("search on the other instance shows %v free seats after %d holds", avail, i+1)
		}
		// A new show is searchable on the other instance at once.
		m := admin.Must(201, "POST", "/admin/movies", map[string]any{"title": "Fresh " + seat + " " + testenv.ID(), "genres": []string{"drama"},
			"language": "en", "duration_minutes": 90})
		mp := jsonNumber(m.Body["position"])
		if got := reader.Must(200, "GET", "/movies/"+m.Body["id"].(string), nil, "X-Min-Position", mp).Body; got["id"] != m.Body["id"] {
			t.Fatalf("movie on the other instance %v", got)
		}
	}
	r := onB.Do("GET", "/shows?min_position=999999999999", nil)
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Raw), "not-caught-up") {
		t.Fatalf("an unreached position: %d %s", r.Status, r.Raw)
	}
}
