package catalog

import (
	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/seating"
)

// MovieDetails is what the catalog knows about a movie.
type MovieDetails struct {
	Title           string   `json:"title"`
	Genres          []string `json:"genres"`
	Language        string   `json:"language"`
	DurationMinutes int      `json:"duration_minutes"`
	Description     string   `json:"description"`
}

// VenueDetails is what the catalog knows about a venue.
type VenueDetails struct {
	Name     string            `json:"name"`
	City     string            `json:"city"`
	Address  string            `json:"address"`
	Sections []seating.Section `json:"sections"`
}

// MovieAdded is recorded when an admin adds a movie to the catalog.
type MovieAdded struct {
	MovieID string `json:"movie_id"`
	MovieDetails
}

// MovieRevised is recorded when an admin changes a movie; it carries the
// full details after the change.
type MovieRevised struct {
	MovieDetails
}

// VenueAdded is recorded when an admin adds a venue with its seat layout.
type VenueAdded struct {
	VenueID string `json:"venue_id"`
	VenueDetails
}

// VenueRevised is recorded when an admin changes a venue; it carries the
// full details after the change. Shows already scheduled keep their layout.
type VenueRevised struct {
	VenueDetails
}

func (MovieAdded) Name() string   { return "movie.Added.v1" }
func (MovieRevised) Name() string { return "movie.Revised.v1" }
func (VenueAdded) Name() string   { return "venue.Added.v1" }
func (VenueRevised) Name() string { return "venue.Revised.v1" }

// Events lists a zero value of every catalog event, for the event registry.
func Events() []domain.Event {
	return []domain.Event{MovieAdded{}, MovieRevised{}, VenueAdded{}, VenueRevised{}}
}
