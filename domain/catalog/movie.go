// Package catalog owns what admins curate: movies and venues (with their
// seat layouts). Shows refer to both.
package catalog

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/seatline/seatline/domain"
)

// Errors returned by catalog decisions.
var (
	ErrMovieNotFound = &domain.Error{Kind: domain.NotFound, Code: "movie-not-found", Msg: "catalog: movie not found"}
	ErrVenueNotFound = &domain.Error{Kind: domain.NotFound, Code: "venue-not-found", Msg: "catalog: venue not found"}
	ErrExists        = &domain.Error{Kind: domain.Conflict, Code: "already-exists", Msg: "catalog: already exists"}
)

var (
	genreName    = regexp.MustCompile(`^[a-z][a-z0-9 -]{0,31}$`)
	languageCode = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)
)

// Movie is the movie aggregate.
type Movie struct {
	domain.Recorder
	id      string
	exists  bool
	details MovieDetails
}

// NewMovie returns an empty movie with the given id, to load events into.
func NewMovie(id string) *Movie { return &Movie{id: id} }

// Clone returns an independent copy without recorded changes.
func (m *Movie) Clone() *Movie {
	c := &Movie{id: m.id, exists: m.exists, details: m.details}
	c.details.Genres = slices.Clone(m.details.Genres)
	return c
}

// Exists reports whether the movie was added.
func (m *Movie) Exists() bool { return m.exists }

// Details returns the movie's current details.
func (m *Movie) Details() MovieDetails {
	d := m.details
	d.Genres = slices.Clone(d.Genres)
	return d
}

// Add adds the movie. Adding it again with the same details changes nothing.
func (m *Movie) Add(d MovieDetails) error {
	d = normalizeMovie(d)
	if m.exists {
		if equalMovie(m.details, d) {
			return nil
		}
		return ErrExists
	}
	if err := validateMovie(d); err != nil {
		return err
	}
	m.record(MovieAdded{MovieID: m.id, MovieDetails: d})
	return nil
}

// Revise replaces the movie's details; unchanged details record nothing.
func (m *Movie) Revise(d MovieDetails) error {
	if !m.exists {
		return ErrMovieNotFound
	}
	d = normalizeMovie(d)
	if err := validateMovie(d); err != nil {
		return err
	}
	if equalMovie(m.details, d) {
		return nil
	}
	m.record(MovieRevised{MovieDetails: d})
	return nil
}

func (m *Movie) record(e domain.Event) {
	m.Apply(e)
	m.Record(e)
}

// Apply applies a committed event.
func (m *Movie) Apply(e domain.Event) {
	switch e := e.(type) {
	case MovieAdded:
		m.exists, m.details = true, e.MovieDetails
	case MovieRevised:
		m.details = e.MovieDetails
	}
}

func normalizeMovie(d MovieDetails) MovieDetails {
	d.Title = strings.TrimSpace(d.Title)
	d.Language = strings.TrimSpace(d.Language)
	d.Description = strings.TrimSpace(d.Description)
	genres := make([]string, 0, len(d.Genres))
	for _, g := range d.Genres {
		g = strings.ToLower(strings.TrimSpace(g))
		if !slices.Contains(genres, g) {
			genres = append(genres, g)
		}
	}
	d.Genres = genres
	return d
}

func validateMovie(d MovieDetails) error {
	if d.Title == "" || utf8.RuneCountInString(d.Title) > 200 {
		return domain.NewInvalid("invalid-title", "title", "catalog: title must be 1..200 characters")
	}
	if d.DurationMinutes < 1 || d.DurationMinutes > 1000 {
		return domain.NewInvalid("invalid-duration", "duration_minutes", "catalog: duration_minutes must be 1..1000")
	}
	if !languageCode.MatchString(d.Language) {
		return domain.NewInvalid("invalid-language", "language", "catalog: language must be a BCP 47 code such as en or hi")
	}
	if len(d.Genres) > 10 {
		return domain.NewInvalid("invalid-genres", "genres", "catalog: at most 10 genres")
	}
	for _, g := range d.Genres {
		if !genreName.MatchString(g) {
			return domain.NewInvalid("invalid-genres", "genres", "catalog: genre "+strqt(g)+" must be lower-case words")
		}
	}
	if utf8.RuneCountInString(d.Description) > 5000 {
		return domain.NewInvalid("invalid-description", "description", "catalog: description must be at most 5000 characters")
	}
	return nil
}

func equalMovie(a, b MovieDetails) bool {
	return a.Title == b.Title && a.Language == b.Language && a.DurationMinutes == b.DurationMinutes &&
		a.Description == b.Description && slices.Equal(a.Genres, b.Genres)
}

func strqt(s string) string { return `"` + s + `"` }

// Stream id prefixes of catalog aggregates: "movie-<id>", "venue-<id>".
const (
	MovieStreamPrefix = "movie-"
	VenueStreamPrefix = "venue-"
)
