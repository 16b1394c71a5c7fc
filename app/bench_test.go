package app_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/apptest"
)

// BenchmarkHold measures POST /bookings on the embedded default (FerretDB
// on SQLite, in-process bus) through HTTP, one seat per hold on one show:
// latency of one client at a time, and throughput of 32 at once.
func BenchmarkHold(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			e := apptest.Start(b, apptest.Options{})
			show := apptest.Show(b, e.Admin(b), 100, 100)
			users := make([]*apptest.Client, clients)
			for i := range users {
				users[i], _ = e.NewUser(b)
			}
			var next atomic.Int64
			lat := make([]time.Duration, 0, b.N)
			var mu sync.Mutex
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, u := range users {
				wg.Add(1)
				go func(u *apptest.Client) {
					defer wg.Done()
					for {
						n := next.Add(1) - 1
						if n >= int64(b.N) {
							return
						}
						seat := fmt.Sprintf("%s%d", row(int(n/100)), 1+n%100)
						start := time.Now()
						r := u.Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{seat}})
						d := time.Since(start)
						if r.Status != 201 {
							b.Errorf("hold %s: %d %s", seat, r.Status, r.Raw)
							return
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				}(u)
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "holds/s")
			}
		})
	}
}

func row(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return string(rune('A'+i/26-1)) + string(rune('A'+i%26))
}
