package booking_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/booking"
)

var (
	t0       = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	expires  = t0.Add(10 * time.Minute)
	deadline = expires.Add(5 * time.Minute) // after checkout
	showAt   = t0.Add(48 * time.Hour)
	placed   = booking.Placed{BookingID: "b1", UserID: "u1", ShowID: "s1", Seats: []string{"A1", "A2"},
		Amount: 3000, Currency: "INR", ExpiresAt: expires, PlacedAt: t0}
	placement = booking.Placement{UserID: "u1", ShowID: "s1", Seats: []string{"A1", "A2"}, Amount: 3000, Currency: "INR", ExpiresAt: expires}
	checkout  = booking.CheckoutStarted{PaymentToken: "tok_approve", Deadline: deadline, At: t0.Add(time.Minute)}
	paid      = booking.PaymentSucceeded{ChargeID: "ch_1", Amount: 3000, At: t0.Add(2 * time.Minute)}
	confirmed = booking.Confirmed{At: t0.Add(2 * time.Minute)}
	policy    = booking.CancelPolicy{ShowStartsAt: showAt, Cutoff: 2 * time.Hour}
	late      = func(at time.Time) booking.RefundRequested {
		return booking.RefundRequested{Amount: 3000, Reason: "late-payment", By: "system", At: at}
	}
)

type scenario struct {
	name  string
	given []domain.Event
	when  func(*booking.Booking) error
	then  []domain.Event
	err   error
}

func run(t *testing.T, cases []scenario) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := booking.New("b1")
			for _, e := range c.given {
				b.Apply(e)
			}
			err := c.when(b)
			if c.err != nil {
				if !errors.Is(err, c.err) || len(b.Changes()) != 0 {
					t.Fatalf("error = %v, changes %v; want %v and no changes", err, b.Changes(), c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(b.Changes(), c.then) {
				t.Fatalf("events\n got %#v\nwant %#v", b.Changes(), c.then)
			}
		})
	}
}

func TestPlaceAndCancel(t *testing.T) {
	cancel := func(at time.Time) func(*booking.Booking) error {
		return func(b *booking.Booking) error { return b.Cancel("user", "", at, policy) }
	}
	run(t, []scenario{
		{name: "a booking is placed in status held",
			when: func(b *booking.Booking) error { return b.Place(placement, t0) }, then: []domain.Event{placed}},
		{name: "placing the same booking again changes nothing", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.Place(placement, t0.Add(time.Second)) }},
		{name: "placing the same booking id with other seats conflicts", given: []domain.Event{placed},
			when: func(b *booking.Booking) error {
				p := placement
				p.Seats = []string{"A3"}
				return b.Place(p, t0)
			}, err: booking.ErrAlreadyPlaced},
		{name: "a held booking is cancelled by its user", given: []domain.Event{placed},
			when: cancel(t0), then: []domain.Event{booking.Cancelled{By: "user"}}},
		{name: "cancelling twice changes nothing", given: []domain.Event{placed, booking.Cancelled{By: "user"}},
			when: cancel(t0)},
		{name: "a lapsed hold cannot be cancelled", given: []domain.Event{placed},
			when: cancel(expires), err: booking.ErrHoldExpired},
		{name: "a booking that does not exist cannot be cancelled",
			when: cancel(t0), err: booking.ErrNotFound},
		{name: "a booking being paid cannot be cancelled", given: []domain.Event{placed, checkout},
			when: cancel(t0.Add(90 * time.Second)), err: booking.ErrPaymentInProgress},
		{name: "a confirmed booking cancelled before the cutoff is refunded in full", given: []domain.Event{placed, checkout, paid, confirmed},
			when: cancel(showAt.Add(-3 * time.Hour)),
			then: []domain.Event{booking.RefundRequested{Amount: 3000, Reason: "cancelled", By: "user", At: showAt.Add(-3 * time.Hour)}}},
		{name: "a confirmed booking cannot be cancelled after the cutoff", given: []domain.Event{placed, checkout, paid, confirmed},
			when: cancel(showAt.Add(-time.Hour)), err: booking.ErrCancellationClosed},
		{name: "after a reschedule a confirmed booking may cancel for a refund until the start", given: []domain.Event{placed, checkout, paid, confirmed},
			when: func(b *booking.Booking) error {
				return b.Cancel("user", "", showAt.Add(-time.Minute), booking.CancelPolicy{ShowStartsAt: showAt, Cutoff: 2 * time.Hour, FreeCancel: true})
			},
			then: []domain.Event{booking.RefundRequested{Amount: 3000, Reason: "cancelled", By: "user", At: showAt.Add(-time.Minute)}}},
	})
}

