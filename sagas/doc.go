// Package sagas holds the process managers: consumers that turn committed
// events into further commands. Every command they send is idempotent, and
// any key for a side effect is derived from the triggering event, so a
// redelivered event changes nothing.
package sagas
