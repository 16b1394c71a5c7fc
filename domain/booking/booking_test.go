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
	t0      = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	expires = t0.Add(10 * time.Minute)
	placed  = booking.Placed{BookingID: "b1", UserID: "u1", ShowID: "s1", Seats: []string{"A1", "A2"},
		Amount: 3000, Currency: "INR", ExpiresAt: expires, PlacedAt: t0}
	placement = booking.Placement{UserID: "u1", ShowID: "s1", Seats: []string{"A1", "A2"}, Amount: 3000, Currency: "INR", ExpiresAt: expires}
)

func TestBookingLifecycle(t *testing.T) {
	cases := []struct {
		name  string
		given []domain.Event
		when  func(*booking.Booking) error
		then  []domain.Event
		err   error
	}{
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
			when: func(b *booking.Booking) error { return b.Cancel("user", "", t0) },
			then: []domain.Event{booking.Cancelled{By: "user"}}},
		{name: "cancelling twice changes nothing", given: []domain.Event{placed, booking.Cancelled{By: "user"}},
			when: func(b *booking.Booking) error { return b.Cancel("user", "", t0) }},
		{name: "a lapsed hold cannot be cancelled", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.Cancel("user", "", expires) }, err: booking.ErrHoldExpired},
		{name: "a booking that does not exist cannot be cancelled",
			when: func(b *booking.Booking) error { return b.Cancel("user", "", t0) }, err: booking.ErrNotFound},
		{name: "an expired booking cannot be cancelled", given: []domain.Event{placed, booking.Expired{At: expires}},
			when: func(b *booking.Booking) error { return b.Cancel("user", "", t0) }, err: booking.ErrHoldExpired},
		{name: "a held booking past its deadline expires", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.Expire(expires) },
			then: []domain.Event{booking.Expired{At: expires}}},
		{name: "a held booking before its deadline does not expire", given: []domain.Event{placed},
			when: func(b *booking.Booking) error { return b.Expire(expires.Add(-time.Second)) }},
		{name: "a cancelled booking does not expire", given: []domain.Event{placed, booking.Cancelled{By: "user"}},
			when: func(b *booking.Booking) error { return b.Expire(expires.Add(time.Hour)) }},
	}
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

func TestStatusTreatsALapsedHoldAsExpired(t *testing.T) {
	b := booking.New("b1")
	b.Apply(placed)
	if got := b.Status(expires.Add(-time.Nanosecond)); got != booking.StatusHeld {
		t.Fatalf("before the deadline: %s", got)
	}
	if got := b.Status(expires); got != booking.StatusExpired {
		t.Fatalf("at the deadline: %s", got)
	}
}
