// Package testenv gives tests real infrastructure: a MongoDB-compatible
// database (MONGO_URI, or FerretDB embedded once per test binary) and a
// Redis server (REDIS_URL, default redis://127.0.0.1:6379/0), each test
// with its own database and key prefix so tests run in parallel.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/embeddeddb"
)

var (
	mongoOnce sync.Once
	mongoURI  string
	mongoErr  error
)

// MongoURI returns MONGO_URI or the URI of an embedded FerretDB that lives
// as long as the test binary.
func MongoURI(t testing.TB) string {
	t.Helper()
	mongoOnce.Do(func() {
		if u := os.Getenv("MONGO_URI"); u != "" {
			mongoURI = u
			return
		}
		dir, err := os.MkdirTemp("", "seatline-ferretdb-")
		if err != nil {
			mongoErr = err
			return
		}
		srv, err := embeddeddb.Start(filepath.Join(dir, "data"), "127.0.0.1:0", nil)
		if err != nil {
			mongoErr = err
			return
		}
		mongoURI = srv.URI
	})
	if mongoErr != nil {
		t.Fatalf("testenv: start FerretDB: %v", mongoErr)
	}
	return mongoURI
}

// Client connects to the test database server; the client is closed when
// the test ends.
func Client(t testing.TB) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(MongoURI(t)).SetMaxPoolSize(64))
	if err != nil {
		t.Fatalf("testenv: connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// DBName returns a fresh database name for one test.
func DBName(t testing.TB) string {
	return "t_" + ID()
}

// Database returns a fresh database on its own client, dropped when the
// test ends (unless KEEP_TEST_DB is set).
func Database(t testing.TB) *mongo.Database {
	t.Helper()
	db := Client(t).Database(DBName(t))
	t.Cleanup(func() {
		if os.Getenv("KEEP_TEST_DB") == "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = db.Drop(ctx)
		}
	})
	return db
}

// RedisURL returns REDIS_URL or the machine's default Redis.
func RedisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Redis returns a client of the test Redis and a key prefix unique to the
// test; keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testenv: REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis at %s does not answer: %v", RedisURL(), err)
	}
	prefix := "t" + ID() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		_ = c.Close()
	})
	return c, prefix
}

// ID returns a short random id for names.
func ID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Logger returns a logger that writes through t.Log at warn level, or at
// debug level when TEST_LOG is set.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// tWriter logs through t until the test ends, then drops output from
// goroutines that outlive it.
type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
