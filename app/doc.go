// Package app is the composition root: it reads the configuration, builds
// every part (database, event store, bus, relay, projections, sagas,
// identity, HTTP API) and runs them for a role. cmd/bookingd is a thin main
// around it; tests boot it the same way.
package app
