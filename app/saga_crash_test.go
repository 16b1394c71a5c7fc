package app_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/payments"
)

// TestWorkerKilledMidPayment kills the worker process (which runs the
// payment saga) at the two dangerous moments of a payment, then starts
// another worker: after the gateway charged but before the result was
// recorded, and after the result was recorded but before the booking was
// confirmed. Each time the booking ends confirmed, charged exactly once,
// with exactly one confirmation email.
func TestWorkerKilledMidPayment(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"payment.after-charge", "payment.before-confirm"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			bin := testenv.Bookingd(t)
			_, prefix := testenv.Redis(t)
			db := testenv.DBName(t)
			testenv.RequireMailpit(t)
			sim := payments.NewSimulator(testenv.Client(t).Database(db+"_testsim"), clock.System{}, time.Second)
			gw := httptest.NewServer(sim)
			defer gw.Close()
			api := apptest.Start(t, apptest.Options{DB: db, Redis: true, RedisPrefix: prefix, Gateway: gw.URL, Tune: func(c *app.Config) {
				c.Role = app.RoleAPI
				fastLeases(c)
			}})
			env := append(childEnv(t, db, prefix, app.RoleWorker), "PAYMENT_GATEWAY="+gw.URL, "SMTP_URL="+testenv.MailpitSMTP())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			first := testenv.Start(t, bin, append(env, "FAILPOINTS="+point))
			if !first.WaitOutput(ctx, "worker running") {
				t.Fatalf("worker did not start:\n%s", first.Output())
			}
			show := apptest.Show(t, api.Admin(t), 1, 4)
			user, _, email := api.NewUserWithEmail(t)
			id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
			user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
			if !first.WaitOutput(ctx, "failpoint "+point) {
				t.Fatalf("the worker never reached %s:\n%s", point, first.Output())
			}
			for done, _ := first.Exited(); !done; done, _ = first.Exited() {
				time.Sleep(10 * time.Millisecond)
			}
			if charges, _, _ := sim.Ledger(ctx, id); point == "payment.after-charge" && len(charges) != 1 {
				t.Fatalf("the gateway charged %d times before the crash", len(charges))
			}
			if b := user.Must(200, "GET", "/bookings/"+id, nil).Body; b["status"] == "confirmed" {
				t.Fatal("confirmed before the crash: the failpoint did not stop the flow")
			}
			second := testenv.Start(t, bin, env)
			if !second.WaitOutput(ctx, "worker running") {
				t.Fatalf("second worker did not start:\n%s", second.Output())
			}
			waitBooking(t, user, id, 30*time.Second, status("confirmed"))
			charges, refunds, err := sim.Ledger(ctx, id)
			if err != nil || len(charges) != 1 || len(refunds) != 0 {
				t.Fatalf("ledger after recovery: %d charges, %d refunds, %v", len(charges), len(refunds), err)
			}
			agg, _, _ := api.App.Commands.Booking(ctx, id)
			if agg.State().Payment.ChargeID != charges[0].ID {
				t.Fatalf("the booking records charge %s, the gateway made %s", agg.State().Payment.ChargeID, charges[0].ID)
			}
			testenv.WaitMail(t, email, "Booking confirmed", 20*time.Second)
			if n := testenv.CountMail(settleMail(t, api, email), "Booking confirmed"); n != 1 {
				t.Fatalf("%d confirmation emails", n)
			}
		})
	}
}
