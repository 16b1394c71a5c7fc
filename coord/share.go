package coord

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Share spreads slots of work over the live members of a set: every member
// heartbeats into the set, every member computes the same preferred owner
// of each slot (Preferred), and a member runs a slot only while it holds
// the slot's lease. A member does not take a slot another live member is
// preferred for, and gives one up when its preferred member appears; a
// lease left free for a few seconds is taken by anyone, so a dead member's
// slots move on within about a lease TTL.
type Share struct {
	Leaser  Leaser
	Members Members // the set the work is shared in
	Self    string  // this process in Members
	TTL     time.Duration
	Logger  *slog.Logger

	beat    sync.Once
	mu      sync.Mutex
	alive   []string
	aliveAt time.Time
}

// Heartbeat makes this process a live member while ctx lasts (once).
func (s *Share) Heartbeat(ctx context.Context) {
	if s.Members == nil {
		return // a set of one
	}
	s.beat.Do(func() {
		// A member is alive for one lease TTL after its last beat, so a
		// dead one stops being preferred about when its leases expire.
		every := min(time.Second, s.TTL/4)
		_ = s.Members.Heartbeat(ctx, s.Self, s.TTL)
		go func() {
			for ctx.Err() == nil {
				sleep(ctx, every)
				if err := s.Members.Heartbeat(ctx, s.Self, s.TTL); err != nil && ctx.Err() == nil {
					s.Logger.Warn("coord: heartbeat", "err", err)
				}
			}
		}()
	})
}

// Preferred returns the live member slot of the work named name should go
// to, and whether there is more than one member (else anyone may take
// anything). The member list is cached for a second.
func (s *Share) Preferred(ctx context.Context, name string, slot int) (string, bool) {
	if s.Members == nil {
		return s.Self, false
	}
	s.mu.Lock()
	alive, fresh := s.alive, time.Since(s.aliveAt) < time.Second
	s.mu.Unlock()
	if !fresh {
		list, err := s.Members.Alive(ctx)
		if err != nil {
			return "", false
		}
		if !slices.Contains(list, s.Self) {
			list = append(list, s.Self)
		}
		s.mu.Lock()
		s.alive, s.aliveAt, alive = list, time.Now(), list
		s.mu.Unlock()
	}
	return Preferred(alive, name, slot), len(alive) > 1
}

// Run runs fn whenever this process holds lease, the lease of slot of the
// work named name, until ctx ends. While away returns true (a pause) the
// process neither takes nor keeps the lease. fn's context ends when the
// lease is lost or given up.
func (s *Share) Run(ctx context.Context, lease, name string, slot int, away func(context.Context) bool, fn func(ctx context.Context, fence int64)) {
	s.Heartbeat(ctx)
	if away == nil {
		away = func(context.Context) bool { return false }
	}
	log := s.Logger.With("lease", lease)
	var freeSince time.Time
	hold := func(ctx context.Context) bool {
		if away(ctx) {
			return true
		}
		pref, many := s.Preferred(ctx, name, slot)
		if !many || pref == s.Self {
			return false
		}
		if owner, _, err := s.holder(ctx, lease); err != nil || owner != "" {
			freeSince = time.Time{}
			return true
		}
		if freeSince.IsZero() {
			freeSince = time.Now()
		}
		return time.Since(freeSince) < 3*time.Second // its preferred member has not come for it
	}
	RunLeased(ctx, s.Leaser, lease, RunOptions{TTL: s.TTL, Logger: log, Hold: hold, Retry: 250 * time.Millisecond, Owner: s.Self},
		func(ctx context.Context, fence int64) {
			// Held now: once given up, wait again for the preferred member
			// rather than taking the lease straight back, which would starve it.
			freeSince = time.Time{}
			ctx, stop := context.WithCancel(ctx)
			defer stop()
			go func() {
				for ctx.Err() == nil {
					if away(ctx) {
						log.Info("coord: giving the lease up for a pause")
						stop()
						return
					}
					if pref, many := s.Preferred(ctx, name, slot); many && pref != s.Self {
						log.Info("coord: handing the lease to the member preferred for it", "to", pref)
						stop()
						return
					}
					sleep(ctx, time.Second)
				}
			}()
			fn(ctx, fence)
		})
}

func (s *Share) holder(ctx context.Context, lease string) (string, time.Duration, error) {
	h, ok := s.Leaser.(LeaseHolder)
	if !ok {
		return "", 0, nil
	}
	return h.Holder(ctx, lease)
}
