// Command bookingbench is a load tool for a Seatline deployment: a real
// HTTP client of the public API. It sets up shows and customers through the
// admin API, runs virtual users for a scenario, reports throughput and
// latency per operation with errors by code, and finally checks the event
// log (read over GET /admin/events): no seat held or sold twice, each
// confirmed booking paid exactly once, and the read models agreeing with
// the log.
//
//	bookingbench -url http://127.0.0.1:8080 -email admin@… -password … -scenario hot-show -vus 500 -seats 2000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

const usage = `usage: bookingbench [flags]

scenarios:
  hot-show   every virtual user races for the seats of one show: holds 1-4
             adjacent free seats, then pays (approve or decline) or walks
             away so the hold expires; ends at -duration or when sold out
  browse     searches, show pages and seat maps over -shows shows
  mixed      -browse of the iterations browse, the rest book on a random
             one of -shows shows (a many-shows workload)

The admin (-email/-password or -token) creates the shows and -users
customer accounts; registering them counts against the deployment's
IP_BUDGET (email-sending requests per address and hour).

flags:
`

// options is one invocation.
type options struct {
	url, email, password, token string
	scenario                    string
	vus, seats, shows, users    int
	duration, settle            time.Duration
	abandon, decline, browse    float64
	jsonPath                    string
	check, affinity             bool
	metrics, metricsToken       string
	ceiling                     string
}

