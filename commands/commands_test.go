package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/broadcast"
	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/seating"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// countingLog is the in-memory event store, counting what it is asked.
type countingLog struct {
	*eventstore.Memory
	streamReads, commitsRead, snapshotLoads atomic.Int64
}

func (l *countingLog) ReadStream(ctx context.Context, stream string, after, atLeast int64) ([]eventstore.Commit, error) {
	cs, err := l.Memory.ReadStream(ctx, stream, after, atLeast)
	l.streamReads.Add(1)
	l.commitsRead.Add(int64(len(cs)))
	return cs, err
}

func (l *countingLog) LoadSnapshot(ctx context.Context, stream string, state any) (int64, bool, error) {
	l.snapshotLoads.Add(1)
	return l.Memory.LoadSnapshot(ctx, stream, state)
}

func registry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	r.Register(catalog.Events()...)
	r.Register(show.Events()...)
	r.Register(booking.Events()...)
	r.Register(broadcast.Events()...)
	return r
}

// world is command handlers over an in-memory log, on a clock the test
// moves.
type world struct {
	log   *countingLog
	clock *clock.Offset
	h     *commands.Handlers
}

const holdTTL, grace = 10 * time.Minute, 5 * time.Minute

func newWorld(t *testing.T) *world {
	t.Helper()
	clk := clock.NewOffset(0)
	log := &countingLog{Memory: eventstore.NewMemory(registry(), clk.Now)}
	t.Cleanup(log.Close)
	return &world{log: log, clock: clk, h: handlers(log, clk)}
}

func handlers(log commands.EventLog, clk clock.Clock) *commands.Handlers {
	return commands.New(log, commands.Config{HoldTTL: holdTTL, CheckoutGrace: grace, RefundCutoff: time.Hour,
		MaxSeatsPerBooking: 10, Now: clk.Now})
}

