package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/bus"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/eventstore"
)

// Handler consumes commits for one consumer group. Handle must be
// idempotent and must tolerate commits of one stream arriving out of
// order or twice. Name is the consumer group and never changes once
// released.
type Handler interface {
	Name() string
	Handle(ctx context.Context, c eventstore.Commit) error
}

// ConsumerOptions tune consumption.
type ConsumerOptions struct {
	LeaseTTL    time.Duration // consumer-group lease (10s)
	MaxAttempts int           // tries before a commit goes to the dead letters (5)
	Backoff     time.Duration // first wait between tries, doubling (100ms)
	Logger      *slog.Logger
}

func (o *ConsumerOptions) defaults() {
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Consumer runs handlers against the bus.
type Consumer struct {
	bus      *bus.Bus
	reg      *eventstore.Registry
	leaser   coord.Leaser
	progress coord.Progress
	dead     *DeadLetters
	opts     ConsumerOptions

	mu    sync.Mutex
	ready map[string]chan struct{}
}

// NewConsumer returns a consumer runner.
func NewConsumer(b *bus.Bus, reg *eventstore.Registry, l coord.Leaser, p coord.Progress, dead *DeadLetters, o ConsumerOptions) *Consumer {
	o.defaults()
	return &Consumer{bus: b, reg: reg, leaser: l, progress: p, dead: dead, opts: o, ready: map[string]chan struct{}{}}
}

func (c *Consumer) readyChan(group string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.ready[group]
	if !ok {
		ch = make(chan struct{})
		c.ready[group] = ch
	}
	return ch
}

// WaitSubscribed waits until this process has subscribed each group at
// least once, or ctx ends. On the in-process bus, messages published before
// a group subscribes only reach it through the catch-up's redelivery, so
// the embedded mode waits for this before it serves requests.
func (c *Consumer) WaitSubscribed(ctx context.Context, groups ...string) error {
	for _, g := range groups {
		select {
		case <-c.readyChan(g):
		case <-ctx.Done():
			return fmt.Errorf("relay: %s did not subscribe: %w", g, ctx.Err())
		}
	}
	return nil
}

// Run consumes for h until ctx ends, whenever this process holds the
// group's lease.
func (c *Consumer) Run(ctx context.Context, h Handler) {
	log := c.opts.Logger.With("group", h.Name())
	coord.RunLeased(ctx, c.leaser, "consumer:"+h.Name(), coord.RunOptions{TTL: c.opts.LeaseTTL, Logger: log},
		func(ctx context.Context, fence int64) {
			log.Debug("relay: consuming", "fence", fence)
			for ctx.Err() == nil {
				if err := c.consume(ctx, h, log); err != nil && ctx.Err() == nil {
					log.Warn("relay: subscription ended", "err", err)
					time.Sleep(500 * time.Millisecond)
				}
			}
		})
}

func (c *Consumer) consume(ctx context.Context, h Handler, log *slog.Logger) error {
	msgs, err := c.bus.Subscribe(ctx, h.Name())
	if err != nil {
		return err
	}
	if ch := c.readyChan(h.Name()); !isClosed(ch) {
		c.mu.Lock()
		if !isClosed(ch) {
			close(ch)
		}
		c.mu.Unlock()
	}
	for m := range msgs {
		commit, err := bus.Decode(c.reg, m)
		if err != nil {
			// A message that cannot be decoded cannot be retried into
			// shape; the catch-up publishes the commit again from the log.
			log.Error("relay: undecodable message dropped", "uuid", m.UUID, "err", err)
			m.Ack()
			continue
		}
		if err := c.handle(ctx, h, commit, log); err != nil {
			m.Nack()
			return err
		}
		m.Ack()
	}
	return errors.New("subscription closed")
}

// handle runs h on one commit with retries, sends it to the dead letters
// after MaxAttempts, and marks it consumed.
func (c *Consumer) handle(ctx context.Context, h Handler, commit eventstore.Commit, log *slog.Logger) error {
	wait := c.opts.Backoff
	var err error
	for attempt := 1; attempt <= c.opts.MaxAttempts; attempt++ {
		if err = h.Handle(ctx, commit); err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("relay: handler failed", "position", commit.Position, "stream", commit.StreamID, "attempt", attempt, "err", err)
		if attempt < c.opts.MaxAttempts {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			wait *= 2
		}
	}
	if err != nil {
		if derr := c.dead.Add(ctx, h.Name(), commit, c.opts.MaxAttempts, err); derr != nil {
			return fmt.Errorf("dead-letter %d: %w", commit.Position, derr)
		}
		log.Error("relay: commit sent to dead letters", "position", commit.Position, "stream", commit.StreamID, "err", err)
	}
	for {
		err := c.progress.MarkConsumed(ctx, h.Name(), commit.Position)
		if err == nil {
			return nil
		}
		log.Warn("relay: cannot mark consumed", "position", commit.Position, "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// DeadLetters keeps commits that a group failed to handle MaxAttempts
// times, one document per (group, position), for an operator to inspect and
// retry.
type DeadLetters struct{ coll *mongo.Collection }

// NewDeadLetters returns the dead-letter store in db.
func NewDeadLetters(db *mongo.Database) *DeadLetters {
	return &DeadLetters{coll: db.Collection("dead_letters")}
}

type deadLetterDoc struct {
	ID       string    `bson:"_id"`
	Group    string    `bson:"group"`
	Position int64     `bson:"position"`
	StreamID string    `bson:"stream_id"`
	Error    string    `bson:"error"`
	Attempts int       `bson:"attempts"`
	Time     time.Time `bson:"time"`
}

// Add records a dead letter; recording it twice keeps the first.
func (d *DeadLetters) Add(ctx context.Context, group string, c eventstore.Commit, attempts int, cause error) error {
	_, err := d.coll.InsertOne(ctx, deadLetterDoc{
		ID: group + ":" + strconv.FormatInt(c.Position, 10), Group: group, Position: c.Position,
		StreamID: c.StreamID, Error: cause.Error(), Attempts: attempts, Time: time.Now().UTC(),
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return err
	}
	return nil
}
