package projections_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/internal/testenv"
	"github.com/seatline/seatline/projections"
)

// seedListing writes n upcoming shows (over 200 movies and 50 venues in 10
// cities) straight into the read-model collections.
func seedListing(b *testing.B, db *mongo.Database, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	var movies, venues []any
	for i := 0; i < 200; i++ {
		movies = append(movies, projections.Movie{ID: fmt.Sprintf("m%d", i), Title: fmt.Sprintf("Movie %d %s", i, []string{"Amélie", "Dune", "Heat", "Up"}[i%4]),
			Genres: []string{[]string{"drama", "comedy", "sci-fi"}[i%3]}, Language: []string{"en", "hi", "fr"}[i%3], DurationMinutes: 120})
	}
	for i := 0; i < 50; i++ {
		venues = append(venues, projections.Venue{ID: fmt.Sprintf("v%d", i), Name: fmt.Sprintf("Venue %d", i), City: fmt.Sprintf("City %d", i%10), Capacity: 200})
	}
	if _, err := db.Collection("movies").InsertMany(ctx, movies); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Collection("venues").InsertMany(ctx, venues); err != nil {
		b.Fatal(err)
	}
	for start := 0; start < n; start += 1000 {
		var shows []any
		for i := start; i < min(n, start+1000); i++ {
			p := int64(200 + (i%40)*25)
			shows = append(shows, projections.Show{ID: fmt.Sprintf("s%06d", i), MovieID: fmt.Sprintf("m%d", i%200), VenueID: fmt.Sprintf("v%d", i%50),
				StartsAt: now.Add(time.Duration(1+i%5000) * time.Hour), EndsAt: now.Add(time.Duration(3+i%5000) * time.Hour),
				Prices: map[string]int64{"std": p}, Currency: "INR", Capacity: 200, Available: 200 - i%200, Status: projections.ShowScheduled,
				MinPrice: p, MaxPrice: p})
		}
		if _, err := db.Collection("shows").InsertMany(ctx, shows); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkShowSearch answers the same search over 20,000 upcoming shows
// from the in-memory index and, as the baseline, from a scan of the
// collections (what GET /shows would cost without the index), and reports
// the latency percentiles of each.
//
//	go test -run XXX -bench ShowSearch -benchtime 20x ./projections/
//
// (20 iterations: 2,000 index searches, 20 collection scans.)
func BenchmarkShowSearch(b *testing.B) {
	ctx := context.Background()
	db := testenv.Database(b)
	seedListing(b, db, 20000)
	shows := projections.NewShows(projections.Fixed(db), nil)
	cat := projections.NewCatalog(projections.Fixed(db), projections.Fixed(db), nil)
	idx := projections.NewShowIndex(shows, cat)
	start := time.Now()
	if err := idx.Load(ctx); err != nil || idx.Size() != 20000 {
		b.Fatalf("load: %v (%d shows)", err, idx.Size())
	}
	b.Logf("index loaded 20,000 shows in %v", time.Since(start))
	queries := []projections.ShowQuery{
		{City: "City 3", Sort: "price", Limit: 20},
		{Q: "amelie", Genre: "drama", Limit: 20},
		{From: time.Now().Add(100 * time.Hour), To: time.Now().Add(400 * time.Hour), MinAvailable: 50, Limit: 20},
		{Language: "hi", Sort: "popularity", Limit: 50},
	}
	// perIter searches make one benchmark iteration, so that a short run
	// of the slow baseline and a long run of the index share -benchtime.
	run := func(b *testing.B, perIter int, search func(q projections.ShowQuery) (int, error)) {
		var lat []time.Duration
		for i := 0; b.Loop(); i++ {
			for k := 0; k < perIter; k++ {
				t := time.Now()
				n, err := search(queries[(i*perIter+k)%len(queries)])
				if err != nil || n == 0 {
					b.Fatalf("search: %d results, %v", n, err)
				}
				lat = append(lat, time.Since(t))
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(len(lat)), "searches")
	}
	b.Run("index", func(b *testing.B) {
		run(b, 100, func(q projections.ShowQuery) (int, error) {
			r, _, err := idx.Search(q, time.Now())
			return len(r), err
		})
	})
	b.Run("collection-scan", func(b *testing.B) {
		run(b, 1, func(q projections.ShowQuery) (int, error) {
			r, _, err := projections.SearchShows(ctx, shows, cat, q, time.Now())
			return len(r), err
		})
	})
}
