package commands

import (
	"context"

	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/seating"
	"github.com/seatline/seatline/eventstore"
)

// AddMovie adds a movie to the catalog under a new id.
func (h *Handlers) AddMovie(ctx context.Context, id string, d catalog.MovieDetails, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "AddMovie")
	return h.movies.Update(ctx, id, meta, func(m *catalog.Movie) error { return m.Add(d) })
}

// MoviePatch lists the fields of a movie to change; nil fields stay.
type MoviePatch struct {
	Title           *string
	Genres          *[]string
	Language        *string
	DurationMinutes *int
	Description     *string
}

// ReviseMovie changes some details of a movie.
func (h *Handlers) ReviseMovie(ctx context.Context, id string, p MoviePatch, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "ReviseMovie")
	return h.movies.Update(ctx, id, meta, func(m *catalog.Movie) error {
		if !m.Exists() {
			return catalog.ErrMovieNotFound
		}
		d := m.Details()
		set(&d.Title, p.Title)
		set(&d.Genres, p.Genres)
		set(&d.Language, p.Language)
		set(&d.DurationMinutes, p.DurationMinutes)
		set(&d.Description, p.Description)
		return m.Revise(d)
	})
}

// AddVenue adds a venue with its seat layout under a new id.
func (h *Handlers) AddVenue(ctx context.Context, id string, d catalog.VenueDetails, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "AddVenue")
	return h.venues.Update(ctx, id, meta, func(v *catalog.Venue) error { return v.Add(d) })
}

// VenuePatch lists the fields of a venue to change; nil fields stay.
type VenuePatch struct {
	Name     *string
	City     *string
	Address  *string
	Sections *[]seating.Section
}

// ReviseVenue changes some details of a venue. Shows already scheduled
// keep the layout they were scheduled with.
func (h *Handlers) ReviseVenue(ctx context.Context, id string, p VenuePatch, meta eventstore.Metadata) (Result, error) {
	ctx = named(ctx, "ReviseVenue")
	return h.venues.Update(ctx, id, meta, func(v *catalog.Venue) error {
		if !v.Exists() {
			return catalog.ErrVenueNotFound
		}
		d := v.Details()
		set(&d.Name, p.Name)
		set(&d.City, p.City)
		set(&d.Address, p.Address)
		set(&d.Sections, p.Sections)
		return v.Revise(d)
	})
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Movie returns a movie's current details from the log.
func (h *Handlers) Movie(ctx context.Context, id string) (catalog.MovieDetails, bool, error) {
	m, _, err := h.movies.Load(ctx, id)
	if err != nil {
		return catalog.MovieDetails{}, false, err
	}
	return m.Details(), m.Exists(), nil
}

// MovieAt returns a movie's details as cached (known 0), or at version
// known or later: for details that may lag a little, such as the title
// in an email.
func (h *Handlers) MovieAt(ctx context.Context, id string, known int64) (catalog.MovieDetails, bool, error) {
	m, _, err := h.movies.LoadAt(ctx, id, known)
	if err != nil {
		return catalog.MovieDetails{}, false, err
	}
	return m.Details(), m.Exists(), nil
}

// VenueAt returns a venue's details as cached (known 0), or at version
// known or later.
func (h *Handlers) VenueAt(ctx context.Context, id string, known int64) (catalog.VenueDetails, bool, error) {
	v, _, err := h.venues.LoadAt(ctx, id, known)
	if err != nil {
		return catalog.VenueDetails{}, false, err
	}
	return v.Details(), v.Exists(), nil
}

// Venue returns a venue's current details from the log.
func (h *Handlers) Venue(ctx context.Context, id string) (catalog.VenueDetails, bool, error) {
	v, _, err := h.venues.Load(ctx, id)
	if err != nil {
		return catalog.VenueDetails{}, false, err
	}
	return v.Details(), v.Exists(), nil
}
