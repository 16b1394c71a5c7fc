// Command bookingctl operates a Seatline deployment through its admin API:
// projections and rebuilds, booking timelines, users, demo data, the event
// log and the queues. It talks HTTP only, so it works against any
// deployment an admin can reach; it never touches the database.
//
//	bookingctl [--url URL] [--token T | --email E --password P] COMMAND
//
// The flags default to SEATLINE_URL (http://127.0.0.1:8080),
// SEATLINE_TOKEN, SEATLINE_EMAIL and SEATLINE_PASSWORD.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
