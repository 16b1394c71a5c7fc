package httpapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/apptest"
)

// catalogFixture creates three movies, two venues in two cities and seven
// shows, and returns the show ids by name.
func catalogFixture(t *testing.T, admin *apptest.Client) (map[string]string, map[string]string) {
	t.Helper()
	movie := func(title, lang string, genres ...string) string {
		return admin.Must(201, "POST", "/admin/movies", map[string]any{"title": title, "genres": genres, "language": lang, "duration_minutes": 100}).Body["id"].(string)
	}
	venue := func(name, city string) string {
		return admin.Must(201, "POST", "/admin/venues", map[string]any{"name": name, "city": city,
			"sections": []map[string]any{{"category": "std", "rows": []string{"A"}, "seats_per_row": 4}}}).Body["id"].(string)
	}
	ids := map[string]string{
		"amelie": movie("Le Fabuleux Destin d'Amélie Poulain", "fr", "romance", "comedy"),
		"dune":   movie("Dune: Part Two", "en", "sci-fi"),
		"regex":  movie("Regex (a+)+$ .* Story", "en", "drama"),
		"pune":   venue("PVR Phoenix", "Pune"),
		"mumbai": venue("Regal", "Mumbai"),
	}
	base := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)
	shows := map[string]string{}
	add := func(name, m, v string, hours int, price int) {
		shows[name] = admin.Must(201, "POST", "/admin/shows", map[string]any{"movie_id": ids[m], "venue_id": ids[v],
			"starts_at": base.Add(time.Duration(hours) * time.Hour).Format(time.RFC3339), "prices": map[string]int{"std": price}, "currency": "INR"}).Body["id"].(string)
	}
	add("amelie-pune-1", "amelie", "pune", 1, 300)
	add("amelie-mumbai", "amelie", "mumbai", 2, 500)
	add("dune-pune-1", "dune", "pune", 3, 700)
	add("dune-pune-2", "dune", "pune", 4, 900)
	add("dune-mumbai", "dune", "mumbai", 5, 1100)
	add("regex-pune", "regex", "pune", 6, 1300)
	add("dune-cancelled", "dune", "mumbai", 7, 1500)
	admin.Must(200, "POST", "/admin/shows/"+shows["dune-cancelled"]+"/cancel", map[string]any{})
	return ids, shows
}

