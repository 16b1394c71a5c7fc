package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/seatline/seatline/bus"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/eventstore"
)

// Handler consumes commits for one consumer group, a batch at a time.
// Handle must be idempotent and must tolerate commits of one stream
// arriving out of order or twice, within a batch and across batches. Name
// is the consumer group and never changes once released.
type Handler interface {
	Name() string
	Handle(ctx context.Context, batch []eventstore.Commit) error
}

// TermAware handlers are told when this process starts consuming their
// group under a new lease term. ctx ends with the term: work a handler
// starts for the term (a queue of durable jobs, timers) must stop then,
// because another process may take the group over.
type TermAware interface {
	StartTerm(ctx context.Context)
}

// ConsumerOptions tune consumption.
type ConsumerOptions struct {
	LeaseTTL    time.Duration // consumer-group lease (10s)
	MaxAttempts int           // tries before a commit goes to the dead letters (5)
	Backoff     time.Duration // first wait between tries, doubling (100ms)
	MaxBatch    int           // commits handled together (256)
	Linger      time.Duration // how long a batch waits for more commits (2ms)
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
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Consumer runs handlers against the bus.
//
// It acknowledges a message to the bus as soon as it has taken it into a
// batch: what makes a commit count as handled is its mark in the group's
// progress set, written only after the batch was applied. A commit lost in
// between (the process died) is never marked, so the relay's catch-up
// publishes it again. Early acknowledgement lets the bus hand over the next
// message at once, which is what makes batches possible.
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

func (c *Consumer) markReady(group string) {
	ch := c.readyChan(group)
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
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
			if t, ok := h.(TermAware); ok {
				t.StartTerm(ctx)
			}
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
	c.markReady(h.Name())
	for {
		batch, open := c.collect(ctx, msgs, log)
		if len(batch) > 0 {
			if err := c.handle(ctx, h, batch, log); err != nil {
				return err
			}
		}
		if !open {
			return errors.New("subscription closed")
		}
	}
}

// collect takes one message (waiting for it), then whatever follows within
// Linger, up to MaxBatch. It acknowledges each message as it takes it.
func (c *Consumer) collect(ctx context.Context, msgs <-chan *message.Message, log *slog.Logger) ([]eventstore.Commit, bool) {
	var batch []eventstore.Commit
	var timer <-chan time.Time
	for len(batch) < c.opts.MaxBatch {
		select {
		case m, ok := <-msgs:
			if !ok {
				return batch, false
			}
			commit, err := bus.Decode(c.reg, m)
			m.Ack()
			if err != nil {
				// Nothing can make it decodable; the catch-up publishes
				// the commit again from the log.
				log.Error("relay: undecodable message dropped", "uuid", m.UUID, "err", err)
				continue
			}
			batch = append(batch, commit)
			if timer == nil {
				timer = time.After(c.opts.Linger)
			}
		case <-timer:
			return batch, true
		case <-ctx.Done():
			return nil, false
		}
	}
	return batch, true
}

// handle applies a batch with retries. If the batch keeps failing, each
// commit is tried on its own so that only the poisonous ones go to the dead
// letters. Handled commits are marked consumed.
func (c *Consumer) handle(ctx context.Context, h Handler, batch []eventstore.Commit, log *slog.Logger) error {
	start := time.Now()
	err := c.try(ctx, h, batch, log)
	log.Debug("relay: batch handled", "commits", len(batch), "ms", time.Since(start).Milliseconds())
	if err != nil && len(batch) > 1 && ctx.Err() == nil {
		for _, one := range batch {
			if err := c.handle(ctx, h, []eventstore.Commit{one}, log); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		commit := batch[0]
		if derr := c.dead.Add(ctx, h.Name(), commit, c.opts.MaxAttempts, err); derr != nil {
			return fmt.Errorf("dead-letter %d: %w", commit.Position, derr)
		}
		log.Error("relay: commit sent to dead letters", "position", commit.Position, "stream", commit.StreamID, "err", err)
	}
	pos := make([]int64, len(batch))
	for i, cm := range batch {
		pos[i] = cm.Position
	}
	for {
		err := c.progress.MarkConsumed(ctx, h.Name(), pos...)
		if err == nil {
			return nil
		}
		log.Warn("relay: cannot mark consumed", "from", pos[0], "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// try runs the handler up to MaxAttempts times with doubling backoff.
func (c *Consumer) try(ctx context.Context, h Handler, batch []eventstore.Commit, log *slog.Logger) error {
	wait := c.opts.Backoff
	var err error
	for attempt := 1; attempt <= c.opts.MaxAttempts; attempt++ {
		if err = h.Handle(ctx, batch); err == nil || ctx.Err() != nil {
			return err
		}
		log.Warn("relay: handler failed", "from", batch[0].Position, "commits", len(batch), "attempt", attempt, "err", err)
		if attempt < c.opts.MaxAttempts {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			wait *= 2
		}
	}
	return err
}
