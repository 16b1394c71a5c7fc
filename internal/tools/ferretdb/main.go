// Command ferretpg runs FerretDB over PostgreSQL on a local port, to run
// the tests and benchmarks against FerretDB's PostgreSQL backend:
//
//	go run ./internal/tools/ferretpg -pg postgres://postgres@127.0.0.1:5432/ferretdb -addr 127.0.0.1:27018 &
//	MONGO_URI=mongodb://127.0.0.1:27018/ ./scripts/test
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
	pg := flag.String("pg", "postgres://postgres@127.0.0.1:5432/ferretdb", "PostgreSQL URL (the database must exist)")
	addr := flag.String("addr", "127.0.0.1:27018", "listen address")
	flag.Parse()
	s, err := embeddeddb.StartPostgres(*pg, *addr, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretpg:", err)
		os.Exit(1)
	}
	fmt.Println(s.URI)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Stop()
}
