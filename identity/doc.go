// Package identity owns accounts: users, credentials, tokens and roles.
// It is state-based, not event-sourced, so that credentials and personal
// data can be erased; domain events carry user ids only.
//
// FerretDB v1 makes only unique-index inserts atomic, so every rule that
// must hold under concurrency is an insert: one email maps to one user
// (user_emails, _id = the lower-cased email), a refresh token is used once
// (refresh_used, _id = its hash), a revoked token family stays revoked
// (revoked_families).
package identity
