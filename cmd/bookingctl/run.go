package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
)

const usage = `usage: bookingctl [--url URL] [--token T | --email E --password P] COMMAND

commands:
  projections list                 checkpoint, lag and state of every read model
  projections rebuild NAME         rebuild a read model from the log (blue/green), showing progress
                                   [--no-wait] returns once it is queued
  projections cancel NAME          cancel a running rebuild
  timeline BOOKING_ID [--json]     everything that happened to a booking
  users promote EMAIL              make a user an admin
  demo seed [--shows N]            movies, venues, shows and users for a demo
  events tail [--from N] [-f]      print the log from position N (default: the last 20); -f follows it
  queues list                      the bus's consumer groups: lag, pending, dead letters
  dead-letters list                commits a consumer group gave up on
  dead-letters retry ID|--all      ask for a retry

environment: SEATLINE_URL, SEATLINE_TOKEN, SEATLINE_EMAIL, SEATLINE_PASSWORD
`

// cli is one invocation.
type cli struct {
	base  string
	token string
	http  *http.Client
	out   io.Writer
}

// run executes a command line and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("bookingctl", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() { fmt.Fprint(errOut, usage) }
	base := fs.String("url", or(getenv("SEATLINE_URL"), "http://127.0.0.1:8080"), "base URL of the deployment")
	token := fs.String("token", getenv("SEATLINE_TOKEN"), "admin access token")
	email := fs.String("email", getenv("SEATLINE_EMAIL"), "admin email (to log in)")
	password := fs.String("password", getenv("SEATLINE_PASSWORD"), "admin password (to log in)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c := &cli{base: strings.TrimRight(*base, "/") + "/api/v1", token: *token, http: &http.Client{Timeout: 60 * time.Second}, out: out}
	if c.token == "" && *email != "" {
		var r struct {
			AccessToken string `json:"access_token"`
		}
		if err := c.call(ctx, "POST", "/auth/login", map[string]string{"email": *email, "password": *password}, &r); err != nil {
			fmt.Fprintln(errOut, "bookingctl: log in:", err)
			return 1
		}
		c.token = r.AccessToken
	}
	err := c.dispatch(ctx, fs.Args())
	if errors.Is(err, errUsage) {
		fmt.Fprint(errOut, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(errOut, "bookingctl:", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func (c *cli) dispatch(ctx context.Context, args []string) error {
	cmd := strings.Join(args[:min(2, len(args))], " ")
	rest := args[min(2, len(args)):]
	switch {
	case cmd == "projections list":
		return c.projections(ctx)
	case cmd == "projections rebuild" && len(rest) >= 1:
		return c.rebuild(ctx, rest[0], !hasFlag(rest[1:], "--no-wait"))
	case cmd == "projections cancel" && len(rest) == 1:
		var rb map[string]any
		if err := c.call(ctx, "POST", "/admin/projections/"+url.PathEscape(rest[0])+"/rebuild/cancel", nil, &rb); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "cancel requested for rebuild %v of %v\n", rb["id"], rb["projection"])
		return nil
	case len(args) >= 2 && args[0] == "timeline":
		return c.timeline(ctx, args[1], hasFlag(args[2:], "--json"))
	case cmd == "users promote" && len(rest) == 1:
		return c.promote(ctx, rest[0])
	case cmd == "demo seed":
		n := 3
		if v := flagValue(rest, "--shows"); v != "" {
			if _, err := fmt.Sscan(v, &n); err != nil || n < 1 || n > 100 {
				return fmt.Errorf("--shows must be 1..100")
			}
		}
		return c.seed(ctx, n)
	case cmd == "events tail":
		var from int64 = -1
		if v := flagValue(rest, "--from"); v != "" {
			if _, err := fmt.Sscan(v, &from); err != nil || from < 0 {
				return fmt.Errorf("--from must be a log position")
			}
		}
		return c.tail(ctx, from, hasFlag(rest, "-f") || hasFlag(rest, "--follow"))
	case cmd == "queues list":
		return c.queues(ctx)
	case cmd == "dead-letters list":
		return c.deadLetters(ctx)
	case cmd == "dead-letters retry" && len(rest) == 1:
		path := "/admin/queues/events/dead-letters/" + url.PathEscape(rest[0]) + "/retry"
		if rest[0] == "--all" {
			path = "/admin/queues/events/dead-letters/retry"
		}
		var r map[string]any
		if err := c.call(ctx, "POST", path, nil, &r); err != nil {
			return err
		}
		fmt.Fprintln(c.out, "retry requested")
		return nil
	}
	return errUsage
}

// apiError is the API's error body.
type apiError struct {
	Status int
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call sends a JSON request and decodes the JSON answer into out.
func (c *cli) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e apiError
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, out)
}

func (c *cli) table() *tabwriter.Writer { return tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0) }

func (c *cli) projections(ctx context.Context) error {
	var r struct {
		Items []struct {
			Name       string  `json:"name"`
			DB         string  `json:"db"`
			Checkpoint int64   `json:"checkpoint"`
			Head       int64   `json:"head"`
			LagCommits int64   `json:"lag_commits"`
			LagEvents  int64   `json:"lag_events"`
			LagSeconds float64 `json:"lag_seconds"`
			State      string  `json:"state"`
		} `json:"items"`
	}
	if err := c.call(ctx, "GET", "/admin/projections", nil, &r); err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintln(w, "NAME\tSTATE\tCHECKPOINT\tHEAD\tLAG (COMMITS)\tLAG (EVENTS)\tLAG (S)\tDATABASE")
	for _, p := range r.Items {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%s\n", p.Name, p.State, p.Checkpoint, p.Head, p.LagCommits, p.LagEvents, p.LagSeconds, p.DB)
	}
	return w.Flush()
}

type rebuildState struct {
	ID              string  `json:"id"`
	Projection      string  `json:"projection"`
	Status          string  `json:"status"`
	Phase           string  `json:"phase"`
	Percent         float64 `json:"percent"`
	Events          int64   `json:"events"`
	EventsPerSecond float64 `json:"events_per_second"`
	ETASeconds      float64 `json:"eta_seconds"`
	NewDB           string  `json:"new_db"`
	Error           string  `json:"error"`
}

// rebuild queues a rebuild and, with wait, shows its progress to the end.
func (c *cli) rebuild(ctx context.Context, name string, wait bool) error {
	var rb rebuildState
	if err := c.call(ctx, "POST", "/admin/projections/"+url.PathEscape(name)+"/rebuild", nil, &rb); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "rebuild %s of %s queued\n", rb.ID, rb.Projection)
	if !wait {
		return nil
	}
	bar := progressbar.NewOptions(1000, progressbar.OptionSetWriter(c.out), progressbar.OptionSetDescription(rb.Projection),
		progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		if err := c.call(ctx, "GET", "/admin/projections/"+url.PathEscape(name)+"/rebuild", nil, &rb); err != nil {
			return err
		}
		bar.Describe(fmt.Sprintf("%s %-12s %8.0f events/s  ETA %4.0fs", rb.Projection, rb.Phase, rb.EventsPerSecond, rb.ETASeconds))
		_ = bar.Set(int(rb.Percent * 10))
		switch rb.Status {
		case "done":
			_ = bar.Finish()
			fmt.Fprintf(c.out, "\nrebuilt %s: %d events at %.0f events/s, now in %s\n", rb.Projection, rb.Events, rb.EventsPerSecond, rb.NewDB)
			return nil
		case "failed", "cancelled":
			fmt.Fprintln(c.out)
			return fmt.Errorf("rebuild %s: %s %s", rb.ID, rb.Status, rb.Error)
		}
	}
}

