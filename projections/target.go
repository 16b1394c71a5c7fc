package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Target is the database one read model lives in. Readers and the
// projector look it up on every operation, so a rebuild can build the model
// into a new database and switch everyone over at once (blue/green).
type Target struct {
	group string
	p     atomic.Pointer[mongo.Database]
	gens  *Generations // nil: fixed
}

// Fixed returns a target that never moves (tests, tools).
func Fixed(db *mongo.Database) *Target {
	t := &Target{}
	t.p.Store(db)
	return t
}

// DB returns the database readers and the projector use now.
func (t *Target) DB() *mongo.Database { return t.p.Load() }

func (t *Target) use(db *mongo.Database) { t.p.Store(db) }

// Refresh reads the current generation of the model, so that a process
// that takes over the projector writes where the last rebuild put it.
func (t *Target) Refresh(ctx context.Context) error {
	if t.gens == nil {
		return nil
	}
	name, err := t.gens.current(ctx, t.group)
	if err != nil {
		return err
	}
	if name != "" && name != t.DB().Name() {
		t.gens.log.Info("projections: switched to a new generation", "projection", t.group, "db", name)
		t.use(t.gens.client.Database(name))
	}
	return nil
}

// Generations records which database holds each read model, in one
// document per model ("generations" collection, _id = consumer group).
// A missing document means the model's default database.
type Generations struct {
	coll    *mongo.Collection
	client  *mongo.Client
	log     *slog.Logger
	mu      sync.Mutex
	targets map[string]*Target
}

// NewGenerations returns the generation records in coll.
func NewGenerations(coll *mongo.Collection, client *mongo.Client, log *slog.Logger) *Generations {
	return &Generations{coll: coll, client: client, log: log, targets: map[string]*Target{}}
}

type generationDoc struct {
	Group     string    `bson:"_id"`
	DB        string    `bson:"db"`
	UpdatedAt time.Time `bson:"updated_at"`
}

func (g *Generations) current(ctx context.Context, group string) (string, error) {
	var d generationDoc
	err := g.coll.FindOne(ctx, bson.D{{Key: "_id", Value: group}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("projections: read generation of %s: %w", group, err)
	}
	return d.DB, nil
}

// Target returns the target of a model, in its current generation or else
// in defaultDB.
func (g *Generations) Target(ctx context.Context, group, defaultDB string) (*Target, error) {
	name, err := g.current(ctx, group)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = defaultDB
	}
	t := &Target{group: group, gens: g}
	t.use(g.client.Database(name))
	g.mu.Lock()
	g.targets[group] = t
	g.mu.Unlock()
	return t, nil
}

// Watch keeps every target of this process on its model's current
// generation, checking every interval (one read of the few generation
// records for all of them), until ctx ends.
func (g *Generations) Watch(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		current, err := g.all(ctx)
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("projections: watch generations", "err", err)
			}
			continue
		}
		g.mu.Lock()
		for group, t := range g.targets {
			if name := current[group]; name != "" && name != t.DB().Name() {
				g.log.Info("projections: switched to a new generation", "projection", group, "db", name)
				t.use(g.client.Database(name))
			}
		}
		g.mu.Unlock()
	}
}

// all reads every model's current generation: group → database.
func (g *Generations) all(ctx context.Context) (map[string]string, error) {
	cur, err := g.coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("projections: read generations: %w", err)
	}
	var docs []generationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("projections: read generations: %w", err)
	}
	out := make(map[string]string, len(docs))
	for _, d := range docs {
		out[d.Group] = d.DB
	}
	return out, nil
}

// switchTo records db as the model's generation and moves this process's
// target there at once; other processes follow within Watch's interval.
func (g *Generations) switchTo(ctx context.Context, group, db string) error {
	_, err := g.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: group}},
		generationDoc{Group: group, DB: db, UpdatedAt: time.Now().UTC()}, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("projections: record generation of %s: %w", group, err)
	}
	g.mu.Lock()
	t := g.targets[group]
	g.mu.Unlock()
	if t != nil {
		t.use(g.client.Database(db))
	}
	return nil
}
