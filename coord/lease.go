package coord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"
)

// Leaser grants named leases. TryAcquire returns a fencing token that grows
// with every grant of the name; Renew and Release only act while owner
// still holds the lease.
type Leaser interface {
	TryAcquire(ctx context.Context, name, owner string, ttl time.Duration) (fence int64, ok bool, err error)
	Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, name, owner string) error
}

// LeaseHolder reports who holds a lease, for monitoring.
type LeaseHolder interface {
	Holder(ctx context.Context, name string) (owner string, ttl time.Duration, err error)
}

// RunOptions tune RunLeased.
type RunOptions struct {
	TTL   time.Duration // lease time to live (10s)
	Retry time.Duration // wait between attempts to acquire (1s)
	// Hold, if set, keeps this process from acquiring while it reports
	// true (checked before each attempt).
	Hold func(ctx context.Context) bool
	// Owner names the holder (a process), for monitoring; a random suffix
	// is added.
	Owner  string
	Logger *slog.Logger
}

// RunLeased runs fn whenever this process holds the lease name, until ctx
// ends. fn's context is cancelled when the lease is lost: when a renewal
// says another owner has it, or when the lease may have expired because
// renewals failed (measured on the local clock from before each request,
// with a safety margin). The lease is renewed every TTL/3.
func RunLeased(ctx context.Context, l Leaser, name string, o RunOptions, fn func(ctx context.Context, fence int64)) {
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	owner := newOwner()
	if o.Owner != "" {
		owner = o.Owner + "/" + owner
	}
	for ctx.Err() == nil {
		if o.Hold != nil && o.Hold(ctx) {
			sleep(ctx, o.Retry)
			continue
		}
		asked := time.Now()
		fence, ok, err := l.TryAcquire(ctx, name, owner, o.TTL)
		if err != nil {
			o.Logger.Warn("coord: acquire lease", "lease", name, "err", err)
		}
		if !ok {
			sleep(ctx, o.Retry)
			continue
		}
		o.Logger.Debug("coord: lease acquired", "lease", name, "fence", fence)
		runHeld(ctx, l, name, owner, asked, o, func(c context.Context) { fn(c, fence) })
		_ = l.Release(context.WithoutCancel(ctx), name, owner)
		o.Logger.Debug("coord: lease given up", "lease", name, "fence", fence)
	}
}

func runHeld(ctx context.Context, l Leaser, name, owner string, asked time.Time, o RunOptions, fn func(context.Context)) {
	held, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(held)
	}()
	margin := o.TTL / 3 // stop well before Redis could give the lease to another
	deadline := asked.Add(o.TTL - margin)
	tick := time.NewTicker(o.TTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			<-done
			return
		case <-tick.C:
		}
		asked := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, o.TTL/3)
		ok, err := l.Renew(rctx, name, owner, o.TTL)
		rcancel()
		switch {
		case err == nil && ok:
			deadline = asked.Add(o.TTL - margin)
		case err == nil && !ok:
			o.Logger.Warn("coord: lease lost to another owner", "lease", name)
			cancel()
			<-done
			return
		default:
			o.Logger.Warn("coord: renew lease", "lease", name, "err", err)
			if time.Now().After(deadline) {
				o.Logger.Warn("coord: lease may have expired; stopping", "lease", name)
				cancel()
				<-done
				return
			}
		}
	}
}

func newOwner() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
