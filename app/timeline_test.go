package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/payments"
)

// TestBookingTimeline follows a booking from hold to confirmation email and
// checks the admin timeline: every step in log order, each with the
// correlation id of the HTTP request that started its flow, and a
// causation chain from the checkout through the gateway call, the payment,
// the sale of the seats and the confirmation to its email.
func TestBookingTimeline(t *testing.T) {
	t.Parallel()
	e := paymentEngine(t, nil)
	admin := e.Admin(t)
	show := apptest.Show(t, admin, 1, 6)
	user, _, email := e.NewUserWithEmail(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1", "A2"}}, "X-Request-Id", "req-hold-1").Body["id"].(string)
	r := user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove}, "X-Request-Id", "req-pay-1")
	if r.Header.Get("X-Request-Id") != "req-pay-1" {
		t.Fatalf("X-Request-Id not echoed: %q", r.Header.Get("X-Request-Id"))
	}
	waitBooking(t, user, id, 15*time.Second, status("confirmed"))
	testenv.WaitMail(t, email, "Booking confirmed", 15*time.Second)

	var items []map[string]any
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		tl := admin.Must(200, "GET", "/admin/bookings/"+id+"/timeline", nil).Body
		if tl["booking_id"] != id || tl["show_id"] != show {
			t.Fatalf("timeline header %v", tl)
		}
		items = nil
		for _, it := range tl["items"].([]any) {
			items = append(items, it.(map[string]any))
		}
		if sentEmail(items, "booking_confirmed") || time.Now().After(end) {
			break
		}
	}
	find := func(kind, name string) map[string]any {
		t.Helper()
		for _, it := range items {
			if it["kind"] == kind && it["name"] == name {
				return it
			}
		}
		t.Fatalf("no %s %s in the timeline: %v", kind, name, names(items))
		return nil
	}
	held := find("event", "show.SeatsHeld.v1")
	placed := find("event", "booking.Placed.v1")
	checkout := find("event", "booking.CheckoutStarted.v1")
	call := find("payment_call", "charge")
	paid := find("event", "booking.PaymentSucceeded.v1")
	sold := find("event", "show.SeatsSold.v1")
	confirmed := find("event", "booking.Confirmed.v1")
	holdMail := find("email", "hold_created")
	confirmMail := find("email", "booking_confirmed")

	for _, it := range []map[string]any{held, placed} {
		if it["correlation_id"] != "req-hold-1" || it["causation_id"] != "req-hold-1" {
			t.Errorf("%s: correlation %v causation %v", it["name"], it["correlation_id"], it["causation_id"])
		}
	}
	for _, it := range []map[string]any{checkout, call, paid, sold, confirmed} {
		if it["correlation_id"] != "req-pay-1" && it["kind"] != "email" {
			t.Errorf("%s %s: correlation %v, want the checkout request's", it["kind"], it["name"], it["correlation_id"])
		}
	}
	chain := []struct {
		item  map[string]any
		cause map[string]any
	}{{call, checkout}, {paid, checkout}, {sold, paid}, {confirmed, paid}, {holdMail, placed}, {confirmMail, confirmed}}
	for _, c := range chain {
		if c.item["caused_by"] != c.cause["event_id"] {
			t.Errorf("%s %s caused by %v, want %s (%v)", c.item["kind"], c.item["name"], c.item["caused_by"], c.cause["name"], c.cause["event_id"])
		}
	}
	// Log order, and every item after its cause.
	index := map[any]int{}
	var last float64
	for i, it := range items {
		if it["kind"] == "event" {
			p := it["position"].(float64)
			if p < last {
				t.Fatalf("events out of log order at %d: %v", i, names(items))
			}
			last = p
			index[it["event_id"]] = i
		}
	}
	for i, it := range items {
		if c, ok := it["caused_by"]; ok && index[c] > i {
			t.Errorf("%s %s comes before its cause", it["kind"], it["name"])
		}
	}
	// Personal data is masked; the payment token too.
	if tok := checkout["data"].(map[string]any)["payment_token"]; tok == payments.TokenApprove || !strings.HasSuffix(tok.(string), "****") {
		t.Errorf("payment token shown as %v", tok)
	}
	if to := confirmMail["data"].(map[string]any)["to"].(string); strings.Contains(to, strings.Split(email, "@")[0]) {
		t.Errorf("email address shown as %q", to)
	}
	if call["data"].(map[string]any)["outcome"] != "succeeded" {
		t.Errorf("gateway call %v", call)
	}
	user.Must(403, "GET", "/admin/bookings/"+id+"/timeline", nil)
	admin.Must(404, "GET", "/admin/bookings/no-such-booking/timeline", nil)
}

func sentEmail(items []map[string]any, tmpl string) bool {
	for _, it := range items {
		if it["kind"] == "email" && it["name"] == tmpl {
			return true
		}
	}
	return false
}

func names(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it["kind"].(string)+":"+it["name"].(string))
	}
	return out
}
