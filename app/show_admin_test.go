package app_test

import (
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/payments"
)

// TestCancelledShowRefundsEveryBooking cancels a show with a confirmed, a
// held and a pending booking: the confirmed one is refunded in full, the
// held one cancelled, the pending one (its payment in flight) refunded as
// soon as its payment lands; each holder gets one email saying so, and the
// show takes no more holds.
func TestCancelledShowRefundsEveryBooking(t *testing.T) {
	t.Parallel()
	const slowPayment = time.Minute // answered well before the booking's deadline
	e := paymentEngine(t, func(c *app.Config) { c.SimulatorSlowDelay, c.PaymentTimeout = slowPayment, 10*time.Minute })
	admin := e.Admin(t)
	show := apptest.Show(t, admin, 1, 6)
	payer, _, payerMail := e.NewUserWithEmail(t)
	paid := payer.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	payer.Must(202, "POST", "/bookings/"+paid+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
	waitBooking(t, payer, paid, 10*time.Second, status("confirmed"))
	holder, _, holderMail := e.NewUserWithEmail(t)
	held := holder.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A2"}}).Body["id"].(string)
	slow, _, slowMail := e.NewUserWithEmail(t)
	pending := slow.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A3"}}).Body["id"].(string)
	slow.Must(202, "POST", "/bookings/"+pending+"/checkout", map[string]any{"payment_token": payments.TokenSlow})
	waitFor(t, 10*time.Second, "the slow charge is at the card network", func() bool { return e.App.Simulator.Waiting(pending) })

	r := admin.Must(200, "POST", "/admin/shows/"+show+"/cancel", map[string]any{"reason": "projector broke"})
	if r.Body["status"] != "cancelled" {
		t.Fatalf("cancel answered %v", r.Body)
	}
	b := waitBooking(t, payer, paid, 10*time.Second, func(b map[string]any) bool { return paymentStatus(b) == "refunded" })
	if b["status"] != "refunded" || paymentReason(b) != "show-cancelled" {
		t.Fatalf("confirmed booking of a cancelled show: %v", b)
	}
	if b := waitBooking(t, holder, held, 10*time.Second, status("cancelled")); b["status"] != "cancelled" {
		t.Fatalf("held booking of a cancelled show: %v", b)
	}
	e.Clock.Advance(slowPayment) // the payment lands after the show was cancelled
	b = waitBooking(t, slow, pending, 15*time.Second, func(b map[string]any) bool { return paymentStatus(b) == "refunded" })
	if paymentReason(b) != "show-cancelled" {
		t.Fatalf("a payment landing after the show was cancelled: %v", b)
	}
	for addr, subject := range map[string]string{payerMail: "Refund of", holderMail: "Booking cancelled", slowMail: "Refund of"} {
		testenv.WaitMail(t, addr, subject, 10*time.Second)
		if n := testenv.CountMail(settleMail(t, e, addr), subject); n != 1 {
			t.Fatalf("%d emails %q to %s", n, subject, addr)
		}
	}
	other, _ := e.NewUser(t)
	if r := other.Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A5"}}); r.Status != 409 || !contains(string(r.Raw), "show-cancelled") {
		t.Fatalf("a hold on a cancelled show: %d %s", r.Status, r.Raw)
	}
	listed := e.Client(t).Must(200, "GET", "/shows/"+show, nil).Body
	if listed["status"] != "cancelled" {
		t.Fatalf("listing of a cancelled show: %v", listed)
	}
	if items := e.Client(t).Must(200, "GET", "/shows?movie_id="+listed["movie_id"].(string), nil).Body["items"].([]any); len(items) != 0 {
		t.Fatal("a cancelled show is still listed")
	}
}