// show schedules a show of rows × perRow seats a week ahead.
func (w *world) show(t *testing.T, rows, perRow int) string {
	t.Helper()
	ctx := context.Background()
	movie, venue, id := uuid.NewString(), uuid.NewString(), uuid.NewString()
	var names []string
	for r := range rows {
		names = append(names, string(rune('A'+r)))
	}
	if _, err := w.h.AddMovie(ctx, movie, catalog.MovieDetails{Title: "M", Genres: []string{"drama"}, Language: "en", DurationMinutes: 100}, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.h.AddVenue(ctx, venue, catalog.VenueDetails{Name: "V", City: "Pune",
		Sections: []seating.Section{{Category: "standard", Rows: names, SeatsPerRow: perRow}}}, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.h.ScheduleShow(ctx, commands.ScheduleShow{ShowID: id, MovieID: movie, VenueID: venue,
		StartsAt: w.clock.Now().Add(7 * 24 * time.Hour), Prices: map[string]int64{"standard": 500}, Currency: "INR"}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (w *world) hold(t *testing.T, showID, user string, seats ...string) commands.Held {
	t.Helper()
	held, err := w.h.HoldSeats(context.Background(), commands.HoldSeats{BookingID: uuid.NewString(), UserID: user, ShowID: showID, Seats: seats})
	if err != nil {
		t.Fatalf("hold %v: %v", seats, err)
	}
	return held
}

func TestAHoldOfTakenSeatsIsRefusedAndRecordsNothing(t *testing.T) {
	w := newWorld(t)
	s := w.show(t, 1, 4)
	w.hold(t, s, "ann", "A1", "A2")
	head := w.log.KnownHead()
	_, err := w.h.HoldSeats(context.Background(), commands.HoldSeats{BookingID: uuid.NewString(), UserID: "bob", ShowID: s, Seats: []string{"A2", "A3"}})
	if !errors.Is(err, show.ErrSeatUnavailable) {
		t.Fatalf("a hold of a held seat: %v", err)
	}
	if w.log.KnownHead() != head {
		t.Fatal("a refused hold appended to the log")
	}
}

func TestAPaidBookingIsConfirmedAndItsSeatsSold(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.show(t, 1, 4)
	held := w.hold(t, s, "ann", "A1")
	id := held.Booking.ID
	out, err := w.h.Checkout(ctx, commands.Checkout{BookingID: id, UserID: "ann", PaymentToken: "tok_approve"})
	if err != nil || out.Booking.Status != booking.StatusPaymentPending || !out.Booking.ExpiresAt.Equal(held.Booking.ExpiresAt.Add(grace)) {
		t.Fatalf("checkout: %+v %v", out.Booking, err)
	}
	paid, err := w.h.RecordPayment(ctx, id, "ch_1", 500, eventstore.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.h.ConfirmPaid(ctx, id, paid.Version, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	b, _, _ := w.h.Booking(ctx, id)
	sh, _, _ := w.h.Show(ctx, s)
	if b.State().Status != booking.StatusConfirmed {
		t.Fatalf("booking %v", b.State().Status)
	}
	for _, seat := range sh.SeatMap(w.clock.Now()) {
		if seat.ID == "A1" && seat.State != show.Sold {
			t.Fatalf("seat A1 is %s", seat.State)
		}
	}
}

func TestAPaymentAfterTheSeatsWereTakenIsRefunded(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.show(t, 1, 4)
	id := w.hold(t, s, "ann", "A1").Booking.ID
	if _, err := w.h.Checkout(ctx, commands.Checkout{BookingID: id, UserID: "ann", PaymentToken: "tok_slow"}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(holdTTL + grace) // the payment is late; bob takes the seat
	w.hold(t, s, "bob", "A1")
	paid, err := w.h.RecordPayment(ctx, id, "ch_1", 500, eventstore.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.h.ConfirmPaid(ctx, id, paid.Version, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	b, _, _ := w.h.Booking(ctx, id)
	if st := b.State(); st.Status != booking.StatusRefunded || st.Payment.Reason != "late-payment" {
		t.Fatalf("late payment: %v %q", st.Status, st.Payment.Reason)
	}
}

func TestAnExpiredHoldIsRecordedOnBookingAndShow(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.show(t, 1, 4)
	held := w.hold(t, s, "ann", "A1")
	if _, err := w.h.ExpireBooking(ctx, held.Booking.ID, 1, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := w.h.Booking(ctx, held.Booking.ID); b.State().Status != booking.StatusHeld {
		t.Fatalf("expired before its deadline: %v", b.State().Status)
	}
	w.clock.Advance(holdTTL)
	if _, err := w.h.ExpireBooking(ctx, held.Booking.ID, 1, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	b, _, _ := w.h.Booking(ctx, held.Booking.ID)
	sh, _, _ := w.h.Show(ctx, s)
	if _, still := sh.HoldOf(held.Booking.ID); b.State().Status != booking.StatusExpired || still {
		t.Fatalf("booking %v, show still holds: %v", b.State().Status, still)
	}
}

// TestANoOpAtAKnownVersionReadsNothing: a saga reacting to a booking's
// event at version v, with the booking cached at v or later, decides a
// no-op without reading the log; without a known version it reads.
func TestANoOpAtAKnownVersionReadsNothing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.show(t, 1, 4)
	held := w.hold(t, s, "ann", "A1")
	p := booking.Placement{UserID: "ann", ShowID: s, Seats: []string{"A1"}, Amount: 500, Currency: "INR", ExpiresAt: held.Booking.ExpiresAt}
	before := w.log.streamReads.Load()
	if _, err := w.h.PlaceBooking(ctx, held.Booking.ID, p, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.h.ExpireBooking(ctx, held.Booking.ID, held.Result.Version, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if n := w.log.streamReads.Load() - before; n != 0 {
		t.Fatalf("no-ops at a known version read the log %d times", n)
	}
	if _, err := w.h.ExpireBooking(ctx, held.Booking.ID, 0, eventstore.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if w.log.streamReads.Load() == before {
		t.Fatal("a no-op at no known version did not look for newer commits")
	}
}

// TestAShowOf500CommitsLoadsFromItsSnapshot: a process that has never seen
// a show of 500 commits loads it from its latest snapshot and the few
// commits after it, and decides on the same state as the process that
// wrote it.
func TestAShowOf500CommitsLoadsFromItsSnapshot(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.show(t, 10, 50)
	for i := range 499 {
		w.hold(t, s, "ann", fmt.Sprintf("%c%d", 'A'+i/50, 1+i%50))
	}
	_, version, err := w.h.Show(ctx, s)
	if err != nil || version < 500 {
		t.Fatalf("the show has %d events (%v)", version, err)
	}
	var snapped int64
	deadline := time.Now().Add(10 * time.Second)
	for snapped < 400 && time.Now().Before(deadline) { // snapshots are saved in the background
		var st show.State
		snapped, _, _ = w.log.Memory.LoadSnapshot(ctx, show.StreamPrefix+s, &st)
		time.Sleep(10 * time.Millisecond)
	}
	if snapped < 400 {
		t.Fatalf("latest snapshot at version %d of %d", snapped, version)
	}
	other := handlers(w.log, w.clock) // another process: an empty cache
	reads := w.log.commitsRead.Load()
	fresh, v2, err := other.Show(ctx, s)
	if err != nil || v2 != version {
		t.Fatalf("loaded at version %d of %d: %v", v2, version, err)
	}
	if n := w.log.commitsRead.Load() - reads; n > version-snapped || n >= 100 {
		t.Fatalf("loading read %d commits; the snapshot was at %d of %d", n, snapped, version)
	}
	orig, _, _ := w.h.Show(ctx, s)
	a, b := orig.SeatMap(w.clock.Now()), fresh.SeatMap(w.clock.Now())
	if len(a) != len(b) {
		t.Fatalf("seat maps of %d and %d seats", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seat %d: %+v written, %+v loaded from the snapshot", i, a[i], b[i])
		}
	}
	// And it decides on it: the seats held before are taken.
	if _, err := other.HoldSeats(ctx, commands.HoldSeats{BookingID: uuid.NewString(), UserID: "bob", ShowID: s, Seats: []string{"A1"}}); !errors.Is(err, show.ErrSeatUnavailable) {
		t.Fatalf("a hold of a seat held before the snapshot: %v", err)
	}
}
