package relay

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/seatline/seatline/coord"
)

// QueueReport describes the bus: its stream and every consumer group.
type QueueReport struct {
	Topic   string        `json:"topic"`
	Mode    string        `json:"mode"` // redis or in-process
	Length  int64         `json:"length"`
	FirstID string        `json:"first_id,omitempty"`
	LastID  string        `json:"last_id,omitempty"`
	Head    int64         `json:"head"` // the log's latest position
	Groups  []GroupReport `json:"groups"`
	Relay   Stats         `json:"relay"`
}

// GroupReport describes one consumer group.
type GroupReport struct {
	Name            string           `json:"name"`
	Checkpoint      int64            `json:"checkpoint"`  // every commit up to here handled
	LagCommits      int64            `json:"lag_commits"` // head - checkpoint
	Lag             int64            `json:"lag"`         // stream entries not yet delivered to the group (Redis 7)
	Pending         int64            `json:"pending"`     // delivered, not acknowledged
	OldestPendingMS int64            `json:"oldest_pending_ms"`
	LastDeliveredID string           `json:"last_delivered_id,omitempty"`
	Consumers       []ConsumerReport `json:"consumers"`
	Holder          string           `json:"holder,omitempty"` // lease owner consuming now
	DeadLetters     int              `json:"dead_letters"`
	Reclaimed       int64            `json:"reclaimed"` // pending messages taken over from idle consumers
}

// ConsumerReport describes one consumer of a group.
type ConsumerReport struct {
	Name       string `json:"name"`
	Pending    int64  `json:"pending"`
	IdleMS     int64  `json:"idle_ms"`
	InactiveMS int64  `json:"inactive_ms"`
}

// Queues reports each stream (one per partition), each group's progress,
// pending messages, consumers, dead letters and reclaims. Checkpoints,
// lag, dead letters and reclaims are per group, so every partition's
// report shows the same figures for them.
func (r *Relay) Queues(ctx context.Context, dead *DeadLetters) ([]QueueReport, error) {
	head, err := r.store.Head(ctx)
	if err != nil {
		return nil, err
	}
	marks, err := r.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	deadCounts, err := dead.Counts(ctx)
	if err != nil {
		return nil, err
	}
	reclaimed, err := r.bus.Reclaimed(ctx)
	if err != nil {
		return nil, err
	}
	watermarks := map[string]int64{}
	for _, g := range r.opts.Groups {
		if watermarks[g], err = r.progress.Consumed(ctx, g, marks[g]); err != nil {
			return nil, err
		}
	}
	var out []QueueReport
	for p := range r.bus.Partitions() {
		rep, err := r.partitionReport(ctx, p, head, watermarks, deadCounts, reclaimed)
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	return out, nil
}

func (r *Relay) partitionReport(ctx context.Context, p int, head int64, watermarks map[string]int64, deadCounts map[string]int, reclaimed map[string]int64) (QueueReport, error) {
	key := r.bus.PartitionTopic(p)
	rep := QueueReport{Topic: key, Mode: "in-process", Head: head, Relay: r.Stats()}
	groups := map[string]*GroupReport{}
	for _, g := range r.opts.Groups {
		w := watermarks[g]
		gr := GroupReport{Name: g, Checkpoint: w, LagCommits: max(0, head-w), DeadLetters: deadCounts[g], Reclaimed: reclaimed[g], Consumers: []ConsumerReport{}}
		if h, ok := r.leaser.(coord.LeaseHolder); ok {
			lease := "consumer:" + g
			if r.bus.Partitions() > 1 {
				lease += ":" + strconv.Itoa(p)
			}
			gr.Holder, _, _ = h.Holder(ctx, lease)
		}
		rep.Groups = append(rep.Groups, gr)
	}
	for i := range rep.Groups {
		groups[rep.Groups[i].Name] = &rep.Groups[i]
	}
	rc := r.bus.Redis()
	if rc == nil {
		return rep, nil
	}
	rep.Mode = "redis"
	info, err := rc.XInfoStream(ctx, key).Result()
	if err != nil && !isNoStream(err) {
		return rep, err
	}
	rep.Length, rep.FirstID, rep.LastID = info.Length, info.FirstEntry.ID, info.LastEntry.ID
	xgroups, err := rc.XInfoGroups(ctx, key).Result()
	if err != nil && !isNoStream(err) {
		return rep, err
	}
	for _, xg := range xgroups {
		gr := groups[xg.Name]
		if gr == nil {
			continue // a group of another deployment sharing the stream
		}
		gr.Pending, gr.LastDeliveredID, gr.Lag = xg.Pending, xg.LastDeliveredID, xg.Lag
		cons, err := rc.XInfoConsumers(ctx, key, xg.Name).Result()
		if err != nil {
			return rep, err
		}
		for _, c := range cons {
			gr.Consumers = append(gr.Consumers, ConsumerReport{Name: c.Name, Pending: c.Pending, IdleMS: c.Idle.Milliseconds(), InactiveMS: c.Inactive.Milliseconds()})
		}
		if xg.Pending > 0 {
			pe, err := rc.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: xg.Name, Start: "-", End: "+", Count: 1}).Result()
			if err == nil && len(pe) > 0 {
				gr.OldestPendingMS = pe[0].Idle.Milliseconds()
			}
		}
	}
	return rep, nil
}

func isNoStream(err error) bool {
	return errors.Is(err, redis.Nil) || (err != nil && (err.Error() == "ERR no such key"))
}