// TestRescheduledShowNotifiesAndAllowsFreeCancel moves a show to a time
// inside the refund cutoff: holders are told, and may still cancel for a
// full refund, which a show that did not move would refuse.
func TestRescheduledShowNotifiesAndAllowsFreeCancel(t *testing.T) {
	t.Parallel()
	e := paymentEngine(t, func(c *app.Config) { c.RefundCutoff = 2 * time.Hour })
	admin := e.Admin(t)
	show := apptest.Show(t, admin, 1, 6)
	user, _, email := e.NewUserWithEmail(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
	waitBooking(t, user, id, 10*time.Second, status("confirmed"))

	// A second show, not moved, starting within the cutoff: no refund.
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	movie := admin.Must(201, "POST", "/admin/movies", map[string]any{"title": "Soon", "language": "en", "duration_minutes": 90}).Body["id"]
	venue := admin.Must(201, "POST", "/admin/venues", map[string]any{"name": "V", "city": "Goa", "sections": []map[string]any{{"category": "x", "rows": []string{"A"}, "seats_per_row": 2}}}).Body["id"]
	near := admin.Must(201, "POST", "/admin/shows", map[string]any{"movie_id": movie, "venue_id": venue, "starts_at": soon.Format(time.RFC3339), "prices": map[string]int{"x": 500}, "currency": "INR"}).Body["id"].(string)
	late := user.Must(201, "POST", "/bookings", map[string]any{"show_id": near, "seats": []string{"A1"}}).Body["id"].(string)
	user.Must(202, "POST", "/bookings/"+late+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
	waitBooking(t, user, late, 10*time.Second, status("confirmed"))
	if r := user.Do("POST", "/bookings/"+late+"/cancel", nil); r.Status != 409 || !contains(string(r.Raw), "cancellation-closed") {
		t.Fatalf("cancelling within the cutoff: %d %s", r.Status, r.Raw)
	}

	moved := admin.Must(200, "PATCH", "/admin/shows/"+show, map[string]any{"starts_at": soon.Format(time.RFC3339)}).Body
	if moved["starts_at"] != soon.Format(time.RFC3339) {
		t.Fatalf("rescheduled show %v", moved)
	}
	testenv.WaitMail(t, email, "moved to", 10*time.Second)
	if c := user.Must(200, "POST", "/bookings/"+id+"/cancel", nil).Body; c["status"] != "refunded" {
		t.Fatalf("free cancellation after a reschedule: %v", c)
	}
	admin.Must(422, "PATCH", "/admin/shows/"+show, map[string]any{"starts_at": time.Now().Add(-time.Hour).Format(time.RFC3339)})
}

// TestBroadcastToShowHolders sends an admin message to a show's ticket
// holders in the background and reports progress until all are sent.
func TestBroadcastToShowHolders(t *testing.T) {
	t.Parallel()
	e := paymentEngine(t, nil)
	admin := e.Admin(t)
	show := apptest.Show(t, admin, 1, 10)
	var mails []string
	for i := 0; i < 5; i++ {
		u, _, email := e.NewUserWithEmail(t)
		u.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A" + string(rune('1'+i))}})
		mails = append(mails, email)
	}
	admin.Must(422, "POST", "/admin/notifications", map[string]any{"audience": "show", "subject": "x", "text": "y"})
	admin.Must(422, "POST", "/admin/notifications", map[string]any{"audience": "everyone", "subject": "x", "text": "y"})
	e.Client(t).Must(401, "POST", "/admin/notifications", map[string]any{})
	r := admin.Must(202, "POST", "/admin/notifications", map[string]any{"audience": "show", "show_id": show,
		"subject": "Parking closed tonight", "text": "Please use the north entrance.\n\nSee you soon."})
	id := r.Body["id"].(string)
	var p map[string]any
	waitFor(t, 15*time.Second, "the broadcast is sent", func() bool {
		p = admin.Must(200, "GET", "/admin/notifications/"+id, nil).Body
		return p["status"] == "done"
	})
	if p["total"].(float64) != 5 || p["sent"].(float64) != 5 || p["pending"].(float64) != 0 {
		t.Fatalf("progress %v", p)
	}
	for _, m := range mails {
		if n := testenv.CountMail(testenv.Mails(t, m), "Parking closed tonight"); n != 1 {
			t.Fatalf("%d broadcast emails to %s", n, m)
		}
	}
	admin.Must(404, "GET", "/admin/notifications/nope", nil)
	if items := admin.Must(200, "GET", "/admin/emails?broadcast_id="+id, nil).Body["items"].([]any); len(items) != 5 {
		t.Fatalf("email history lists %d of the broadcast", len(items))
	}
}
