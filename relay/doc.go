// Package relay moves committed events from the log to their consumers,
// at least once, whatever crashes in between.
//
// The publisher side: the Store hands each commit it writes straight to a
// queue that is published to the bus (no polling on the hot path), and the
// published position is marked in the progress set. The consumer side: each
// consumer group runs under a lease (one process at a time), handles a
// commit, marks its position consumed for the group, then acknowledges.
//
// The catch-up relay closes every gap between the two. One process at a
// time (under the "relay" lease) walks the positions between the lowest
// consumer watermark (stored in MongoDB, so it survives Redis losing its
// data) and the head of the log. A position that no one published within a
// grace period (its process died, Redis was down) is read from the log and
// published; a position that was published but that some group has not
// handled for a long time (a lost message, a trimmed stream, a flushed
// Redis) is published again. Consumers are idempotent, so extra copies are
// harmless.
package relay
