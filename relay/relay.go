package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/bus"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/eventstore"
)

// Options tune the relay.
type Options struct {
	// Groups are every consumer group of the deployment; the catch-up
	// keeps publishing a position until all of them have handled it.
	Groups []string
	// Grace is how long a position may stay unpublished before the
	// catch-up publishes it (1s).
	Grace time.Duration
	// Redeliver is how long a published position may stay unhandled by a
	// group before it is published again (10s).
	Redeliver time.Duration
	// Interval is the pause between catch-up passes (250ms).
	Interval time.Duration
	// Window is the most positions one pass looks at (20000).
	Window int64
	// LeaseTTL is the catch-up lease's time to live (10s).
	LeaseTTL time.Duration
	// Duplicate publishes every commit twice: a test knob that proves
	// consumers have no double effects.
	Duplicate bool
	// Reorder publishes each batch shuffled, and a shuffled copy of it
	// again up to 300ms later, after newer commits: a test knob that
	// proves consumers tolerate commits out of order and stale.
	Reorder bool
	Logger  *slog.Logger
}

func (o *Options) defaults() {
	if o.Grace <= 0 {
		o.Grace = time.Second
	}
	if o.Redeliver <= 0 {
		o.Redeliver = 10 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Window <= 0 {
		o.Window = 20000
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Relay publishes committed events to the bus: directly from the store's
// hand-off, and by catch-up from the log.
type Relay struct {
	store       *eventstore.Store
	bus         *bus.Bus
	leaser      coord.Leaser
	progress    coord.Progress
	checkpoints *mongo.Collection
	opts        Options

	queue chan []eventstore.Commit

	mu          sync.Mutex
	handing     map[int64]struct{} // positions queued for this process's hand-off, not published yet
	lastPass    PassStats
	published   int64
	dropped     int64
	republished int64
}

// PassStats describes the latest catch-up pass, for monitoring.
type PassStats struct {
	At          time.Time        `json:"at"`
	Head        int64            `json:"head"`
	Low         int64            `json:"low"`
	Watermarks  map[string]int64 `json:"watermarks"`
	Republished int              `json:"republished"`
}

// New returns a relay that takes commits from store. Checkpoints (the
// watermark of each group) are kept in the "checkpoints" collection of db.
func New(store *eventstore.Store, b *bus.Bus, l coord.Leaser, p coord.Progress, db *mongo.Database, o Options) *Relay {
	o.defaults()
	r := &Relay{
		store: store, bus: b, leaser: l, progress: p,
		checkpoints: db.Collection(CheckpointsCollection),
		opts:        o,
		queue:       make(chan []eventstore.Commit, 1024),
		handing:     map[int64]struct{}{},
	}
	store.OnCommit(r.enqueue)
	return r
}

// CheckpointsCollection holds one document per consumer group with the
// position up to which it has handled every commit.
const CheckpointsCollection = "checkpoints"

type checkpointDoc struct {
	Group    string    `bson:"_id"`
	Position int64     `bson:"position"`
	Fence    int64     `bson:"fence"`
	Updated  time.Time `bson:"updated_at"`
}

// enqueue runs on the store's writer goroutine: it must not block. A full
// queue drops the batch, which the catch-up publishes after the grace.
func (r *Relay) enqueue(cs []eventstore.Commit) {
	r.mu.Lock()
	for _, c := range cs {
		r.handing[c.Position] = struct{}{}
	}
	r.mu.Unlock()
	select {
	case r.queue <- cs:
	default:
		r.mu.Lock()
		r.dropped += int64(len(cs))
		for _, c := range cs {
			delete(r.handing, c.Position)
		}
		r.mu.Unlock()
	}
}

// handedOver records that positions left the hand-off (published, or
// left to the catch-up after a failure).
func (r *Relay) handedOver(cs []eventstore.Commit) {
	r.mu.Lock()
	for _, c := range cs {
		delete(r.handing, c.Position)
	}
	r.mu.Unlock()
}

// inHandOff reports whether this process is still handing p over: the
// catch-up leaves it alone however long that takes (on the in-process
// bus, publishing waits for the slowest consumer).
func (r *Relay) inHandOff(p int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.handing[p]
	return ok
}

// Run publishes until ctx ends: the hand-off queue always, the catch-up
// while this process holds the relay lease.
func (r *Relay) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.publishLoop(ctx)
	}()
	coord.RunLeased(ctx, r.leaser, "relay", coord.RunOptions{TTL: r.opts.LeaseTTL, Logger: r.opts.Logger}, r.catchUp)
	wg.Wait()
}

func (r *Relay) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case cs := <-r.queue:
			// Take what queued behind it too: one publish and one progress
			// mark for many small commits keeps the hand-off ahead of the
			// writer under load (else the catch-up republishes them).
		more:
			for len(cs) < 512 {
				select {
				case next := <-r.queue:
					cs = append(slices.Clip(cs), next...) // never into the writer's array
				default:
					break more
				}
			}
			r.publish(ctx, cs)
		}
	}
}

