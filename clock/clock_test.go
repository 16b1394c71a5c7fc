package clock_test

import (
	"testing"
	"time"

	"github.com/seatline/seatline/clock"
)

func TestOffsetAdvanceMovesNowAndWakesWaiters(t *testing.T) {
	c := clock.NewOffset(0)
	before := c.Now()
	fired := c.After(time.Hour)
	select {
	case <-fired:
		t.Fatal("an hour passed before the clock moved")
	default:
	}
	c.Advance(time.Hour)
	select {
	case at := <-fired:
		if at.Sub(before) < time.Hour {
			t.Fatalf("fired at %v, less than an hour after %v", at, before)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("After did not fire once the clock had moved past it")
	}
	if got := c.Now().Sub(before); got < time.Hour {
		t.Fatalf("Now moved %v, want at least an hour", got)
	}
}

func TestOffsetAdvanceShortOfTheDeadlineKeepsWaiting(t *testing.T) {
	c := clock.NewOffset(0)
	fired := c.After(time.Hour)
	c.Advance(30 * time.Minute)
	select {
	case <-fired:
		t.Fatal("fired half an hour early")
	case <-time.After(50 * time.Millisecond):
	}
	c.Advance(30 * time.Minute)
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("did not fire once the hour had passed")
	}
}

func TestOffsetStartsSkewed(t *testing.T) {
	ahead, behind := clock.NewOffset(4*time.Second), clock.NewOffset(-4*time.Second)
	if d := ahead.Now().Sub(behind.Now()); d < 7*time.Second || d > 9*time.Second {
		t.Fatalf("clocks 8s apart differ by %v", d)
	}
	select {
	case <-ahead.After(0):
	case <-time.After(time.Second):
		t.Fatal("After(0) did not fire at once")
	}
}
