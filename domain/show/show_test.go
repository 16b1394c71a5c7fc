package show_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/seating"
	"github.com/seatline/seatline/domain/show"
)

var (
	t0       = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	starts   = t0.Add(48 * time.Hour)
	deadline = t0.Add(10 * time.Minute)
	layout   = []seating.Section{
		{Category: "premium", Rows: []string{"A"}, SeatsPerRow: 4},
		{Category: "standard", Rows: []string{"B", "C"}, SeatsPerRow: 5},
	}
	scheduled = show.Scheduled{
		ShowID: "s1", MovieID: "m1", VenueID: "v1", StartsAt: starts, EndsAt: starts.Add(2 * time.Hour),
		Sections: layout, Prices: map[string]int64{"premium": 1500, "standard": 900}, Currency: "INR",
	}
)

func held(b string, until time.Time, seats ...string) show.SeatsHeld {
	var amount int64
	for _, s := range seats {
		if s[0] == 'A' {
			amount += 1500
		} else {
			amount += 900
		}
	}
	return show.SeatsHeld{BookingID: b, UserID: "u-" + b, Seats: seats, Amount: amount, Currency: "INR", Until: until}
}

type scenario struct {
	name  string
	given []domain.Event
	when  func(*show.Show) error
	then  []domain.Event
	err   error
}

func run(t *testing.T, cases []scenario) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := show.New("s1")
			for _, e := range c.given {
				s.Apply(e)
			}
			err := c.when(s)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("error = %v, want %v", err, c.err)
				}
				if len(s.Changes()) != 0 {
					t.Fatalf("a failed decision recorded %v", s.Changes())
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got := s.Changes(); !reflect.DeepEqual(got, c.then) {
				t.Fatalf("events\n got %#v\nwant %#v", got, c.then)
			}
		})
	}
}

func hold(b string, now time.Time, seats ...string) func(*show.Show) error {
	return func(s *show.Show) error { return s.Hold(b, "u-"+b, seats, now, now.Add(10*time.Minute), 10) }
}

func TestSchedule(t *testing.T) {
	spec := show.Spec{MovieID: "m1", VenueID: "v1", StartsAt: starts, Duration: 2 * time.Hour, Sections: layout,
		Prices: map[string]int64{"premium": 1500, "standard": 900}, Currency: "INR"}
	with := func(f func(*show.Spec)) show.Spec { s := spec; f(&s); return s }
	run(t, []scenario{
		{name: "a new show is scheduled with its layout and prices",
			when: func(s *show.Show) error { return s.Schedule(spec, t0) }, then: []domain.Event{scheduled}},
		{name: "scheduling the same show again changes nothing", given: []domain.Event{scheduled},
			when: func(s *show.Show) error { return s.Schedule(spec, t0) }},
		{name: "scheduling another movie under an existing id conflicts", given: []domain.Event{scheduled},
			when: func(s *show.Show) error { return s.Schedule(with(func(s *show.Spec) { s.MovieID = "m2" }), t0) }, err: show.ErrAlreadyExists},
		{name: "a show in the past is refused",
			when: func(s *show.Show) error { return s.Schedule(with(func(s *show.Spec) { s.StartsAt = t0 }), t0) }, err: show.ErrStartsInPast},
		{name: "a category without a price is refused",
			when: func(s *show.Show) error {
				return s.Schedule(with(func(s *show.Spec) { s.Prices = map[string]int64{"premium": 1} }), t0)
			}, err: show.ErrBadPrices},
		{name: "a price for a category the venue lacks is refused",
			when: func(s *show.Show) error {
				return s.Schedule(with(func(s *show.Spec) { s.Prices = map[string]int64{"premium": 1, "standard": 1, "vip": 2} }), t0)
			}, err: show.ErrBadPrices},
		{name: "a negative price is refused",
			when: func(s *show.Show) error {
				return s.Schedule(with(func(s *show.Spec) { s.Prices = map[string]int64{"premium": -1, "standard": 1} }), t0)
			}, err: show.ErrBadPrices},
		{name: "a lower-case currency is refused",
			when: func(s *show.Show) error { return s.Schedule(with(func(s *show.Spec) { s.Currency = "inr" }), t0) }, err: show.ErrBadCurrency},
		{name: "an empty layout is refused",
			when: func(s *show.Show) error { return s.Schedule(with(func(s *show.Spec) { s.Sections = nil }), t0) }, err: seating.ErrInvalidLayout},
	})
}

