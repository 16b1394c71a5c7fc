// Package show owns the seat inventory of one show: which seats exist, at
// what price, and which booking holds or bought each of them. It is the
// only place that decides whether a seat may be held, so no seat is held or
// sold twice as long as appends to one show's stream are serialised.
package show

import (
	"regexp"
	"slices"
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/seating"
)

// Errors returned by Show's decisions.
var (
	ErrNotFound        = &domain.Error{Kind: domain.NotFound, Code: "show-not-found", Msg: "show: not found"}
	ErrAlreadyExists   = &domain.Error{Kind: domain.Conflict, Code: "show-exists", Msg: "show: already scheduled"}
	ErrSalesClosed     = &domain.Error{Kind: domain.Conflict, Code: "sales-closed", Msg: "show: sales closed, the show has started"}
	ErrSeatUnavailable = &domain.Error{Kind: domain.Conflict, Code: "seat-unavailable", Msg: "show: seats unavailable"}
	ErrBookingExists   = &domain.Error{Kind: domain.Conflict, Code: "booking-exists", Msg: "show: booking already holds other seats"}
	ErrNoSeats         = domain.NewInvalid("no-seats", "seats", "show: at least one seat is required")
	ErrTooManySeats    = domain.NewInvalid("too-many-seats", "seats", "show: too many seats for one booking")
	ErrDuplicateSeat   = domain.NewInvalid("duplicate-seat", "seats", "show: a seat is listed twice")
	ErrUnknownSeat     = domain.NewInvalid("unknown-seat", "seats", "show: no such seat")
	ErrStartsInPast    = domain.NewInvalid("starts-in-past", "starts_at", "show: must start in the future")
	ErrBadPrices       = domain.NewInvalid("invalid-prices", "prices", "show: invalid prices")
	ErrBadCurrency     = domain.NewInvalid("invalid-currency", "currency", "show: currency must be an ISO 4217 code")
	ErrBadDuration     = domain.NewInvalid("invalid-duration", "duration_minutes", "show: the movie needs a positive duration")
	ErrCancelled       = &domain.Error{Kind: domain.Conflict, Code: "show-cancelled", Msg: "show: cancelled"}
	ErrHoldLapsed      = &domain.Error{Kind: domain.Conflict, Code: "hold-expired", Msg: "show: the hold has expired or its seats were taken"}
	ErrSeatsReleased   = &domain.Error{Kind: domain.Conflict, Code: "seats-released", Msg: "show: the booking no longer holds its seats"}
	ErrAlreadyStarted  = &domain.Error{Kind: domain.Conflict, Code: "show-started", Msg: "show: already started"}
)

// MaxPrice bounds a seat price in minor units, to keep sums far from overflow.
const MaxPrice = 100_000_000

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// Show is the seat-inventory aggregate of one show.
type Show struct {
	domain.Recorder
	s State
	// tolerance is how long after its deadline a hold still counts as
	// live for this process's decisions (see WithClockTolerance).
	tolerance time.Duration
}

// WithClockTolerance makes holds count as live for d after their deadline
// when this show decides (a new hold on their seats, an expiry), so that
// a process whose clock runs up to d ahead of the one that set a deadline
// never frees seats before it. It returns s.
func (s *Show) WithClockTolerance(d time.Duration) *Show {
	s.tolerance = d
	return s
}

// live reports whether hold h still owns its seats at now.
func (s *Show) live(h Hold, now time.Time) bool {
	return h.Sold || now.Before(h.Until.Add(s.tolerance))
}

// State is everything a Show knows; it is what snapshots store.
type State struct {
	ID       string            `json:"id"`
	MovieID  string            `json:"movie_id"`
	VenueID  string            `json:"venue_id"`
	StartsAt time.Time         `json:"starts_at"`
	EndsAt   time.Time         `json:"ends_at"`
	Sections []seating.Section `json:"sections"`
	Prices   map[string]int64  `json:"prices"`
	Currency string            `json:"currency"`
	// Category of every seat; a seat is free unless Owner names a booking.
	Category map[string]string `json:"category"`
	// Owner maps a held or sold seat to its booking.
	Owner map[string]string `json:"owner"`
	// Holds are the bookings that currently hold or bought seats.
	Holds map[string]Hold `json:"holds"`
	// CancelledAt is set once the show is cancelled.
	CancelledAt time.Time `json:"cancelled_at,omitzero"`
	// RescheduledAt is set when the show was last moved.
	RescheduledAt time.Time `json:"rescheduled_at,omitzero"`
}

