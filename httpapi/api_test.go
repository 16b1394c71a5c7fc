package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/apptest"
)

func TestBookingFlow(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	admin := e.Admin(t)
	showID := apptest.Show(t, admin, 2, 5)
	user, userID := e.NewUser(t)

	r := user.Must(201, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A1", "A2"}})
	b := r.Body
	if b["status"] != "held" || b["show_id"] != showID || b["amount"].(float64) != 2000 || b["currency"] != "INR" ||
		b["expires_at"] == nil || b["position"].(float64) < 1 || len(b["seats"].([]any)) != 2 {
		t.Fatalf("hold response %v", b)
	}
	id := b["id"].(string)

	seats := user.Must(200, "GET", "/shows/"+showID+"/seats", nil).Body
	states := seatStates(seats)
	if states["A1"] != "held" || states["A2"] != "held" || states["A3"] != "free" || len(states) != 10 {
		t.Fatalf("seat map after hold: %v", states)
	}
	got := user.Must(200, "GET", "/bookings/"+id, nil).Body
	if got["status"] != "held" || got["id"] != id {
		t.Fatalf("booking %v", got)
	}
	mine := user.Must(200, "GET", "/bookings", nil).Body["items"].([]any)
	if len(mine) != 1 || mine[0].(map[string]any)["id"] != id {
		t.Fatalf("my bookings %v", mine)
	}

	other, _ := e.NewUser(t)
	conflict := other.Must(409, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A3", "A2", "A1"}})
	errBody := conflict.Body["error"].(map[string]any)
	if errBody["code"] != "seat-unavailable" || fmt.Sprint(errBody["details"].(map[string]any)["seats"]) != "[A1 A2]" {
		t.Fatalf("conflict body %s", conflict.Raw)
	}
	if states := seatStates(other.Must(200, "GET", "/shows/"+showID+"/seats", nil).Body); states["A3"] != "free" {
		t.Fatal("a failed hold held A3 anyway: holds must be all or nothing")
	}

	cancelled := user.Must(200, "POST", "/bookings/"+id+"/cancel", nil).Body
	if cancelled["status"] != "cancelled" {
		t.Fatalf("cancel %v", cancelled)
	}
	pos := fmt.Sprint(int64(cancelled["position"].(float64)))
	states = seatStates(other.Must(200, "GET", "/shows/"+showID+"/seats", nil, "X-Min-Position", pos).Body)
	if states["A1"] != "free" || states["A2"] != "free" {
		t.Fatalf("seats after cancel %v", states)
	}
	if got := user.Must(200, "GET", "/bookings/"+id, nil, "X-Min-Position", pos).Body; got["status"] != "cancelled" {
		t.Fatalf("booking after cancel %v", got)
	}
	other.Must(201, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A1", "A2"}})
	_ = userID
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	showID := apptest.Show(t, e.Admin(t), 1, 6)
	user, _ := e.NewUser(t)
	req := map[string]any{"show_id": showID, "seats": []string{"A1", "A2"}}
	first := user.Must(201, "POST", "/bookings", req, "Idempotency-Key", "order-42")
	again := user.Must(201, "POST", "/bookings", req, "Idempotency-Key", "order-42")
	if again.Body["id"] != first.Body["id"] || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry gave %v, first %v", again.Body, first.Body)
	}
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the first request was marked replayed")
	}
	if n := len(user.Must(200, "GET", "/bookings", nil).Body["items"].([]any)); n != 1 {
		t.Fatalf("%d bookings after a retried request, want 1", n)
	}
	other := user.Do("POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A3"}}, "Idempotency-Key", "order-42")
	if other.Status != 422 || !strings.Contains(string(other.Raw), "idempotency-key-reused") {
		t.Fatalf("same key, other seats: %d %s", other.Status, other.Raw)
	}
	// Another user's identical key is another booking.
	u2, _ := e.NewUser(t)
	r := u2.Must(201, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A5"}}, "Idempotency-Key", "order-42")
	if r.Body["id"] == first.Body["id"] {
		t.Fatal("two users' keys named the same booking")
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	admin := e.Admin(t)
	showID := apptest.Show(t, admin, 1, 4)
	owner, _ := e.NewUser(t)
	id := owner.Must(201, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A1"}}).Body["id"].(string)
	stranger, _ := e.NewUser(t)
	anon := e.Client(t)

	cases := []struct {
		name   string
		c      *apptest.Client
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"another user's booking does not exist for them", stranger, "GET", "/bookings/" + id, nil, 404, "booking-not-found"},
		{"another user cannot cancel it", stranger, "POST", "/bookings/" + id + "/cancel", nil, 404, "booking-not-found"},
		{"a user is not an admin", stranger, "POST", "/admin/movies", map[string]any{"title": "x"}, 403, "forbidden"},
		{"a user cannot schedule shows", stranger, "POST", "/admin/shows", map[string]any{}, 403, "forbidden"},
		{"bookings need a token", anon, "GET", "/bookings", nil, 401, "unauthorized"},
		{"holding needs a token", anon, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A2"}}, 401, "unauthorized"},
		{"admin needs a token", anon, "POST", "/admin/venues", map[string]any{}, 401, "unauthorized"},
		{"me needs a token", anon, "GET", "/me", nil, 401, "unauthorized"},
		{"a tampered token is refused", owner.As(tamper(owner.Token)), "GET", "/bookings", nil, 401, "unauthorized"},
		{"an unsigned token is refused", owner.As(unsigned(owner.Token)), "GET", "/bookings", nil, 401, "unauthorized"},
		{"garbage is refused", owner.As("not.a.jwt"), "GET", "/me", nil, 401, "unauthorized"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.c.Do(c.method, c.path, c.body)
			if r.Status != c.status || !strings.Contains(string(r.Raw), `"code":"`+c.code+`"`) {
				t.Fatalf("%s %s: %d %s, want %d %s", c.method, c.path, r.Status, r.Raw, c.status, c.code)
			}
			if strings.Contains(string(r.Raw), "goroutine") {
				t.Fatal("a stack trace reached the client")
			}
		})
	}
	// The owner and the admin still see it.
	owner.Must(200, "GET", "/bookings/"+id, nil)
	admin.Must(200, "GET", "/bookings/"+id, nil)
	if me := owner.Must(200, "GET", "/me", nil).Body; me["role"] != "user" {
		t.Fatalf("me %v", me)
	}
}

// TestBadInputChangesNothing sends malformed and invalid requests and
// checks each gets its 4xx code and that the log did not grow.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	admin := e.Admin(t)
	showID := apptest.Show(t, admin, 1, 12)
	user, _ := e.NewUser(t)
	head := e.App.Store.KnownHead()
	cases := []struct {
		name   string
		c      *apptest.Client
		path   string
		body   any
		status int
		code   string
	}{
		{"broken JSON", user, "/bookings", `{"show_id":`, 400, "malformed-request"},
		{"an empty body", user, "/bookings", "", 400, "malformed-request"},
		{"a number for a string", user, "/bookings", `{"show_id":1,"seats":["A1"]}`, 400, "malformed-request"},
		{"two JSON values", user, "/bookings", `{"show_id":"x","seats":["A1"]} {}`, 400, "malformed-request"},
		{"no seats", user, "/bookings", map[string]any{"show_id": showID}, 422, "missing-field"},
		{"an unknown seat", user, "/bookings", map[string]any{"show_id": showID, "seats": []string{"A1", "Q7"}}, 422, "unknown-seat"},
		{"a seat twice", user, "/bookings", map[string]any{"show_id": showID, "seats": []string{"A1", "A1"}}, 422, "duplicate-seat"},
		{"more seats than allowed", user, "/bookings", map[string]any{"show_id": showID, "seats": []string{"A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9", "A10", "A11"}}, 422, "too-many-seats"},
		{"an unknown show", user, "/bookings", map[string]any{"show_id": "nope", "seats": []string{"A1"}}, 404, "show-not-found"},
		{"a movie without title", admin, "/admin/movies", map[string]any{"language": "en", "duration_minutes": 90}, 422, "invalid-title"},
		{"a venue without sections", admin, "/admin/venues", map[string]any{"name": "X", "city": "Y"}, 422, "invalid-layout"},
		{"a venue with a row twice", admin, "/admin/venues", map[string]any{"name": "X", "city": "Y", "sections": []map[string]any{{"category": "a", "rows": []string{"A", "A"}, "seats_per_row": 2}}}, 422, "invalid-layout"},
		{"a show for an unknown movie", admin, "/admin/shows", map[string]any{"movie_id": "m", "venue_id": "v", "starts_at": "2031-01-01T10:00:00Z", "currency": "INR"}, 422, "unknown-movie"},
		{"a show with a bad time", admin, "/admin/shows", `{"movie_id":"m","venue_id":"v","starts_at":"tomorrow","currency":"INR"}`, 400, "malformed-request"},
		{"a weak password", e.Client(t), "/auth/register", map[string]any{"email": "w@example.com", "password": "short", "name": "W"}, 422, "weak-password"},
		{"a bad email", e.Client(t), "/auth/register", map[string]any{"email": "not-an-email", "password": "long enough password", "name": "W"}, 422, "invalid-email"},
		{"wrong credentials", e.Client(t), "/auth/login", map[string]any{"email": apptest.AdminEmail, "password": "wrong password!"}, 401, "invalid-credentials"},
		{"an unknown refresh token", e.Client(t), "/auth/refresh", map[string]any{"refresh_token": "nope"}, 401, "invalid-refresh-token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.c.Do("POST", c.path, c.body)
			if r.Status != c.status || !strings.Contains(string(r.Raw), `"code":"`+c.code+`"`) {
				t.Fatalf("%d %s, want %d %s", r.Status, r.Raw, c.status, c.code)
			}
		})
	}
	if h, _ := e.App.Store.Head(t.Context()); h != head {
		t.Fatalf("bad requests appended to the log: head %d, was %d", h, head)
	}
	for _, q := range []string{"limit=0", "limit=abc", "from=yesterday", "min_price=-1", "sort=random", "min_available=x"} {
		if r := user.Do("GET", "/shows?"+q, nil); r.Status != 422 || !strings.Contains(string(r.Raw), "invalid-parameter") {
			t.Fatalf("GET /shows?%s: %d %s", q, r.Status, r.Raw)
		}
	}
	if r := user.Do("GET", "/shows?cursor=garbage!", nil); r.Status != 400 {
		t.Fatalf("a tampered cursor: %d %s", r.Status, r.Raw)
	}
	if r := user.Do("GET", "/shows", nil, "X-Min-Position", "abc"); r.Status != 422 {
		t.Fatalf("a bad X-Min-Position: %d %s", r.Status, r.Raw)
	}
}