func (c *cli) timeline(ctx context.Context, id string, raw bool) error {
	var tl struct {
		BookingID string           `json:"booking_id"`
		ShowID    string           `json:"show_id"`
		Items     []map[string]any `json:"items"`
	}
	if err := c.call(ctx, "GET", "/admin/bookings/"+url.PathEscape(id)+"/timeline", nil, &tl); err != nil {
		return err
	}
	if raw {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(tl)
	}
	fmt.Fprintf(c.out, "booking %s, show %s\n", tl.BookingID, tl.ShowID)
	w := c.table()
	fmt.Fprintln(w, "TIME\tPOSITION\tKIND\tNAME\tACTOR\tCORRELATION\tCAUSED BY\tEVENT ID")
	for _, it := range tl.Items {
		t, _ := time.Parse(time.RFC3339Nano, str(it["time"]))
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Format("15:04:05.000"), str(it["position"]), str(it["kind"]), str(it["name"]),
			str(it["actor"]), str(it["correlation_id"]), str(it["caused_by"]), str(it["event_id"]))
	}
	return w.Flush()
}

func (c *cli) promote(ctx context.Context, email string) error {
	var page struct {
		Items []struct {
			ID    string `json:"id"`
			Email string `json:"email"`
			Role  string `json:"role"`
		} `json:"items"`
	}
	if err := c.call(ctx, "GET", "/admin/users?q="+url.QueryEscape(email), nil, &page); err != nil {
		return err
	}
	for _, u := range page.Items {
		if strings.EqualFold(u.Email, email) {
			if err := c.call(ctx, "PATCH", "/admin/users/"+url.PathEscape(u.ID), map[string]string{"role": "admin"}, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%s (%s) is now an admin\n", u.Email, u.ID)
			return nil
		}
	}
	return fmt.Errorf("no user with email %s", email)
}

type commit struct {
	Position int64     `json:"position"`
	StreamID string    `json:"stream_id"`
	Version  int64     `json:"version"`
	Time     time.Time `json:"time"`
	Events   []struct {
		Name string          `json:"name"`
		Data json.RawMessage `json:"data"`
		Meta struct {
			Actor         string `json:"actor"`
			CorrelationID string `json:"correlation_id"`
		} `json:"meta"`
	} `json:"events"`
}

// tail prints the log from a position, and with follow keeps printing
// what is appended.
func (c *cli) tail(ctx context.Context, from int64, follow bool) error {
	type page struct {
		Items []commit `json:"items"`
		Next  int64    `json:"next"`
		Head  int64    `json:"head"`
	}
	if from < 0 {
		var p page
		if err := c.call(ctx, "GET", "/admin/events?limit=1", nil, &p); err != nil {
			return err
		}
		from = max(0, p.Head-20)
	}
	for {
		var p page
		if err := c.call(ctx, "GET", fmt.Sprintf("/admin/events?after=%d&limit=500", from), nil, &p); err != nil {
			return err
		}
		for _, cm := range p.Items {
			for _, e := range cm.Events {
				fmt.Fprintf(c.out, "%d\t%s\t%s\t%s\t%s\t%s\n", cm.Position, cm.Time.Format(time.RFC3339), cm.StreamID, e.Name, e.Meta.Actor, e.Data)
			}
		}
		from = p.Next
		if len(p.Items) > 0 {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *cli) queues(ctx context.Context) error {
	var r struct {
		Items []struct {
			Topic  string `json:"topic"`
			Mode   string `json:"mode"`
			Length int64  `json:"length"`
			Head   int64  `json:"head"`
			Groups []struct {
				Name            string `json:"name"`
				Checkpoint      int64  `json:"checkpoint"`
				LagCommits      int64  `json:"lag_commits"`
				Pending         int64  `json:"pending"`
				OldestPendingMS int64  `json:"oldest_pending_ms"`
				Consumers       []any  `json:"consumers"`
				DeadLetters     int    `json:"dead_letters"`
				Reclaimed       int64  `json:"reclaimed"`
				Holder          string `json:"holder"`
			} `json:"groups"`
		} `json:"items"`
	}
	if err := c.call(ctx, "GET", "/admin/queues", nil, &r); err != nil {
		return err
	}
	for _, q := range r.Items {
		fmt.Fprintf(c.out, "topic %s (%s): %d messages, log head %d\n", q.Topic, q.Mode, q.Length, q.Head)
		w := c.table()
		fmt.Fprintln(w, "GROUP\tCHECKPOINT\tLAG\tPENDING\tOLDEST PENDING (MS)\tCONSUMERS\tDEAD LETTERS\tRECLAIMED\tHOLDER")
		for _, g := range q.Groups {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", g.Name, g.Checkpoint, g.LagCommits, g.Pending, g.OldestPendingMS,
				len(g.Consumers), g.DeadLetters, g.Reclaimed, g.Holder)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func (c *cli) deadLetters(ctx context.Context) error {
	var r struct {
		Items []struct {
			ID             string    `json:"id"`
			Group          string    `json:"group"`
			Position       int64     `json:"position"`
			StreamID       string    `json:"stream_id"`
			Error          string    `json:"error"`
			Attempts       int       `json:"attempts"`
			Time           time.Time `json:"time"`
			RetryRequested bool      `json:"retry_requested"`
		} `json:"items"`
	}
	if err := c.call(ctx, "GET", "/admin/queues/events/dead-letters", nil, &r); err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintln(w, "ID\tGROUP\tPOSITION\tSTREAM\tATTEMPTS\tRETRY\tERROR")
	for _, d := range r.Items {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%v\t%s\n", d.ID, d.Group, d.Position, d.StreamID, d.Attempts, d.RetryRequested, d.Error)
	}
	return w.Flush()
}

func hasFlag(args []string, f string) bool {
	for _, a := range args {
		if a == f {
			return true
		}
	}
	return false
}

func flagValue(args []string, f string) string {
	for i, a := range args {
		if a == f && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, f+"="); ok {
			return v
		}
	}
	return ""
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return fmt.Sprintf("%.0f", x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