// chaos applies the test knobs to a batch about to be published: it
// publishes the extra copies and returns the batch to publish.
func (r *Relay) chaos(cs []eventstore.Commit) []eventstore.Commit {
	if r.opts.Duplicate {
		_ = r.bus.Publish(cs...)
	}
	if !r.opts.Reorder {
		return cs
	}
	shuffled := slices.Clone(cs)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	late := slices.Clone(shuffled)
	time.AfterFunc(time.Duration(rand.IntN(300))*time.Millisecond, func() { _ = r.bus.Publish(late...) })
	return shuffled
}

// publish puts commits on the bus and marks them published. A failure is
// logged and left to the catch-up.
func (r *Relay) publish(ctx context.Context, cs []eventstore.Commit) {
	defer r.handedOver(cs)
	cs = r.chaos(cs)
	if err := r.bus.Publish(cs...); err != nil {
		r.opts.Logger.Warn("relay: publish failed; the catch-up will retry", "err", err, "from", cs[0].Position)
		return
	}
	pos := make([]int64, len(cs))
	for i, c := range cs {
		pos[i] = c.Position
	}
	if err := r.progress.MarkPublished(ctx, pos...); err != nil {
		r.opts.Logger.Warn("relay: mark published failed", "err", err)
	}
	r.mu.Lock()
	r.published += int64(len(cs))
	r.mu.Unlock()
}

