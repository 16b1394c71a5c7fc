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
// in a stable order, one page at a time. It returns the cursor of the next
// page, or "" on the last one; a cursor from another query order is
// ErrBadCursor.
func SearchShows(ctx context.Context, shows *Shows, cat *Catalog, q ShowQuery, now time.Time) ([]ShowView, string, error) {
	if q.Sort == "" {
		q.Sort = "starts_at"
	}
	var after *showCursor
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil || c.Sort != q.Sort {
			return nil, "", ErrBadCursor
		}
		after = &c
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
		if matches(v, q, text, now) {
			hits = append(hits, v)
		}
	}
	key := sortKey(q.Sort)
	slices.SortFunc(hits, func(a, b ShowView) int {
		if c := cmp.Compare(key(a), key(b)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(hits, *after, func(v ShowView, c showCursor) int {
			if r := cmp.Compare(key(v), c.Key); r != 0 {
				return r
			}
			return strings.Compare(v.ID, c.ID+"\x00") // strictly after the cursor's id
		})
	}
	end := min(start+q.Limit, len(hits))
	page := hits[start:end]
	next := ""
	if end < len(hits) && len(page) > 0 {
		last := page[len(page)-1]
		next = encodeCursor(showCursor{Sort: q.Sort, Key: key(last), ID: last.ID})
	}
	return page, next, nil
}

func matches(v ShowView, q ShowQuery, text string, now time.Time) bool {
	switch {
	case !q.IncludeCancelled && v.Status == ShowCancelled,
		!q.IncludePast && !v.StartsAt.After(now),
		text != "" && !strings.Contains(Fold(v.Movie.Title), text),
		q.Genre != "" && !slices.Contains(v.Movie.Genres, strings.ToLower(q.Genre)),
		q.Language != "" && !strings.EqualFold(v.Movie.Language, q.Language),
		q.City != "" && Fold(v.Venue.City) != Fold(q.City),
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

func sortKey(sort string) func(ShowView) int64 {
	switch sort {
	case "-starts_at":
		return func(v ShowView) int64 { return -v.StartsAt.UnixNano() }
	case "price":
		return func(v ShowView) int64 { return v.MinPrice }
	case "-price":
		return func(v ShowView) int64 { return -v.MinPrice }
	case "popularity":
		return func(v ShowView) int64 { return -int64(v.Capacity - v.Available) }
	default:
		return func(v ShowView) int64 { return v.StartsAt.UnixNano() }
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