func TestHold(t *testing.T) {
	later := t0.Add(11 * time.Minute)
	run(t, []scenario{
		{name: "free seats are held with their price and deadline", given: []domain.Event{scheduled},
			when: hold("b1", t0, "A1", "B2"), then: []domain.Event{held("b1", deadline, "A1", "B2")}},
		{name: "a seat held by another booking makes the whole hold fail and names it",
			given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when:  hold("b2", t0, "A2", "A1"), err: show.ErrSeatUnavailable},
		{name: "holding the same seats again for the same booking changes nothing",
			given: []domain.Event{scheduled, held("b1", deadline, "A1", "A2")},
			when:  hold("b1", t0, "A2", "A1")},
		{name: "the same booking asking for other seats conflicts",
			given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when:  hold("b1", t0, "A2"), err: show.ErrBookingExists},
		{name: "a seat whose hold has lapsed counts as free and the lapsed hold is expired first",
			given: []domain.Event{scheduled, held("b1", deadline, "A1", "A2")},
			when:  hold("b2", later, "A2"),
			then: []domain.Event{show.HoldExpired{BookingID: "b1", Seats: []string{"A1", "A2"}},
				held("b2", later.Add(10*time.Minute), "A2")}},
		{name: "a hold is still live at one nanosecond before its deadline",
			given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when:  hold("b2", deadline.Add(-time.Nanosecond), "A1"), err: show.ErrSeatUnavailable},
		{name: "a hold has lapsed exactly at its deadline",
			given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when:  hold("b2", deadline, "A1"),
			then: []domain.Event{show.HoldExpired{BookingID: "b1", Seats: []string{"A1"}},
				held("b2", deadline.Add(10*time.Minute), "A1")}},
		{name: "released seats can be held again",
			given: []domain.Event{scheduled, held("b1", deadline, "A1"), show.SeatsReleased{BookingID: "b1", Seats: []string{"A1"}, Reason: "cancelled"}},
			when:  hold("b2", t0, "A1"), then: []domain.Event{held("b2", deadline, "A1")}},
		{name: "an unscheduled show cannot be held",
			when: hold("b1", t0, "A1"), err: show.ErrNotFound},
		{name: "no seats is refused", given: []domain.Event{scheduled},
			when: hold("b1", t0), err: show.ErrNoSeats},
		{name: "more seats than the limit is refused", given: []domain.Event{scheduled},
			when: func(s *show.Show) error { return s.Hold("b1", "u", []string{"A1", "A2", "A3"}, t0, deadline, 2) },
			err:  show.ErrTooManySeats},
		{name: "a seat listed twice is refused", given: []domain.Event{scheduled},
			when: hold("b1", t0, "A1", "A1"), err: show.ErrDuplicateSeat},
		{name: "an unknown seat is refused", given: []domain.Event{scheduled},
			when: hold("b1", t0, "A1", "Z9"), err: show.ErrUnknownSeat},
		{name: "sales close when the show starts", given: []domain.Event{scheduled},
			when: hold("b1", starts, "A1"), err: show.ErrSalesClosed},
	})
}

func TestSeatUnavailableNamesEverySeat(t *testing.T) {
	s := show.New("s1")
	for _, e := range []domain.Event{scheduled, held("b1", deadline, "A1", "B3")} {
		s.Apply(e)
	}
	err := s.Hold("b2", "u2", []string{"B3", "A2", "A1"}, t0, deadline, 10)
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != domain.Conflict {
		t.Fatalf("err = %v, want a conflict", err)
	}
	if got := de.Details["seats"]; !reflect.DeepEqual(got, []string{"A1", "B3"}) {
		t.Fatalf("details seats = %v, want [A1 B3]", got)
	}
}

