package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/ratelimit"
)

func TestLockoutsGrowAndEnd(t *testing.T) {
	t.Parallel()
	c, prefix := testenv.Redis(t)
	for name, store := range map[string]ratelimit.Store{"memory": ratelimit.NewMemory(), "redis": ratelimit.Redis{C: c, Prefix: prefix}} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			l := ratelimit.New(store, "t", ratelimit.Policy{Max: 3, Window: time.Minute, Base: 200 * time.Millisecond, MaxLock: time.Second})
			for i := 0; i < 2; i++ {
				if d, _ := l.Fail(ctx, "k"); d != 0 {
					t.Fatalf("locked after %d failures", i+1)
				}
			}
			if d, _ := l.Fail(ctx, "k"); d != 200*time.Millisecond {
				t.Fatalf("first lockout %v", d)
			}
			if left, _ := l.Check(ctx, "k"); left <= 0 {
				t.Fatal("not locked")
			}
			time.Sleep(250 * time.Millisecond)
			if left, _ := l.Check(ctx, "k"); left > 0 {
				t.Fatal("the lockout did not end")
			}
			for i := 0; i < 3; i++ {
				_, _ = l.Fail(ctx, "k")
			}
			if left, _ := l.Check(ctx, "k"); left <= 200*time.Millisecond {
				t.Fatalf("the second lockout did not grow: %v", left)
			}
			_ = l.Reset(ctx, "k")
			if left, _ := l.Check(ctx, "k"); left > 0 {
				t.Fatal("reset did not unlock")
			}
			u := ratelimit.New(store, "u", ratelimit.Policy{Max: 2, Window: time.Minute, Base: time.Second, MaxLock: time.Second})
			a, _, _ := u.Allow(ctx, "x")
			b, _, _ := u.Allow(ctx, "x")
			d, left, _ := u.Allow(ctx, "x")
			if !a || !b || d || left <= 0 {
				t.Fatalf("two uses allowed, the third refused: %v %v %v %v", a, b, d, left)
			}
		})
	}
}
