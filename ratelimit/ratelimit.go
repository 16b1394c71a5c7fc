// Package ratelimit counts failures and attempts per key (an account, an
// IP address, a 2FA challenge) and locks a key out for a while when it
// exceeds its budget. Lockouts grow with each repetition and always end.
// Counters live in Redis, which is atomic, or in memory for the embedded
// single process.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Policy is a failure budget: Max failures within Window lock the key for
// Base, doubling with each lockout within a day, at most MaxLock.
type Policy struct {
	Max     int
	Window  time.Duration
	Base    time.Duration
	MaxLock time.Duration
}

// Store keeps counters.
type Store interface {
	// Incr adds one to key, which expires after ttl from its first
	// increment, and returns the new count.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Lock sets key to expire after d; Locked returns the time left.
	Lock(ctx context.Context, key string, d time.Duration) error
	Locked(ctx context.Context, key string) (time.Duration, error)
	Del(ctx context.Context, keys ...string) error
}

// Limiter applies a policy to keys of one kind ("login:acct", "login:ip").
type Limiter struct {
	store  Store
	kind   string
	policy Policy
}

// New returns a limiter of kind with policy p.
func New(s Store, kind string, p Policy) *Limiter { return &Limiter{store: s, kind: kind, policy: p} }

func (l *Limiter) k(part, key string) string { return "rl:" + l.kind + ":" + part + ":" + key }

// Check returns how long key is still locked out (0 if it is not).
func (l *Limiter) Check(ctx context.Context, key string) (time.Duration, error) {
	return l.store.Locked(ctx, l.k("lock", key))
}

// Fail records a failure for key and locks it out when the budget is
// spent; it returns the lockout that began (0 if none).
func (l *Limiter) Fail(ctx context.Context, key string) (time.Duration, error) {
	n, err := l.store.Incr(ctx, l.k("fail", key), l.policy.Window)
	if err != nil {
		return 0, err
	}
	if n < int64(l.policy.Max) {
		return 0, nil
	}
	return l.lockout(ctx, key)
}

// lockout locks key for the next, longer period.
func (l *Limiter) lockout(ctx context.Context, key string) (time.Duration, error) {
	times, err := l.store.Incr(ctx, l.k("locks", key), 24*time.Hour)
	if err != nil {
		return 0, err
	}
	d := l.policy.Base << min(times-1, 20)
	if d > l.policy.MaxLock || d <= 0 {
		d = l.policy.MaxLock
	}
	if err := l.store.Lock(ctx, l.k("lock", key), d); err != nil {
		return 0, err
	}
	return d, l.store.Del(ctx, l.k("fail", key))
}

// Reset forgets key's failures and lockouts (a success, or an admin
// unlocking an account).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	return l.store.Del(ctx, l.k("fail", key), l.k("lock", key), l.k("locks", key))
}

// Allow counts one use of key against the budget (uses, not failures: for
// resend and request limits): Max uses per Window are allowed, the next
// one locks the key out.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if left, err := l.Check(ctx, key); err != nil || left > 0 {
		return false, left, err
	}
	n, err := l.store.Incr(ctx, l.k("fail", key), l.policy.Window)
	if err != nil || n <= int64(l.policy.Max) {
		return err == nil, 0, err
	}
	d, err := l.lockout(ctx, key)
	if err == nil {
		err = l.store.Del(ctx, l.k("fail", key))
	}
	return false, d, err
}

// Redis is a Store on Redis.
type Redis struct {
	C      redis.UniversalClient
	Prefix string
}

var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// Incr implements Store.
func (r Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	n, err := incrScript.Run(ctx, r.C, []string{r.Prefix + key}, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("ratelimit: %w", err)
	}
	return n, nil
}

// Lock implements Store.
func (r Redis) Lock(ctx context.Context, key string, d time.Duration) error {
	return r.C.Set(ctx, r.Prefix+key, "1", d).Err()
}

// Locked implements Store.
func (r Redis) Locked(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.C.PTTL(ctx, r.Prefix+key).Result()
	if err != nil || d < 0 {
		return 0, err
	}
	return d, nil
}

// Del implements Store.
func (r Redis) Del(ctx context.Context, keys ...string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.Prefix + k
	}
	return r.C.Del(ctx, full...).Err()
}

// Memory is a Store in process memory.
type Memory struct {
	mu sync.Mutex
	m  map[string]memEntry
}

type memEntry struct {
	n       int64
	expires time.Time
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: map[string]memEntry{}} }

func (m *Memory) get(key string) (memEntry, bool) {
	e, ok := m.m[key]
	if ok && time.Now().After(e.expires) {
		delete(m.m, key)
		return memEntry{}, false
	}
	return e, ok
}

// Incr implements Store.
func (m *Memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.get(key)
	if !ok {
		e = memEntry{expires: time.Now().Add(ttl)}
	}
	e.n++
	m.m[key] = e
	return e.n, nil
}

// Lock implements Store.
func (m *Memory) Lock(_ context.Context, key string, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = memEntry{n: 1, expires: time.Now().Add(d)}
	return nil
}

// Locked implements Store.
func (m *Memory) Locked(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.get(key)
	if !ok {
		return 0, nil
	}
	return time.Until(e.expires), nil
}

// Del implements Store.
func (m *Memory) Del(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.m, k)
	}
	return nil
}

// RetryAfter formats a lockout for a Retry-After header (whole seconds,
// at least 1).
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}
