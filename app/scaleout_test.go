package app_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/payments"
)

// holders counts the consumer-group partitions each process holds, from
// /admin/queues (lease owners are "<process>/<random>").
func holders(t *testing.T, admin *apptest.Client) (map[string]int, int) {
	t.Helper()
	count, total := map[string]int{}, 0
	for _, q := range admin.Must(200, "GET", "/admin/queues", nil).Body["items"].([]any) {
		for _, g := range q.(map[string]any)["groups"].([]any) {
			total++
			if h, _ := g.(map[string]any)["holder"].(string); h != "" {
				proc, _, _ := strings.Cut(h, "/")
				count[proc]++
			}
		}
	}
	return count, total
}

// TestWorkersShareAndTakeOverPartitions runs two worker processes with
// four partitions per consumer group: the 40 group partitions spread over
// both (each holds two of every group's four), bookings flow, and when one
// worker is killed the other takes every partition over and bookings
// still reach the read models. Payments and expiries are handled whichever
// worker consumes their commits.
func TestWorkersShareAndTakeOverPartitions(t *testing.T) {
	t.Parallel()
	bin := testenv.Bookingd(t)
	_, prefix := testenv.Redis(t)
	db := testenv.DBName(t)
	api := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, HoldTTL: 8 * time.Second, Tune: func(c *app.Config) {
		c.Role = app.RoleAPI
		c.Partitions = 4
		fastLeases(c)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := append(childEnv(t, db, prefix, app.RoleWorker), "PARTITIONS=4")
	a := testenv.Start(t, bin, env)
	b := testenv.Start(t, bin, env)
	for _, w := range []*testenv.Process{a, b} {
		if !w.WaitOutput(ctx, "worker running") {
			t.Fatalf("worker did not start:\n%s", w.Output())
		}
	}
	admin := api.Admin(t)
	last := ""
	defer func() {
		if t.Failed() {
			t.Logf("last partitions held: %s", last)
		}
	}()
	waitFor(t, 30*time.Second, "the partitions spread over both workers", func() bool {
		count, total := holders(t, admin)
		last = fmt.Sprint(count)
		if total != 40 || len(count) != 2 {
			return false
		}
		for _, n := range count {
			if n != total/2 { // each its share of every group
				return false
			}
		}
		return true
	})
	count, _ := holders(t, admin)
	t.Logf("partitions held: %v", count)
	show := apptest.Show(t, admin, 4, 10)
	user, _ := api.NewUser(t)
	book := func(seat string) {
		t.Helper()
		r := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
		waitFor(t, 30*time.Second, "booking "+seat+" projected", func() bool {
			g := user.Do("GET", "/bookings/"+r.Body["id"].(string), nil)
			return g.Status == 200 && g.Body["status"] == "held"
		})
	}
	for i := range 8 {
		book(fmt.Sprintf("A%d", i+1))
	}
	// Payments and expiries of bookings in every partition: each runs in
	// the worker that consumes its booking's partition. The bookings' ids
	// (derived from Idempotency-Keys) are picked so that the paid ones
	// cover all four partitions, so both workers must charge.
	var paid []string
	seat := func(i int) string { return fmt.Sprintf("%c%d", 'C'+i/10, 1+i%10) } // C1…C10, D1…D6
	keys := keysInEveryPartition(userID(t, user), 4, 2)
	for i := range 16 {
		headers := []string{}
		if i%2 == 0 { // the odd ones are left to expire
			headers = []string{"Idempotency-Key", keys[i/2]}
		}
		id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat(i)}}, headers...).Body["id"].(string)
		if i%2 == 0 {
			user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
			paid = append(paid, id)
		}
	}
	for _, id := range paid {
		waitConfirmed(t, user, id, 30*time.Second)
	}
	for _, w := range []*testenv.Process{a, b} {
		if n := metricSum(t, workerURL(w.Output()), "seatline_payment_gateway_calls_total{"); n == 0 {
			t.Fatalf("the worker at %s made no charge: jobs did not spread with the partitions", workerURL(w.Output()))
		}
	}
	waitFor(t, 30*time.Second, "every unpaid hold expired on the show", func() bool {
		st := seatStateMap(user.Must(200, "GET", "/shows/"+show+"/seats", nil).Body)
		for i := 1; i < 16; i += 2 {
			if st[seat(i)] != "free" {
				return false
			}
		}
		return true
	})
	a.Kill()
	waitFor(t, 45*time.Second, "the surviving worker holding every partition", func() bool {
		count, total := holders(t, admin)
		return len(count) == 1 && func() bool {
			for _, n := range count {
				return n == total
			}
			return false
		}()
	})
	for i := range 8 {
		book(fmt.Sprintf("B%d", i+1))
	}
	// A1 was held long before, and expired: the survivor runs the expiries.
	if st := seatStateMap(user.Must(200, "GET", "/shows/"+show+"/seats", nil).Body); st["A1"] != "free" || st["B8"] != "held" || st["C1"] != "sold" || st["D10"] != "free" {
		t.Fatalf("seat map after the takeover: A1 %s B8 %s C1 %s D10 %s", st["A1"], st["B8"], st["C1"], st["D10"])
	}
}

// keysInEveryPartition returns perPartition Idempotency-Keys for each of
// parts bus partitions: the bookings they name (commands.BookingIDFor)
// have their streams in that partition.
func keysInEveryPartition(userID string, parts, perPartition int) []string {
	var out []string
	count := make([]int, parts)
	for i := 0; len(out) < parts*perPartition; i++ {
		key := fmt.Sprintf("key-%d", i)
		h := fnv.New32a()
		h.Write([]byte(booking.StreamPrefix + commands.BookingIDFor(userID, key)))
		if p := int(h.Sum32() % uint32(parts)); count[p] < perPartition { // as bus.Partition
			count[p]++
			out = append(out, key)
		}
	}
	return out
}

var workerListening = regexp.MustCompile(`metrics on (http://[0-9.:]+)\)`)

// workerURL is where a worker process serves its probes and metrics.
func workerURL(out string) string {
	if m := workerListening.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// userID is the id of the account c is logged in as.
func userID(t *testing.T, c *apptest.Client) string {
	t.Helper()
	return c.Must(200, "GET", "/me", nil).Body["id"].(string)
}

// metricSum adds up the samples of a process's metric whose line starts
// with prefix.
func metricSum(t *testing.T, url, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, prefix) {
			var v float64
			fmt.Sscanf(l[strings.LastIndex(l, " ")+1:], "%g", &v)
			sum += v
		}
	}
	return sum
}
