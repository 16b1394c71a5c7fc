package projections

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/domain/seating"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// ShowsProjection is the consumer group of the show listing. It never changes.
const ShowsProjection = "projection.shows"

// Show is the show listing read model: what search and show pages need.
type Show struct {
	Head      `bson:",inline"`
	ID        string           `bson:"_id"`
	MovieID   string           `bson:"movie_id"`
	VenueID   string           `bson:"venue_id"`
	StartsAt  time.Time        `bson:"starts_at"`
	EndsAt    time.Time        `bson:"ends_at"`
	Prices    map[string]int64 `bson:"prices"`
	Currency  string           `bson:"currency"`
	Capacity  int              `bson:"capacity"`
	Available int              `bson:"available"` // seats not held or sold by a recorded hold
	Status    string           `bson:"status"`
	MinPrice  int64            `bson:"min_price"`
	MaxPrice  int64            `bson:"max_price"`
	CreatedAt time.Time        `bson:"created_at"`
}

// Show statuses.
const (
	ShowScheduled = "scheduled"
	ShowCancelled = "cancelled"
)

// Shows projects and reads the show listing.
type Shows struct {
	target *Target
	log    StreamReader
}

// NewShows returns the show listing kept in target.
func NewShows(target *Target, log StreamReader) *Shows {
	return &Shows{target: target, log: log}
}

func (s *Shows) coll() *mongo.Collection { return s.target.DB().Collection("shows") }

// Model describes the show listing for rebuilds.
func (s *Shows) Model() Model {
	return Model{Name: ShowsProjection, Collections: []string{"shows"}, Target: s.target,
		build: func(db *mongo.Database, buf bool) builder {
			return withBuffer(NewShows(Fixed(db), s.log).Projector(), buf)
		}}
}

// Projector returns the show listing projector.
func (s *Shows) Projector() *streamModel[Show, *Show] {
	return &streamModel[Show, *Show]{name: ShowsProjection, prefix: show.StreamPrefix, target: s.target, collection: "shows", log: s.log,
		apply: func(d *Show, c eventstore.Commit, e eventstore.Event) {
			switch ev := e.Event.(type) {
			case show.Scheduled:
				d.ID, d.MovieID, d.VenueID, d.StartsAt, d.EndsAt = ev.ShowID, ev.MovieID, ev.VenueID, ev.StartsAt, ev.EndsAt
				d.Prices, d.Currency, d.Status, d.CreatedAt = ev.Prices, ev.Currency, ShowScheduled, c.Time
				d.Capacity = len(seating.Seats(ev.Sections))
				d.Available = d.Capacity
				d.MinPrice, d.MaxPrice = priceRange(ev.Prices)
			case show.SeatsHeld:
				d.Available -= len(ev.Seats)
			case show.HoldExpired:
				d.Available += len(ev.Seats)
			case show.SeatsReleased:
				d.Available += len(ev.Seats)
			case show.Cancelled:
				d.Status = ShowCancelled
			case show.Rescheduled:
				d.StartsAt, d.EndsAt = ev.StartsAt, ev.EndsAt
			}
		}}
}

func priceRange(prices map[string]int64) (lo, hi int64) {
	first := true
	for _, p := range prices {
		if first || p < lo {
			lo = p
		}
		if first || p > hi {
			hi = p
		}
		first = false
	}
	return lo, hi
}

// Get returns one show.
func (s *Shows) Get(ctx context.Context, id string) (Show, bool, error) {
	return getDoc[Show](ctx, s.coll(), id)
}

// All returns every show in the listing.
func (s *Shows) All(ctx context.Context) ([]Show, error) {
	return allDocs[Show](ctx, s.coll())
}
