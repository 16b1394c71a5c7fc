// Package domain holds what every aggregate shares: the Event contract, the
// error kinds that the HTTP layer maps to status codes, and the small
// recorder that aggregates embed to collect the events they decide.
//
// Everything under domain is pure: no I/O, no clocks, no random ids. Time,
// ids and prices come in as arguments.
package domain
