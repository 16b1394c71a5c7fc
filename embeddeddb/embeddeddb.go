// Package embeddeddb runs FerretDB inside the process, on SQLite files in a
// directory, and gives a MongoDB URI for it. It is the database of the
// embedded default and of the test suite when no MONGO_URI is given.
package embeddeddb

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is a running embedded FerretDB.
type Server struct {
	URI    string
	dir    string
	ctx    context.Context
	logger *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs FerretDB with its SQLite files in dir, listening on addr
// (127.0.0.1:0 picks a free port). Stop ends it.
func Start(dir, addr string, logger *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embeddeddb: %w", err)
	}
	s, err := start(&ferretdb.Config{Handler: "sqlite", SQLiteURL: "file:" + dir + "/"}, addr, logger)
	if err != nil {
		return nil, err
	}
	s.dir = dir
	go s.indexLoop(s.ctx, s.logger)
	return s, nil
}

// StartPostgres runs FerretDB in process over the PostgreSQL database at
// pgURL (for benchmarks and tests against FerretDB's other backend).
func StartPostgres(pgURL, addr string, logger *slog.Logger) (*Server, error) {
	return start(&ferretdb.Config{Handler: "postgresql", PostgreSQLURL: pgURL}, addr, logger)
}

func start(cfg *ferretdb.Config, addr string, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	cfg.Listener = ferretdb.ListenerConfig{TCP: addr}
	cfg.Logger = logger
	f, err := ferretdb.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("embeddeddb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cancel: cancel, done: make(chan struct{}), ctx: ctx, logger: logger}
	go func() {
		defer close(s.done)
		_ = f.Run(ctx)
	}()
	uri := make(chan string, 1)
	go func() { uri <- f.MongoDBURI() }()
	select {
	case s.URI = <-uri:
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("embeddeddb: FerretDB did not start listening")
	}
	return s, nil
}

// indexLoop adds the missing _id lookup index (see IndexIDs) to tables as
// FerretDB creates them, every 250ms.
func (s *Server) indexLoop(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := IndexIDs(ctx, s.dir); err != nil && ctx.Err() == nil {
			logger.Warn("embeddeddb: _id index", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// IndexNow adds the missing _id lookup indexes at once instead of waiting
// for the next pass.
func (s *Server) IndexNow(ctx context.Context) error {
	if s.dir == "" {
		return nil
	}
	_, err := IndexIDs(ctx, s.dir)
	return err
}

// Stop shuts FerretDB down and waits for it.
func (s *Server) Stop() {
	s.cancel()
	<-s.done
}