// Hold is one booking's claim on seats.
type Hold struct {
	UserID string    `json:"user_id"`
	Seats  []string  `json:"seats"`
	Until  time.Time `json:"until"`
	Sold   bool      `json:"sold"`
}

// New returns an empty show with the given id, to load events into.
func New(id string) *Show {
	return &Show{s: State{ID: id, Category: map[string]string{}, Owner: map[string]string{}, Holds: map[string]Hold{}}}
}

// FromState rebuilds a show from a snapshot.
func FromState(s State) *Show {
	sh := New(s.ID)
	sh.s = s.clone()
	return sh
}

// State returns a copy of the show's state.
func (s *Show) State() State { return s.s.clone() }

// Clone returns an independent copy without recorded changes.
func (s *Show) Clone() *Show { return &Show{s: s.s.clone()} }

// Exists reports whether the show has been scheduled.
func (s *Show) Exists() bool { return s.s.MovieID != "" }

// Spec is what an admin provides to schedule a show; the layout and the end
// time come from the venue and the movie.
type Spec struct {
	MovieID  string
	VenueID  string
	StartsAt time.Time
	Duration time.Duration
	Sections []seating.Section
	Prices   map[string]int64
	Currency string
}

// Schedule creates the show. Every category of the layout needs a price, and
// no price may name a category the layout lacks. Scheduling the same show
// twice with the same spec changes nothing.
func (s *Show) Schedule(spec Spec, now time.Time) error {
	if s.Exists() {
		if s.s.MovieID == spec.MovieID && s.s.VenueID == spec.VenueID && s.s.StartsAt.Equal(spec.StartsAt) {
			return nil
		}
		return ErrAlreadyExists
	}
	if !spec.StartsAt.After(now) {
		return ErrStartsInPast
	}
	if spec.Duration <= 0 {
		return ErrBadDuration
	}
	if !currencyCode.MatchString(spec.Currency) {
		return ErrBadCurrency
	}
	if err := seating.Validate(spec.Sections); err != nil {
		return err
	}
	cats := seating.Categories(spec.Sections)
	for _, c := range cats {
		p, ok := spec.Prices[c]
		if !ok {
			return ErrBadPrices.Withf("no price for category %q", c).With("category", c)
		}
		if p < 0 || p > MaxPrice {
			return ErrBadPrices.Withf("price for %q must be 0..%d", c, MaxPrice).With("category", c)
		}
	}
	for c := range spec.Prices {
		if !slices.Contains(cats, c) {
			return ErrBadPrices.Withf("the venue has no category %q", c).With("category", c)
		}
	}
	prices := make(map[string]int64, len(spec.Prices))
	for k, v := range spec.Prices {
		prices[k] = v
	}
	s.record(Scheduled{
		ShowID: s.s.ID, MovieID: spec.MovieID, VenueID: spec.VenueID,
		StartsAt: spec.StartsAt.UTC(), EndsAt: spec.StartsAt.Add(spec.Duration).UTC(),
		Sections: seating.Clone(spec.Sections), Prices: prices, Currency: spec.Currency,
	})
	return nil
}

