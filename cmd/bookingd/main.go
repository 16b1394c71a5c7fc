// Command bookingd runs the booking engine. With no configuration it runs
// everything in one process on the embedded default: FerretDB on SQLite in
// DATA_DIR, an in-process bus, and a first admin printed once. See the
// README for the environment variables.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on PPROF_ADDR
	"os"
	"os/signal"
	"syscall"

	"github.com/seatline/seatline/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bookingd:", err)
		os.Exit(1)
	}
}

func run() error {
	role := flag.String("role", "", "what this process runs: all, api or worker (default all, or $ROLE)")
	flag.Parse()
	cfg, err := app.FromEnv(func(k string) string {
		if k == "ROLE" && *role != "" {
			return *role
		}
		return os.Getenv(k)
	})
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		// Profiling for operators, on an address of its own (never the API's).
		go func() { fmt.Fprintln(os.Stderr, "pprof:", http.ListenAndServe(addr, nil)) }()
	}

	// Listen first: other processes reach this one at the address it got.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	if cfg.InternalURL == "" {
		cfg.InternalURL = "http://" + ln.Addr().String()
	}
	a, err := app.New(ctx, cfg, app.Hooks{Failpoint: failpoint()})
	if err != nil {
		return err
	}
	defer a.Close()
	if c := a.FirstAdmin; c != nil {
		fmt.Fprintf(os.Stderr, "\nFirst admin account (shown once, keep it):\n  email:    %s\n  password: %s\n\n", c.Email, c.Password)
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	if cfg.Role == app.RoleWorker {
		fmt.Fprintf(os.Stderr, "bookingd worker running (projections, sagas, relay; /healthz, /readyz and /metrics on http://%s)\n", ln.Addr())
		a.Logger().Info("bookingd worker running", "role", cfg.Role, "addr", ln.Addr().String())
		return a.Serve(ctx, ln)
	}
	mode := "embedded FerretDB in " + cfg.DataDir
	if !cfg.Embedded() {
		mode = "MongoDB at MONGO_URI"
	}
	fmt.Fprintf(os.Stderr, "bookingd listening on http://%s (role %s, %s)\n", ln.Addr(), cfg.Role, mode)
	a.Logger().Info("bookingd listening", "addr", ln.Addr().String(), "role", cfg.Role)
	err = a.Serve(ctx, ln)
	a.Logger().Info("bookingd stopping")
	return err
}
