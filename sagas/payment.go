package sagas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/groupwrite"
	"github.com/seatline/seatline/jobs"
	"github.com/seatline/seatline/payments"
)

// PaymentSaga is the consumer group of Payment. It never changes.
const PaymentSaga = "saga.payment"

// Payment moves money through the gateway:
//
//	booking.CheckoutStarted → job charge:<booking>  → gateway charge → PaymentSucceeded | PaymentFailed
//	booking.RefundRequested → job refund:<booking>  → gateway refund → Refunded
//
// Jobs are durable (jobs.Partitioned): each runs in the process that
// consumes the partition of its booking, while it holds that lease. The gateway's idempotency keys are derived from the
// booking id, so a job that runs again (after a crash, a timeout, a
// transient error) never charges or refunds twice. A charge that timed out
// is retried with the same key until the gateway gives an answer; a success
// that arrives after the booking's deadline is refunded by the booking.
type Payment struct {
	cmd      *commands.Handlers
	clock    clock.Clock
	parts    Partitioner
	gw       payments.Gateway
	charges  *jobs.Partitioned[chargeJob]
	refunds  *jobs.Partitioned[refundJob]
	attempts *groupwrite.Inserter // a mark before a booking's first gateway call
	calls    *mongo.Collection    // one record per gateway call, for timelines
	record   *groupwrite.Inserter // into calls
	// OnCall reports each gateway call's kind and outcome (metrics).
	OnCall  func(kind, outcome string)
	timeout time.Duration
	log     *slog.Logger
	hit     func(string)
}

type chargeJob struct {
	BookingID string `bson:"booking_id"`
	Version   int64  `bson:"version"` // of the booking at its CheckoutStarted
	Token     string `bson:"token"`
	Amount    int64  `bson:"amount"`
	Currency  string `bson:"currency"`
	Meta      meta   `bson:"meta"`
}

type refundJob struct {
	BookingID string `bson:"booking_id"`
	Version   int64  `bson:"version"` // of the booking at its RefundRequested
	Meta      meta   `bson:"meta"`
}

type meta struct {
	Correlation string `bson:"correlation_id"`
	Causation   string `bson:"causation_id"`
}

func (m meta) metadata() eventstore.Metadata {
	return eventstore.Metadata{CorrelationID: m.Correlation, CausationID: m.Causation, Actor: "saga:" + PaymentSaga}
}

// NewPayment returns the payment saga with its jobs in db, one queue per
// partition of parts, due by clk. timeout bounds each gateway call.
func NewPayment(cmd *commands.Handlers, gw payments.Gateway, db *mongo.Database, parts Partitioner, clk clock.Clock, timeout time.Duration, log *slog.Logger, hit func(string)) *Payment {
	if hit == nil {
		hit = func(string) {}
	}
	return &Payment{cmd: cmd, clock: clk, parts: parts, gw: gw, timeout: timeout, log: log, hit: hit,
		charges:  jobs.NewPartitioned[chargeJob](db, "charge_jobs", parts.Partitions(), clk, log),
		refunds:  jobs.NewPartitioned[refundJob](db, "refund_jobs", parts.Partitions(), clk, log),
		attempts: groupwrite.NewInserter(db.Collection("charge_attempts"), 0),
		calls:    db.Collection("gateway_calls"),
		record:   groupwrite.NewInserter(db.Collection("gateway_calls"), 0),
	}
}

// Name implements relay.Handler.
func (*Payment) Name() string { return PaymentSaga }

// StartTerm implements relay.TermAware: it runs the partition's jobs for
// the term.
//
// A charge mostly waits (for the gateway, for its commits), so many run at
// once: a sale's checkouts arrive faster than one at a time can keep up.
func (p *Payment) StartTerm(ctx context.Context, partition int) {
	o := jobs.Options{Workers: 64, MaxAttempts: 12,
		Backoff: func(a int) time.Duration { return min(time.Duration(a)*time.Second, 30*time.Second) }}
	go func() {
		if err := p.charges.Of(partition).Run(ctx, o, p.charge); err != nil && ctx.Err() == nil {
			p.log.Error("payment: charges stopped", "partition", partition, "err", err)
		}
	}()
	go func() {
		if err := p.refunds.Of(partition).Run(ctx, o, p.refund); err != nil && ctx.Err() == nil {
			p.log.Error("payment: refunds stopped", "partition", partition, "err", err)
		}
	}()
}

