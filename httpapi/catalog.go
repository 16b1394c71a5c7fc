package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/seating"
	"github.com/seatline/seatline/projections"
)

type movieRequest struct {
	Title           *string   `json:"title"`
	Genres          *[]string `json:"genres"`
	Language        *string   `json:"language"`
	DurationMinutes *int      `json:"duration_minutes"`
	Description     *string   `json:"description"`
}

type movieResponse struct {
	ID              string     `json:"id"`
	Title           string     `json:"title"`
	Genres          []string   `json:"genres"`
	Language        string     `json:"language"`
	DurationMinutes int        `json:"duration_minutes"`
	Description     string     `json:"description"`
	CreatedAt       *time.Time `json:"created_at,omitempty"`
	UpdatedAt       *time.Time `json:"updated_at,omitempty"`
	Version         int64      `json:"version,omitempty"`
	Position        int64      `json:"position"`
}

func fromMovie(id string, d catalog.MovieDetails) movieResponse {
	return movieResponse{ID: id, Title: d.Title, Genres: nonNil(d.Genres), Language: d.Language, DurationMinutes: d.DurationMinutes, Description: d.Description}
}

func toMovie(m projections.Movie) movieResponse {
	r := fromMovie(m.ID, catalog.MovieDetails{Title: m.Title, Genres: m.Genres, Language: m.Language, DurationMinutes: m.DurationMinutes, Description: m.Description})
	r.CreatedAt, r.UpdatedAt, r.Position = &m.CreatedAt, &m.UpdatedAt, m.Position
	return r
}

func (a *api) createMovie(c *gin.Context) {
	var req movieRequest
	if !bind(c, &req) {
		return
	}
	d := catalog.MovieDetails{Title: deref(req.Title), Genres: deref(req.Genres), Language: deref(req.Language),
		DurationMinutes: deref(req.DurationMinutes), Description: deref(req.Description)}
	id := uuid.NewString()
	res, err := a.Commands.AddMovie(c, id, d, meta(c))
	if err != nil {
		fail(c, err)
		return
	}
	a.respondMovie(c, http.StatusCreated, id, res)
}

func (a *api) patchMovie(c *gin.Context) {
	var req movieRequest
	if !bind(c, &req) {
		return
	}
	id := c.Param("id")
	res, err := a.Commands.ReviseMovie(c, id, commands.MoviePatch{Title: req.Title, Genres: req.Genres, Language: req.Language,
		DurationMinutes: req.DurationMinutes, Description: req.Description}, meta(c))
	if err != nil {
		fail(c, err)
		return
	}
	a.respondMovie(c, http.StatusOK, id, res)
}

func (a *api) respondMovie(c *gin.Context, status int, id string, res commands.Result) {
	d, _, err := a.Commands.Movie(c, id)
	if err != nil {
		fail(c, err)
		return
	}
	r := fromMovie(id, d)
	r.Version, r.Position = res.Version, res.Position
	c.JSON(status, r)
}

func (a *api) listMovies(c *gin.Context) {
	if !a.fresh(c, projections.MoviesProjection) {
		return
	}
	ms, err := a.Catalog.Movies(c, projections.MovieFilter{Q: c.Query("q"), Genre: c.Query("genre"), Language: c.Query("language")})
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]movieResponse, len(ms))
	for i, m := range ms {
		out[i] = toMovie(m)
	}
	c.JSON(http.StatusOK, list[movieResponse]{Items: out})
}

func (a *api) getMovie(c *gin.Context) {
	if !a.fresh(c, projections.MoviesProjection) {
		return
	}
	m, ok, err := a.Catalog.Movie(c, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if !ok {
		fail(c, catalog.ErrMovieNotFound)
		return
	}
	c.JSON(http.StatusOK, toMovie(m))
}

type venueRequest struct {
	Name     *string            `json:"name"`
	City     *string            `json:"city"`
	Address  *string            `json:"address"`
	Sections *[]seating.Section `json:"sections"`
}

type venueResponse struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	City      string            `json:"city"`
	Address   string            `json:"address"`
	Sections  []seating.Section `json:"sections"`
	Capacity  int               `json:"capacity"`
	CreatedAt *time.Time        `json:"created_at,omitempty"`
	UpdatedAt *time.Time        `json:"updated_at,omitempty"`
	Version   int64             `json:"version,omitempty"`
	Position  int64             `json:"position"`
}

func fromVenue(id string, d catalog.VenueDetails) venueResponse {
	return venueResponse{ID: id, Name: d.Name, City: d.City, Address: d.Address, Sections: nonNil(d.Sections), Capacity: len(seating.Seats(d.Sections))}
}

func toVenue(v projections.Venue) venueResponse {
	r := fromVenue(v.ID, catalog.VenueDetails{Name: v.Name, City: v.City, Address: v.Address, Sections: v.Sections})
	r.CreatedAt, r.UpdatedAt, r.Position = &v.CreatedAt, &v.UpdatedAt, v.Position
	return r
}

func (a *api) createVenue(c *gin.Context) {
	var req venueRequest
	if !bind(c, &req) {
		return
	}
	id := uuid.NewString()
	d := catalog.VenueDetails{Name: deref(req.Name), City: deref(req.City), Address: deref(req.Address), Sections: deref(req.Sections)}
	res, err := a.Commands.AddVenue(c, id, d, meta(c))
	if err != nil {
		fail(c, err)
		return
	}
	a.respondVenue(c, http.StatusCreated, id, res)
}

func (a *api) patchVenue(c *gin.Context) {
	var req venueRequest
	if !bind(c, &req) {
		return
	}
	id := c.Param("id")
	res, err := a.Commands.ReviseVenue(c, id, commands.VenuePatch{Name: req.Name, City: req.City, Address: req.Address, Sections: req.Sections}, meta(c))
	if err != nil {
		fail(c, err)
		return
	}
	a.respondVenue(c, http.StatusOK, id, res)
}

func (a *api) respondVenue(c *gin.Context, status int, id string, res commands.Result) {
	d, _, err := a.Commands.Venue(c, id)
	if err != nil {
		fail(c, err)
		return
	}
	r := fromVenue(id, d)
	r.Version, r.Position = res.Version, res.Position
	c.JSON(status, r)
}

func (a *api) listVenues(c *gin.Context) {
	if !a.fresh(c, projections.VenuesProjection) {
		return
	}
	vs, err := a.Catalog.Venues(c, projections.VenueFilter{Q: c.Query("q"), City: c.Query("city")})
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]venueResponse, len(vs))
	for i, v := range vs {
		out[i] = toVenue(v)
	}
	c.JSON(http.StatusOK, list[venueResponse]{Items: out})
}

func (a *api) getVenue(c *gin.Context) {
	if !a.fresh(c, projections.VenuesProjection) {
		return
	}
	v, ok, err := a.Catalog.Venue(c, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if !ok {
		fail(c, catalog.ErrVenueNotFound)
		return
	}
	c.JSON(http.StatusOK, toVenue(v))
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
