package projections

import (
	"context"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/seating"
	"github.com/seatline/seatline/eventstore"
)

// Consumer-group names of the catalog read models. They never change.
const (
	MoviesProjection = "projection.movies"
	VenuesProjection = "projection.venues"
)

// Movie is the movie read model.
type Movie struct {
	Head            `bson:",inline"`
	ID              string    `bson:"_id"`
	Title           string    `bson:"title"`
	Genres          []string  `bson:"genres"`
	Language        string    `bson:"language"`
	DurationMinutes int       `bson:"duration_minutes"`
	Description     string    `bson:"description"`
	CreatedAt       time.Time `bson:"created_at"`
	UpdatedAt       time.Time `bson:"updated_at"`
}

// Venue is the venue read model.
type Venue struct {
	Head      `bson:",inline"`
	ID        string            `bson:"_id"`
	Name      string            `bson:"name"`
	City      string            `bson:"city"`
	Address   string            `bson:"address"`
	Sections  []seating.Section `bson:"sections"`
	Capacity  int               `bson:"capacity"`
	CreatedAt time.Time         `bson:"created_at"`
	UpdatedAt time.Time         `bson:"updated_at"`
}

// Catalog projects and reads movies and venues.
type Catalog struct {
	movieT, venueT *Target
	log            StreamReader
}

// NewCatalog returns the catalog read models kept in their targets.
func NewCatalog(movies, venues *Target, log StreamReader) *Catalog {
	return &Catalog{movieT: movies, venueT: venues, log: log}
}

func (c *Catalog) movies() *mongo.Collection { return c.movieT.DB().Collection("movies") }
func (c *Catalog) venues() *mongo.Collection { return c.venueT.DB().Collection("venues") }

// Models describe the movies and venues read models for rebuilds.
func (c *Catalog) Models() []Model {
	return []Model{
		{Name: MoviesProjection, Collections: []string{"movies"}, Target: c.movieT,
			build: func(db *mongo.Database, buf bool) builder {
				return withBuffer(NewCatalog(Fixed(db), Fixed(db), c.log).MoviesProjector(), buf)
			}},
		{Name: VenuesProjection, Collections: []string{"venues"}, Target: c.venueT,
			build: func(db *mongo.Database, buf bool) builder {
				return withBuffer(NewCatalog(Fixed(db), Fixed(db), c.log).VenuesProjector(), buf)
			}},
	}
}

// MoviesProjector returns the movies projector.
func (c *Catalog) MoviesProjector() *streamModel[Movie, *Movie] {
	return &streamModel[Movie, *Movie]{name: MoviesProjection, prefix: catalog.MovieStreamPrefix, target: c.movieT, collection: "movies", log: c.log,
		apply: func(m *Movie, c eventstore.Commit, e eventstore.Event) {
			var d catalog.MovieDetails
			switch ev := e.Event.(type) {
			case catalog.MovieAdded:
				m.ID, m.CreatedAt, d = ev.MovieID, c.Time, ev.MovieDetails
			case catalog.MovieRevised:
				d = ev.MovieDetails
			default:
				return
			}
			m.Title, m.Genres, m.Language, m.DurationMinutes, m.Description = d.Title, d.Genres, d.Language, d.DurationMinutes, d.Description
			m.UpdatedAt = c.Time
		}}
}

// VenuesProjector returns the venues projector.
func (c *Catalog) VenuesProjector() *streamModel[Venue, *Venue] {
	return &streamModel[Venue, *Venue]{name: VenuesProjection, prefix: catalog.VenueStreamPrefix, target: c.venueT, collection: "venues", log: c.log,
		apply: func(v *Venue, c eventstore.Commit, e eventstore.Event) {
			var d catalog.VenueDetails
			switch ev := e.Event.(type) {
			case catalog.VenueAdded:
				v.ID, v.CreatedAt, d = ev.VenueID, c.Time, ev.VenueDetails
			case catalog.VenueRevised:
				d = ev.VenueDetails
			default:
				return
			}
			v.Name, v.City, v.Address, v.Sections = d.Name, d.City, d.Address, d.Sections
			v.Capacity = len(seating.Seats(d.Sections))
			v.UpdatedAt = c.Time
		}}
}

// Movie returns one movie.
func (c *Catalog) Movie(ctx context.Context, id string) (Movie, bool, error) {
	return getDoc[Movie](ctx, c.movies(), id)
}

// Venue returns one venue.
func (c *Catalog) Venue(ctx context.Context, id string) (Venue, bool, error) {
	return getDoc[Venue](ctx, c.venues(), id)
}

// MovieFilter selects movies; empty fields match everything.
type MovieFilter struct {
	Q, Genre, Language string
}

// Movies lists movies matching f, ordered by title then id.
func (c *Catalog) Movies(ctx context.Context, f MovieFilter) ([]Movie, error) {
	all, err := allDocs[Movie](ctx, c.movies())
	if err != nil {
		return nil, err
	}
	q := Fold(f.Q)
	out := all[:0]
	for _, m := range all {
		if (q == "" || strings.Contains(Fold(m.Title), q)) &&
			(f.Genre == "" || slices.Contains(m.Genres, strings.ToLower(f.Genre))) &&
			(f.Language == "" || strings.EqualFold(m.Language, f.Language)) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Movie) int {
		if c := strings.Compare(Fold(a.Title), Fold(b.Title)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// VenueFilter selects venues; empty fields match everything.
type VenueFilter struct {
	Q, City string
}

// Venues lists venues matching f, ordered by city, name and id.
func (c *Catalog) Venues(ctx context.Context, f VenueFilter) ([]Venue, error) {
	all, err := allDocs[Venue](ctx, c.venues())
	if err != nil {
		return nil, err
	}
	q := Fold(f.Q)
	out := all[:0]
	for _, v := range all {
		if (q == "" || strings.Contains(Fold(v.Name), q)) && (f.City == "" || Fold(v.City) == Fold(f.City)) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b Venue) int {
		if c := strings.Compare(Fold(a.City), Fold(b.City)); c != 0 {
			return c
		}
		if c := strings.Compare(Fold(a.Name), Fold(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
