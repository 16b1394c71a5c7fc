// Package commands holds the command handlers: each loads an aggregate,
// lets it decide, and appends what it recorded. Handlers never read read
// models; the event log is their only input.
//
// A Repository serialises the commands of one stream inside the process:
// commands that arrive while a commit is in flight wait in the stream's
// queue and are decided together, in arrival order, against the in-memory
// state, then appended as one commit. A hot show therefore takes one round
// trip for many holds instead of a retry storm. Commands from other
// processes are serialised by the event store's unique key: a conflicting
// append catches up from the log and decides again, a bounded number of
// times.
package commands
