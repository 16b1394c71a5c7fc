package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/payments"
)

// paymentEngine starts an engine on Redis Streams that mails to Mailpit.
func paymentEngine(t *testing.T, tune func(*app.Config)) *apptest.Engine {
	_, prefix := testenv.Redis(t)
	return apptest.Start(t, apptest.Options{Redis: true, RedisPrefix: prefix, Mail: true, Tune: func(c *app.Config) {
		c.ExpiryCheckInterval = 100 * time.Millisecond
		if tune != nil {
			tune(c)
		}
	}})
}

// waitBooking polls GET /bookings/{id} until ok accepts it.
func waitBooking(t *testing.T, c *apptest.Client, id string, timeout time.Duration, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b := c.Must(200, "GET", "/bookings/"+id, nil).Body
		if ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("booking %s did not reach the expected state within %v: %v", id, timeout, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(want string) func(map[string]any) bool {
	return func(b map[string]any) bool { return b["status"] == want }
}

func paymentStatus(b map[string]any) string {
	p, _ := b["payment"].(map[string]any)
	s, _ := p["status"].(string)
	return s
}

func paymentReason(b map[string]any) string {
	p, _ := b["payment"].(map[string]any)
	s, _ := p["reason"].(string)
	return s
}

// settleMail waits until the deployment of e is quiet, then returns every
// email to addr: a second email caused by anything so far would be among
// them.
func settleMail(t *testing.T, e *apptest.Engine, addr string) []testenv.Mail {
	t.Helper()
	settle(t, e)
	return testenv.Mails(t, addr)
}

// settle waits until the deployment of e is quiet: the consumer groups
// (every group if none is named) have handled the whole log, and the
// outbox has nothing left to send.
func settle(t *testing.T, e *apptest.Engine, groups ...string) {
	t.Helper()
	if len(groups) == 0 {
		groups = app.Groups()
	}
	ctx := context.Background()
	head, err := e.App.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.App.Freshness.Wait(ctx, head, 30*time.Second, groups...); !ok || err != nil {
		t.Fatalf("consumers did not reach position %d: %v", head, err)
	}
	waitFor(t, 30*time.Second, "the outbox has sent everything", func() bool {
		st, err := e.App.Outbox.Pending(ctx)
		return err == nil && st.Pending == 0
	})
}

func TestApprovedPaymentConfirmsWithOneEmail(t *testing.T) {
	t.Parallel()
	e := paymentEngine(t, nil)
	show := apptest.Show(t, e.Admin(t), 1, 6)
	user, _, email := e.NewUserWithEmail(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1", "A2"}}).Body["id"].(string)
	r := user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
	if r.Body["status"] != "payment_pending" {
		t.Fatalf("checkout answered %v", r.Body)
	}
	b := waitBooking(t, user, id, 10*time.Second, status("confirmed"))
	if paymentStatus(b) != "succeeded" || b["code"] == "" {
		t.Fatalf("confirmed booking %v", b)
	}
	seats := user.Must(200, "GET", "/shows/"+show+"/seats", nil, "X-Min-Position", jsonNumber(b["position"])).Body
	if st := seatStateMap(seats); st["A1"] != "sold" || st["A2"] != "sold" || st["A3"] != "free" {
		t.Fatalf("seats after confirmation %v", st)
	}
	testenv.WaitMail(t, email, "Booking confirmed", 10*time.Second)
	mails := settleMail(t, e, email)
	if n := testenv.CountMail(mails, "Booking confirmed"); n != 1 {
		t.Fatalf("%d confirmation emails", n)
	}
	if n := testenv.CountMail(mails, "Seats held"); n != 1 {
		t.Fatalf("%d hold emails", n)
	}
	charges, _, err := e.App.Simulator.Ledger(context.Background(), id)
	if err != nil || len(charges) != 1 {
		t.Fatalf("%d charges: %v", len(charges), err)
	}
	// A confirmed booking can be cancelled for a full refund before the cutoff.
	c := user.Must(200, "POST", "/bookings/"+id+"/cancel", nil).Body
	if c["status"] != "refunded" {
		t.Fatalf("cancelled confirmed booking %v", c)
	}
	b = waitBooking(t, user, id, 10*time.Second, func(b map[string]any) bool { return paymentStatus(b) == "refunded" })
	if paymentReason(b) != "cancelled" {
		t.Fatalf("refund reason %v", b)
	}
	_, refunds, _ := e.App.Simulator.Ledger(context.Background(), id)
	if len(refunds) != 1 || refunds[0].Amount != 2000 {
		t.Fatalf("refunds %v", refunds)
	}
	testenv.WaitMail(t, email, "Refund of INR 20.00", 10*time.Second)
}

func TestDeclinedPaymentReleasesWithOneEmail(t *testing.T) {
	t.Parallel()
	e := paymentEngine(t, nil)
	show := apptest.Show(t, e.Admin(t), 1, 6)
	user, _, email := e.NewUserWithEmail(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenDecline})
	b := waitBooking(t, user, id, 10*time.Second, status("payment_failed"))
	if paymentStatus(b) != "failed" || paymentReason(b) != "card_declined" {
		t.Fatalf("declined booking %v", b)
	}
	other, _ := e.NewUser(t)
	deadline := time.Now().Add(5 * time.Second)
	for other.Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Status != 201 {
		if time.Now().After(deadline) {
			t.Fatal("the seat of a declined payment was not released")
		}
		time.Sleep(50 * time.Millisecond)
	}
	testenv.WaitMail(t, email, "Payment failed", 10*time.Second)
	if n := testenv.CountMail(settleMail(t, e, email), "Payment failed"); n != 1 {
		t.Fatalf("%d payment-failed emails", n)
	}
	if charges, _, _ := e.App.Simulator.Ledger(context.Background(), id); len(charges) != 0 {
		t.Fatalf("a declined payment charged %v", charges)
	}
}

func TestPaymentThatNeverAnswersExpires(t *testing.T) {
	t.Parallel()
	const grace = 5 * time.Minute
	e := paymentEngine(t, func(c *app.Config) { c.CheckoutGrace, c.PaymentTimeout = grace, 200*time.Millisecond })
	show := apptest.Show(t, e.Admin(t), 1, 6)
	user, _, email := e.NewUserWithEmail(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenTimeout})
	// Still pending during the grace, although the original hold is over.
	e.Clock.Advance(apptest.HoldTTL + time.Second)
	if b := user.Must(200, "GET", "/bookings/"+id, nil).Body; b["status"] != "payment_pending" {
		t.Fatalf("during the grace: %v", b)
	}
	e.Clock.Advance(grace)
	waitBooking(t, user, id, 10*time.Second, status("expired"))
	waitFor(t, 10*time.Second, "the expiry is recorded in the log", func() bool {
		agg, _, _ := e.App.Commands.Booking(context.Background(), id)
		return agg.State().Status == "expired"
	})
	waitFor(t, 10*time.Second, "the show records the hold's expiry", func() bool { // right after the booking's
		s, _, _ := e.App.Commands.Show(context.Background(), show)
		_, held := s.HoldOf(id)
		return !held
	})
	testenv.WaitMail(t, email, "expired", 10*time.Second)
}

func TestSlowPaymentAfterExpiryIsRefunded(t *testing.T) {
	t.Parallel()
	const grace, slow = 5 * time.Minute, time.Hour
	e := paymentEngine(t, func(c *app.Config) {
		c.CheckoutGrace, c.SimulatorSlowDelay, c.PaymentTimeout = grace, slow, 10*time.Minute
	})
	show := apptest.Show(t, e.Admin(t), 1, 6)
	user, _, email := e.NewUserWithEmail(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenSlow})
	waitFor(t, 10*time.Second, "the charge is at the card network", func() bool { return e.App.Simulator.Waiting(id) })
	// The hold and the checkout grace pass while the card network thinks.
	e.Clock.Advance(apptest.HoldTTL + grace)
	waitBooking(t, user, id, 10*time.Second, status("expired"))
	waitFor(t, 10*time.Second, "the expiry is recorded in the log", func() bool {
		agg, _, _ := e.App.Commands.Booking(context.Background(), id)
		return agg.State().Status == "expired"
	})
	// The seat is free again for someone else while the payment is in flight.
	other, _ := e.NewUser(t)
	other.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}})
	e.Clock.Advance(slow) // the card network answers: approved, too late
	b := waitBooking(t, user, id, 15*time.Second, func(b map[string]any) bool { return paymentStatus(b) == "refunded" })
	if b["status"] != "refunded" || paymentReason(b) != "late-payment" {
		t.Fatalf("late payment %v", b)
	}
	charges, refunds, err := e.App.Simulator.Ledger(context.Background(), id)
	if err != nil || len(charges) != 1 || len(refunds) != 1 || refunds[0].Amount != charges[0].Amount {
		t.Fatalf("ledger: charges %v refunds %v %v", charges, refunds, err)
	}
	ms := testenv.WaitMail(t, email, "Refund of", 10*time.Second)
	if testenv.CountMail(ms, "expired") != 1 {
		t.Fatalf("emails %v", ms)
	}
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test_0123456789"
	e := paymentEngine(t, func(c *app.Config) { c.PaymentWebhookSecret = secret })
	show := apptest.Show(t, e.Admin(t), 1, 6)
	user, _ := e.NewUser(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	// The gateway never answers the saga; the provider reports by webhook.
	user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenTimeout})
	var ev payments.WebhookEvent
	ev.ID, ev.Type = "evt_1", payments.EventPaymentSucceeded
	ev.Data.BookingID, ev.Data.ChargeID, ev.Data.Amount, ev.Data.Currency = id, "ch_webhook", 1000, "INR"
	body, _ := json.Marshal(ev)
	anon := e.Client(t)
	send := func(sig string) apptest.Response {
		return anon.Do("POST", "/payments/webhook", string(body), payments.SignatureHeader, sig)
	}
	ctx := context.Background()
	head, _ := e.App.Store.Head(ctx)
	for name, sig := range map[string]string{
		"wrong secret":    payments.Sign("whsec_wrong_0123456789", body, time.Now()),
		"stale timestamp": payments.Sign(secret, body, time.Now().Add(-10*time.Minute)),
		"no signature":    "",
		"garbage":         "t=abc,v1=zz",
	} {
		if r := send(sig); r.Status != 401 || !contains(string(r.Raw), "invalid-signature") {
			t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	if h, _ := e.App.Store.Head(ctx); h != head {
		t.Fatalf("refused webhooks changed the log: head %d, was %d", h, head)
	}
	if r := send(payments.Sign(secret, body, time.Now())); r.Status != 200 || !contains(string(r.Raw), "processed") {
		t.Fatalf("valid webhook: %d %s", r.Status, r.Raw)
	}
	waitBooking(t, user, id, 10*time.Second, status("confirmed"))
	settle(t, e) // the sagas finish what the payment caused
	head, _ = e.App.Store.Head(ctx)
	if r := send(payments.Sign(secret, body, time.Now())); r.Status != 200 || !contains(string(r.Raw), "duplicate") {
		t.Fatalf("replayed webhook: %d %s", r.Status, r.Raw)
	}
	if h, _ := e.App.Store.Head(ctx); h != head {
		t.Fatalf("a replayed webhook changed the log: head %d, was %d", h, head)
	}
	agg, _, _ := e.App.Commands.Booking(ctx, id)
	if st := agg.State(); st.Payment.ChargeID != "ch_webhook" || st.Status != "confirmed" {
		t.Fatalf("booking after webhook %+v", st)
	}
}

func seatStateMap(body map[string]any) map[string]string {
	out := map[string]string{}
	for _, s := range body["seats"].([]any) {
		m := s.(map[string]any)
		out[m["id"].(string)] = m["state"].(string)
	}
	return out
}

func jsonNumber(v any) string {
	f, _ := v.(float64)
	b, _ := json.Marshal(int64(f))
	return string(b)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