// TestLapsedHoldFreesItsSeats: a hold past its deadline counts as free for
// the next customer and on the seat map, before anything records its expiry.
func TestLapsedHoldFreesItsSeats(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	showID := apptest.Show(t, e.Admin(t), 1, 4)
	first, _ := e.NewUser(t)
	id := first.Must(201, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A1", "A2"}}).Body["id"].(string)
	second, _ := e.NewUser(t)
	second.Must(409, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A2"}})
	e.Clock.Advance(apptest.HoldTTL)
	if st := seatStates(second.Must(200, "GET", "/shows/"+showID+"/seats", nil).Body); st["A1"] != "free" || st["A2"] != "free" {
		t.Fatalf("seats of a lapsed hold: %v", st)
	}
	if b := first.Must(200, "GET", "/bookings/"+id, nil).Body; b["status"] != "expired" {
		t.Fatalf("a lapsed booking shows %v", b["status"])
	}
	second.Must(201, "POST", "/bookings", map[string]any{"show_id": showID, "seats": []string{"A2", "A3"}})
	first.Must(409, "POST", "/bookings/"+id+"/cancel", nil)
}

func TestMinPositionWaitsThenGivesUp(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	c := e.Client(t)
	start := time.Now()
	r := c.Do("GET", "/movies", nil, "X-Min-Position", "999999")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Raw), "not-caught-up") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if time.Since(start) < time.Second {
		t.Fatal("gave up without waiting")
	}
	c.Must(200, "GET", "/movies", nil, "X-Min-Position", "0")
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	admin := e.Admin(t)
	m := admin.Must(201, "POST", "/admin/movies", map[string]any{"title": "Amélie", "genres": []string{"Romance", "comedy"},
		"language": "fr", "duration_minutes": 122, "description": "Paris."}).Body
	id := m["id"].(string)
	if m["version"].(float64) != 1 || m["genres"].([]any)[0] != "romance" {
		t.Fatalf("created movie %v", m)
	}
	p := admin.Must(200, "PATCH", "/admin/movies/"+id, map[string]any{"duration_minutes": 123}).Body
	if p["duration_minutes"].(float64) != 123 || p["title"] != "Amélie" || p["version"].(float64) != 2 {
		t.Fatalf("patched movie %v", p)
	}
	admin.Must(404, "PATCH", "/admin/movies/nope", map[string]any{"title": "x"})
	c := e.Client(t)
	if got := c.Must(200, "GET", "/movies/"+id, nil).Body; got["duration_minutes"].(float64) != 123 {
		t.Fatalf("movie read model %v", got)
	}
	if items := c.Must(200, "GET", "/movies?q=amelie", nil).Body["items"].([]any); len(items) != 1 {
		t.Fatalf("accent-insensitive search found %d", len(items))
	}
	if items := c.Must(200, "GET", "/movies?q=.*", nil).Body["items"].([]any); len(items) != 0 {
		t.Fatalf("a regex-like query matched %d movies; it must be plain text", len(items))
	}
	c.Must(404, "GET", "/movies/nope", nil)
	v := admin.Must(201, "POST", "/admin/venues", map[string]any{"name": "Rex", "city": "Mumbai", "sections": []map[string]any{
		{"category": "premium", "rows": []string{"a"}, "seats_per_row": 10}, {"category": "standard", "rows": []string{"B", "C"}, "seats_per_row": 12}}}).Body
	if v["capacity"].(float64) != 34 {
		t.Fatalf("venue %v", v)
	}
	if items := c.Must(200, "GET", "/venues?city=mumbai", nil).Body["items"].([]any); len(items) != 1 {
		t.Fatalf("venues in Mumbai: %d", len(items))
	}
	s := admin.Must(201, "POST", "/admin/shows", map[string]any{"movie_id": id, "venue_id": v["id"], "starts_at": "2031-03-01T20:00:00+05:30",
		"prices": map[string]int{"premium": 500, "standard": 300}, "currency": "EUR"}).Body
	if s["ends_at"] != "2031-03-01T16:33:00Z" || s["capacity"].(float64) != 34 {
		t.Fatalf("show %v", s)
	}
	admin.Must(422, "POST", "/admin/shows", map[string]any{"movie_id": id, "venue_id": v["id"], "starts_at": "2031-03-01T20:00:00Z",
		"prices": map[string]int{"premium": 500}, "currency": "EUR"})
	got := c.Must(200, "GET", "/shows/"+s["id"].(string), nil).Body
	if got["movie"].(map[string]any)["title"] != "Amélie" || got["venue"].(map[string]any)["city"] != "Mumbai" || got["available"].(float64) != 34 {
		t.Fatalf("show read model %v", got)
	}
}

