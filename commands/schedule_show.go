package commands

import (
	"context"
	"time"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// Errors of ScheduleShow for references that do not resolve.
var (
	ErrUnknownMovie = domain.NewInvalid("unknown-movie", "movie_id", "commands: no such movie")
	ErrUnknownVenue = domain.NewInvalid("unknown-venue", "venue_id", "commands: no such venue")
)

// ScheduleShow is an admin's request to show a movie at a venue.
type ScheduleShow struct {
	ShowID   string
	MovieID  string
	VenueID  string
	StartsAt time.Time
	Prices   map[string]int64
	Currency string
	Meta     eventstore.Metadata
}

// ScheduleShow schedules a show with the venue's current layout and the
// movie's duration.
func (h *Handlers) ScheduleShow(ctx context.Context, cmd ScheduleShow) (Result, error) {
	ctx = named(ctx, "ScheduleShow")
	movie, _, err := h.movies.Load(ctx, cmd.MovieID)
	if err != nil {
		return Result{}, err
	}
	if !movie.Exists() {
		return Result{}, ErrUnknownMovie
	}
	venue, _, err := h.venues.Load(ctx, cmd.VenueID)
	if err != nil {
		return Result{}, err
	}
	if !venue.Exists() {
		return Result{}, ErrUnknownVenue
	}
	spec := show.Spec{
		MovieID: cmd.MovieID, VenueID: cmd.VenueID, StartsAt: cmd.StartsAt,
		Duration: time.Duration(movie.Details().DurationMinutes) * time.Minute,
		Sections: venue.Details().Sections, Prices: cmd.Prices, Currency: cmd.Currency,
	}
	return h.shows.Update(ctx, cmd.ShowID, cmd.Meta, func(s *show.Show) error {
		return s.Schedule(spec, h.cfg.Now())
	})
}