// Report is the machine-readable result (-json).
type Report struct {
	Scenario string              `json:"scenario"`
	URL      string              `json:"url"`
	VUs      int                 `json:"vus"`
	Shows    int                 `json:"shows"`
	Seats    int                 `json:"seats_per_show"`
	Users    int                 `json:"users"`
	Seconds  float64             `json:"seconds"`
	SoldOut  bool                `json:"sold_out"`
	Ops      map[string]OpReport `json:"operations"`
	Counts   map[string]int      `json:"counts"`
	// FinalAfterLoad is how long after the load ended the last booking
	// with a checkout reached its outcome; NotFinal counts those that had
	// not by the end of -settle.
	FinalAfterLoad float64 `json:"final_after_load_seconds"`
	NotFinal       int     `json:"not_final"`
	// LagZeroAfterLoad is how long after the load ended every consumer
	// group had handled the whole log (-1: not within -settle).
	LagZeroAfterLoad float64      `json:"lag_zero_after_load_seconds"`
	DB               *DBOps       `json:"db_operations,omitempty"`
	Check            *CheckReport `json:"check,omitempty"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) int {
	var o options
	fs := flag.NewFlagSet("bookingbench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() { fmt.Fprint(errOut, usage); fs.PrintDefaults() }
	fs.StringVar(&o.url, "url", or(getenv("SEATLINE_URL"), "http://127.0.0.1:8080"), "base URL of the deployment (SEATLINE_URL); several, comma-separated, spread the virtual users over API instances")
	fs.StringVar(&o.email, "email", getenv("SEATLINE_EMAIL"), "admin email (SEATLINE_EMAIL)")
	fs.StringVar(&o.password, "password", getenv("SEATLINE_PASSWORD"), "admin password (SEATLINE_PASSWORD)")
	fs.StringVar(&o.token, "token", getenv("SEATLINE_TOKEN"), "admin access token instead of email and password (SEATLINE_TOKEN)")
	fs.StringVar(&o.scenario, "scenario", "hot-show", "hot-show, browse or mixed")
	fs.IntVar(&o.vus, "vus", 200, "virtual users")
	fs.IntVar(&o.seats, "seats", 2000, "seats per show")
	fs.IntVar(&o.shows, "shows", 20, "shows for browse and mixed (hot-show uses one)")
	fs.IntVar(&o.users, "users", 16, "customer accounts the virtual users share")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "how long the virtual users run")
	fs.DurationVar(&o.settle, "settle", 60*time.Second, "how long the check waits for read models to reach the log")
	fs.Float64Var(&o.abandon, "abandon", 0.2, "share of holds left to expire")
	fs.Float64Var(&o.decline, "decline", 0.1, "share of holds paid with a declining card")
	fs.Float64Var(&o.browse, "browse", 0.7, "mixed: share of iterations that browse")
	fs.StringVar(&o.jsonPath, "json", "", "also write the report as JSON to this file (- for stdout, instead of the table)")
	fs.BoolVar(&o.check, "check", true, "verify the log and the read models at the end")
	fs.StringVar(&o.metrics, "metrics", "", "base URLs of every process to read database operations from (GET /metrics), comma-separated (default: -url); workers serve /metrics on their HTTP_ADDR")
	fs.StringVar(&o.metricsToken, "metrics-token", getenv("METRICS_TOKEN"), "bearer token of /metrics (METRICS_TOKEN)")
	fs.StringVar(&o.ceiling, "insert-ceiling", "", "instead of a scenario: measure the raw single-insert rate of the MongoDB server at this URI (8 writers, 5s), the ceiling for ratios")
	fs.BoolVar(&o.affinity, "affinity", false, "with several -url: send each show's holds and checkouts to one of them (by show id), as a load balancer with show affinity would")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.ceiling != "" {
		rate, err := insertCeiling(ctx, o.ceiling, 8, 5*time.Second)
		if err != nil {
			fmt.Fprintln(errOut, "bookingbench: insert ceiling:", err)
			return 1
		}
		fmt.Fprintf(out, "raw single inserts: %.0f/s\n", rate)
		return 0
	}
	switch {
	case o.scenario != "hot-show" && o.scenario != "browse" && o.scenario != "mixed":
		fmt.Fprintf(errOut, "bookingbench: unknown scenario %q\n", o.scenario)
		return 2
	case o.vus < 1 || o.seats < 1 || o.users < 1 || o.shows < 1:
		fmt.Fprintln(errOut, "bookingbench: -vus, -seats, -users and -shows must be positive")
		return 2
	case o.abandon < 0 || o.decline < 0 || o.abandon+o.decline > 1:
		fmt.Fprintln(errOut, "bookingbench: -abandon and -decline are shares that add up to at most 1")
		return 2
	}
	if o.scenario == "hot-show" {
		o.shows = 1
	}
	progress := func(msg string) { fmt.Fprintf(errOut, "bookingbench: %s\n", msg) }
	rep, err := bench(ctx, o, progress)
	if err != nil {
		fmt.Fprintln(errOut, "bookingbench:", err)
		return 1
	}
	if o.jsonPath != "-" {
		printReport(out, rep)
	}
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		b = append(b, '\n')
		if o.jsonPath == "-" {
			_, err = out.Write(b)
		} else {
			err = os.WriteFile(o.jsonPath, b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(errOut, "bookingbench:", err)
			return 1
		}
	}
	if rep.Check != nil && !rep.Check.OK {
		return 1
	}
	return 0
}

func bench(ctx context.Context, o options, progress func(string)) (*Report, error) {
	var cs []*client
	for _, u := range strings.Split(o.url, ",") {
		cs = append(cs, newClient(strings.TrimRight(strings.TrimSpace(u), "/")+"/api/v1", o.vus+32))
	}
	c := cs[0] // set-up and check

	admin := o.token
	if admin == "" {
		if o.email == "" {
			return nil, fmt.Errorf("an admin is needed: -email and -password, or -token")
		}
		var err error
		if admin, err = login(ctx, c, o.email, o.password); err != nil {
			return nil, fmt.Errorf("admin log in: %w", err)
		}
	}
	f, err := setUp(ctx, c, admin, o.shows, o.seats, o.users, progress)
	if err != nil {
		if strings.Contains(err.Error(), " 429 ") {
			err = fmt.Errorf("%w (registering -users accounts is limited by the deployment's IP_BUDGET)", err)
		}
		return nil, fmt.Errorf("set up: %w", err)
	}
	st := newStats()
	r := &runner{cs: cs, f: f, st: st, abandon: o.abandon, decline: o.decline, browse: o.browse, affinity: o.affinity,
		paying: map[string]booked{}}
	metricsURLs := strings.Split(or(o.metrics, o.url), ",")
	dbBefore, dbErr := scrapeDBOps(ctx, metricsURLs, o.metricsToken)
	if dbErr != nil {
		progress(fmt.Sprintf("no database operation counts: %v", dbErr))
	}
	seats := len(f.seats[f.shows[0]]) // the layout rounds up to whole rows
	r.free.Store(int64(seats))
	progress(fmt.Sprintf("%s: %d virtual users for %s", o.scenario, o.vus, o.duration))

	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for n := range o.vus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.vu(runCtx, o.scenario, n)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastHolds := 0
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			holds, holdReqs := st.okCount("hold")
			line := fmt.Sprintf("[%3.0fs] holds %d (+%d/s) of %d tries, confirmed %d, paying %d",
				time.Since(start).Seconds(), holds, holds-lastHolds, holdReqs, st.get("confirmed"), r.inFlight.Load())
			if o.scenario == "hot-show" {
				line += fmt.Sprintf(", free seats %d/%d", r.free.Load(), seats)
			} else {
				browsed, _ := st.okCount("search")
				line += fmt.Sprintf(", searches %d", browsed)
			}
			progress(line)
			lastHolds = holds
		}
	}
	elapsed := time.Since(start)
	loadEnd := time.Now()
	final, notFinal := r.finish(ctx, o.settle, progress)
	rep := &Report{Scenario: o.scenario, URL: o.url, VUs: o.vus, Shows: o.shows, Seats: seats, Users: o.users,
		Seconds: elapsed.Seconds(), SoldOut: r.soldOut.Load(), Ops: st.report(elapsed), Counts: map[string]int{},
		FinalAfterLoad: final.Seconds(), NotFinal: notFinal}
	st.mu.Lock()
	for k, v := range st.counts {
		rep.Counts[k] = v
	}
	st.mu.Unlock()
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if dbErr == nil {
		if after, err := scrapeDBOps(ctx, metricsURLs, o.metricsToken); err == nil {
			rep.DB = dbOpsBetween(dbBefore, after, rep.Counts["holds"], rep.Counts["confirmed"], len(metricsURLs))
		} else {
			progress(fmt.Sprintf("no database operation counts: %v", err))
		}
		rep.LagZeroAfterLoad = -1
		for time.Since(loadEnd) < o.settle && ctx.Err() == nil {
			if lag, err := relayLag(ctx, metricsURLs[0], o.metricsToken); err == nil && lag == 0 {
				rep.LagZeroAfterLoad = time.Since(loadEnd).Seconds()
				break
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}
	if o.check {
		progress("checking the event log and the read models")
		cr, err := check(ctx, c, admin, f, r.bookings, o.settle, progress)
		if err != nil {
			return rep, fmt.Errorf("check: %w", err)
		}
		rep.Check = &cr
	}
	return rep, nil
}

func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "scenario %s against %s: %d virtual users, %d show(s) of %d seats, %d accounts, %.1fs",
		r.Scenario, r.URL, r.VUs, r.Shows, r.Seats, r.Users, r.Seconds)
	if r.SoldOut {
		fmt.Fprint(w, " (sold out)")
	}
	fmt.Fprint(w, "\n\n")
	printTable(w, r.Ops)
	if len(r.Counts) > 0 {
		fmt.Fprintln(w, "\noutcomes:")
		for _, k := range sortedKeys(r.Counts) {
			fmt.Fprintf(w, "  %-32s %d\n", k, r.Counts[k])
		}
	}
	fmt.Fprintf(w, "\nevery checkout final %.1fs after the load ended (%d not final); consumer lag 0 after %.1fs\n",
		r.FinalAfterLoad, r.NotFinal, r.LagZeroAfterLoad)
	if r.DB != nil {
		printDBOps(w, r.DB)
	}
	if c := r.Check; c != nil {
		verdict := "PASSED"
		if !c.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "\ncheck from the event log: %s\n", verdict)
		fmt.Fprintf(w, "  %d commits: %d holds, %d releases, %d expiries, %d sales; %d bookings, %d confirmed, %d paid\n",
			c.Commits, c.Holds, c.Releases, c.Expiries, c.Sales, c.Bookings, c.Confirmed, c.Paid)
		fmt.Fprintf(w, "  %.1f confirmed bookings per second from the first hold to the last confirmation (%s)\n",
			c.ConfirmedPerSecond, c.LastConfirmation.Sub(c.FirstHold).Round(time.Millisecond))
		fmt.Fprintf(w, "  invariant violations (seat held or sold twice, payment missing or doubled…): %d\n", len(c.Violations))
		for _, v := range c.Violations {
			fmt.Fprintf(w, "    %s\n", v)
		}
		fmt.Fprintf(w, "  read models vs the log: %d seat maps (%d seats) and %d bookings compared, %d mismatches\n",
			c.SeatMapsCompared, c.SeatsCompared, c.BookingsCompared, len(c.ReadModelMismatch))
		for _, v := range c.ReadModelMismatch {
			fmt.Fprintf(w, "    %s\n", v)
		}
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
