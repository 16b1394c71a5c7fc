package projections

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// ShowIndex is the show search index every API instance keeps in memory:
// the show listing, movies and venues, loaded from their read models at
// start and kept current from the process's commit feed with the same
// projection code. A search is then a pass over memory (about 1 ms for
// 20,000 shows) instead of a scan of the collection per request, which on
// FerretDB decodes every document.
type ShowIndex struct {
	shows  *streamModel[Show, *Show]
	movies *streamModel[Movie, *Movie]
	venues *streamModel[Venue, *Venue]
	showsR *Shows
	cat    *Catalog

	mu       sync.RWMutex
	byShow   map[string]*Show
	byMovie  map[string]*Movie
	byVenue  map[string]*Venue
	ordered  []string          // show ids by starts_at then id; rebuilt when shows come or move
	folded   map[string]string // movie and venue id → folded title or city
	dirty    bool
	loadedAt time.Time
}

// NewShowIndex returns an empty index over the given read models.
func NewShowIndex(shows *Shows, cat *Catalog) *ShowIndex {
	return &ShowIndex{shows: shows.Projector(), movies: cat.MoviesProjector(), venues: cat.VenuesProjector(), showsR: shows, cat: cat,
		byShow: map[string]*Show{}, byMovie: map[string]*Movie{}, byVenue: map[string]*Venue{}, folded: map[string]string{}}
}

// Load reads the read models into memory. Commits the read models had not
// reached yet arrive through Apply (the feed starts before their watermark).
func (x *ShowIndex) Load(ctx context.Context) error {
	all, err := x.showsR.All(ctx)
	if err != nil {
		return err
	}
	movies, err := allDocs[Movie](ctx, x.cat.movies())
	if err != nil {
		return err
	}
	venues, err := allDocs[Venue](ctx, x.cat.venues())
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range all {
		x.byShow[all[i].ID] = newer(x.byShow[all[i].ID], &all[i])
	}
	for i := range movies {
		x.byMovie[movies[i].ID] = newer(x.byMovie[movies[i].ID], &movies[i])
		x.folded["m:"+movies[i].ID] = Fold(x.byMovie[movies[i].ID].Title)
	}
	for i := range venues {
		x.byVenue[venues[i].ID] = newer(x.byVenue[venues[i].ID], &venues[i])
		x.folded["v:"+venues[i].ID] = Fold(x.byVenue[venues[i].ID].City)
	}
	x.dirty, x.loadedAt = true, time.Now()
	return nil
}

func newer[D any, PD interface {
	*D
	headed
}](cur, next PD) PD {
	if cur == nil || next.head().Version > cur.head().Version {
		return next
	}
	return cur
}

// Apply folds commits of show, movie and venue streams into the index.
// It is a Feed listener: any order, duplicates allowed.
func (x *ShowIndex) Apply(ctx context.Context, commits []eventstore.Commit) {
	byStream := map[string][]eventstore.Commit{}
	for _, c := range commits {
		switch {
		case strings.HasPrefix(c.StreamID, show.StreamPrefix), strings.HasPrefix(c.StreamID, catalog.MovieStreamPrefix),
			strings.HasPrefix(c.StreamID, catalog.VenueStreamPrefix):
			byStream[c.StreamID] = append(byStream[c.StreamID], c)
		}
	}
	for stream, cs := range byStream {
		switch {
		case strings.HasPrefix(stream, show.StreamPrefix):
			applyOne(ctx, x, x.shows, x.byShow, stream, cs)
		case strings.HasPrefix(stream, catalog.MovieStreamPrefix):
			applyOne(ctx, x, x.movies, x.byMovie, stream, cs)
		default:
			applyOne(ctx, x, x.venues, x.byVenue, stream, cs)
		}
	}
}

func applyOne[D any, PD interface {
	*D
	headed
}](ctx context.Context, x *ShowIndex, m *streamModel[D, PD], docs map[string]PD, stream string, cs []eventstore.Commit) {
	id := stream[len(m.prefix):]
	x.mu.RLock()
	cur := docs[id]
	x.mu.RUnlock()
	d := PD(new(D))
	if cur != nil {
		*d = *cur
	}
	next, applied, err := m.advanceDoc(ctx, stream, d, cs)
	if err != nil || len(applied) == 0 {
		return
	}
	x.mu.Lock()
	if old := docs[id]; old == nil || old.head().Version < next.head().Version {
		docs[id] = next
		switch n := any(next).(type) {
		case *Show:
			if o, _ := any(old).(*Show); o == nil || !o.StartsAt.Equal(n.StartsAt) {
				x.dirty = true
			}
		case *Movie:
			x.folded["m:"+n.ID] = Fold(n.Title)
		case *Venue:
			x.folded["v:"+n.ID] = Fold(n.City)
		}
	}
	x.mu.Unlock()
}

// Search lists shows matching q, joined with their movie and venue, in a
// stable order, one page at a time (see ShowQuery and SearchShows).
func (x *ShowIndex) Search(q ShowQuery, now time.Time) ([]ShowView, string, error) {
	after, err := q.resume()
	if err != nil {
		return nil, "", err
	}
	x.mu.Lock()
	if x.dirty {
		x.ordered = x.ordered[:0]
		for id := range x.byShow {
			x.ordered = append(x.ordered, id)
		}
		slices.SortFunc(x.ordered, func(a, b string) int {
			if c := x.byShow[a].StartsAt.Compare(x.byShow[b].StartsAt); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		x.dirty = false
	}
	x.mu.Unlock()
	x.mu.RLock()
	defer x.mu.RUnlock()
	text, qcity := Fold(q.Q), Fold(q.City)
	from := q.From
	if !q.IncludePast && now.After(from) {
		from = now
	}
	key := sortKey(q.Sort)
	first, _ := slices.BinarySearchFunc(x.ordered, from, func(id string, t time.Time) int { return x.byShow[id].StartsAt.Compare(t) })
	var hits []ranked
	for _, id := range x.ordered[first:] {
		s := x.byShow[id]
		if !q.To.IsZero() && s.StartsAt.After(q.To) {
			break // ordered by start time
		}
		if matches(s, x.byMovie[s.MovieID], q, text, qcity, x.folded["m:"+s.MovieID], x.folded["v:"+s.VenueID], now) {
			hits = append(hits, ranked{key: key(s), id: id})
		}
	}
	if q.Sort != "starts_at" {
		sortRanked(hits)
	}
	pg, next := page(hits, after, q)
	out := make([]ShowView, len(pg))
	for i, r := range pg {
		s := x.byShow[r.id]
		out[i] = ShowView{Show: *s}
		if m := x.byMovie[s.MovieID]; m != nil {
			out[i].Movie = *m
		}
		if v := x.byVenue[s.VenueID]; v != nil {
			out[i].Venue = *v
		}
	}
	return out, next, nil
}

// Size returns the number of shows in the index.
func (x *ShowIndex) Size() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byShow)
}
