// Command ferretdb runs FerretDB on a local port, over SQLite files (the
// embedded default's backend) or PostgreSQL, so that several bookingd
// processes can share one database, and the tests and benchmarks can run
// against FerretDB's PostgreSQL backend:
//
//	go run ./internal/tools/ferretdb -sqlite /tmp/seatline-db -addr 127.0.0.1:27018 &
//	go run ./internal/tools/ferretdb -pg postgres://postgres@127.0.0.1:5432/ferretdb -addr 127.0.0.1:27018 &
//	MONGO_URI=mongodb://127.0.0.1:27018/ ./scripts/test
//
// It prints the MongoDB URI once it listens, and stops on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/seatline/seatline/embeddeddb"
)

func main() {
	dir := flag.String("sqlite", "", "directory for the SQLite backend's files (created if missing)")
	pg := flag.String("pg", "", "PostgreSQL URL for the PostgreSQL backend (the database must exist)")
	addr := flag.String("addr", "127.0.0.1:27018", "listen address")
	flag.Parse()
	var (
		s   *embeddeddb.Server
		err error
	)
	switch {
	case (*dir == "") == (*pg == ""):
		fmt.Fprintln(os.Stderr, "ferretdb: give one of -sqlite DIR or -pg URL")
		os.Exit(2)
	case *dir != "":
		s, err = embeddeddb.Start(*dir, *addr, nil)
	default:
		s, err = embeddeddb.StartPostgres(*pg, *addr, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	fmt.Println(s.URI)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Stop()
}
