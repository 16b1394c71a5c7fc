package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/apptest"
)

func runBench(t *testing.T, e *apptest.Engine, token string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		switch k {
		case "SEATLINE_URL":
			return e.URL
		case "SEATLINE_TOKEN":
			return token
		}
		return ""
	}
	code := run(context.Background(), args, env, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestHotShowRun races 40 virtual users for a small show on Redis Streams
// with a short hold TTL, so that holds are won and lost, paid, declined and
// abandoned until they expire; the run must pass its check from the log and
// its JSON report must add up.
func TestHotShowRun(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Redis: true, HoldTTL: 2 * time.Second})
	admin := e.Admin(t)
	file := filepath.Join(t.TempDir(), "report.json")
	code, out, progress := runBench(t, e, admin.Token, "-scenario", "hot-show", "-vus", "40", "-seats", "50", "-users", "4",
		"-duration", "8s", "-abandon", "0.3", "-decline", "0.2", "-json", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, progress)
	}
	for _, want := range []string{"check from the event log: PASSED", "hold", "p99 ms", "read models vs the log"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(progress, "holds ") || !strings.Contains(progress, "free seats") {
		t.Fatalf("no progress while running:\n%s", progress)
	}
	var rep Report
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	hold := rep.Ops["hold"]
	c := rep.Check
	switch {
	case c == nil || !c.OK:
		t.Fatalf("check: %+v", c)
	case hold.OK == 0 || hold.OK != rep.Counts["holds"]:
		t.Fatalf("holds: %d answered 201, %d counted", hold.OK, rep.Counts["holds"])
	case hold.Errors["409 seat-unavailable"] == 0:
		t.Fatalf("40 users on 50 seats never lost a race: %v", hold.Errors)
	case c.Holds < hold.OK || c.Bookings < hold.OK:
		t.Fatalf("the log has %d holds and %d bookings for %d answered holds", c.Holds, c.Bookings, hold.OK)
	case c.Confirmed != rep.Counts["confirmed"] || c.Confirmed == 0:
		t.Fatalf("%d confirmed in the log, %d seen by the users", c.Confirmed, rep.Counts["confirmed"])
	case c.Expiries == 0 || c.BookingsCompared != hold.OK || c.SeatMapsCompared != 1:
		t.Fatalf("expiries %d, bookings compared %d of %d, seat maps %d", c.Expiries, c.BookingsCompared, hold.OK, c.SeatMapsCompared)
	}
}

// TestBrowseAndMixedRuns runs the other scenarios briefly.
func TestBrowseAndMixedRuns(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	admin := e.Admin(t)
	code, out, progress := runBench(t, e, admin.Token, "-scenario", "browse", "-vus", "8", "-shows", "4", "-seats", "40", "-users", "2",
		"-duration", "2s", "-json", "-")
	if code != 0 {
		t.Fatalf("browse: exit %d\n%s\n%s", code, out, progress)
	}
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-json - should print only JSON: %v\n%s", err, out)
	}
	if rep.Ops["search"].OK == 0 || rep.Ops["seat map"].OK == 0 || len(rep.Ops["search"].Errors) > 0 || rep.Ops["hold"].Requests != 0 {
		t.Fatalf("browse report: %+v", rep.Ops)
	}
	code, out, progress = runBench(t, e, admin.Token, "-scenario", "mixed", "-vus", "8", "-shows", "4", "-seats", "40", "-users", "2",
		"-duration", "3s", "-browse", "0.5")
	if code != 0 || !strings.Contains(out, "PASSED") {
		t.Fatalf("mixed: exit %d\n%s\n%s", code, out, progress)
	}
	if code, _, errOut := runBench(t, e, admin.Token, "-scenario", "nope"); code != 2 || !strings.Contains(errOut, "unknown scenario") {
		t.Fatalf("a bad scenario: exit %d, %s", code, errOut)
	}
}
