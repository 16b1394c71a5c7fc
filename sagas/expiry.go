package sagas

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/jobs"
)

// ExpirySaga is the consumer group of Expiry. It never changes.
const ExpirySaga = "saga.expiry"

// Expiry records the expiry of bookings that were not paid by their
// deadline. Deadlines come from the log (booking.Placed, and
// booking.CheckoutStarted which moves it) and are kept as durable jobs, one
// per booking and deadline, so a restart loses none; the job that fires
// for a deadline that has moved, or a booking since paid or cancelled,
// changes nothing. The jobs run while this process holds the group's
// lease, waking at the earliest deadline and at least every check interval.
//
// Until the expiry is recorded a lapsed hold already counts as free when
// deciding (lazy expiry); this saga only makes the log say so.
type Expiry struct {
	rescan   time.Duration // see SetRescan
	cmd      *commands.Handlers
	clock    clock.Clock
	queue    *jobs.Queue[expiryJob]
	interval time.Duration
	log      *slog.Logger
	// OnExpired reports each hold the saga expired (metrics).
	OnExpired func()

	mu     sync.Mutex
	delays []time.Duration // how late expiries ran, for measurement
}

type expiryJob struct {
	BookingID string `bson:"booking_id"`
	Meta      meta   `bson:"meta"`
}

// NewExpiry returns the expiry saga with its jobs in db, due by clk;
// interval is the longest the runner sleeps between checks (1s).
func NewExpiry(cmd *commands.Handlers, db *mongo.Database, clk clock.Clock, interval time.Duration, log *slog.Logger) *Expiry {
	if interval <= 0 {
		interval = time.Second
	}
	return &Expiry{cmd: cmd, clock: clk, queue: jobs.New[expiryJob](db.Collection("expiry_jobs"), clk, log), interval: interval, log: log}
}

// Name implements relay.Handler.
func (*Expiry) Name() string { return ExpirySaga }

// SetRescan makes the job runner reload its collection every d, for the
// deadlines that workers consuming other partitions of the group add (the
// runner runs in the process that holds partition 0).
func (x *Expiry) SetRescan(d time.Duration) { x.rescan = d }

// StartTerm implements relay.TermAware.
func (x *Expiry) StartTerm(ctx context.Context) {
	go func() {
		err := x.queue.Run(ctx, jobs.Options{Workers: 32, MaxWait: x.interval, Rescan: x.rescan}, x.expire)
		if err != nil && ctx.Err() == nil {
			x.log.Error("expiry: stopped", "err", err)
		}
	}()
}

// Handle implements relay.Handler.
func (x *Expiry) Handle(ctx context.Context, batch []eventstore.Commit) error {
	for _, c := range batch {
		for i, e := range c.Events {
			id := c.StreamID[min(len(booking.StreamPrefix), len(c.StreamID)):]
			var deadline time.Time
			switch ev := e.Event.(type) {
			case booking.Placed:
				deadline = ev.ExpiresAt
			case booking.CheckoutStarted:
				deadline = ev.Deadline
			default:
				continue
			}
			job := expiryJob{BookingID: id, Meta: meta{Correlation: e.Meta.CorrelationID, Causation: c.EventID(i)}}
			key := "expire:" + id + ":" + strconv.FormatInt(deadline.UnixMilli(), 10)
			// Due once the deadline has passed on every clock.
			if _, err := x.queue.Add(ctx, key, deadline.Add(x.cmd.ClockTolerance()), job); err != nil {
				return fmt.Errorf("%s: commit %d: %w", ExpirySaga, c.Position, err)
			}
		}
	}
	return nil
}

func (x *Expiry) expire(ctx context.Context, j jobs.Job[expiryJob]) error {
	if j.Attempts == 0 {
		x.mu.Lock()
		x.delays = append(x.delays, x.clock.Now().Sub(j.Due))
		if len(x.delays) > 10000 {
			x.delays = x.delays[5000:]
		}
		x.mu.Unlock()
	}
	_, err := x.cmd.ExpireBooking(ctx, j.Payload.BookingID, eventstore.Metadata{
		CorrelationID: j.Payload.Meta.Correlation, CausationID: j.Payload.Meta.Causation, Actor: "saga:" + ExpirySaga})
	if err == nil && x.OnExpired != nil {
		x.OnExpired()
	}
	return err
}

// Active counts the holds whose deadline the saga waits for (a scan of
// its jobs: for metrics and admin pages).
func (x *Expiry) Active(ctx context.Context) (int64, error) {
	st, err := x.queue.Stats(ctx)
	return int64(st.Pending), err
}

// Delays returns how late (after their deadline) the recent expiry jobs
// started, for measurement and monitoring.
func (x *Expiry) Delays() []time.Duration {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]time.Duration(nil), x.delays...)
}
