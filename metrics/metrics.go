// Package metrics holds the Prometheus metrics of one process, in a
// registry of its own (no globals): counters and histograms that the
// parts of the engine update as they work, and gauges read at scrape time
// from the state of the log, the consumer groups and the queues.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one process's metrics.
type Metrics struct {
	reg *prometheus.Registry

	httpDuration   *prometheus.HistogramVec
	cmdDuration    *prometheus.HistogramVec
	cmdConflicts   *prometheus.CounterVec
	cmdBatch       prometheus.Histogram
	appendCommits  prometheus.Counter
	appendEvents   prometheus.Counter
	handled        *prometheus.CounterVec
	handleDuration *prometheus.HistogramVec
	payments       *prometheus.CounterVec
	emails         *prometheus.CounterVec
	holdsExpired   prometheus.Counter
	holdsPlaced    prometheus.Counter
	dbOps          *prometheus.CounterVec
	groupCommit    prometheus.Histogram
	routes         *prometheus.CounterVec
}

// New returns metrics registered in a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seatline_http_request_duration_seconds",
		Help: "HTTP request latency by route, method and status.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
		[]string{"route", "method", "status"})
	m.cmdDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seatline_command_duration_seconds",
		Help: "Command latency (queue, decide, append) by command and outcome.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
		[]string{"command", "outcome"})
	m.cmdConflicts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_command_conflict_retries_total",
		Help: "Decisions redone because another process appended to the stream first."}, []string{"command"})
	m.cmdBatch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seatline_command_batch_size",
		Help: "Commands decided into one commit.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64}})
	m.appendCommits = prometheus.NewCounter(prometheus.CounterOpts{Name: "seatline_appended_commits_total", Help: "Commits this process appended to the log."})
	m.appendEvents = prometheus.NewCounter(prometheus.CounterOpts{Name: "seatline_appended_events_total", Help: "Events this process appended to the log."})
	m.handled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_consumer_commits_total",
		Help: "Commits handled by consumer groups in this process, by outcome (handled, dead_letter)."}, []string{"group", "outcome"})
	m.handleDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seatline_consumer_batch_duration_seconds",
		Help: "Time to handle one batch, by consumer group.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"group"})
	m.payments = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_payment_gateway_calls_total",
		Help: "Payment gateway calls by kind (charge, refund) and outcome (succeeded, declined, error)."}, []string{"kind", "outcome"})
	m.emails = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_emails_total",
		Help: "Emails by template and outcome (sent, retrying, failed, skipped)."}, []string{"template", "outcome"})
	m.holdsExpired = prometheus.NewCounter(prometheus.CounterOpts{Name: "seatline_holds_expired_total", Help: "Holds the expiry saga expired."})
	m.holdsPlaced = prometheus.NewCounter(prometheus.CounterOpts{Name: "seatline_holds_placed_total", Help: "Holds placed through this process."})
	m.dbOps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_db_operations_total",
		Help: "Database commands (round trips) this process sent, by database, collection and kind (insert, find, update, delete, ...)."},
		[]string{"database", "collection", "kind"})
	m.routes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seatline_command_routes_total",
		Help: "Commands about a show by where they were decided: local, forwarded (to the show's decider), fallback (its decider did not answer)."},
		[]string{"command", "route"})
	m.groupCommit = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seatline_group_commit_duration_seconds",
		Help: "Time of one group commit of the event store (commits and their stream links).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	for _, c := range []prometheus.Collector{m.httpDuration, m.cmdDuration, m.cmdConflicts, m.cmdBatch, m.appendCommits, m.appendEvents,
		m.handled, m.handleDuration, m.payments, m.emails, m.holdsExpired, m.holdsPlaced, m.dbOps, m.groupCommit, m.routes} {
		f(c)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// HTTP records one request.
func (m *Metrics) HTTP(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.httpDuration.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// Command records one command's latency.
func (m *Metrics) Command(name string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.cmdDuration.WithLabelValues(name, outcome).Observe(d.Seconds())
}

// Conflict records a decision redone after a concurrent append.
func (m *Metrics) Conflict(name string) { m.cmdConflicts.WithLabelValues(name).Inc() }

// Batch records how many commands went into one commit.
func (m *Metrics) Batch(n int) { m.cmdBatch.Observe(float64(n)) }

// Route records where a command about a show was decided.
func (m *Metrics) Route(command, route string) { m.routes.WithLabelValues(command, route).Inc() }

// GroupCommit records one group commit of the event store.
func (m *Metrics) GroupCommit(commits int, d time.Duration) { m.groupCommit.Observe(d.Seconds()) }

// Appended records commits this process appended.
func (m *Metrics) Appended(commits, events int) {
	m.appendCommits.Add(float64(commits))
	m.appendEvents.Add(float64(events))
}

// Handled records a batch a consumer group handled.
func (m *Metrics) Handled(group string, commits, dead int, d time.Duration) {
	m.handled.WithLabelValues(group, "handled").Add(float64(commits - dead))
	if dead > 0 {
		m.handled.WithLabelValues(group, "dead_letter").Add(float64(dead))
	}
	m.handleDuration.WithLabelValues(group).Observe(d.Seconds())
}

// Payment records a gateway call.
func (m *Metrics) Payment(kind, outcome string) { m.payments.WithLabelValues(kind, outcome).Inc() }

// Email records an email's outcome.
func (m *Metrics) Email(template, outcome string) { m.emails.WithLabelValues(template, outcome).Inc() }

// HoldExpired records an expired hold.
func (m *Metrics) HoldExpired() { m.holdsExpired.Inc() }

// HoldPlaced records a hold placed through this process.
func (m *Metrics) HoldPlaced() { m.holdsPlaced.Inc() }

// State is read at scrape time for the gauges.
type State struct {
	Head        int64            // the log's latest position
	Watermarks  map[string]int64 // per consumer group
	Pending     map[string]int64 // delivered, unacknowledged messages per group
	DeadLetters map[string]int
	HoldsActive int64 // holds waiting for payment or expiry
}

// Gauges registers gauges computed by read at each scrape (bounded to 3s;
// on error the gauges are left out and the error logged).
func (m *Metrics) Gauges(read func(ctx context.Context) (State, error), log *slog.Logger) {
	m.reg.MustRegister(&stateCollector{read: read, log: log})
}

var (
	headDesc     = prometheus.NewDesc("seatline_log_head_position", "Latest position of the event log.", nil, nil)
	relayLagDesc = prometheus.NewDesc("seatline_relay_lag_commits", "Commits not yet handled by the slowest consumer group.", nil, nil)
	lagDesc      = prometheus.NewDesc("seatline_consumer_lag_commits", "Commits a consumer group (projection or saga) has yet to handle.", []string{"group"}, nil)
	pendingDesc  = prometheus.NewDesc("seatline_queue_pending_messages", "Messages delivered to a group and not acknowledged.", []string{"group"}, nil)
	deadDesc     = prometheus.NewDesc("seatline_dead_letters", "Commits a group gave up on, waiting for an operator.", []string{"group"}, nil)
	holdsDesc    = prometheus.NewDesc("seatline_holds_active", "Holds waiting for payment or expiry.", nil, nil)
)

type stateCollector struct {
	read func(ctx context.Context) (State, error)
	log  *slog.Logger
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{headDesc, relayLagDesc, lagDesc, pendingDesc, deadDesc, holdsDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := c.read(ctx)
	if err != nil {
		c.log.Warn("metrics: read state", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(headDesc, prometheus.GaugeValue, float64(st.Head))
	var worst int64
	for g, w := range st.Watermarks {
		lag := max(0, st.Head-w)
		worst = max(worst, lag)
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag), g)
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(st.DeadLetters[g]), g)
		if p, ok := st.Pending[g]; ok {
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(p), g)
		}
	}
	ch <- prometheus.MustNewConstMetric(relayLagDesc, prometheus.GaugeValue, float64(worst))
	ch <- prometheus.MustNewConstMetric(holdsDesc, prometheus.GaugeValue, float64(st.HoldsActive))
}
