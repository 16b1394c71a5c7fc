package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/jobs"
)

type payload struct {
	N int `bson:"n"`
}

func TestJobsRunInDueOrderAndSurviveTerms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := jobs.New[payload](testenv.Database(t).Collection("jobs"), nil, testenv.Logger(t))
	base := time.Now()
	for i := 0; i < 10; i++ {
		added, err := q.Add(ctx, fmt.Sprintf("j%d", i), base.Add(time.Duration(10-i)*10*time.Millisecond), payload{N: i})
		if err != nil || !added {
			t.Fatalf("add: %v %v", added, err)
		}
	}
	if added, _ := q.Add(ctx, "j3", base, payload{N: 99}); added {
		t.Fatal("an existing id was added twice")
	}
	var mu sync.Mutex
	var order []int
	// First term: run until three jobs are done, then end the term.
	term, stop := context.WithCancel(ctx)
	go func() {
		_ = q.Run(term, jobs.Options{Workers: 1, MaxWait: 20 * time.Millisecond}, func(_ context.Context, j jobs.Job[payload]) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, j.Payload.N)
			if len(order) == 3 {
				stop()
			}
			return nil
		})
	}()
	<-term.Done()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	first := len(order)
	mu.Unlock()
	// Second term (as another process after a crash): the rest runs, and
	// the job that was running when the term ended runs again (at least once).
	done := make(chan struct{})
	term2, stop2 := context.WithCancel(ctx)
	defer stop2()
	go func() {
		_ = q.Run(term2, jobs.Options{Workers: 1, MaxWait: 20 * time.Millisecond}, func(_ context.Context, j jobs.Job[payload]) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, j.Payload.N)
			distinct := map[int]bool{}
			for _, n := range order {
				distinct[n] = true
			}
			if len(distinct) == 10 {
				select {
				case <-done:
				default:
					close(done)
				}
			}
			return nil
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("jobs left after the second term; ran %v", order)
	}
	mu.Lock()
	defer mu.Unlock()
	if first < 3 || len(order) < 10 {
		t.Fatalf("ran %v", order)
	}
	seen := map[int]int{}
	for i, n := range order {
		seen[n]++
		if i > 0 && i < first && order[i] > order[i-1] {
			t.Fatalf("not in due order: %v", order)
		}
	}
	for n := 0; n < 10; n++ {
		if seen[n] == 0 {
			t.Fatalf("job %d never ran: %v", n, order)
		}
	}
}

func TestFailedJobsAreRetriedAndPermanentOnesDie(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := jobs.New[payload](testenv.Database(t).Collection("jobs"), nil, testenv.Logger(t))
	_, _ = q.Add(ctx, "flaky", time.Now(), payload{N: 1})
	_, _ = q.Add(ctx, "broken", time.Now(), payload{N: 2})
	var mu sync.Mutex
	runs := map[string]int{}
	done := make(chan struct{})
	go func() {
		_ = q.Run(ctx, jobs.Options{Workers: 2, MaxWait: 10 * time.Millisecond, Backoff: func(int) time.Duration { return 10 * time.Millisecond }},
			func(_ context.Context, j jobs.Job[payload]) error {
				mu.Lock()
				defer mu.Unlock()
				runs[j.ID]++
				if j.ID == "broken" {
					return jobs.Permanent(errors.New("cannot ever work"))
				}
				if runs[j.ID] < 3 {
					return errors.New("transient")
				}
				close(done)
				return nil
			})
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the flaky job did not succeed")
	}
	// The runner records a job's end after the job returns: wait for it.
	var st jobs.Stats
	for {
		var err error
		if st, err = q.Stats(ctx); err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs["flaky"] != 3 || runs["broken"] != 1 || st.Dead != 1 || st.Pending != 0 {
		t.Fatalf("runs %v, stats %+v", runs, st)
	}
}