func TestReleaseAndExpire(t *testing.T) {
	run(t, []scenario{
		{name: "releasing a held booking frees its seats",
			given: []domain.Event{scheduled, held("b1", deadline, "A1", "A2")},
			when:  func(s *show.Show) error { return s.Release("b1", "cancelled") },
			then:  []domain.Event{show.SeatsReleased{BookingID: "b1", Seats: []string{"A1", "A2"}, Reason: "cancelled"}}},
		{name: "releasing a booking that holds nothing changes nothing",
			given: []domain.Event{scheduled},
			when:  func(s *show.Show) error { return s.Release("b1", "cancelled") }},
		{name: "a hold past its deadline is expired",
			given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when:  func(s *show.Show) error { return s.ExpireHold("b1", deadline) },
			then:  []domain.Event{show.HoldExpired{BookingID: "b1", Seats: []string{"A1"}}}},
		{name: "a hold before its deadline is not expired",
			given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when:  func(s *show.Show) error { return s.ExpireHold("b1", t0) }},
		{name: "within the clock tolerance a hold past its deadline is neither expired nor taken over",
			given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when: func(s *show.Show) error {
				s.WithClockTolerance(2 * time.Second)
				if err := s.ExpireHold("b1", deadline.Add(time.Second)); err != nil {
					return err
				}
				return s.Hold("b2", "u2", []string{"A1"}, deadline.Add(time.Second), deadline.Add(time.Hour), 10)
			}, err: show.ErrSeatUnavailable},
		{name: "past the clock tolerance a hold is expired",
			given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when: func(s *show.Show) error {
				return s.WithClockTolerance(2*time.Second).ExpireHold("b1", deadline.Add(2*time.Second))
			},
			then: []domain.Event{show.HoldExpired{BookingID: "b1", Seats: []string{"A1"}}}},
		{name: "a hold already expired by a takeover is not expired twice",
			given: []domain.Event{scheduled, held("b1", deadline, "A1"), show.HoldExpired{BookingID: "b1", Seats: []string{"A1"}}, held("b2", deadline.Add(time.Hour), "A1")},
			when:  func(s *show.Show) error { return s.ExpireHold("b1", deadline.Add(time.Minute)) }},
	})
}

func TestSeatMapShowsLapsedHoldsAsFree(t *testing.T) {
	s := show.New("s1")
	for _, e := range []domain.Event{scheduled, held("b1", deadline, "A1"), held("b2", deadline.Add(time.Hour), "A2")} {
		s.Apply(e)
	}
	states := map[string]string{}
	for _, v := range s.SeatMap(deadline) {
		states[v.ID] = v.State
	}
	if states["A1"] != show.Free || states["A2"] != show.Held || states["C5"] != show.Free || len(states) != 14 {
		t.Fatalf("seat map %v", states)
	}
}

func TestStateRoundTripKeepsDecisions(t *testing.T) {
	s := show.New("s1")
	for _, e := range []domain.Event{scheduled, held("b1", deadline, "A1")} {
		s.Apply(e)
	}
	c := show.FromState(s.State())
	if err := c.Hold("b2", "u2", []string{"A1"}, t0, deadline, 10); !errors.Is(err, show.ErrSeatUnavailable) {
		t.Fatalf("restored show forgot the hold: %v", err)
	}
	if err := c.Hold("b2", "u2", []string{"A3"}, t0, deadline, 10); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.HoldOf("b2"); ok {
		t.Fatal("a decision on the copy changed the original")
	}
}

