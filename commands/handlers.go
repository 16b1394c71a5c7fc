package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/broadcast"
	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/show"
)

// Config holds the business settings commands apply.
type Config struct {
	HoldTTL            time.Duration // how long a hold lasts unpaid
	CheckoutGrace      time.Duration // how much checkout extends the hold, once
	RefundCutoff       time.Duration // confirmed bookings cancel with a refund until this long before the show
	MaxSeatsPerBooking int
	// ClockTolerance is how long after its deadline a hold or an unpaid
	// booking is still treated as live by this process: another process
	// that set the deadline may have a clock up to this much behind, and
	// seats must never be freed before their deadline.
	ClockTolerance time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
	Repository     Options
	// Forward, if set, sends commands about a show to the process that
	// decides that show's commands (see Forwarder).
	Forward Forwarder
}

// Handlers handles every command. It is safe for concurrent use.
type Handlers struct {
	cfg        Config
	movies     *Repository[*catalog.Movie]
	venues     *Repository[*catalog.Venue]
	shows      *Repository[*show.Show]
	bookings   *Repository[*booking.Booking]
	broadcasts *Repository[*broadcast.Broadcast]
	// showOfBooking remembers the show of bookings, to route their commands.
	showOfBooking bookingShows
}

// New returns the command handlers over an event log.
func New(log EventLog, cfg Config) *Handlers {
	if cfg.Now == nil {
		// Milliseconds are what JSON clients and BSON dates keep; deciding
		// on the same precision keeps responses and read models equal.
		cfg.Now = func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	o := cfg.Repository
	o.Logger = cfg.Logger
	return &Handlers{
		cfg:    cfg,
		movies: NewRepository(log, catalog.MovieStreamPrefix, catalog.NewMovie, nil, o),
		venues: NewRepository(log, catalog.VenueStreamPrefix, catalog.NewVenue, nil, o),
		shows: NewRepository(log, show.StreamPrefix, show.New, &Snapshots[*show.Show]{
			State: func(s *show.Show) any { return s.State() },
			From: func(id string, decode func(any) error) (*show.Show, error) {
				var st show.State
				if err := decode(&st); err != nil {
					return nil, err
				}
				st.ID = id
				return show.FromState(st), nil
			},
		}, o),
		bookings:   NewRepository(log, booking.StreamPrefix, booking.New, nil, o),
		broadcasts: NewRepository(log, broadcast.StreamPrefix, broadcast.New, nil, o),
	}
}

// Show returns the current state of a show from the log, for checks that
// must see every committed event (tests, operators).
func (h *Handlers) Show(ctx context.Context, id string) (*show.Show, int64, error) {
	return h.shows.Load(ctx, id)
}

// Booking returns the current state of a booking from the log.
func (h *Handlers) Booking(ctx context.Context, id string) (*booking.Booking, int64, error) {
	return h.bookings.Load(ctx, id)
}

// BookingAt returns a booking at version known or later, from the cache
// when it is that recent (see Repository.LoadAt): what a saga reacting to
// the booking's event at version known needs.
func (h *Handlers) BookingAt(ctx context.Context, id string, known int64) (*booking.Booking, int64, error) {
	return h.bookings.LoadAt(ctx, id, known)
}

// ShowAt returns a show at version known or later, from the cache when
// it is that recent (known 0: any cached state).
func (h *Handlers) ShowAt(ctx context.Context, id string, known int64) (*show.Show, int64, error) {
	return h.shows.LoadAt(ctx, id, known)
}

// ShowSummaryAt returns what a show is (movie, venue, start, status) at
// version known or later, without copying its seats.
func (h *Handlers) ShowSummaryAt(ctx context.Context, id string, known int64) (show.Summary, error) {
	var sum show.Summary
	err := h.shows.ViewAt(ctx, id, known, func(s *show.Show) { sum = s.Summary() })
	return sum, err
}

// BookingIDFor derives the booking id of a request carrying an
// Idempotency-Key, so that a retried request names the same booking. The
// user id is part of it: two users' keys never collide.
func BookingIDFor(userID, key string) string {
	sum := sha256.Sum256([]byte("booking\x00" + userID + "\x00" + key))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50 // a name-based UUID, version 5 layout
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}
