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
// their heartbeat expires. These are the workers (consumer groups' set).
func (r *Redis) Heartbeat(ctx context.Context, id string, ttl time.Duration) error {
	return r.Set("").Heartbeat(ctx, id, ttl)
}

// Alive implements Members.
func (r *Redis) Alive(ctx context.Context) ([]string, error) { return r.Set("").Alive(ctx) }

// Set returns the members of the named set ("" is the workers' set).
func (r *Redis) Set(name string) Members {
	key := r.prefix + "members"
	if name != "" {
		key += ":" + name
	}
	return redisMembers{c: r.c, key: key}
}

type redisMembers struct {
	c   redis.UniversalClient
	key string
}

func (m redisMembers) Heartbeat(ctx context.Context, id string, ttl time.Duration) error {
	now := time.Now()
	_, err := m.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, m.key, redis.Z{Score: float64(now.Add(ttl).UnixMilli()), Member: id})
		p.ZRemRangeByScore(ctx, m.key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		return nil
	})
	return err
}

func (m redisMembers) Alive(ctx context.Context) ([]string, error) {
	return m.c.ZRangeByScore(ctx, m.key, &redis.ZRangeBy{Min: strconv.FormatInt(time.Now().UnixMilli(), 10), Max: "+inf"}).Result()
}

// memMembers is a membership set of the in-process coordinator.
type memMembers struct {
	mu      sync.Mutex
	expires map[string]time.Time
}

// Heartbeat implements Members.
func (m *Memory) Heartbeat(ctx context.Context, id string, ttl time.Duration) error {
	return m.members.Heartbeat(ctx, id, ttl)
}

// Alive implements Members.
func (m *Memory) Alive(ctx context.Context) ([]string, error) { return m.members.Alive(ctx) }

// Set returns the members of the named set ("" is the workers' set).
func (m *Memory) Set(name string) Members {
	if name == "" {
		return &m.members
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.memberSets == nil {
		m.memberSets = map[string]*memMembers{}
	}
	s, ok := m.memberSets[name]
	if !ok {
		s = &memMembers{}
		m.memberSets[name] = s
	}
	return s
}

// Heartbeat implements Members.
func (s *memMembers) Heartbeat(_ context.Context, id string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expires == nil {
		s.expires = map[string]time.Time{}
	}
	s.expires[id] = time.Now().Add(ttl)
	return nil
}

// Alive implements Members.
func (s *memMembers) Alive(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, exp := range s.expires {
		if time.Now().Before(exp) {
			out = append(out, id)
		}
	}
	return out, nil
}
