package catalog_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/seating"
)

var movie = catalog.MovieDetails{Title: "Dune", Genres: []string{"sci-fi", "drama"}, Language: "en", DurationMinutes: 155}

func TestMovie(t *testing.T) {
	cases := []struct {
		name  string
		given []domain.Event
		when  func(*catalog.Movie) error
		then  []domain.Event
		code  string
	}{
		{name: "a movie is added with normalised genres",
			when: func(m *catalog.Movie) error {
				d := movie
				d.Genres = []string{" Sci-Fi", "drama", "DRAMA"}
				d.Title = " Dune "
				return m.Add(d)
			},
			then: []domain.Event{catalog.MovieAdded{MovieID: "m1", MovieDetails: movie}}},
		{name: "adding it again with the same details changes nothing", given: []domain.Event{catalog.MovieAdded{MovieID: "m1", MovieDetails: movie}},
			when: func(m *catalog.Movie) error { return m.Add(movie) }},
		{name: "an empty title is refused", when: func(m *catalog.Movie) error { d := movie; d.Title = " "; return m.Add(d) }, code: "invalid-title"},
		{name: "a zero duration is refused", when: func(m *catalog.Movie) error { d := movie; d.DurationMinutes = 0; return m.Add(d) }, code: "invalid-duration"},
		{name: "a bad language is refused", when: func(m *catalog.Movie) error { d := movie; d.Language = "English!"; return m.Add(d) }, code: "invalid-language"},
		{name: "a revision records the new details", given: []domain.Event{catalog.MovieAdded{MovieID: "m1", MovieDetails: movie}},
			when: func(m *catalog.Movie) error { d := movie; d.DurationMinutes = 160; return m.Revise(d) },
			then: []domain.Event{catalog.MovieRevised{MovieDetails: func() catalog.MovieDetails { d := movie; d.DurationMinutes = 160; return d }()}}},
		{name: "revising a missing movie fails", when: func(m *catalog.Movie) error { return m.Revise(movie) }, code: "movie-not-found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := catalog.NewMovie("m1")
			for _, e := range c.given {
				m.Apply(e)
			}
			err := c.when(m)
			if c.code != "" {
				var de *domain.Error
				if !errors.As(err, &de) || de.Code != c.code || len(m.Changes()) != 0 {
					t.Fatalf("err = %v, want code %s and no changes", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Changes(), c.then) {
				t.Fatalf("events\n got %#v\nwant %#v", m.Changes(), c.then)
			}
		})
	}
}

func TestVenue(t *testing.T) {
	good := catalog.VenueDetails{Name: "PVR", City: "Pune", Sections: []seating.Section{{Category: "premium", Rows: []string{"A"}, SeatsPerRow: 10}}}
	cases := []struct {
		name string
		d    catalog.VenueDetails
		code string
	}{
		{"a venue with a layout is added", good, ""},
		{"a venue without sections is refused", catalog.VenueDetails{Name: "X", City: "Y"}, "invalid-layout"},
		{"a row used twice is refused", catalog.VenueDetails{Name: "X", City: "Y", Sections: []seating.Section{
			{Category: "a", Rows: []string{"A"}, SeatsPerRow: 1}, {Category: "b", Rows: []string{"a"}, SeatsPerRow: 1}}}, "invalid-layout"},
		{"zero seats per row is refused", catalog.VenueDetails{Name: "X", City: "Y", Sections: []seating.Section{
			{Category: "a", Rows: []string{"A"}, SeatsPerRow: 0}}}, "invalid-layout"},
		{"a missing city is refused", catalog.VenueDetails{Name: "X", Sections: good.Sections}, "invalid-city"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := catalog.NewVenue("v1")
			err := v.Add(c.d)
			if c.code == "" {
				if err != nil || len(v.Changes()) != 1 {
					t.Fatalf("err %v changes %v", err, v.Changes())
				}
				return
			}
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != c.code || len(v.Changes()) != 0 {
				t.Fatalf("err = %v, want %s", err, c.code)
			}
		})
	}
}

func TestSeatIDsAreRowAndNumber(t *testing.T) {
	seats := seating.Seats([]seating.Section{{Category: "premium", Rows: []string{"A", "B"}, SeatsPerRow: 10}})
	if len(seats) != 20 || seats[0].ID != "A1" || seats[9].ID != "A10" || seats[10].ID != "B1" {
		t.Fatalf("seats %v", seats)
	}
}
