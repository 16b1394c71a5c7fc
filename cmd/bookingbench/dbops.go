package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// DBOps is where a run's database operations went: the growth of every
// process's seatline_db_operations_total between the start of the load
// and the moment every booking was final, by database and collection.
type DBOps struct {
	Total          float64            `json:"total"`             // all but the card network's
	CardNetwork    float64            `json:"card_network"`      // the payment simulator's ledger: outside the engine
	PerHold        float64            `json:"per_hold"`          // Total / holds answered 201
	PerConfirmed   float64            `json:"per_confirmed"`     // Total / confirmed bookings
	ByCollection   map[string]float64 `json:"by_collection"`     // "<database suffix>/<collection>" → operations
	ByPart         map[string]float64 `json:"by_part"`           // log, read models, jobs, outbox, ... → operations
	ProcessesCount int                `json:"processes_scraped"` // /metrics endpoints read
}

// dbCounts is one scrape of seatline_db_operations_total, summed over
// processes: "<database>/<collection>" → operations.
type dbCounts map[string]float64

// scrapeFamilies reads one process's /metrics.
func scrapeFamilies(ctx context.Context, url, token string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(url, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("metrics of %s: status %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", url, err)
	}
	return fams, nil
}

// scrapeDBOps reads /metrics of every process (base URLs) and sums their
// database operations.
func scrapeDBOps(ctx context.Context, urls []string, token string) (dbCounts, error) {
	out := dbCounts{}
	for _, u := range urls {
		families, err := scrapeFamilies(ctx, u, token)
		if err != nil {
			return nil, err
		}
		f, ok := families["seatline_db_operations_total"]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			var db, coll string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "database":
					db = l.GetValue()
				case "collection":
					coll = l.GetValue()
				}
			}
			out[db+"/"+coll] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// relayLag reads the deployment's consumer lag (the slowest group's
// commits behind the log head, seatline_relay_lag_commits) from one
// process's /metrics.
func relayLag(ctx context.Context, url, token string) (float64, error) {
	fams, err := scrapeFamilies(ctx, url, token)
	if err != nil {
		return 0, err
	}
	f, ok := fams["seatline_relay_lag_commits"]
	if !ok || len(f.GetMetric()) == 0 {
		return 0, fmt.Errorf("metrics of %s: no seatline_relay_lag_commits", url)
	}
	return f.GetMetric()[0].GetGauge().GetValue(), nil
}

// dbOpsBetween turns two scrapes into the run's report. The log's
// database (the one with "commits") is the deployment's MONGO_DB; the
// others are named by their suffix.
func dbOpsBetween(before, after dbCounts, holds, confirmed, processes int) *DBOps {
	prefix := ""
	for k := range after { // the log's database names the deployment
		if db, coll, _ := strings.Cut(k, "/"); coll == "commits" {
			prefix = db
		}
	}
	r := &DBOps{ByCollection: map[string]float64{}, ByPart: map[string]float64{}, ProcessesCount: processes}
	for k, v := range after {
		d := v - before[k]
		if d <= 0 {
			continue
		}
		db, coll, _ := strings.Cut(k, "/")
		suffix := strings.TrimPrefix(db, prefix)
		part := partOf(suffix, coll)
		if part == "card network (simulator)" {
			r.CardNetwork += d
			continue
		}
		r.Total += d
		r.ByCollection[suffix+"/"+coll] += d
		r.ByPart[part] += d
	}
	if holds > 0 {
		r.PerHold = r.Total / float64(holds)
	}
	if confirmed > 0 {
		r.PerConfirmed = r.Total / float64(confirmed)
	}
	return r
}

// partOf names the part of the engine a collection belongs to, for the
// table of where a booking's operations go.
func partOf(dbSuffix, coll string) string {
	switch {
	case dbSuffix == "" && (coll == "commits" || coll == "snapshots"):
		return "log: commits"
	case dbSuffix == "" && coll == "stream_links":
		return "log: stream links"
	case dbSuffix == "_simulator":
		return "card network (simulator)"
	case dbSuffix == "_identity":
		return "identity look-ups"
	case dbSuffix == "_notifications" && coll == "email_jobs":
		return "outbox: email jobs"
	case dbSuffix == "_notifications" && coll == "emails":
		return "email history"
	case dbSuffix == "_payments" || dbSuffix == "_expiry":
		return "jobs: payments and expiries"
	case dbSuffix == "_relay":
		return "relay: checkpoints, generations"
	case strings.HasPrefix(dbSuffix, "_catalog"), strings.HasPrefix(dbSuffix, "_shows"),
		strings.HasPrefix(dbSuffix, "_seatmaps"), strings.HasPrefix(dbSuffix, "_bookings"):
		return "read models"
	}
	return "other"
}

func printDBOps(w io.Writer, r *DBOps) {
	fmt.Fprintf(w, "\ndatabase operations (round trips) from the first hold until every booking was final, %d processes:\n", r.ProcessesCount)
	fmt.Fprintf(w, "  %.0f in all: %.1f per hold, %.1f per confirmed booking (card network simulator: %.0f more, not counted)\n",
		r.Total, r.PerHold, r.PerConfirmed, r.CardNetwork)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  part\toperations\tper confirmed booking\t")
	for _, k := range sortedByValue(r.ByPart) {
		per := 0.0
		if r.PerConfirmed > 0 {
			per = r.ByPart[k] * r.PerConfirmed / r.Total
		}
		fmt.Fprintf(tw, "  %s\t%.0f\t%.2f\t\n", k, r.ByPart[k], per)
	}
	_ = tw.Flush()
}

func sortedByValue(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return keys
}
