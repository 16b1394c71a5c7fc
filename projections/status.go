package projections

import (
	"context"
	"time"
)

// Status is how a read model is doing.
type Status struct {
	Name       string   `json:"name"`
	DB         string   `json:"db"`          // the generation readers use
	Checkpoint int64    `json:"checkpoint"`  // every commit up to here is applied
	Head       int64    `json:"head"`        // the log's latest position
	LagCommits int64    `json:"lag_commits"` // head - checkpoint
	LagEvents  int64    `json:"lag_events"`  // events in those commits (estimated from a sample past 64)
	LagSeconds float64  `json:"lag_seconds"` // age of the oldest commit not applied
	State      string   `json:"state"`       // live, lagging, rebuilding
	Rebuild    *Rebuild `json:"rebuild,omitempty"`
}

// lagSample is how many of the commits a model lags behind Overview reads
// to estimate their events and age.
const lagSample = 64

// Overview reports every model's checkpoint, lag and rebuild.
func (r *Rebuilder) Overview(ctx context.Context, fresh *Freshness, now time.Time) ([]Status, error) {
	head, err := r.log.Head(ctx)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, m := range r.Models() {
		w, err := fresh.Watermark(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		st := Status{Name: m.Name, DB: m.Target.DB().Name(), Checkpoint: w, Head: head, LagCommits: max(0, head-w), State: "live"}
		if st.LagCommits > 0 {
			// A sample of the lag: this page must answer while a backlog is
			// being worked off, when the database is at its busiest.
			cs, err := r.log.ReadRange(ctx, w+1, w+min(st.LagCommits, lagSample))
			if err != nil {
				return nil, err
			}
			for _, c := range cs {
				st.LagEvents += int64(len(c.Events))
			}
			if n := int64(len(cs)); n > 0 && n < st.LagCommits {
				st.LagEvents = st.LagEvents * st.LagCommits / n
			}
			if len(cs) > 0 {
				st.LagSeconds = max(0, now.Sub(cs[0].Time).Seconds())
			}
			if st.LagSeconds > 5 {
				st.State = "lagging"
			}
		}
		rb, ok, err := r.Latest(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			st.Rebuild = &rb
			if rb.active() {
				st.State = "rebuilding"
			}
		}
		out = append(out, st)
	}
	return out, nil
}
