package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/projections"
)

type showRequest struct {
	MovieID  string           `json:"movie_id"`
	VenueID  string           `json:"venue_id"`
	StartsAt time.Time        `json:"starts_at"`
	Prices   map[string]int64 `json:"prices"`
	Currency string           `json:"currency"`
}

type movieRef struct {
	ID              string   `json:"id"`
	Title           string   `json:"title"`
	Genres          []string `json:"genres"`
	Language        string   `json:"language"`
	DurationMinutes int      `json:"duration_minutes"`
}

type venueRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	City string `json:"city"`
}

type showResponse struct {
	ID        string           `json:"id"`
	MovieID   string           `json:"movie_id"`
	VenueID   string           `json:"venue_id"`
	Movie     *movieRef        `json:"movie,omitempty"`
	Venue     *venueRef        `json:"venue,omitempty"`
	StartsAt  time.Time        `json:"starts_at"`
	EndsAt    time.Time        `json:"ends_at"`
	Prices    map[string]int64 `json:"prices"`
	Currency  string           `json:"currency"`
	Capacity  int              `json:"capacity"`
	Available int              `json:"available"`
	Status    string           `json:"status"`
	Version   int64            `json:"version,omitempty"`
	Position  int64            `json:"position"`
}

func (a *api) createShow(c *gin.Context) {
	var req showRequest
	if !bind(c, &req) || !required(c, "movie_id", req.MovieID, "venue_id", req.VenueID, "starts_at", req.StartsAt, "currency", req.Currency) {
		return
	}
	id := uuid.NewString()
	res, err := a.Commands.ScheduleShow(c, commands.ScheduleShow{ShowID: id, MovieID: req.MovieID, VenueID: req.VenueID,
		StartsAt: req.StartsAt, Prices: req.Prices, Currency: req.Currency, Meta: meta(c)})
	if err != nil {
		fail(c, err)
		return
	}
	s, _, err := a.Commands.Show(c, id)
	if err != nil {
		fail(c, err)
		return
	}
	sum := s.Summary()
	c.JSON(http.StatusCreated, showResponse{ID: id, MovieID: sum.MovieID, VenueID: sum.VenueID, StartsAt: sum.StartsAt, EndsAt: sum.EndsAt,
		Prices: sum.Prices, Currency: sum.Currency, Capacity: sum.Capacity, Available: sum.Capacity, Status: projections.ShowScheduled,
		Version: res.Version, Position: res.Position})
}

func toShow(v projections.ShowView) showResponse {
	r := showResponse{ID: v.ID, MovieID: v.MovieID, VenueID: v.VenueID, StartsAt: v.StartsAt, EndsAt: v.EndsAt,
		Prices: v.Prices, Currency: v.Currency, Capacity: v.Capacity, Available: v.Available, Status: v.Status, Position: v.Position}
	if v.Movie.ID != "" {
		r.Movie = &movieRef{ID: v.Movie.ID, Title: v.Movie.Title, Genres: nonNil(v.Movie.Genres), Language: v.Movie.Language, DurationMinutes: v.Movie.DurationMinutes}
	}
	if v.Venue.ID != "" {
		r.Venue = &venueRef{ID: v.Venue.ID, Name: v.Venue.Name, City: v.Venue.City}
	}
	return r
}

func (a *api) listShows(c *gin.Context) {
	q, err := showQuery(c)
	if err != nil {
		fail(c, err)
		return
	}
	var ok bool
	if q.Cursor, ok = a.cursor(c); !ok {
		return
	}
	if !a.freshFeed(c) {
		return
	}
	views, next, err := a.Index.Search(q, a.Now())
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]showResponse, len(views))
	for i, v := range views {
		out[i] = toShow(v)
	}
	c.JSON(http.StatusOK, list[showResponse]{Items: out, NextCursor: a.sealCursor(next)})
}

// showQuery reads the search parameters of GET /shows.
func showQuery(c *gin.Context) (projections.ShowQuery, error) {
	q := projections.ShowQuery{Q: c.Query("q"), Genre: c.Query("genre"), Language: c.Query("language"), City: c.Query("city"),
		VenueID: c.Query("venue_id"), MovieID: c.Query("movie_id"), Sort: c.Query("sort"), Cursor: c.Query("cursor"),
		IncludePast: c.Query("include_past") == "true", IncludeCancelled: c.Query("include_cancelled") == "true"}
	var err error
	if q.Limit, err = limit(c); err != nil {
		return q, err
	}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := c.Query(name); s != "" {
			if *dst, err = time.Parse(time.RFC3339, s); err != nil {
				return q, invalidParam(name, "an RFC 3339 time")
			}
		}
	}
	for name, dst := range map[string]**int64{"min_price": &q.MinPrice, "max_price": &q.MaxPrice} {
		if s := c.Query(name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return q, invalidParam(name, "a non-negative integer (minor units)")
			}
			*dst = &n
		}
	}
	if s := c.Query("min_available"); s != "" {
		if q.MinAvailable, err = strconv.Atoi(s); err != nil || q.MinAvailable < 0 {
			return q, invalidParam("min_available", "a non-negative integer")
		}
	}
	if q.Sort != "" && !slices.Contains(projections.ShowSorts, q.Sort) {
		return q, invalidParam("sort", "one of starts_at, -starts_at, price, -price, popularity")
	}
	return q, nil
}

func (a *api) getShow(c *gin.Context) {
	if !a.fresh(c, projections.ShowsProjection, projections.MoviesProjection, projections.VenuesProjection) {
		return
	}
	s, ok, err := a.Shows.Get(c, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if !ok {
		fail(c, show.ErrNotFound)
		return
	}
	v := projections.ShowView{Show: s}
	if v.Movie, _, err = a.Catalog.Movie(c, s.MovieID); err != nil {
		fail(c, err)
		return
	}
	if v.Venue, _, err = a.Catalog.Venue(c, s.VenueID); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toShow(v))
}

type seatResponse struct {
	ID       string     `json:"id"`
	Category string     `json:"category"`
	Price    int64      `json:"price"`
	State    string     `json:"state"`
	HeldTill *time.Time `json:"held_until,omitempty"`
}

type seatMapResponse struct {
	ShowID   string         `json:"show_id"`
	Seats    []seatResponse `json:"seats"`
	Version  int64          `json:"version"`
	Position int64          `json:"position"`
}

func (a *api) getSeats(c *gin.Context) {
	m, ok, err := a.seatMapOf(c, c.Param("id"))
	if err != nil || !ok {
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", a.seatBodies.body(m, a.Now()))
}

// seatMapOf reads a show's seat map once the instance has caught up with
// the request's position: from memory if this instance keeps live seat
// maps, else from the read model. It writes the error (404 for an unknown
// show) and returns ok false when the request must stop.
func (a *api) seatMapOf(c *gin.Context, id string) (projections.SeatMap, bool, error) {
	var (
		m   projections.SeatMap
		ok  bool
		err error
	)
	if a.LiveSeats != nil {
		if !a.freshFeed(c) {
			return m, false, nil
		}
		m, ok, err = a.LiveSeats.Get(c, id, a.Now())
	} else {
		if !a.fresh(c, projections.SeatMapsProjection) {
			return m, false, nil
		}
		m, ok, err = a.SeatMaps.Get(c, id, a.Now())
	}
	switch {
	case err != nil:
		fail(c, err)
		return m, false, err
	case !ok:
		fail(c, show.ErrNotFound)
		return m, false, nil
	}
	return m, true, nil
}