// Hold holds seats for booking b until deadline. It is all or nothing: it
// fails with ErrSeatUnavailable naming every seat that is sold or held by a
// live hold of another booking. A hold whose deadline has passed counts as
// free; taking one of its seats records its expiry first. Holding the same
// seats again for the same booking changes nothing.
func (s *Show) Hold(b, user string, seats []string, now, deadline time.Time, maxSeats int) error {
	if !s.Exists() {
		return ErrNotFound
	}
	if s.Cancelled() {
		return ErrCancelled
	}
	if !now.Before(s.s.StartsAt) {
		return ErrSalesClosed
	}
	if err := s.checkSeatList(seats, maxSeats); err != nil {
		return err
	}
	if h, ok := s.s.Holds[b]; ok && s.live(h, now) {
		if sameSet(h.Seats, seats) {
			return nil
		}
		return ErrBookingExists
	}
	var taken []string
	expire := map[string]bool{}
	for _, id := range seats {
		owner, held := s.s.Owner[id]
		if !held {
			continue
		}
		if s.live(s.s.Holds[owner], now) {
			taken = append(taken, id)
		} else {
			expire[owner] = true
		}
	}
	if len(taken) > 0 {
		slices.Sort(taken)
		return ErrSeatUnavailable.With("seats", taken)
	}
	if _, ok := s.s.Holds[b]; ok {
		expire[b] = true // our own lapsed hold, replaced by the new one
	}
	for _, owner := range sortedKeys(expire) {
		s.record(HoldExpired{BookingID: owner, Seats: slices.Clone(s.s.Holds[owner].Seats)})
	}
	s.record(SeatsHeld{
		BookingID: b, UserID: user, Seats: slices.Clone(seats),
		Amount: s.Quote(seats), Currency: s.s.Currency, Until: deadline.UTC(),
	})
	return nil
}

// Release gives back the seats booking b holds or bought (a refund). A
// booking that owns nothing is left alone.
func (s *Show) Release(b, reason string) error {
	h, ok := s.s.Holds[b]
	if !ok {
		return nil
	}
	s.record(SeatsReleased{BookingID: b, Seats: slices.Clone(h.Seats), Reason: reason})
	return nil
}

// ExtendHold moves the deadline of booking b's live hold to until, once a
// checkout started. A hold that lapsed (or whose seats were taken) cannot
// be extended; an earlier until changes nothing.
func (s *Show) ExtendHold(b string, until, now time.Time) error {
	if s.Cancelled() {
		return ErrCancelled
	}
	h, ok := s.s.Holds[b]
	if !ok || (!h.Sold && !now.Before(h.Until)) {
		return ErrHoldLapsed
	}
	if h.Sold || !until.After(h.Until) {
		return nil
	}
	s.record(HoldExtended{BookingID: b, Until: until.UTC()})
	return nil
}

// Sell makes booking b's held seats its own once it paid. It succeeds as
// long as the hold is on record, even past its deadline: only a recorded
// expiry (or a takeover, which records one) ends it. Selling twice changes
// nothing; a cancelled show sells nothing.
func (s *Show) Sell(b string) error {
	if s.Cancelled() {
		return ErrCancelled
	}
	h, ok := s.s.Holds[b]
	if !ok {
		return ErrSeatsReleased
	}
	if h.Sold {
		return nil
	}
	s.record(SeatsSold{BookingID: b, Seats: slices.Clone(h.Seats)})
	return nil
}

// Cancel cancels the show; holds and sales stay on record for the sagas
// that cancel and refund its bookings. Cancelling twice changes nothing.
func (s *Show) Cancel(reason string, now time.Time) error {
	if !s.Exists() {
		return ErrNotFound
	}
	if s.Cancelled() {
		return nil
	}
	if !now.Before(s.s.EndsAt) {
		return ErrAlreadyStarted.Withf("the show is over")
	}
	s.record(Cancelled{Reason: reason, At: now.UTC()})
	return nil
}

// Reschedule moves the show to start at startsAt (in the future), keeping
// its length. Moving it to where it is changes nothing.
func (s *Show) Reschedule(startsAt, now time.Time) error {
	if !s.Exists() {
		return ErrNotFound
	}
	if s.Cancelled() {
		return ErrCancelled
	}
	if !now.Before(s.s.StartsAt) {
		return ErrAlreadyStarted
	}
	if !startsAt.After(now) {
		return ErrStartsInPast
	}
	if startsAt.Equal(s.s.StartsAt) {
		return nil
	}
	length := s.s.EndsAt.Sub(s.s.StartsAt)
	s.record(Rescheduled{StartsAt: startsAt.UTC(), EndsAt: startsAt.Add(length).UTC(), Previous: s.s.StartsAt, At: now.UTC()})
	return nil
}

// Cancelled reports whether the show was cancelled.
func (s *Show) Cancelled() bool { return !s.s.CancelledAt.IsZero() }