// Handle implements relay.Handler: the batch's jobs are added with one
// insert per queue and partition.
func (p *Payment) Handle(ctx context.Context, batch []eventstore.Commit) error {
	charges := map[int][]jobs.Item[chargeJob]{}
	refunds := map[int][]jobs.Item[refundJob]{}
	now := p.clock.Now()
	for _, c := range batch {
		part := p.parts.Partition(c.StreamID)
		for i, e := range c.Events {
			m := meta{Correlation: e.Meta.CorrelationID, Causation: c.EventID(i)}
			id := c.StreamID[min(len(booking.StreamPrefix), len(c.StreamID)):]
			switch ev := e.Event.(type) {
			case booking.CheckoutStarted:
				b, _, err := p.cmd.BookingAt(ctx, id, e.Version)
				if err != nil {
					return fmt.Errorf("%s: commit %d: %w", PaymentSaga, c.Position, err)
				}
				st := b.State()
				charges[part] = append(charges[part], jobs.Item[chargeJob]{ID: "charge:" + id, Due: now, Payload: chargeJob{
					BookingID: id, Version: e.Version, Token: ev.PaymentToken, Amount: st.Amount, Currency: st.Currency, Meta: m}})
			case booking.RefundRequested:
				refunds[part] = append(refunds[part], jobs.Item[refundJob]{ID: "refund:" + id, Due: now,
					Payload: refundJob{BookingID: id, Version: e.Version, Meta: m}})
			}
		}
	}
	for part, items := range charges {
		if _, err := p.charges.Of(part).AddMany(ctx, items); err != nil {
			return fmt.Errorf("%s: %w", PaymentSaga, err)
		}
	}
	for part, items := range refunds {
		if _, err := p.refunds.Of(part).AddMany(ctx, items); err != nil {
			return fmt.Errorf("%s: %w", PaymentSaga, err)
		}
	}
	return nil
}

