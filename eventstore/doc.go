// Package eventstore is the event log: the only source of truth. It stores
// commits (one append of 1..n events to one stream) in MongoDB, assigns each
// commit a gap-free global position in commit order, detects concurrent
// appends to one stream, and hands committed events to the bus.
//
// Storage shape, chosen so that it is correct on FerretDB v1 (where only
// inserts guarded by a unique index are atomic and only _id lookups are
// fast) as well as on MongoDB:
//
//   - commits: one document per commit, _id = global position (written as a
//     19-digit decimal string: FerretDB only looks up string and ObjectID
//     _ids by index; an int64 _id means a full scan). A unique
//     index on (stream_id, base) makes a second append at the same stream
//     version fail: that insert is the concurrency check. A single-document
//     insert is an atomic commit even if the process dies.
//   - stream_links: _id = "<stream>@<base>" → position of the commit that
//     starts at that stream version. Inserted after the commit, never
//     updated, so a stream is read forwards with _id lookups only. A link
//     lost to a crash is found again (with one slow field query) and repaired
//     the first time someone needs it.
//   - snapshots: _id = stream id, replaced whole.
//
// Positions are taken as head+1 and inserted; a duplicate _id means another
// writer took that position, so the writer moves on. A position is only
// written after the one before it exists, so the log has no gaps and a
// reader walking _id upwards never sees a later commit before an earlier one.
// One writer goroutine per Store batches pending appends into one ordered
// InsertMany (group commit).
package eventstore