// Rescheduled reports whether the show was ever moved.
func (s *Show) Rescheduled() bool { return !s.s.RescheduledAt.IsZero() }

// Bookings lists the bookings that hold or bought seats, sorted.
func (s *Show) Bookings() []string {
	out := make([]string, 0, len(s.s.Holds))
	for b := range s.s.Holds {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// ExpireHold records the expiry of booking b's hold if its deadline has
// passed and it was not bought. Anything else is left alone.
func (s *Show) ExpireHold(b string, now time.Time) error {
	h, ok := s.s.Holds[b]
	if !ok || s.live(h, now) {
		return nil
	}
	s.record(HoldExpired{BookingID: b, Seats: slices.Clone(h.Seats)})
	return nil
}

// Quote returns the price of seats; unknown seats cost nothing.
func (s *Show) Quote(seats []string) int64 {
	var sum int64
	for _, id := range seats {
		sum += s.s.Prices[s.s.Category[id]]
	}
	return sum
}

func (s *Show) checkSeatList(seats []string, maxSeats int) error {
	if len(seats) == 0 {
		return ErrNoSeats
	}
	if len(seats) > maxSeats {
		return ErrTooManySeats.Withf("at most %d", maxSeats).With("max", maxSeats)
	}
	seen := make(map[string]bool, len(seats))
	var unknown []string
	for _, id := range seats {
		if seen[id] {
			return ErrDuplicateSeat.With("seats", []string{id})
		}
		seen[id] = true
		if _, ok := s.s.Category[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return ErrUnknownSeat.With("seats", unknown)
	}
	return nil
}

func (s *Show) record(e domain.Event) {
	s.apply(e)
	s.Record(e)
}

// Apply applies a committed event; it is how a show is loaded from its stream.
func (s *Show) Apply(e domain.Event) { s.apply(e) }

func (s *Show) apply(e domain.Event) {
	switch e := e.(type) {
	case Scheduled:
		s.s.MovieID, s.s.VenueID = e.MovieID, e.VenueID
		s.s.StartsAt, s.s.EndsAt = e.StartsAt, e.EndsAt
		s.s.Sections, s.s.Prices, s.s.Currency = e.Sections, e.Prices, e.Currency
		for _, seat := range seating.Seats(e.Sections) {
			s.s.Category[seat.ID] = seat.Category
		}
	case SeatsHeld:
		s.s.Holds[e.BookingID] = Hold{UserID: e.UserID, Seats: e.Seats, Until: e.Until}
		for _, id := range e.Seats {
			s.s.Owner[id] = e.BookingID
		}
	case HoldExpired:
		s.free(e.BookingID, e.Seats)
	case SeatsReleased:
		s.free(e.BookingID, e.Seats)
	case HoldExtended:
		h := s.s.Holds[e.BookingID]
		h.Until = e.Until
		s.s.Holds[e.BookingID] = h
	case SeatsSold:
		h := s.s.Holds[e.BookingID]
		h.Sold = true
		s.s.Holds[e.BookingID] = h
	case Cancelled:
		s.s.CancelledAt = e.At
	case Rescheduled:
		s.s.StartsAt, s.s.EndsAt = e.StartsAt, e.EndsAt
		s.s.RescheduledAt = e.At
	}
}

func (s *Show) free(b string, seats []string) {
	for _, id := range seats {
		if s.s.Owner[id] == b {
			delete(s.s.Owner, id)
		}
	}
	delete(s.s.Holds, b)
}

func (st State) clone() State {
	c := st
	c.Sections = seating.Clone(st.Sections)
	c.Prices = cloneMap(st.Prices)
	c.Category = cloneMap(st.Category)
	c.Owner = cloneMap(st.Owner)
	c.Holds = make(map[string]Hold, len(st.Holds))
	for k, h := range st.Holds {
		h.Seats = slices.Clone(h.Seats)
		c.Holds[k] = h
	}
	if c.Category == nil {
		c.Category = map[string]string{}
	}
	if c.Owner == nil {
		c.Owner = map[string]string{}
	}
	return c
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// StreamPrefix starts the event stream id of every show: "show-<id>".
const StreamPrefix = "show-"
