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
// changes nothing. A booking's jobs run in the process that consumes its
// partition, waking at the earliest deadline and at least every check
// interval. Jobs that can no longer do anything are dropped as soon as the
// saga sees why: the hold's deadline once checkout moved it, every one once
// the booking is paid, cancelled, failed or expired.
//
// Until the expiry is recorded a lapsed hold already counts as free when
// deciding (lazy expiry); this saga only makes the log say so.
type Expiry struct {
	cmd      *commands.Handlers
	clock    clock.Clock
	parts    Partitioner
	queues   *jobs.Partitioned[expiryJob]
	interval time.Duration
	log      *slog.Logger
	// OnExpired reports each hold the saga expired (metrics).
	OnExpired func()

	mu     sync.Mutex
	delays []time.Duration // how late expiries ran, for measurement
}

type expiryJob struct {
	BookingID string `bson:"booking_id"`
	Version   int64  `bson:"version"` // of the booking when the deadline was set
	Meta      meta   `bson:"meta"`
}

// NewExpiry returns the expiry saga with its jobs in db, one queue per
// partition of parts, due by clk; interval is the longest the runner
// sleeps between checks (1s).
func NewExpiry(cmd *commands.Handlers, db *mongo.Database, parts Partitioner, clk clock.Clock, interval time.Duration, log *slog.Logger) *Expiry {
	if interval <= 0 {
		interval = time.Second
	}
	return &Expiry{cmd: cmd, clock: clk, parts: parts, interval: interval, log: log,
		queues: jobs.NewPartitioned[expiryJob](db, "expiry_jobs", parts.Partitions(), clk, log)}
}

// Name implements relay.Handler.
func (*Expiry) Name() string { return ExpirySaga }

// StartTerm implements relay.TermAware: it runs the partition's
// deadlines for the term.
func (x *Expiry) StartTerm(ctx context.Context, partition int) {
	o := jobs.Options{Workers: 32, MaxWait: x.interval, Group: func(p any) string { return p.(expiryJob).BookingID }}
	go func() {
		if err := x.queues.Of(partition).Run(ctx, o, x.expire); err != nil && ctx.Err() == nil {
			x.log.Error("expiry: stopped", "partition", partition, "err", err)
		}
	}()
}

// Handle implements relay.Handler: the batch's deadlines are added with one
// insert per partition, then the jobs the batch made pointless are dropped.
func (x *Expiry) Handle(ctx context.Context, batch []eventstore.Commit) error {
	adds := map[int][]jobs.Item[expiryJob]{}
	type drop struct {
		part       int
		booking    string
		keep       string // the job of the latest deadline, or "" once final
		everything bool
	}
	var drops []drop
	for _, c := range batch {
		part := x.parts.Partition(c.StreamID)
		for i, e := range c.Events {
			id := c.StreamID[min(len(booking.StreamPrefix), len(c.StreamID)):]
			var deadline time.Time
			switch ev := e.Event.(type) {
			case booking.Placed:
				deadline = ev.ExpiresAt
			case booking.CheckoutStarted:
				deadline = ev.Deadline
			case booking.Confirmed, booking.Cancelled, booking.Expired, booking.PaymentFailed, booking.RefundRequested:
				drops = append(drops, drop{part: part, booking: id, everything: true})
				continue
			default:
				continue
			}
			job := expiryJob{BookingID: id, Version: e.Version, Meta: meta{Correlation: e.Meta.CorrelationID, Causation: c.EventID(i)}}
			key := "expire:" + id + ":" + strconv.FormatInt(deadline.UnixMilli(), 10)
			// Due once the deadline has passed on every clock.
			adds[part] = append(adds[part], jobs.Item[expiryJob]{ID: key, Due: deadline.Add(x.cmd.ClockTolerance()), Payload: job})
			if _, ok := e.Event.(booking.CheckoutStarted); ok {
				drops = append(drops, drop{part: part, booking: id, keep: key})
			}
		}
	}
	for part, items := range adds {
		if _, err := x.queues.Of(part).AddMany(ctx, items); err != nil {
			return fmt.Errorf("%s: %w", ExpirySaga, err)
		}
	}
	for _, d := range drops {
		x.queues.Of(d.part).Cancel(d.booking, d.keep)
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
	_, err := x.cmd.ExpireBooking(ctx, j.Payload.BookingID, j.Payload.Version, eventstore.Metadata{
		CorrelationID: j.Payload.Meta.Correlation, CausationID: j.Payload.Meta.Causation, Actor: "saga:" + ExpirySaga})
	if err == nil && x.OnExpired != nil {
		x.OnExpired()
	}
	return err
}

// Active counts the holds whose deadline the saga waits for (a scan of
// its jobs: for metrics and admin pages).
func (x *Expiry) Active(ctx context.Context) (int64, error) {
	st, err := x.queues.Stats(ctx)
	return int64(st.Pending), err
}

// Delays returns how late (after their deadline) the recent expiry jobs
// started, for measurement and monitoring.
func (x *Expiry) Delays() []time.Duration {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]time.Duration(nil), x.delays...)
}
