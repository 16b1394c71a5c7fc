package coord_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/internal/testenv"
)

type both interface {
	coord.Leaser
	coord.Progress
}

func implementations(t *testing.T) map[string]both {
	c, prefix := testenv.Redis(t)
	return map[string]both{"memory": coord.NewMemory(), "redis": coord.NewRedis(c, prefix)}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, p := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			if err := p.MarkConsumed(ctx, "g", 1, 2, 3, 5, 9, 16, 17); err != nil {
				t.Fatal(err)
			}
			if w, err := p.Consumed(ctx, "g", 0); err != nil || w != 3 {
				t.Fatalf("watermark from 0 = %d %v, want 3", w, err)
			}
			if w, _ := p.Consumed(ctx, "g", 4); w != 5 {
				t.Fatalf("watermark from 4 = %d, want 5", w)
			}
			if w, _ := p.Consumed(ctx, "g", 15); w != 17 {
				t.Fatalf("watermark from 15 = %d, want 17", w)
			}
			if w, _ := p.Consumed(ctx, "g", 100); w != 100 {
				t.Fatalf("watermark beyond the end = %d, want 100", w)
			}
			if w, _ := p.Consumed(ctx, "other", 7); w != 7 {
				t.Fatalf("watermark of an empty group = %d, want 7", w)
			}
			miss, err := p.Missing(ctx, "g", 2, 10)
			if err != nil || len(miss) != 5 || miss[0] != 4 || miss[4] != 10 {
				t.Fatalf("missing in 3..10 = %v %v, want [4 6 7 8 10]", miss, err)
			}
			if err := p.MarkPublished(ctx, 1, 2); err != nil {
				t.Fatal(err)
			}
			if miss, _ := p.Missing(ctx, "", 0, 3); len(miss) != 1 || miss[0] != 3 {
				t.Fatalf("unpublished = %v", miss)
			}
		})
	}
}

func TestLeaseHasOneHolderAtATime(t *testing.T) {
	t.Parallel()
	for name, l := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			var holders, maxHolders, runs atomic.Int64
			var fences sync.Map
			var wg sync.WaitGroup
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					coord.RunLeased(ctx, l, "job", coord.RunOptions{TTL: 300 * time.Millisecond, Retry: 10 * time.Millisecond, Logger: testenv.Logger(t)},
						func(ctx context.Context, fence int64) {
							if _, dup := fences.LoadOrStore(fence, true); dup {
								t.Errorf("fence %d granted twice", fence)
							}
							n := holders.Add(1)
							if n > maxHolders.Load() {
								maxHolders.Store(n)
							}
							runs.Add(1)
							time.Sleep(50 * time.Millisecond) // work, then give the lease up
							holders.Add(-1)
						})
				}()
			}
			wg.Wait()
			if maxHolders.Load() != 1 {
				t.Fatalf("%d holders at once", maxHolders.Load())
			}
			if runs.Load() < 3 {
				t.Fatalf("only %d terms in 1.5s: released leases are not taken over", runs.Load())
			}
		})
	}
}

func TestALeaseIsRenewedWhileHeldAndLostWhenTakenOver(t *testing.T) {
	t.Parallel()
	for name, l := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := make(chan int64, 1)
			lost := make(chan struct{})
			// A TTL far above scheduling delays on a loaded machine: the
			// test is about renewals, not about how tight they can be.
			go coord.RunLeased(ctx, l, "long", coord.RunOptions{TTL: time.Second, Logger: testenv.Logger(t)},
				func(ctx context.Context, fence int64) {
					got <- fence
					<-ctx.Done()
					close(lost)
				})
			<-got
			time.Sleep(3 * time.Second) // three TTLs: only renewals keep it
			if _, ok, _ := l.TryAcquire(ctx, "long", "thief", time.Second); ok {
				t.Fatal("a held lease was granted to another owner")
			}
			select {
			case <-lost:
				t.Fatal("the holder stopped while it still held the lease")
			default:
			}
			// Steal it as if the holder had paused past its TTL.
			_ = l.Release(ctx, "long", "thief")
			if r, ok := l.(interface {
				Holder(context.Context, string) (string, time.Duration, error)
			}); ok {
				owner, _, _ := r.Holder(ctx, "long")
				_ = l.Release(ctx, "long", owner)
			}
			if _, ok, _ := l.TryAcquire(ctx, "long", "thief", time.Second); !ok {
				t.Fatal("could not take the released lease")
			}
			select {
			case <-lost:
			case <-time.After(3 * time.Second):
				t.Fatal("the old holder kept running after losing the lease")
			}
		})
	}
}

// TestPreferredSpreadsEveryGroup checks that the partitions of each group
// go round the members (no member more than one above another), that all
// members agree whatever order they list each other in, and that groups
// do not all start at the same member.
func TestPreferredSpreadsEveryGroup(t *testing.T) {
	members := []string{"w-c", "w-a", "w-b"}
	reversed := []string{"w-b", "w-a", "w-c"}
	firsts := map[string]bool{}
	for g := range 12 {
		group := fmt.Sprintf("group-%d", g)
		count := map[string]int{}
		for p := range 4 {
			m := coord.Preferred(members, group, p)
			if m != coord.Preferred(reversed, group, p) {
				t.Fatalf("%s/%d: members disagree on the owner", group, p)
			}
			count[m]++
		}
		if len(count) != 3 {
			t.Fatalf("%s: partitions went to %v", group, count)
		}
		for m, n := range count {
			if n < 1 || n > 2 {
				t.Fatalf("%s: %s owns %d of 4 partitions", group, m, n)
			}
		}
		firsts[coord.Preferred(members, group, 0)] = true
	}
	if len(firsts) < 2 {
		t.Fatalf("every group starts at the same member: %v", firsts)
	}
	if coord.Preferred(nil, "g", 0) != "" {
		t.Fatal("no members should prefer no one")
	}
}