func TestCheckoutSaleAndShowChanges(t *testing.T) {
	extended := deadline.Add(5 * time.Minute)
	sold := show.SeatsSold{BookingID: "b1", Seats: []string{"A1"}}
	run(t, []scenario{
		{name: "checkout extends a live hold", given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when: func(s *show.Show) error { return s.ExtendHold("b1", extended, t0) },
			then: []domain.Event{show.HoldExtended{BookingID: "b1", Until: extended}}},
		{name: "extending to an earlier time changes nothing", given: []domain.Event{scheduled, held("b1", deadline, "A1"), show.HoldExtended{BookingID: "b1", Until: extended}},
			when: func(s *show.Show) error { return s.ExtendHold("b1", deadline, t0) }},
		{name: "a lapsed hold cannot be extended", given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when: func(s *show.Show) error { return s.ExtendHold("b1", extended, deadline) }, err: show.ErrHoldLapsed},
		{name: "an extended hold is not free before its new deadline", given: []domain.Event{scheduled, held("b1", deadline, "A1"), show.HoldExtended{BookingID: "b1", Until: extended}},
			when: hold("b2", deadline.Add(time.Minute), "A1"), err: show.ErrSeatUnavailable},
		{name: "a held booking's seats are sold to it", given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when: func(s *show.Show) error { return s.Sell("b1") }, then: []domain.Event{sold}},
		{name: "a sale is honoured past the deadline while the hold is on record", given: []domain.Event{scheduled, held("b1", deadline, "A1")},
			when: func(s *show.Show) error { return s.Sell("b1") }, then: []domain.Event{sold}},
		{name: "selling twice changes nothing", given: []domain.Event{scheduled, held("b1", deadline, "A1"), sold},
			when: func(s *show.Show) error { return s.Sell("b1") }},
		{name: "a booking whose hold was taken over cannot buy", given: []domain.Event{scheduled, held("b1", deadline, "A1"),
			show.HoldExpired{BookingID: "b1", Seats: []string{"A1"}}, held("b2", extended, "A1")},
			when: func(s *show.Show) error { return s.Sell("b1") }, err: show.ErrSeatsReleased},
		{name: "sold seats are never free, even long after", given: []domain.Event{scheduled, held("b1", deadline, "A1"), sold},
			when: hold("b2", starts.Add(-time.Minute), "A1"), err: show.ErrSeatUnavailable},
		{name: "refunded seats are released", given: []domain.Event{scheduled, held("b1", deadline, "A1"), sold},
			when: func(s *show.Show) error { return s.Release("b1", "refunded") },
			then: []domain.Event{show.SeatsReleased{BookingID: "b1", Seats: []string{"A1"}, Reason: "refunded"}}},
		{name: "a show is cancelled", given: []domain.Event{scheduled},
			when: func(s *show.Show) error { return s.Cancel("flood", t0) }, then: []domain.Event{show.Cancelled{Reason: "flood", At: t0}}},
		{name: "a cancelled show takes no holds", given: []domain.Event{scheduled, show.Cancelled{At: t0}},
			when: hold("b1", t0, "A1"), err: show.ErrCancelled},
		{name: "a cancelled show sells nothing", given: []domain.Event{scheduled, held("b1", deadline, "A1"), show.Cancelled{At: t0}},
			when: func(s *show.Show) error { return s.Sell("b1") }, err: show.ErrCancelled},
		{name: "a show is rescheduled keeping its length", given: []domain.Event{scheduled},
			when: func(s *show.Show) error { return s.Reschedule(starts.Add(24*time.Hour), t0) },
			then: []domain.Event{show.Rescheduled{StartsAt: starts.Add(24 * time.Hour), EndsAt: starts.Add(26 * time.Hour), Previous: starts, At: t0}}},
		{name: "a show cannot move into the past", given: []domain.Event{scheduled},
			when: func(s *show.Show) error { return s.Reschedule(t0.Add(-time.Hour), t0) }, err: show.ErrStartsInPast},
		{name: "a started show cannot move", given: []domain.Event{scheduled},
			when: func(s *show.Show) error { return s.Reschedule(starts.Add(time.Hour), starts) }, err: show.ErrAlreadyStarted},
	})
}
