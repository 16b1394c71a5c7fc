package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/eventstore"
)

// Model is a read model as a rebuild sees it: its consumer group, its
// collections, where it lives now, and how to build it elsewhere.
type Model struct {
	Name        string
	Collections []string
	Target      *Target
	// build returns a projector writing into db; a buffered one builds in
	// memory (db starts empty) and writes on Flush.
	build func(db *mongo.Database, buffered bool) builder
}

type builder interface {
	Handle(ctx context.Context, batch []eventstore.Commit) error
	Flush(ctx context.Context) error
}

// LogSource is the part of the event store a rebuild reads.
type LogSource interface {
	Scan(ctx context.Context, after int64, fn func(eventstore.Commit) error) error
	ReadRange(ctx context.Context, from, to int64) ([]eventstore.Commit, error)
	Head(ctx context.Context) (int64, error)
}

// Exclusive stops a consumer group in every process and gives this
// process its lease, so that nothing writes the model but the caller until
// release.
type Exclusive interface {
	Exclusive(ctx context.Context, group string) (release func(), err error)
}

// Rebuild statuses and phases.
const (
	RebuildQueued    = "queued"
	RebuildRunning   = "running"
	RebuildDone      = "done"
	RebuildCancelled = "cancelled"
	RebuildFailed    = "failed"

	PhaseScanning   = "scanning"    // the sorted scan of the whole log
	PhaseCatchingUp = "catching-up" // what was appended meanwhile
	PhaseSwitching  = "switching"   // projectors paused; last commits, then readers move
)

// Rebuild is a rebuild and its progress.
type Rebuild struct {
	ID              string    `bson:"_id" json:"id"`
	Projection      string    `bson:"projection" json:"projection"`
	Status          string    `bson:"status" json:"status"`
	Phase           string    `bson:"phase,omitempty" json:"phase,omitempty"`
	RequestedBy     string    `bson:"requested_by,omitempty" json:"requested_by,omitempty"`
	RequestedAt     time.Time `bson:"requested_at" json:"requested_at"`
	StartedAt       time.Time `bson:"started_at,omitzero" json:"started_at,omitzero"`
	FinishedAt      time.Time `bson:"finished_at,omitzero" json:"finished_at,omitzero"`
	Attempt         int       `bson:"attempt" json:"attempt"`
	OldDB           string    `bson:"old_db,omitempty" json:"old_db,omitempty"`
	NewDB           string    `bson:"new_db,omitempty" json:"new_db,omitempty"`
	Head            int64     `bson:"head" json:"head"`         // log head when the scan began
	Position        int64     `bson:"position" json:"position"` // log position reached
	Commits         int64     `bson:"commits" json:"commits"`
	Events          int64     `bson:"events" json:"events"`
	EventsPerSecond float64   `bson:"events_per_second" json:"events_per_second"`
	Percent         float64   `bson:"percent" json:"percent"`
	ETASeconds      float64   `bson:"eta_seconds" json:"eta_seconds"`
	CancelRequested bool      `bson:"-" json:"cancel_requested,omitempty"`
	OldDropped      bool      `bson:"old_dropped" json:"old_dropped"` // the replaced generation is gone
	Error           string    `bson:"error,omitempty" json:"error,omitempty"`
	Heartbeat       time.Time `bson:"heartbeat,omitzero" json:"-"`
}

func (r Rebuild) active() bool { return r.Status == RebuildQueued || r.Status == RebuildRunning }

// Errors of rebuilds.
var (
	ErrUnknownProjection = &domain.Error{Kind: domain.NotFound, Code: "projection-not-found", Msg: "no such projection"}
	ErrNoRebuild         = &domain.Error{Kind: domain.NotFound, Code: "rebuild-not-found", Msg: "this projection has no rebuild"}
	ErrRebuildRunning    = &domain.Error{Kind: domain.Conflict, Code: "rebuild-in-progress", Msg: "a rebuild of this projection is already queued or running"}
	ErrNothingToCancel   = &domain.Error{Kind: domain.Conflict, Code: "rebuild-not-active", Msg: "no rebuild of this projection is queued or running"}
	errCancelled         = errors.New("projections: rebuild cancelled")
)

