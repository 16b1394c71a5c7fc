package coord

import (
	"context"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Members tracks the live worker processes of a deployment, so that work
// with one owner at a time (consumer-group partitions) spreads over them:
// each process heartbeats, and every process computes the same owner for
// a piece of work from the same member list (Preferred).
type Members interface {
	Heartbeat(ctx context.Context, id string, ttl time.Duration) error
	Alive(ctx context.Context) ([]string, error)
}

// Preferred returns the member that should own slot of a named piece of
// work (partition slot of a consumer group): the slots of one name go
// round the sorted members starting at a member picked by the name's
// hash, so each member gets its share of every group to within one slot
// and different groups start at different members.
func Preferred(members []string, name string, slot int) string {
	if len(members) == 0 {
		return ""
	}
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	h := fnv.New32a()
	h.Write([]byte(name))
	return sorted[(int(h.Sum32()%uint32(len(sorted)))+slot)%len(sorted)]
}

// Heartbeat implements Members: a sorted set of member ids scored by when
// their heartbeat expires.
func (r *Redis) Heartbeat(ctx context.Context, id string, ttl time.Duration) error {
	now := time.Now()
	key := r.prefix + "members"
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(now.Add(ttl).UnixMilli()), Member: id})
		p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		return nil
	})
	return err
}

// Alive implements Members.
func (r *Redis) Alive(ctx context.Context) ([]string, error) {
	return r.c.ZRangeByScore(ctx, r.prefix+"members", &redis.ZRangeBy{Min: strconv.FormatInt(time.Now().UnixMilli(), 10), Max: "+inf"}).Result()
}

// memMembers is the membership of the in-process coordinator.
type memMembers struct {
	mu      sync.Mutex
	expires map[string]time.Time
}

// Heartbeat implements Members.
func (m *Memory) Heartbeat(_ context.Context, id string, ttl time.Duration) error {
	m.members.mu.Lock()
	defer m.members.mu.Unlock()
	if m.members.expires == nil {
		m.members.expires = map[string]time.Time{}
	}
	m.members.expires[id] = time.Now().Add(ttl)
	return nil
}

// Alive implements Members.
func (m *Memory) Alive(context.Context) ([]string, error) {
	m.members.mu.Lock()
	defer m.members.mu.Unlock()
	var out []string
	for id, exp := range m.members.expires {
		if time.Now().Before(exp) {
			out = append(out, id)
		}
	}
	return out, nil
}
