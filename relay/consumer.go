package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
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

// TermAware handlers are told when this process starts consuming a
// partition of their group under a new lease term. ctx ends with the term:
// work a handler starts for the partition's term (a queue of durable jobs,
// timers) must stop then, because another process may take it over.
type TermAware interface {
	StartTerm(ctx context.Context, partition int)
}

// Refresher handlers are asked to refresh their state before consuming
// any partition of their group under a new lease term (a projector moves
// to its model's current generation).
type Refresher interface {
	Refresh(ctx context.Context)
}

// ConsumerOptions tune consumption.
type ConsumerOptions struct {
	LeaseTTL    time.Duration // consumer-group lease (10s)
	MaxAttempts int           // tries before a commit goes to the dead letters (5)
	Backoff     time.Duration // first wait between tries, doubling (100ms)
	MaxBatch    int           // commits handled together (256)
	Linger      time.Duration // how long a batch waits for more commits (2ms)
	// Log reads commits that operators retry from the dead letters.
	Log interface {
		ReadCommit(ctx context.Context, pos int64) (eventstore.Commit, error)
	}
	// Hit is the failpoint hook: "consumer.<group>.before-ack" runs with a
	// message taken off the bus but not acknowledged yet.
	Hit func(string)
	// Observe reports each handled batch: commits, how many of them went
	// to the dead letters, and how long it took (metrics).
	Observe func(group string, commits, dead int, d time.Duration)
	Logger  *slog.Logger
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
	if o.Hit == nil {
		o.Hit = func(string) {}
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

	share *coord.Share // partitions and groups over the workers
}

// NewConsumer returns a consumer runner.
func NewConsumer(b *bus.Bus, reg *eventstore.Registry, l coord.Leaser, p coord.Progress, dead *DeadLetters, o ConsumerOptions) *Consumer {
	o.defaults()
	members, _ := l.(coord.Members) // the workers' set
	return &Consumer{bus: b, reg: reg, leaser: l, progress: p, dead: dead, opts: o, ready: map[string]chan struct{}{},
		share: &coord.Share{Leaser: l, Members: members, TTL: o.LeaseTTL, Logger: o.Logger,
			Self: fmt.Sprintf("worker-%d-%d", os.Getpid(), time.Now().UnixNano())}}
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
	var wg sync.WaitGroup
	for p := range c.bus.Partitions() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runPartition(ctx, h, p)
		}()
	}
	wg.Wait()
}

// leaseName is the lease of one partition of a group.
func (c *Consumer) leaseName(group string, partition int) string {
	if c.bus.Partitions() <= 1 {
		return "consumer:" + group
	}
	return "consumer:" + group + ":" + strconv.Itoa(partition)
}

// runPartition consumes one partition of a group whenever this process
// holds its lease; the partitions and groups spread over the workers (see
// coord.Share), and a paused group gives its leases up.
func (c *Consumer) runPartition(ctx context.Context, h Handler, partition int) {
	group := h.Name()
	lease := c.leaseName(group, partition)
	log := c.opts.Logger.With("group", group)
	if c.bus.Partitions() > 1 {
		log = log.With("partition", partition)
	}
	paused := func(ctx context.Context) bool { return c.paused(ctx, group) }
	c.share.Run(ctx, lease, group, partition, paused, func(ctx context.Context, fence int64) {
		log.Debug("relay: consuming", "fence", fence)
		if r, ok := h.(Refresher); ok {
			r.Refresh(ctx)
		}
		if t, ok := h.(TermAware); ok {
			t.StartTerm(ctx, partition)
		}
		for ctx.Err() == nil {
			if err := c.consume(ctx, h, partition, log); err != nil && ctx.Err() == nil {
				log.Warn("relay: subscription ended", "err", err)
				time.Sleep(500 * time.Millisecond)
			}
		}
	})
}

// paused reports whether someone holds the group's pause lease.
func (c *Consumer) paused(ctx context.Context, group string) bool {
	h, ok := c.leaser.(coord.LeaseHolder)
	if !ok {
		return false
	}
	owner, _, err := h.Holder(ctx, "pause:"+group)
	return err == nil && owner != ""
}