func TestCheckoutAndPayment(t *testing.T) {
	at := t0.Add(time.Minute)
	run(t, []scenario{
		{name: "checkout of a held booking extends its deadline once", given: []domain.Event{placed},
			when: func(b *booking.Booking) error {
				return b.StartCheckout("tok_approve", b.CheckoutDeadline(5*time.Minute), at)
			},
			then: []domain.Event{checkout}},
		{name: "checkout again with the same token changes nothing", given: []domain.Event{placed, checkout},
			when: func(b *booking.Booking) error {
				return b.StartCheckout("tok_approve", b.CheckoutDeadline(5*time.Minute), at)
			}},
		{name: "checkout again with another token conflicts", given: []domain.Event{placed, checkout},
			when: func(b *booking.Booking) error { return b.StartCheckout("tok_other", deadline, at) }, err: booking.ErrOtherToken},
		{name: "a lapsed hold cannot be checked out", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.StartCheckout("tok", deadline, expires) }, err: booking.ErrHoldExpired},
		{name: "a cancelled booking cannot be checked out", given: []domain.Event{placed, booking.Cancelled{By: "user"}},
			when: func(b *booking.Booking) error { return b.StartCheckout("tok", deadline, at) }, err: booking.ErrNotCheckoutable},
		{name: "an empty token is refused", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.StartCheckout("", deadline, at) }, err: booking.ErrBadToken},
		{name: "a payment before the deadline is recorded", given: []domain.Event{placed, checkout},
			when: func(b *booking.Booking) error { return b.RecordPayment("ch_1", 3000, paid.At) }, then: []domain.Event{paid}},
		{name: "the same payment recorded twice changes nothing", given: []domain.Event{placed, checkout, paid},
			when: func(b *booking.Booking) error { return b.RecordPayment("ch_1", 3000, paid.At) }},
		{name: "a payment after the deadline is refunded at once", given: []domain.Event{placed, checkout},
			when: func(b *booking.Booking) error { return b.RecordPayment("ch_1", 3000, deadline) },
			then: []domain.Event{booking.PaymentSucceeded{ChargeID: "ch_1", Amount: 3000, At: deadline}, late(deadline)}},
		{name: "a payment for an expired booking is refunded at once", given: []domain.Event{placed, checkout, booking.Expired{At: deadline}},
			when: func(b *booking.Booking) error { return b.RecordPayment("ch_1", 3000, deadline.Add(time.Minute)) },
			then: []domain.Event{booking.PaymentSucceeded{ChargeID: "ch_1", Amount: 3000, At: deadline.Add(time.Minute)}, late(deadline.Add(time.Minute))}},
		{name: "a decline fails a pending payment", given: []domain.Event{placed, checkout},
			when: func(b *booking.Booking) error { return b.RecordPaymentFailure("card_declined", paid.At) },
			then: []domain.Event{booking.PaymentFailed{Reason: "card_declined", At: paid.At}}},
		{name: "a decline after a success changes nothing", given: []domain.Event{placed, checkout, paid},
			when: func(b *booking.Booking) error { return b.RecordPaymentFailure("card_declined", paid.At) }},
		{name: "a paid booking is confirmed", given: []domain.Event{placed, checkout, paid},
			when: func(b *booking.Booking) error { return b.Confirm(paid.At) }, then: []domain.Event{confirmed}},
		{name: "an unpaid booking cannot be confirmed", given: []domain.Event{placed, checkout},
			when: func(b *booking.Booking) error { return b.Confirm(paid.At) }, err: booking.ErrNotCheckoutable},
		{name: "a paid booking whose seats are gone is refunded", given: []domain.Event{placed, checkout, paid},
			when: func(b *booking.Booking) error { return b.RequestRefund("seats-released", "system", paid.At) },
			then: []domain.Event{booking.RefundRequested{Amount: 3000, Reason: "seats-released", By: "system", At: paid.At}}},
		{name: "a refund is requested once", given: []domain.Event{placed, checkout, paid, late(paid.At)},
			when: func(b *booking.Booking) error { return b.RequestRefund("again", "system", paid.At) }},
		{name: "an unpaid booking has nothing to refund", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.RequestRefund("x", "system", paid.At) }},
		{name: "a requested refund is recorded", given: []domain.Event{placed, checkout, paid, late(paid.At)},
			when: func(b *booking.Booking) error { return b.RecordRefund("re_1", paid.At) },
			then: []domain.Event{booking.Refunded{RefundID: "re_1", Amount: 3000, At: paid.At}}},
		{name: "a refund is recorded once", given: []domain.Event{placed, checkout, paid, late(paid.At), booking.Refunded{RefundID: "re_1", Amount: 3000}},
			when: func(b *booking.Booking) error { return b.RecordRefund("re_1", paid.At) }},
	})
}