// RebuildOptions tune rebuilds.
type RebuildOptions struct {
	// Prefix names new generations: <Prefix>_<short name>_<id>.
	Prefix string
	// Batch is how many commits are folded at a time (1000).
	Batch int
	// SwitchWait is how long the projectors stay paused after the switch
	// so that every process's readers follow (1s: twice the generations
	// watch interval).
	SwitchWait time.Duration
	// DropAfter is how long the old generation is kept after the switch
	// for readers still on it (10s).
	DropAfter time.Duration
	// OnSwitch, if set, runs when the new generation holds every commit
	// the old one does and all projectors of the model are paused; tests
	// compare the two here.
	OnSwitch func(ctx context.Context, m Model, old, new *mongo.Database) error
	// OnProgress, if set, runs each time progress is recorded, before the
	// rebuild checks whether it was cancelled (tests pause it here).
	OnProgress func(ctx context.Context, rb Rebuild)
	// Watermark is how far a model's live projector has applied the log;
	// before OnSwitch the old generation is brought to the new one's
	// position.
	Watermark func(ctx context.Context, group string) (int64, error)
	Logger    *slog.Logger
}

// Rebuilder rebuilds read models from the log into new databases and
// switches readers and projectors over (blue/green). Requests, cancels
// and progress are documents of their own so that each has one writer:
// the API inserts requests and cancels, the runner writes progress.
type Rebuilder struct {
	log      LogSource
	requests *mongo.Collection
	cancels  *mongo.Collection
	progress *mongo.Collection
	gens     *Generations
	models   map[string]Model
	excl     Exclusive
	opts     RebuildOptions

	mu      sync.Mutex
	running map[string]bool
}