// Exclusive pauses group in every process and returns once this process
// holds the group's lease, so that only the caller writes what the group
// writes (a rebuild switching generations). release resumes the group.
func (c *Consumer) Exclusive(ctx context.Context, group string) (func(), error) {
	owner := fmt.Sprintf("exclusive-%d", time.Now().UnixNano())
	ttl := c.opts.LeaseTTL
	names := []string{"pause:" + group}
	for p := range c.bus.Partitions() {
		names = append(names, c.leaseName(group, p))
	}
	var held []string
	giveBack := func() {
		for _, n := range held {
			_ = c.leaser.Release(context.WithoutCancel(ctx), n, owner)
		}
	}
	deadline := time.Now().Add(3*ttl + 5*time.Second)
	for _, n := range names {
		for {
			_, ok, err := c.leaser.TryAcquire(ctx, n, owner, ttl)
			if err == nil && ok {
				held = append(held, n)
				break
			}
			if ctx.Err() != nil || time.Now().After(deadline) {
				giveBack()
				return nil, fmt.Errorf("relay: could not take %s exclusively (err %v)", n, err)
			}
			sleep(ctx, 50*time.Millisecond)
		}
	}
	renew, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for renew.Err() == nil {
			sleep(renew, ttl/3)
			for _, n := range held {
				if ok, err := c.leaser.Renew(renew, n, owner, ttl); err == nil && !ok {
					c.opts.Logger.Warn("relay: exclusive lease lost", "lease", n)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			stop()
			<-done
			giveBack()
		})
	}, nil
}

// correlation is the correlation id of a commit's first event, for logs.
func correlation(c eventstore.Commit) string {
	if len(c.Events) == 0 {
		return ""
	}
	return c.Events[0].Meta.CorrelationID
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (c *Consumer) consume(ctx context.Context, h Handler, partition int, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := c.bus.Subscribe(ctx, h.Name(), partition)
	if err != nil {
		return err
	}
	defer func() {
		// Wait for the subscription to close: the bus then has handed what
		// it read but nobody acknowledged back for the lease's next holder.
		cancel()
		t := time.NewTimer(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case _, ok := <-msgs:
				if !ok {
					return
				}
			case <-t.C:
				return
			}
		}
	}()
	c.markReady(h.Name())
	commits := make(chan eventstore.Commit, 2*c.opts.MaxBatch)
	go c.prefetch(ctx, h.Name(), msgs, commits, log)
	lastRetry := time.Now()
	for {
		batch, open := c.collect(ctx, commits)
		batch = c.unhandled(ctx, h.Name(), batch)
		if len(batch) > 0 {
			if err := c.handle(ctx, h, batch, log); err != nil {
				return err
			}
		}
		if !open {
			return errors.New("subscription closed")
		}
		if time.Since(lastRetry) >= time.Second {
			lastRetry = time.Now()
			c.retryDead(ctx, h, partition, log)
		}
	}
}

// retryDead handles again the dead letters of the group that an operator
// asked to retry: the ones that now succeed leave the dead letters.
func (c *Consumer) retryDead(ctx context.Context, h Handler, partition int, log *slog.Logger) {
	reqs, err := c.dead.requested(ctx, h.Name())
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("relay: read dead-letter retries", "err", err)
		}
		return
	}
	for _, dl := range reqs {
		if c.bus.Partition(dl.StreamID) != partition {
			continue // another partition's consumer handles it
		}
		var commit eventstore.Commit
		err := errors.New("relay: no log to read the commit from")
		if c.opts.Log != nil {
			commit, err = c.opts.Log.ReadCommit(ctx, dl.Position)
		}
		if err == nil {
			err = c.try(ctx, h, []eventstore.Commit{commit}, log)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warn("relay: dead letter failed again", "position", dl.Position, "err", err)
			err = c.dead.failedAgain(ctx, dl, c.opts.MaxAttempts, err)
		} else {
			log.Info("relay: dead letter handled on retry", "position", dl.Position)
			err = c.dead.resolved(ctx, dl)
		}
		if err != nil {
			log.Warn("relay: update dead letter", "id", dl.ID, "err", err)
		}
	}
}