func TestShowSearchFiltersSortsAndPages(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	admin := e.Admin(t)
	ids, shows := catalogFixture(t, admin)
	// Make dune-pune-2 the most popular: three of its four seats held.
	u, _ := e.NewUser(t)
	u.Must(201, "POST", "/bookings", map[string]any{"show_id": shows["dune-pune-2"], "seats": []string{"A1", "A2", "A3"}})
	c := e.Client(t)
	names := map[string]string{}
	for n, id := range shows {
		names[id] = n
	}
	search := func(query string) []string {
		t.Helper()
		r := c.Must(200, "GET", "/shows?"+query, nil).Body
		var got []string
		for _, it := range r["items"].([]any) {
			got = append(got, names[it.(map[string]any)["id"].(string)])
		}
		return got
	}
	base := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)
	cases := []struct {
		query string
		want  string
	}{
		{"", "amelie-pune-1 amelie-mumbai dune-pune-1 dune-pune-2 dune-mumbai regex-pune"},
		{"q=AMELIE", "amelie-pune-1 amelie-mumbai"},
		{"q=" + url.QueryEscape("amélie poulain"), "amelie-pune-1 amelie-mumbai"},
		{"q=" + url.QueryEscape(".*"), "regex-pune"},
		{"q=" + url.QueryEscape("(a+)+$"), "regex-pune"},
		{"q=" + url.QueryEscape("[unclosed"), ""},
		{"q=nothing-like-this", ""},
		{"genre=SCI-FI", "dune-pune-1 dune-pune-2 dune-mumbai"},
		{"language=fr", "amelie-pune-1 amelie-mumbai"},
		{"city=mumbai", "amelie-mumbai dune-mumbai"},
		{"venue_id=" + ids["pune"] + "&movie_id=" + ids["dune"], "dune-pune-1 dune-pune-2"},
		{"from=" + base.Add(3*time.Hour).Format(time.RFC3339) + "&to=" + base.Add(5*time.Hour).Format(time.RFC3339), "dune-pune-1 dune-pune-2 dune-mumbai"},
		{"min_price=600&max_price=1000", "dune-pune-1 dune-pune-2"},
		{"min_available=4", "amelie-pune-1 amelie-mumbai dune-pune-1 dune-mumbai regex-pune"},
		{"sort=-starts_at", "regex-pune dune-mumbai dune-pune-2 dune-pune-1 amelie-mumbai amelie-pune-1"},
		{"sort=-price&limit=2", "regex-pune dune-mumbai"},
		{"sort=price&limit=2", "amelie-pune-1 amelie-mumbai"},
		{"sort=popularity&limit=1", "dune-pune-2"},
		{"include_cancelled=true&city=mumbai", "amelie-mumbai dune-mumbai dune-cancelled"},
	}
	for _, tc := range cases {
		if got := strings.Join(search(tc.query), " "); got != tc.want {
			t.Errorf("GET /shows?%s\n got %s\nwant %s", tc.query, got, tc.want)
		}
	}
	// Movies and venues are searchable too, with the same text rules.
	catalog := func(path string) string {
		t.Helper()
		var got []string
		for _, it := range c.Must(200, "GET", path, nil).Body["items"].([]any) {
			for n, id := range ids {
				if id == it.(map[string]any)["id"] {
					got = append(got, n)
				}
			}
		}
		return strings.Join(got, " ")
	}
	for path, want := range map[string]string{
		"/movies?q=" + url.QueryEscape(".*"): "regex", "/movies?q=" + url.QueryEscape("(a+)+$"): "regex",
		"/movies?q=AMÉLIE": "amelie", "/movies?genre=sci-fi": "dune", "/movies?language=fr&genre=comedy": "amelie",
		"/movies?q=nothing": "", "/venues?city=PUNE": "pune", "/venues?city=" + url.QueryEscape(".*"): "",
	} {
		if got := catalog(path); got != want {
			t.Errorf("GET %s: got %q, want %q", path, got, want)
		}
	}
	// Pages: every show exactly once, the last page without a cursor.
	seen := map[string]int{}
	cursor, pages := "", 0
	for {
		q := "limit=4&sort=price"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := c.Must(200, "GET", "/shows?"+q, nil).Body
		for _, it := range r["items"].([]any) {
			seen[it.(map[string]any)["id"].(string)]++
		}
		pages++
		next, _ := r["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 6 || pages != 2 {
		t.Fatalf("paging saw %d shows in %d pages", len(seen), pages)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("show %s appeared %d times", names[id], n)
		}
	}
	// A real cursor with one character changed is refused.
	real := c.Must(200, "GET", "/shows?limit=1&sort=price", nil).Body["next_cursor"].(string)
	flipped := []byte(real)
	if flipped[3] == 'A' {
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}
	if r := c.Do("GET", "/shows?sort=price&cursor="+string(flipped), nil); r.Status != 400 || !strings.Contains(string(r.Raw), "invalid-cursor") {
		t.Fatalf("a tampered cursor: %d %s", r.Status, r.Raw)
	}
	// Tampered or foreign cursors are 400, bad parameters 422 naming the field.
	for _, cur := range []string{"garbage", "eyJzIjoicHJpY2UiLCJrIjoxLCJpZCI6IngiLCJldmlsIjoxfQ", strings.Repeat("A", 40)} {
		if r := c.Do("GET", "/shows?sort=price&cursor="+cur, nil); r.Status != 400 {
			t.Fatalf("cursor %s: %d %s", cur, r.Status, r.Raw)
		}
	}
	for _, q := range []string{"from=soon", "to=2030-13-01", "min_price=cheap", "max_price=-5", "min_available=-1", "sort=name", "limit=101"} {
		r := c.Do("GET", "/shows?"+q, nil)
		field := strings.SplitN(q, "=", 2)[0]
		if r.Status != 422 || !strings.Contains(string(r.Raw), fmt.Sprintf(`"field":"%s"`, field)) {
			t.Fatalf("GET /shows?%s: %d %s", q, r.Status, r.Raw)
		}
	}
}