// charge runs one charge job. Before the first call to the gateway it
// records that a call is about to happen: a job whose booking can no longer
// be paid (it expired while no worker ran) is dropped only if the gateway
// was never called for it, since a call that timed out may have charged.
func (p *Payment) charge(ctx context.Context, j jobs.Job[chargeJob]) error {
	job := j.Payload
	b, _, err := p.cmd.BookingAt(ctx, job.BookingID, job.Version)
	if err != nil {
		return err
	}
	st := b.State()
	if st.Payment.Paid() || st.Status == booking.StatusPaymentFailed {
		return nil // recorded already
	}
	called, err := p.calledBefore(ctx, job.BookingID)
	if err != nil {
		return err
	}
	if !called && b.Status(p.clock.Now()) != booking.StatusPaymentPending {
		return nil // never charged, and it is too late to
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	at, start := p.clock.Now(), time.Now()
	ch, err := p.gw.Charge(cctx, payments.ChargeRequest{IdempotencyKey: "booking:" + job.BookingID + ":charge",
		Reference: job.BookingID, Token: job.Token, Amount: job.Amount, Currency: job.Currency})
	cancel()
	call := GatewayCall{BookingID: job.BookingID, Kind: "charge", Attempt: j.Attempts + 1, At: at, Causation: job.Meta.Causation,
		Correlation: job.Meta.Correlation, Millis: time.Since(start).Milliseconds(), ChargeID: ch.ID, Outcome: ch.Status, Reason: ch.DeclineReason}
	if err != nil {
		call.Outcome, call.Error = "error", err.Error()
	}
	p.recordCall(ctx, call)
	if err != nil {
		if errors.Is(err, payments.ErrTransient) || errors.Is(err, context.DeadlineExceeded) {
			return err // retried with the same key
		}
		_, rerr := p.cmd.RecordPaymentFailure(ctx, job.BookingID, "gateway_error", job.Meta.metadata())
		if rerr != nil {
			return rerr
		}
		return jobs.Permanent(err)
	}
	p.hit("payment.after-charge")
	if ch.Status != payments.Succeeded {
		_, err = p.cmd.RecordPaymentFailure(ctx, job.BookingID, ch.DeclineReason, job.Meta.metadata())
		return err
	}
	res, err := p.cmd.RecordPayment(ctx, job.BookingID, ch.ID, ch.Amount, job.Meta.metadata())
	if err != nil {
		return err
	}
	// Sell the seats and confirm at once, while the booking is in this
	// process's cache; the booking-seats saga does the same from the
	// PaymentSucceeded event if this process dies first (then a no-op).
	p.hit("payment.before-confirm")
	caused := job.Meta.metadata()
	caused.CausationID = eventstore.Commit{Position: res.Position}.EventID(res.FirstEvent) // the PaymentSucceeded
	_, err = p.cmd.ConfirmPaid(ctx, job.BookingID, res.Version, caused)
	return err
}

// calledBefore records that the gateway is about to be called for a
// booking and reports whether a call was recorded before.
func (p *Payment) calledBefore(ctx context.Context, bookingID string) (bool, error) {
	err := p.attempts.Insert(ctx, bson.D{{Key: "_id", Value: bookingID}, {Key: "at", Value: p.clock.Now()}})
	if mongo.IsDuplicateKeyError(err) {
		return true, nil
	}
	return false, err
}

func (p *Payment) refund(ctx context.Context, j jobs.Job[refundJob]) error {
	b, _, err := p.cmd.BookingAt(ctx, j.Payload.BookingID, j.Payload.Version)
	if err != nil {
		return err
	}
	st := b.State()
	if st.Payment.Status != booking.PaymentRefundPending {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	at, start := p.clock.Now(), time.Now()
	rf, err := p.gw.Refund(cctx, payments.RefundRequest{IdempotencyKey: "booking:" + j.Payload.BookingID + ":refund",
		ChargeID: st.Payment.ChargeID, Amount: st.Payment.RefundAmount})
	cancel()
	call := GatewayCall{BookingID: j.Payload.BookingID, Kind: "refund", Attempt: j.Attempts + 1, At: at, Causation: j.Payload.Meta.Causation,
		Correlation: j.Payload.Meta.Correlation, Millis: time.Since(start).Milliseconds(), ChargeID: st.Payment.ChargeID, RefundID: rf.ID, Outcome: "succeeded"}
	if err != nil {
		call.Outcome, call.Error = "error", err.Error()
	}
	p.recordCall(ctx, call)
	if err != nil {
		return err
	}
	_, err = p.cmd.RecordRefund(ctx, j.Payload.BookingID, rf.ID, j.Payload.Meta.metadata())
	return err
}

// GatewayCall records one call to the payment gateway.
type GatewayCall struct {
	ID          string    `bson:"_id" json:"-"`
	BookingID   string    `bson:"booking_id" json:"booking_id"`
	Kind        string    `bson:"kind" json:"kind"` // charge or refund
	Attempt     int       `bson:"attempt" json:"attempt"`
	At          time.Time `bson:"at" json:"at"`
	Millis      int64     `bson:"ms" json:"ms"`
	Outcome     string    `bson:"outcome" json:"outcome"` // succeeded, declined, error
	Reason      string    `bson:"reason,omitempty" json:"reason,omitempty"`
	Error       string    `bson:"error,omitempty" json:"error,omitempty"`
	ChargeID    string    `bson:"charge_id,omitempty" json:"charge_id,omitempty"`
	RefundID    string    `bson:"refund_id,omitempty" json:"refund_id,omitempty"`
	Correlation string    `bson:"correlation_id" json:"correlation_id"`
	Causation   string    `bson:"causation_id" json:"causation_id"`
}

// recordCall keeps a gateway call under <booking>:<kind>:<attempt>, so a
// booking's calls are found by _id. A failure to record is only logged.
func (p *Payment) recordCall(ctx context.Context, c GatewayCall) {
	if p.OnCall != nil {
		p.OnCall(c.Kind, c.Outcome)
	}
	c.ID = fmt.Sprintf("%s:%s:%d", c.BookingID, c.Kind, c.Attempt)
	if err := p.record.Insert(ctx, c); err != nil && !mongo.IsDuplicateKeyError(err) {
		p.log.Warn("payment: record gateway call", "booking", c.BookingID, "err", err)
	}
}

// Calls returns a booking's gateway calls in order.
func (p *Payment) Calls(ctx context.Context, bookingID string) ([]GatewayCall, error) {
	var out []GatewayCall
	for _, kind := range []string{"charge", "refund"} {
		for n := 1; ; n++ {
			var c GatewayCall
			err := p.calls.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%s:%s:%d", bookingID, kind, n)}}).Decode(&c)
			if errors.Is(err, mongo.ErrNoDocuments) {
				break
			}
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// Jobs returns the counts of the charge and refund queues, for monitoring.
func (p *Payment) Jobs(ctx context.Context) (charges, refunds jobs.Stats, err error) {
	if charges, err = p.charges.Stats(ctx); err != nil {
		return
	}
	refunds, err = p.refunds.Stats(ctx)
	return
}