func TestExpiry(t *testing.T) {
	run(t, []scenario{
		{name: "a held booking past its deadline expires", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.Expire(expires) }, then: []domain.Event{booking.Expired{At: expires}}},
		{name: "a held booking before its deadline does not expire", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.Expire(expires.Add(-time.Second)) }},
		{name: "within the clock tolerance a held booking past its deadline is not expired", given: []domain.Event{placed},
			when: func(b *booking.Booking) error {
				return b.WithClockTolerance(2 * time.Second).Expire(expires.Add(time.Second))
			}},
		{name: "past the clock tolerance a held booking is expired", given: []domain.Event{placed},
			when: func(b *booking.Booking) error {
				return b.WithClockTolerance(2 * time.Second).Expire(expires.Add(2 * time.Second))
			},
			then: []domain.Event{booking.Expired{At: expires.Add(2 * time.Second)}}},
		{name: "checkout's grace keeps a booking alive past the original deadline", given: []domain.Event{placed, checkout},
			when: func(b *booking.Booking) error { return b.Expire(expires.Add(time.Minute)) }},
		{name: "an unpaid checkout expires at the extended deadline", given: []domain.Event{placed, checkout},
			when: func(b *booking.Booking) error { return b.Expire(deadline) }, then: []domain.Event{booking.Expired{At: deadline}}},
		{name: "a paid booking awaiting its seats does not expire", given: []domain.Event{placed, checkout, paid},
			when: func(b *booking.Booking) error { return b.Expire(deadline.Add(time.Hour)) }},
		{name: "a cancelled booking does not expire", given: []domain.Event{placed, booking.Cancelled{By: "user"}},
			when: func(b *booking.Booking) error { return b.Expire(expires.Add(time.Hour)) }},
	})
}

func TestStatusAndPayment(t *testing.T) {
	b := booking.New("b1")
	b.Apply(placed)
	if got := b.Status(expires.Add(-time.Nanosecond)); got != booking.StatusHeld {
		t.Fatalf("before the deadline: %s", got)
	}
	if got := b.Status(expires); got != booking.StatusExpired {
		t.Fatalf("at the deadline: %s", got)
	}
	b.Apply(checkout)
	if got := b.Status(expires.Add(time.Minute)); got != booking.StatusPaymentPending {
		t.Fatalf("during the grace: %s", got)
	}
	b.Apply(paid)
	if got := b.Status(deadline.Add(time.Hour)); got != booking.StatusPaymentPending {
		t.Fatalf("paid and awaiting seats: %s", got)
	}
	b.Apply(late(deadline))
	st := b.State()
	if st.Status != booking.StatusRefunded || st.Payment.Status != booking.PaymentRefundPending || st.Payment.Reason != "late-payment" {
		t.Fatalf("after a late payment: %+v", st)
	}
}
