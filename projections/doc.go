// Package projections builds the read models that queries serve, from
// committed events, and reads them. One read model per file: its projector
// (a relay.Handler whose name is its consumer group and never changes) and
// its reader.
//
// Most read models keep one document per stream with the stream version
// and log position it reflects. A projector skips commits at or below that
// version (duplicates) and, when a commit arrives ahead of it, reads the
// missing commits from the log first, so every document is the same
// function of its stream whatever order and number of deliveries the bus
// produced. Only one process at a time consumes a group (relay's lease),
// so a document has one writer.
//
// Read models live in their own database, apart from the log: on FerretDB
// over SQLite each database is a file with its own write lock, so
// projection writes do not queue behind appends.
package projections
