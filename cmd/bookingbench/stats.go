package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"
	"text/tabwriter"
	"time"
)

// stats records the latency and outcome of every operation.
type stats struct {
	mu     sync.Mutex
	ops    map[string]*opStats
	counts map[string]int // outcomes: held, conflict, confirmed, abandoned…
}

type opStats struct {
	lat  []time.Duration // answered requests, any status
	ok   int
	errs map[string]int // "409 seat-unavailable" → n
}

func newStats() *stats {
	return &stats{ops: map[string]*opStats{}, counts: map[string]int{}}
}

// record adds one request of op. Non-2xx answers are counted by status
// and code: some are part of the game (409 for a seat someone else took).
func (s *stats) record(op string, r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.ops[op]
	if o == nil {
		o = &opStats{errs: map[string]int{}}
		s.ops[op] = o
	}
	if r.Status != 0 {
		o.lat = append(o.lat, r.Elapsed)
	}
	if r.OK() {
		o.ok++
	} else {
		o.errs[r.key()]++
	}
}

// latency records a derived duration (checkout to confirmation).
// A wrong outcome counts under errors as "599 <outcome>".
func (s *stats) latency(op string, d time.Duration, ok bool, outcome string) {
	r := result{Status: 200, Elapsed: d}
	if !ok {
		r.Status, r.Code = 599, outcome
	}
	s.record(op, r)
}

func (s *stats) count(name string, n int) {
	s.mu.Lock()
	s.counts[name] += n
	s.mu.Unlock()
}

func (s *stats) get(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[name]
}

func (s *stats) okCount(op string) (ok, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.ops[op]; o != nil {
		n := o.ok
		for _, e := range o.errs {
			n += e
		}
		return o.ok, n
	}
	return 0, 0
}

// OpReport is one operation's figures.
type OpReport struct {
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	PerSec   float64        `json:"per_second"`
	P50ms    float64        `json:"p50_ms"`
	P95ms    float64        `json:"p95_ms"`
	P99ms    float64        `json:"p99_ms"`
	Maxms    float64        `json:"max_ms"`
	Errors   map[string]int `json:"errors,omitempty"`
}

func (s *stats) report(elapsed time.Duration) map[string]OpReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]OpReport{}
	for name, o := range s.ops {
		lat := slices.Clone(o.lat)
		slices.Sort(lat)
		n := o.ok
		for _, e := range o.errs {
			n += e
		}
		out[name] = OpReport{Requests: n, OK: o.ok, PerSec: float64(n) / elapsed.Seconds(),
			P50ms: ms(pct(lat, 0.50)), P95ms: ms(pct(lat, 0.95)), P99ms: ms(pct(lat, 0.99)), Maxms: ms(pct(lat, 1)),
			Errors: maps.Clone(o.errs)}
	}
	return out
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// printTable writes the operations as a table for people.
func printTable(w io.Writer, ops map[string]OpReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\trequests\tok\tper s\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	for _, name := range sortedKeys(ops) {
		o := ops[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, o.Requests, o.OK, o.PerSec, o.P50ms, o.P95ms, o.P99ms, o.Maxms)
	}
	tw.Flush()
	var lines []string
	for _, name := range sortedKeys(ops) {
		for k, n := range ops[name].Errors {
			lines = append(lines, fmt.Sprintf("  %-10s %-40s %d", name, k, n))
		}
	}
	if len(lines) > 0 {
		sort.Strings(lines)
		fmt.Fprintln(w, "\nnon-2xx answers by operation and code:")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
