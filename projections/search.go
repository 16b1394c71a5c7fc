package projections

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// ShowView is a listed show with its movie and venue.
type ShowView struct {
	Show
	Movie Movie
	Venue Venue
}

// ShowQuery filters and orders the show listing. Zero values do not filter.
type ShowQuery struct {
	Q, Genre, Language, City, VenueID, MovieID string
	From, To                                   time.Time
	MinPrice, MaxPrice                         *int64
	MinAvailable                               int
	Sort                                       string // starts_at (default), -starts_at, price, -price, popularity
	Limit                                      int
	Cursor                                     string
	IncludePast, IncludeCancelled              bool
}

// ShowSorts lists the accepted sort orders.
var ShowSorts = []string{"starts_at", "-starts_at", "price", "-price", "popularity"}

type showCursor struct {
	Sort string `json:"s"`
	Key  int64  `json:"k"`
	ID   string `json:"id"`
}

// SearchShows lists shows matching q, joined with their movie and venue,
// in a stable order, one page at a time, straight from the collections. It
// returns the cursor of the next page, or "" on the last one; a cursor from
// another query order is ErrBadCursor. ShowIndex answers the same query
// from memory; this is its reference and the baseline of its benchmark.
func SearchShows(ctx context.Context, shows *Shows, cat *Catalog, q ShowQuery, now time.Time) ([]ShowView, string, error) {
	after, err := q.resume()
	if err != nil {
		return nil, "", err
	}
	all, err := shows.All(ctx)
	if err != nil {
		return nil, "", err
	}
	movies, err := cat.Movies(ctx, MovieFilter{})
	if err != nil {
		return nil, "", err
	}
	venues, err := cat.Venues(ctx, VenueFilter{})
	if err != nil {
		return nil, "", err
	}
	movieByID := make(map[string]Movie, len(movies))
	for _, m := range movies {
		movieByID[m.ID] = m
	}
	venueByID := make(map[string]Venue, len(venues))
	for _, v := range venues {
		venueByID[v.ID] = v
	}
	text := Fold(q.Q)
	var hits []ShowView
	for _, s := range all {
		v := ShowView{Show: s, Movie: movieByID[s.MovieID], Venue: venueByID[s.VenueID]}
		if matches(&v.Show, &v.Movie, q, text, Fold(q.City), Fold(v.Movie.Title), Fold(v.Venue.City), now) {
			hits = append(hits, v)
		}
	}
	key := sortKey(q.Sort)
	ranked := make([]ranked, len(hits))
	for i := range hits {
		ranked[i] = rankedOf(key, &hits[i].Show, i)
	}
	sortRanked(ranked)
	pg, next := page(ranked, after, q)
	out := make([]ShowView, len(pg))
	for i, r := range pg {
		out[i] = hits[r.at]
	}
	return out, next, nil
}

// ranked is a search hit reduced to what ordering needs; at points back
// to the hit.
type ranked struct {
	key int64
	id  string
	at  int
}

func rankedOf(key func(*Show) int64, s *Show, at int) ranked {
	return ranked{key: key(s), id: s.ID, at: at}
}

func sortRanked(r []ranked) {
	slices.SortFunc(r, func(a, b ranked) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
}

// page cuts the page after the cursor out of hits sorted by (key, id), and
// returns the cursor of the next page ("" on the last).
func page(hits []ranked, after *showCursor, q ShowQuery) ([]ranked, string) {
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(hits, *after, func(r ranked, c showCursor) int {
			if x := cmp.Compare(r.key, c.Key); x != 0 {
				return x
			}
			return strings.Compare(r.id, c.ID+"\x00") // strictly after the cursor's id
		})
	}
	end := min(start+q.Limit, len(hits))
	pg := hits[start:end]
	next := ""
	if end < len(hits) && len(pg) > 0 {
		last := pg[len(pg)-1]
		next = encodeCursor(showCursor{Sort: q.Sort, Key: last.key, ID: last.id})
	}
	return pg, next
}

// matches applies the query's filters to a show, its movie and venue;
// title and city are the movie's title and the venue's city, folded, and
// the query's text and city are folded too.
func matches(v *Show, m *Movie, q ShowQuery, text, qcity, title, city string, now time.Time) bool {
	switch {
	case !q.IncludeCancelled && v.Status == ShowCancelled,
		!q.IncludePast && !v.StartsAt.After(now),
		text != "" && !strings.Contains(title, text),
		q.Genre != "" && (m == nil || !slices.Contains(m.Genres, strings.ToLower(q.Genre))),
		q.Language != "" && (m == nil || !strings.EqualFold(m.Language, q.Language)),
		q.City != "" && city != qcity,
		q.VenueID != "" && v.VenueID != q.VenueID,
		q.MovieID != "" && v.MovieID != q.MovieID,
		!q.From.IsZero() && v.StartsAt.Before(q.From),
		!q.To.IsZero() && v.StartsAt.After(q.To),
		q.MinPrice != nil && v.MaxPrice < *q.MinPrice,
		q.MaxPrice != nil && v.MinPrice > *q.MaxPrice,
		v.Available < q.MinAvailable:
		return false
	}
	return true
}

func sortKey(sort string) func(*Show) int64 {
	switch sort {
	case "-starts_at":
		return func(v *Show) int64 { return -v.StartsAt.UnixNano() }
	case "price":
		return func(v *Show) int64 { return v.MinPrice }
	case "-price":
		return func(v *Show) int64 { return -v.MinPrice }
	case "popularity":
		return func(v *Show) int64 { return -int64(v.Capacity - v.Available) }
	default:
		return func(v *Show) int64 { return v.StartsAt.UnixNano() }
	}
}

func encodeCursor(c showCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (showCursor, error) {
	var c showCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, ErrBadCursor
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.ID == "" || !slices.Contains(ShowSorts, c.Sort) {
		return c, ErrBadCursor
	}
	return c, nil
}

// resume fills the default order and decodes the cursor of a later page
// (nil on the first); a cursor of another order is ErrBadCursor.
func (q *ShowQuery) resume() (*showCursor, error) {
	if q.Sort == "" {
		q.Sort = "starts_at"
	}
	if q.Cursor == "" {
		return nil, nil
	}
	c, err := decodeCursor(q.Cursor)
	if err != nil || c.Sort != q.Sort {
		return nil, ErrBadCursor
	}
	return &c, nil
}