// NewRebuilder returns the rebuilder of models, keeping its records in db.
func NewRebuilder(log LogSource, db *mongo.Database, gens *Generations, excl Exclusive, models []Model, o RebuildOptions) *Rebuilder {
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.SwitchWait <= 0 {
		o.SwitchWait = time.Second
	}
	if o.DropAfter <= 0 {
		o.DropAfter = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Rebuilder{log: log, requests: db.Collection("rebuild_requests"), cancels: db.Collection("rebuild_cancels"),
		progress: db.Collection("rebuilds"), gens: gens, excl: excl, opts: o, models: map[string]Model{}, running: map[string]bool{}}
	for _, m := range models {
		r.models[m.Name] = m
	}
	return r
}

// Models lists the rebuildable read models by name.
func (r *Rebuilder) Models() []Model {
	out := make([]Model, 0, len(r.models))
	for _, m := range r.models {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Model returns a model by its name, with or without "projection.".
func (r *Rebuilder) Model(name string) (Model, error) {
	if m, ok := r.models[name]; ok {
		return m, nil
	}
	if m, ok := r.models["projection."+name]; ok {
		return m, nil
	}
	return Model{}, ErrUnknownProjection
}

type requestDoc struct {
	ID         string    `bson:"_id"`
	Projection string    `bson:"projection"`
	By         string    `bson:"by,omitempty"`
	At         time.Time `bson:"at"`
}

// Request queues a rebuild of a model; a worker runs it.
func (r *Rebuilder) Request(ctx context.Context, name, by string) (Rebuild, error) {
	m, err := r.Model(name)
	if err != nil {
		return Rebuild{}, err
	}
	if cur, ok, err := r.Latest(ctx, m.Name); err != nil {
		return Rebuild{}, err
	} else if ok && cur.active() {
		return cur, ErrRebuildRunning.With("id", cur.ID)
	}
	req := requestDoc{ID: newRebuildID(), Projection: m.Name, By: by, At: time.Now().UTC()}
	if _, err := r.requests.InsertOne(ctx, req); err != nil {
		return Rebuild{}, err
	}
	return Rebuild{ID: req.ID, Projection: m.Name, Status: RebuildQueued, RequestedBy: by, RequestedAt: req.At}, nil
}

// newRebuildID is a short id that sorts by time.
func newRebuildID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x%s", time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}

// Latest returns a model's newest rebuild.
func (r *Rebuilder) Latest(ctx context.Context, name string) (Rebuild, bool, error) {
	m, err := r.Model(name)
	if err != nil {
		return Rebuild{}, false, err
	}
	reqs, err := r.listRequests(ctx)
	if err != nil {
		return Rebuild{}, false, err
	}
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Projection == m.Name {
			rb, err := r.state(ctx, reqs[i])
			return rb, err == nil, err
		}
	}
	return Rebuild{}, false, nil
}

// listRequests reads every request, oldest first. The collection holds a
// few documents per rebuild ever asked for: a cold path.
func (r *Rebuilder) listRequests(ctx context.Context) ([]requestDoc, error) {
	cur, err := r.requests.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var reqs []requestDoc
	if err := cur.All(ctx, &reqs); err != nil {
		return nil, err
	}
	slices.SortFunc(reqs, func(a, b requestDoc) int { return strings.Compare(a.ID, b.ID) })
	return reqs, nil
}

// state is a request's progress (queued if the runner has not written any).
func (r *Rebuilder) state(ctx context.Context, req requestDoc) (Rebuild, error) {
	var rb Rebuild
	err := r.progress.FindOne(ctx, bson.D{{Key: "_id", Value: req.ID}}).Decode(&rb)
	if errors.Is(err, mongo.ErrNoDocuments) {
		rb, err = Rebuild{ID: req.ID, Projection: req.Projection, Status: RebuildQueued, RequestedBy: req.By, RequestedAt: req.At}, nil
	}
	if err != nil {
		return rb, err
	}
	if rb.active() {
		rb.CancelRequested, err = r.cancelled(ctx, rb.ID)
	}
	return rb, err
}

// Cancel asks the runner to stop a model's active rebuild. A rebuild that
// has switched readers over finishes anyway.
func (r *Rebuilder) Cancel(ctx context.Context, name string) (Rebuild, error) {
	rb, ok, err := r.Latest(ctx, name)
	if err != nil {
		return rb, err
	}
	if !ok || !rb.active() {
		return rb, ErrNothingToCancel
	}
	if _, err := r.cancels.InsertOne(ctx, bson.D{{Key: "_id", Value: rb.ID}}); err != nil && !mongo.IsDuplicateKeyError(err) {
		return rb, err
	}
	rb.CancelRequested = true
	return rb, nil
}

func (r *Rebuilder) cancelled(ctx context.Context, id string) (bool, error) {
	err := r.cancels.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// Run starts queued rebuilds (and resumes those whose runner died) until
// ctx ends. Run it in one process at a time (under a lease): when the
// lease is lost, ctx ends and running rebuilds stop; the next holder
// starts them again.
func (r *Rebuilder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ended := map[string]bool{} // requests with nothing left to do: not read again
	for {
		reqs, err := r.listRequests(ctx)
		if err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("projections: list rebuild requests", "err", err)
		}
		for _, req := range reqs {
			if ended[req.ID] {
				continue
			}
			rb, err := r.state(ctx, req)
			cleanup := rb.Status == RebuildDone && !rb.OldDropped
			if err == nil && !rb.active() && !cleanup {
				ended[req.ID] = true
			}
			if err != nil || (!rb.active() && !cleanup) {
				continue
			}
			r.mu.Lock()
			busy := r.running[req.ID]
			r.running[req.ID] = true
			r.mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if cleanup {
					if m, err := r.Model(rb.Projection); err == nil {
						r.dropOld(ctx, &rb, m, r.opts.Logger.With("projection", rb.Projection, "rebuild", rb.ID))
					}
				} else {
					r.run(ctx, rb)
				}
				r.mu.Lock()
				delete(r.running, rb.ID)
				r.mu.Unlock()
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// run carries one rebuild to its end.
func (r *Rebuilder) run(ctx context.Context, rb Rebuild) {
	log := r.opts.Logger.With("projection", rb.Projection, "rebuild", rb.ID)
	m, err := r.Model(rb.Projection)
	if err != nil {
		r.finish(ctx, &rb, RebuildFailed, err)
		return
	}
	if rb.Status == RebuildRunning {
		rb.Attempt++
		log.Warn("projections: resuming a rebuild whose runner stopped", "phase", rb.Phase)
		if rb.Phase == PhaseSwitching && rb.NewDB != "" && m.Target.DB().Name() == rb.NewDB {
			r.switched(ctx, &rb, m, log) // it had switched already
			return
		}
		if rb.NewDB != "" {
			_ = r.gens.client.Database(rb.NewDB).Drop(ctx)
		}
	}
	rb.Status, rb.StartedAt, rb.Error = RebuildRunning, time.Now().UTC(), ""
	rb.OldDB = m.Target.DB().Name()
	rb.NewDB = fmt.Sprintf("%s_%s_%s", r.opts.Prefix, strings.TrimPrefix(m.Name, "projection."), rb.ID[len(rb.ID)-6:])
	rb.Position, rb.Commits, rb.Events = 0, 0, 0
	newDB := r.gens.client.Database(rb.NewDB)
	err = r.build(ctx, &rb, m, newDB, log)
	switch {
	case err == nil:
		r.switched(ctx, &rb, m, log)
	case ctx.Err() != nil:
		// Lease lost or shutting down: the next runner starts again.
	default:
		status := RebuildFailed
		if errors.Is(err, errCancelled) {
			status, err = RebuildCancelled, nil
		}
		if derr := newDB.Drop(context.WithoutCancel(ctx)); derr != nil {
			log.Warn("projections: drop the abandoned generation", "db", rb.NewDB, "err", derr)
		}
		r.finish(ctx, &rb, status, err)
		log.Info("projections: rebuild ended", "status", status, "err", err)
	}
}

// build folds the whole log into newDB and switches the model over.
func (r *Rebuilder) build(ctx context.Context, rb *Rebuild, m Model, newDB *mongo.Database, log *slog.Logger) error {
	if err := newDB.Drop(ctx); err != nil {
		return err
	}
	b := m.build(newDB, true)
	head, err := r.log.Head(ctx)
	if err != nil {
		return err
	}
	rb.Head, rb.Phase = head, PhaseScanning
	if err := r.save(ctx, rb); err != nil {
		return err
	}
	log.Info("projections: rebuild started", "head", head, "db", rb.NewDB)
	holes := map[int64]bool{}
	last := time.Now()
	var batch []eventstore.Commit
	apply := func(cs []eventstore.Commit) error {
		if len(cs) == 0 {
			return nil
		}
		if err := b.Handle(ctx, cs); err != nil {
			return err
		}
		for _, c := range cs {
			for p := rb.Position + 1; p < c.Position; p++ {
				holes[p] = true // an append still in flight, or a gap the scan raced
			}
			delete(holes, c.Position)
			rb.Position = max(rb.Position, c.Position)
			rb.Commits++
			rb.Events += int64(len(c.Events))
		}
		if time.Since(last) >= time.Second {
			last = time.Now()
			return r.tick(ctx, rb)
		}
		return nil
	}
	// The scan (reading and decoding) and the folding run side by side.
	batches := make(chan []eventstore.Commit, 4)
	applied := make(chan error, 1)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		var err error
		for bt := range batches {
			if err == nil {
				if err = apply(bt); err != nil {
					stop()
				}
			}
		}
		applied <- err
	}()
	err = r.log.Scan(sctx, 0, func(c eventstore.Commit) error {
		batch = append(batch, c)
		if len(batch) < r.opts.Batch {
			return nil
		}
		select {
		case batches <- batch:
		case <-sctx.Done():
			return sctx.Err()
		}
		batch = make([]eventstore.Commit, 0, r.opts.Batch)
		return nil
	})
	if err == nil && len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	if aerr := <-applied; aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	if err := b.Flush(ctx); err != nil {
		return err
	}
	// Catch up with what was appended during the scan, a window at a time,
	// until the rest is small enough to take with the projectors paused.
	rb.Phase = PhaseCatchingUp
	catchUp := func(limit int64) (int64, error) {
		head, err := r.log.Head(ctx)
		if err != nil {
			return 0, err
		}
		to := min(head, rb.Position+limit)
		var cs []eventstore.Commit
		for p := range holes {
			c, err := r.log.ReadRange(ctx, p, p)
			if err != nil {
				return 0, err
			}
			cs = append(cs, c...)
		}
		more, err := r.log.ReadRange(ctx, rb.Position+1, to)
		if err != nil {
			return 0, err
		}
		cs = append(cs, more...)
		slices.SortFunc(cs, func(a, b eventstore.Commit) int { return int(a.Position - b.Position) })
		for i := 0; i < len(cs); i += r.opts.Batch {
			if err := apply(cs[i:min(i+r.opts.Batch, len(cs))]); err != nil {
				return 0, err
			}
		}
		for p := rb.Position + 1; p <= to; p++ {
			holes[p] = true
		}
		rb.Position = max(rb.Position, to)
		return head - rb.Position, b.Flush(ctx)
	}
	for range 50 {
		behind, err := catchUp(5000)
		if err != nil {
			return err
		}
		if behind <= 200 {
			break
		}
	}
	if err := r.tick(ctx, rb); err != nil {
		return err
	}
	// Switch: with every projector of the model paused, take the last
	// commits, move the generation, and give readers time to follow.
	rb.Phase = PhaseSwitching
	if err := r.save(ctx, rb); err != nil {
		return err
	}
	release, err := r.excl.Exclusive(ctx, m.Name)
	if err != nil {
		return fmt.Errorf("pause the projector: %w", err)
	}
	defer release()
	if _, err := catchUp(1 << 40); err != nil {
		return err
	}
	if len(holes) > 0 {
		log.Info("projections: positions still missing at the switch are left to the live projector", "count", len(holes))
	}
	if r.opts.OnSwitch != nil {
		if err := r.verify(ctx, rb, m, newDB); err != nil {
			return err
		}
	}
	if err := r.gens.switchTo(ctx, m.Name, newDB.Name()); err != nil {
		return err
	}
	log.Info("projections: readers switched to the new generation", "db", newDB.Name(), "position", rb.Position, "events", rb.Events)
	select { // readers in other processes follow within the wait
	case <-ctx.Done():
	case <-time.After(r.opts.SwitchWait):
	}
	return nil
}

// verify brings the old generation to the same position with the live
// (incremental) projector code, whatever the live consumer had not reached
// yet, and hands both generations to OnSwitch.
func (r *Rebuilder) verify(ctx context.Context, rb *Rebuild, m Model, newDB *mongo.Database) error {
	old := m.Target.DB()
	if r.opts.Watermark != nil {
		w, err := r.opts.Watermark(ctx, m.Name)
		if err != nil {
			return err
		}
		live := m.build(old, false)
		for from := w + 1; from <= rb.Position; from += int64(r.opts.Batch) {
			cs, err := r.log.ReadRange(ctx, from, min(rb.Position, from+int64(r.opts.Batch)-1))
			if err != nil {
				return err
			}
			if err := live.Handle(ctx, cs); err != nil {
				return err
			}
		}
	}
	return r.opts.OnSwitch(ctx, m, old, newDB)
}

// tick records progress and stops the rebuild if it was cancelled.
func (r *Rebuilder) tick(ctx context.Context, rb *Rebuild) error {
	if err := r.save(ctx, rb); err != nil {
		return err
	}
	if r.opts.OnProgress != nil {
		r.opts.OnProgress(ctx, *rb)
	}
	if yes, err := r.cancelled(ctx, rb.ID); err != nil {
		return err
	} else if yes {
		return errCancelled
	}
	return nil
}

// save writes the progress document (the runner is its only writer).
func (r *Rebuilder) save(ctx context.Context, rb *Rebuild) error {
	building := rb.Phase == PhaseScanning || rb.Phase == PhaseCatchingUp || rb.Phase == PhaseSwitching
	if elapsed := time.Since(rb.StartedAt).Seconds(); building && elapsed > 0 {
		rb.EventsPerSecond = float64(rb.Events) / elapsed
	}
	if elapsed := time.Since(rb.StartedAt).Seconds(); building && rb.Head > 0 {
		rb.Percent = min(100, 100*float64(rb.Position)/float64(rb.Head))
		if rate := float64(rb.Position) / elapsed; rate > 0 {
			rb.ETASeconds = max(0, float64(rb.Head-rb.Position)/rate)
		}
	}
	rb.Heartbeat = time.Now().UTC()
	_, err := r.progress.ReplaceOne(ctx, bson.D{{Key: "_id", Value: rb.ID}}, rb, options.Replace().SetUpsert(true))
	return err
}

// switched marks a rebuild done once readers use the new generation, then
// drops the old one.
func (r *Rebuilder) switched(ctx context.Context, rb *Rebuild, m Model, log *slog.Logger) {
	rb.Percent, rb.ETASeconds = 100, 0
	r.finish(ctx, rb, RebuildDone, nil)
	log.Info("projections: rebuild done", "events", rb.Events, "events_per_second", int(rb.EventsPerSecond))
	r.dropOld(ctx, rb, m, log)
}

// dropOld removes the replaced generation's collections once readers had
// time to leave it (DropAfter from the switch).
func (r *Rebuilder) dropOld(ctx context.Context, rb *Rebuild, m Model, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(rb.FinishedAt.Add(r.opts.DropAfter))):
	}
	if rb.OldDB != "" && rb.OldDB != rb.NewDB {
		old := r.gens.client.Database(rb.OldDB)
		for _, c := range m.Collections {
			if err := old.Collection(c).Drop(ctx); err != nil {
				log.Warn("projections: drop old collection", "db", rb.OldDB, "collection", c, "err", err)
			}
		}
		if names, err := old.ListCollectionNames(ctx, bson.D{}); err == nil && len(names) == 0 {
			_ = old.Drop(ctx)
		}
	}
	rb.OldDropped = true
	if err := r.save(ctx, rb); err != nil {
		log.Warn("projections: save rebuild", "err", err)
	}
	log.Info("projections: old generation dropped", "db", rb.OldDB)
}

func (r *Rebuilder) finish(ctx context.Context, rb *Rebuild, status string, cause error) {
	rb.Status, rb.FinishedAt, rb.Phase = status, time.Now().UTC(), ""
	if cause != nil {
		rb.Error = cause.Error()
	}
	if err := r.save(context.WithoutCancel(ctx), rb); err != nil {
		r.opts.Logger.Warn("projections: save rebuild result", "rebuild", rb.ID, "err", err)
	}
}