func TestShowListPagination(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	admin := e.Admin(t)
	m := admin.Must(201, "POST", "/admin/movies", map[string]any{"title": "Paged", "language": "en", "duration_minutes": 90}).Body["id"]
	v := admin.Must(201, "POST", "/admin/venues", map[string]any{"name": "P", "city": "Delhi", "sections": []map[string]any{{"category": "x", "rows": []string{"A"}, "seats_per_row": 3}}}).Body["id"]
	base := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Hour)
	for i := 0; i < 5; i++ {
		admin.Must(201, "POST", "/admin/shows", map[string]any{"movie_id": m, "venue_id": v, "starts_at": base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339),
			"prices": map[string]int{"x": 100 * (5 - i)}, "currency": "INR"})
	}
	c := e.Client(t)
	var seen []string
	cursor := ""
	for page := 0; page < 5; page++ {
		path := "/shows?city=delhi&limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := c.Must(200, "GET", path, nil).Body
		for _, it := range r["items"].([]any) {
			seen = append(seen, it.(map[string]any)["starts_at"].(string))
		}
		next, _ := r["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 5 || seen[0] > seen[4] {
		t.Fatalf("pages gave %v", seen)
	}
	byPrice := c.Must(200, "GET", "/shows?city=delhi&sort=price&limit=1", nil).Body["items"].([]any)
	if byPrice[0].(map[string]any)["prices"].(map[string]any)["x"].(float64) != 100 {
		t.Fatalf("cheapest first: %v", byPrice)
	}
	if n := len(c.Must(200, "GET", "/shows?city=delhi&max_price=250", nil).Body["items"].([]any)); n != 2 {
		t.Fatalf("max_price=250 gave %d shows, want 2", n)
	}
	if n := len(c.Must(200, "GET", "/shows?city=nowhere", nil).Body["items"].([]any)); n != 0 {
		t.Fatalf("an empty result has %d items", n)
	}
	r := c.Must(200, "GET", "/shows?city=delhi&sort=price&limit=1", nil).Body
	if c.Do("GET", "/shows?city=delhi&sort=starts_at&cursor="+r["next_cursor"].(string), nil).Status != 400 {
		t.Fatal("a cursor of another sort order was accepted")
	}
}

func seatStates(body map[string]any) map[string]string {
	out := map[string]string{}
	for _, s := range body["seats"].([]any) {
		m := s.(map[string]any)
		out[m["id"].(string)] = m["state"].(string)
	}
	return out
}

// tamper flips a character of the token's payload.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p := []byte(parts[1])
	if p[5] == 'A' {
		p[5] = 'B'
	} else {
		p[5] = 'A'
	}
	return parts[0] + "." + string(p) + "." + parts[2]
}

// unsigned rewrites the token with alg "none" and no signature.
func unsigned(tok string) string {
	parts := strings.Split(tok, ".")
	return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
}
