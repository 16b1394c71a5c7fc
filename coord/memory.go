package coord

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process Leaser and Progress of the embedded mode.
type Memory struct {
	mu     sync.Mutex
	leases map[string]memLease
	fences map[string]int64
	sets   map[string]*bitset

	members    memMembers
	memberSets map[string]*memMembers
}

type memLease struct {
	owner   string
	expires time.Time
}

// NewMemory returns an empty in-memory coordinator.
func NewMemory() *Memory {
	return &Memory{leases: map[string]memLease{}, fences: map[string]int64{}, sets: map[string]*bitset{}}
}

// TryAcquire implements Leaser.
func (m *Memory) TryAcquire(_ context.Context, name, owner string, ttl time.Duration) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[name]; ok && time.Now().Before(l.expires) {
		return 0, false, nil
	}
	m.leases[name] = memLease{owner: owner, expires: time.Now().Add(ttl)}
	m.fences[name]++
	return m.fences[name], true, nil
}

// Renew implements Leaser.
func (m *Memory) Renew(_ context.Context, name, owner string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[name]
	if !ok || l.owner != owner || time.Now().After(l.expires) {
		return false, nil
	}
	m.leases[name] = memLease{owner: owner, expires: time.Now().Add(ttl)}
	return true, nil
}

// Release implements Leaser.
func (m *Memory) Release(_ context.Context, name, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[name]; ok && l.owner == owner {
		delete(m.leases, name)
	}
	return nil
}

// Holder implements LeaseHolder.
func (m *Memory) Holder(_ context.Context, name string) (string, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[name]
	if !ok || time.Now().After(l.expires) {
		return "", 0, nil
	}
	return l.owner, time.Until(l.expires), nil
}

func (m *Memory) set(name string) *bitset {
	b, ok := m.sets[name]
	if !ok {
		b = &bitset{}
		m.sets[name] = b
	}
	return b
}

// MarkPublished implements Progress.
func (m *Memory) MarkPublished(ctx context.Context, positions ...int64) error {
	return m.MarkConsumed(ctx, "", positions...)
}

// MarkConsumed implements Progress.
func (m *Memory) MarkConsumed(_ context.Context, group string, positions ...int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.set(group)
	for _, p := range positions {
		b.set(p)
	}
	return nil
}

// Consumed implements Progress.
func (m *Memory) Consumed(_ context.Context, group string, from int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.set(group)
	w := from
	for b.get(w + 1) {
		w++
	}
	return w, nil
}

// Missing implements Progress.
func (m *Memory) Missing(_ context.Context, group string, from, to int64) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.set(group)
	var out []int64
	for p := from + 1; p <= to; p++ {
		if !b.get(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

type bitset struct{ words []uint64 }

func (b *bitset) set(p int64) {
	i := int(p / 64)
	for len(b.words) <= i {
		b.words = append(b.words, 0)
	}
	b.words[i] |= 1 << uint(p%64)
}

func (b *bitset) get(p int64) bool {
	i := int(p / 64)
	return i < len(b.words) && b.words[i]&(1<<uint(p%64)) != 0
}
