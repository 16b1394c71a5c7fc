package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	mopts "go.mongodb.org/mongo-driver/v2/mongo/options"
)

// insertCeiling measures the raw single-insert rate of a MongoDB server
// (commit-sized documents, one InsertOne per round trip, from writers
// goroutines, for d): the ceiling the engine's figures are ratios to. It
// works in a database of its own and drops it afterwards.
func insertCeiling(ctx context.Context, uri string, writers int, d time.Duration) (float64, error) {
	c, err := mongo.Connect(mopts.Client().ApplyURI(uri).SetMaxPoolSize(uint64(writers + 4)))
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	db := c.Database("ceiling_" + randomHex(4))
	defer func() { _ = db.Drop(context.Background()) }()
	coll := db.Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "warm-up"}}); err != nil {
		return 0, err
	}
	var n atomic.Int64
	var first error
	var once sync.Once
	var stop atomic.Bool
	time.AfterFunc(d, func() { stop.Store(true) })
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
				doc := bson.D{{Key: "_id", Value: fmt.Sprintf("%03d-%016d", w, i)}, {Key: "stream_id", Value: fmt.Sprintf("booking-%d-%d", w, i)},
					{Key: "events", Value: bson.A{bson.D{{Key: "name", Value: "booking.Placed.v1"}, {Key: "data", Value: `{"booking_id":"b","seats":["A1","A2"],"amount":3000}`}}}}}
				if _, err := coll.InsertOne(ctx, doc); err != nil {
					once.Do(func() { first = err })
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return 0, first
	}
	return float64(n.Load()) / elapsed.Seconds(), nil
}