// catchUp runs while this process holds the relay lease.
func (r *Relay) catchUp(ctx context.Context, fence int64) {
	marks, err := r.Checkpoints(ctx)
	if err != nil {
		r.opts.Logger.Warn("relay: load checkpoints", "err", err)
		return
	}
	st := &passState{
		seen:     map[int64]time.Time{},
		sent:     map[int64]time.Time{},
		advanced: map[string]time.Time{},
		handled:  map[string]int64{},
		unsaved:  map[string]int64{},
	}
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	for {
		n, err := r.pass(ctx, fence, marks, st)
		if err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("relay: catch-up pass", "err", err)
		}
		if n > 0 {
			continue // behind: go on at once
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// passState is what the catch-up remembers between passes.
type passState struct {
	seen     map[int64]time.Time  // when a pending position was first noticed
	sent     map[int64]time.Time  // when the catch-up last published it
	advanced map[string]time.Time // when each group last handled something
	handled  map[string]int64     // how many positions each group had handled then
	unsaved  map[string]int64     // watermarks not stored yet
	savedAt  time.Time            // when watermarks were last stored
}

// pass looks at positions between the lowest watermark and the head once
// and publishes what needs it. It returns how many it published.
//
// A published position a group has not handled is published again only
// once the group has handled nothing for Redeliver: a group working
// through a backlog is not sent it a second time, while a lost message is
// resent once the group has run out of others.
func (r *Relay) pass(ctx context.Context, fence int64, marks map[string]int64, st *passState) (int, error) {
	seen, sent := st.seen, st.sent
	head, err := r.store.Head(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	low := head
	for _, g := range r.opts.Groups {
		w, err := r.progress.Consumed(ctx, g, marks[g])
		if err != nil {
			return 0, err
		}
		if _, ok := st.advanced[g]; !ok {
			st.advanced[g] = now
		}
		if w > marks[g] {
			marks[g], st.unsaved[g] = w, w
		}
		low = min(low, marks[g])
	}
	// Watermarks are floors: storing them once a second is enough, and a
	// stored one that lags only widens the next catch-up's window.
	if len(st.unsaved) > 0 && now.Sub(st.savedAt) >= time.Second {
		if err := r.saveCheckpoints(ctx, st.unsaved, fence); err != nil {
			return 0, err
		}
		clear(st.unsaved)
		st.savedAt = now
	}
	hi := min(head, low+r.opts.Window)
	unpublished, err := r.progress.Missing(ctx, "", low, hi)
	if err != nil {
		return 0, err
	}
	pending := map[int64]bool{} // someone has yet to handle it
	stalled := map[int64]bool{} // a group that handled nothing for Redeliver has yet to handle it
	for _, g := range r.opts.Groups {
		miss, err := r.progress.Missing(ctx, g, marks[g], hi)
		if err != nil {
			return 0, err
		}
		// A group counts as working while the number of positions it has
		// handled grows, even if a slow batch holds its watermark back.
		if done := hi - int64(len(miss)); done > st.handled[g] {
			st.handled[g], st.advanced[g] = done, now
		}
		still := now.Sub(st.advanced[g]) >= r.opts.Redeliver
		for _, p := range miss {
			pending[p] = true
			if still {
				stalled[p] = true
			}
		}
	}
	isUnpublished := map[int64]bool{}
	for _, p := range unpublished {
		isUnpublished[p] = true
		pending[p] = true
	}
	var due []int64
	for p := range pending {
		first, ok := seen[p]
		if !ok {
			seen[p], first = now, now
		}
		switch {
		case isUnpublished[p] && now.Sub(first) >= r.opts.Grace && !r.inHandOff(p):
			due = append(due, p)
		case !isUnpublished[p] && stalled[p] && now.Sub(later(first, sent[p])) >= r.opts.Redeliver:
			due = append(due, p)
		}
	}
	for p := range seen {
		if !pending[p] {
			delete(seen, p)
			delete(sent, p)
		}
	}
	r.mu.Lock()
	r.lastPass = PassStats{At: now, Head: head, Low: low, Watermarks: cloneMarks(marks)}
	r.mu.Unlock()
	if len(due) == 0 {
		return 0, nil
	}
	// First publications before redeliveries, then by position, so that
	// resending to a stalled group never starves the others of new commits.
	slices.SortFunc(due, func(a, b int64) int {
		if isUnpublished[a] != isUnpublished[b] {
			if isUnpublished[a] {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	if len(due) > 2000 {
		due = due[:2000]
	}
	slices.Sort(due)
	commits := make([]eventstore.Commit, 0, len(due))
	for i := 0; i < len(due); {
		j := i + 1
		for j < len(due) && due[j] == due[j-1]+1 {
			j++
		}
		cs, err := r.store.ReadRange(ctx, due[i], due[j-1])
		if err != nil {
			return 0, err
		}
		commits = append(commits, cs...)
		i = j
	}
	commits = r.chaos(commits)
	if err := r.bus.Publish(commits...); err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	if err := r.progress.MarkPublished(ctx, due...); err != nil {
		return 0, err
	}
	for _, p := range due {
		sent[p] = now
	}
	r.opts.Logger.Info("relay: catch-up published", "commits", len(commits), "from", due[0], "to", due[len(due)-1])
	r.mu.Lock()
	r.lastPass.Republished = len(commits)
	r.republished += int64(len(commits))
	r.mu.Unlock()
	return len(commits), nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func cloneMarks(m map[string]int64) map[string]int64 {
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Checkpoints returns the stored watermark of every group (one read of
// the small checkpoints collection).
func (r *Relay) Checkpoints(ctx context.Context) (map[string]int64, error) {
	cur, err := r.checkpoints.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var docs []checkpointDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	marks := make(map[string]int64, len(r.opts.Groups))
	for _, g := range r.opts.Groups {
		marks[g] = 0
	}
	for _, d := range docs {
		if _, ok := marks[d.Group]; ok {
			marks[d.Group] = d.Position
		}
	}
	return marks, nil
}

// saveCheckpoints stores groups' watermarks with one bulk write. Only the
// lease holder writes them; a stale holder can only write a lower, still
// true, watermark (a watermark is a floor: everything below it was
// handled), so the write needs no fencing check.
func (r *Relay) saveCheckpoints(ctx context.Context, marks map[string]int64, fence int64) error {
	now := time.Now().UTC()
	models := make([]mongo.WriteModel, 0, len(marks))
	for g, pos := range marks {
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: g}}).
			SetReplacement(checkpointDoc{Group: g, Position: pos, Fence: fence, Updated: now}).SetUpsert(true))
	}
	_, err := r.checkpoints.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	return err
}

// Healthy reports whether some process runs the catch-up (holds the relay
// lease): without one, commits a crashed writer left unpublished would
// wait.
func (r *Relay) Healthy(ctx context.Context) error {
	h, ok := r.leaser.(coord.LeaseHolder)
	if !ok {
		return nil
	}
	owner, _, err := h.Holder(ctx, "relay")
	if err != nil {
		return err
	}
	if owner == "" {
		return errors.New("no process runs the relay catch-up")
	}
	return nil
}

// Stats are counters of one process's relay.
type Stats struct {
	LastPass    PassStats `json:"last_pass"`   // zero unless this process ran the catch-up
	Published   int64     `json:"published"`   // commits published from the hand-off
	Dropped     int64     `json:"dropped"`     // hand-offs dropped because the queue was full
	Republished int64     `json:"republished"` // commits the catch-up published
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{LastPass: r.lastPass, Published: r.published, Dropped: r.dropped, Republished: r.republished}
}
