package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/invariants"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/payments"
)

// TestEveryEventDeliveredTwice publishes every commit twice and runs the
// flows with side effects: an approved payment, a declined one, a
// cancellation with refund, an expiry. Each effect happens once: one
// charge, one refund, one email per event, listing counts that an event
// applied twice would skew.
func TestEveryEventDeliveredTwice(t *testing.T) {
	t.Parallel()
	badDeliveries(t, func(c *app.Config) { c.Relay.Duplicate = true })
}

// TestReorderedDeliveries runs the same flows with every batch of commits
// published shuffled, and once more up to 300ms later, after newer
// commits: consumers see commits of a stream out of order and stale ones
// after fresh ones, and each effect still happens once.
func TestReorderedDeliveries(t *testing.T) {
	t.Parallel()
	badDeliveries(t, func(c *app.Config) { c.Relay.Reorder = true })
}

func badDeliveries(t *testing.T, knob func(*app.Config)) {
	e := paymentEngine(t, knob)
	show := apptest.Show(t, e.Admin(t), 1, 8)
	ctx := context.Background()

	payer, _, payerMail := e.NewUserWithEmail(t)
	paid := payer.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1", "A2"}}).Body["id"].(string)
	payer.Must(202, "POST", "/bookings/"+paid+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
	decliner, _, declinerMail := e.NewUserWithEmail(t)
	declined := decliner.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A3"}}).Body["id"].(string)
	decliner.Must(202, "POST", "/bookings/"+declined+"/checkout", map[string]any{"payment_token": payments.TokenDecline})
	idler, _, idlerMail := e.NewUserWithEmail(t)
	idle := idler.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A4"}}).Body["id"].(string)

	waitBooking(t, payer, paid, 10*time.Second, status("confirmed"))
	payer.Must(200, "POST", "/bookings/"+paid+"/cancel", nil)
	waitBooking(t, payer, paid, 10*time.Second, func(b map[string]any) bool { return paymentStatus(b) == "refunded" })
	waitBooking(t, decliner, declined, 10*time.Second, status("payment_failed"))
	e.Clock.Advance(apptest.HoldTTL) // the idler's hold lapses
	waitBooking(t, idler, idle, 10*time.Second, status("expired"))
	testenv.WaitMail(t, idlerMail, "expired", 10*time.Second)
	testenv.WaitMail(t, payerMail, "Refund of", 10*time.Second)

	charges, refunds, err := e.App.Simulator.Ledger(ctx, paid)
	if err != nil || len(charges) != 1 || len(refunds) != 1 {
		t.Fatalf("charges %v refunds %v %v", charges, refunds, err)
	}
	for addr, want := range map[string][]string{
		payerMail:    {"Seats held", "Booking confirmed", "Refund of"},
		declinerMail: {"Seats held", "Payment failed"},
		idlerMail:    {"Seats held", "expired"},
	} {
		var ms []testenv.Mail
		for _, m := range settleMail(t, e, addr) {
			if !strings.Contains(m.Subject, "Confirm your email") { // the account's own email
				ms = append(ms, m)
			}
		}
		for _, subject := range want {
			if n := testenv.CountMail(ms, subject); n != 1 {
				t.Fatalf("%d emails %q to %s", n, subject, addr)
			}
		}
		if len(ms) != len(want) {
			t.Fatalf("%d emails to %s, want %d", len(ms), addr, len(want))
		}
	}
	readModelsMatchLog(t, e, []string{show}, nil)
	if e.App.Relay.Stats().Published == 0 {
		t.Fatal("nothing was published")
	}
}

// TestHundredExpiriesRaceNewHolds lets 100 holds lapse at the same moment
// while 100 other customers race for the same seats. No seat is ever held
// twice, every lapsed booking gets its expiry recorded, and every seat of
// a lapsed hold ends free or held by a new customer. The delay between
// each deadline and its recorded expiry is logged.
func TestHundredExpiriesRaceNewHolds(t *testing.T) {
	t.Parallel()
	e := paymentEngine(t, nil)
	show := apptest.Show(t, e.Admin(t), 5, 20)
	seats := make([]string, 100)
	for i := range seats {
		seats[i] = fmt.Sprintf("%c%d", 'A'+i/20, 1+i%20)
	}
	first := make([]*apptest.Client, 100)
	second := make([]*apptest.Client, 100)
	var wg sync.WaitGroup
	for i := range first {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			first[i], _ = e.NewUser(t)
			second[i], _ = e.NewUser(t)
		}(i)
	}
	wg.Wait()
	old := make([]string, 100)
	start := time.Now()
	for i := range first {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			old[i] = first[i].Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seats[i]}}).Body["id"].(string)
		}(i)
	}
	wg.Wait()
	t.Logf("100 holds placed in %v", time.Since(start))
	// Every hold lapses at once, and the customers race the expiry saga.
	e.Clock.Advance(apptest.HoldTTL)

	var won, lost atomic.Int64
	for i := range second {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			for try := 0; try < 20; try++ {
				n := 1 + rng.IntN(3)
				pick := rng.Perm(100)[:n]
				var want []string
				for _, p := range pick {
					want = append(want, seats[p])
				}
				r := second[i].Do("POST", "/bookings", map[string]any{"show_id": show, "seats": want})
				if r.Status == 201 {
					won.Add(1)
					return
				}
				if r.Status != 409 {
					t.Errorf("hold: %d %s", r.Status, r.Raw)
					return
				}
				lost.Add(1)
				time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			}
		}(i)
	}
	wg.Wait()
	t.Logf("new customers: %d holds, %d conflicts", won.Load(), lost.Load())

	ctx := context.Background()
	waitFor(t, 15*time.Second, "every lapsed booking has its expiry recorded", func() bool {
		for _, id := range old {
			b, _, _ := e.App.Commands.Booking(ctx, id)
			if b.State().Status != "expired" {
				return false
			}
		}
		return true
	})
	rep, err := invariants.CheckLog(ctx, e.App.Store)
	if err != nil || !rep.OK() {
		t.Fatalf("invariants: %v %v", rep.Violations, err)
	}
	s, _, _ := e.App.Commands.Show(ctx, show)
	for _, id := range old {
		if _, held := s.HoldOf(id); held {
			t.Fatalf("lapsed booking %s still holds seats on the show", id)
		}
	}
	for _, v := range s.SeatMap(e.Clock.Now()) {
		if slices.Contains(seats, v.ID) && v.State != "free" && slices.Contains(old, v.BookingID) {
			t.Fatalf("seat %s is still %s by a lapsed booking", v.ID, v.State)
		}
	}
	if won.Load() == 0 {
		t.Fatal("no new customer got a seat")
	}
	d := e.App.Expiry.Delays()
	slices.Sort(d)
	if len(d) < 100 {
		t.Fatalf("only %d expiry jobs ran", len(d))
	}
	t.Logf("expiry delay after the deadline over %d jobs: p50 %v, p99 %v, max %v (check interval 100ms)",
		len(d), d[len(d)/2], d[len(d)*99/100], d[len(d)-1])
}
