package projections

import (
	"context"
	"sync"
)

// parallel runs fn for 0..count-1 with at most n at a time and returns
// the first error.
func parallel(ctx context.Context, count, n int, fn func(context.Context, int) error) error {
	if count == 1 {
		return fn(ctx, 0)
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for k := 0; k < count; k++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(k int) {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, k); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}(k)
	}
	wg.Wait()
	return first
}
