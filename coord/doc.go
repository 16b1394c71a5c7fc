// Package coord coordinates processes: leases that give one process at a
// time a job (the catch-up relay, a consumer group), and the progress
// bitmaps that record which log positions were published to the bus and
// which each consumer group has handled. Both live in Redis, which is
// atomic; an in-memory implementation serves the single-process embedded
// mode.
//
// Safety never rests on a lease alone: everything done under one is
// idempotent, so two holders at once (a paused process whose lease expired)
// cost duplicate work, not wrong results. The lease keeps that rare.
package coord