// prefetch takes messages off the bus while the handler works, so that a
// slow handler gets big batches: it decodes and acknowledges each and
// queues the commit (up to twice MaxBatch, then the bus waits). A message
// that cannot be decoded goes to the dead letters at once.
func (c *Consumer) prefetch(ctx context.Context, group string, msgs <-chan *message.Message, out chan<- eventstore.Commit, log *slog.Logger) {
	defer close(out)
	for m := range msgs {
		commit, err := bus.Decode(c.reg, m)
		c.opts.Hit("consumer." + group + ".before-ack")
		m.Ack()
		if err != nil {
			c.undecodable(ctx, group, m, err, log)
			continue
		}
		select {
		case out <- commit:
		case <-ctx.Done():
			return
		}
	}
}

// undecodable dead-letters a message no handler can read (an event this
// version does not know, a corrupt payload), so that it is not published
// again forever; an operator retries it after deploying a fix.
func (c *Consumer) undecodable(ctx context.Context, group string, m *message.Message, cause error, log *slog.Logger) {
	pos, err := strconv.ParseInt(m.Metadata.Get(bus.MetaPosition), 10, 64)
	if err != nil || pos <= 0 {
		log.Error("relay: message without a position dropped", "uuid", m.UUID, "err", cause)
		return
	}
	commit := eventstore.Commit{Position: pos, StreamID: m.Metadata.Get(bus.MetaStream)}
	if err := c.dead.Add(ctx, group, commit, 1, fmt.Errorf("undecodable: %w", cause)); err != nil {
		log.Error("relay: dead-letter an undecodable message", "position", pos, "err", err)
		return
	}
	log.Error("relay: undecodable commit sent to dead letters", "position", pos, "err", cause)
	if err := c.progress.MarkConsumed(ctx, group, pos); err != nil {
		log.Warn("relay: mark consumed", "position", pos, "err", err)
	}
}

// unhandled drops the commits the group has marked handled: a commit is
// published to every group, and published again when one group lags, so
// the others see it more than once. One read of the group's progress set
// per batch; on error the whole batch is kept (handlers are idempotent).
func (c *Consumer) unhandled(ctx context.Context, group string, batch []eventstore.Commit) []eventstore.Commit {
	if len(batch) == 0 {
		return batch
	}
	lo, hi := batch[0].Position, batch[0].Position
	for _, cm := range batch {
		lo, hi = min(lo, cm.Position), max(hi, cm.Position)
	}
	miss, err := c.progress.Missing(ctx, group, lo-1, hi)
	if err != nil {
		return batch
	}
	todo := make(map[int64]bool, len(miss))
	for _, p := range miss {
		todo[p] = true
	}
	out := batch[:0]
	for _, cm := range batch {
		if todo[cm.Position] {
			out = append(out, cm)
		}
	}
	return out
}

// collect waits for one commit, then takes what is queued behind it and
// what arrives within Linger, up to MaxBatch.
func (c *Consumer) collect(ctx context.Context, commits <-chan eventstore.Commit) ([]eventstore.Commit, bool) {
	var batch []eventstore.Commit
	idle := time.NewTimer(time.Second) // come back for dead-letter retries
	defer idle.Stop()
	select {
	case cm, ok := <-commits:
		if !ok {
			return nil, false
		}
		batch = append(batch, cm)
	case <-idle.C:
		return nil, true
	case <-ctx.Done():
		return nil, false
	}
	timer := time.NewTimer(c.opts.Linger)
	defer timer.Stop()
	for len(batch) < c.opts.MaxBatch {
		select {
		case cm, ok := <-commits:
			if !ok {
				return batch, false
			}
			batch = append(batch, cm)
		case <-timer.C:
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
	if c.opts.Observe != nil && (err == nil || len(batch) == 1) && ctx.Err() == nil {
		dead := 0
		if err != nil {
			dead = 1
		}
		c.opts.Observe(h.Name(), len(batch), dead, time.Since(start))
	}
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
		log.Error("relay: commit sent to dead letters", "position", commit.Position, "stream", commit.StreamID, "err", err,
			"correlation_id", correlation(commit))
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
		log.Warn("relay: handler failed", "from", batch[0].Position, "commits", len(batch), "attempt", attempt, "err", err,
			"correlation_id", correlation(batch[0]))
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
