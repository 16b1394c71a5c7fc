package catalog

import (
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/seating"
)

// Venue is the venue aggregate: a place with a seat layout.
type Venue struct {
	domain.Recorder
	id      string
	exists  bool
	details VenueDetails
}

// NewVenue returns an empty venue with the given id, to load events into.
func NewVenue(id string) *Venue { return &Venue{id: id} }

// Clone returns an independent copy without recorded changes.
func (v *Venue) Clone() *Venue {
	c := &Venue{id: v.id, exists: v.exists, details: v.details}
	c.details.Sections = seating.Clone(v.details.Sections)
	return c
}

// Exists reports whether the venue was added.
func (v *Venue) Exists() bool { return v.exists }

// Details returns the venue's current details.
func (v *Venue) Details() VenueDetails {
	d := v.details
	d.Sections = seating.Clone(d.Sections)
	return d
}

// Add adds the venue. Adding it again with the same details changes nothing.
func (v *Venue) Add(d VenueDetails) error {
	d = normalizeVenue(d)
	if v.exists {
		if reflect.DeepEqual(v.details, d) {
			return nil
		}
		return ErrExists
	}
	if err := validateVenue(d); err != nil {
		return err
	}
	v.record(VenueAdded{VenueID: v.id, VenueDetails: d})
	return nil
}

// Revise replaces the venue's details; unchanged details record nothing.
func (v *Venue) Revise(d VenueDetails) error {
	if !v.exists {
		return ErrVenueNotFound
	}
	d = normalizeVenue(d)
	if err := validateVenue(d); err != nil {
		return err
	}
	if reflect.DeepEqual(v.details, d) {
		return nil
	}
	v.record(VenueRevised{VenueDetails: d})
	return nil
}

func (v *Venue) record(e domain.Event) {
	v.Apply(e)
	v.Record(e)
}

// Apply applies a committed event.
func (v *Venue) Apply(e domain.Event) {
	switch e := e.(type) {
	case VenueAdded:
		v.exists, v.details = true, e.VenueDetails
	case VenueRevised:
		v.details = e.VenueDetails
	}
}

func normalizeVenue(d VenueDetails) VenueDetails {
	d.Name = strings.TrimSpace(d.Name)
	d.City = strings.TrimSpace(d.City)
	d.Address = strings.TrimSpace(d.Address)
	d.Sections = seating.Clone(d.Sections)
	for i := range d.Sections {
		d.Sections[i].Category = strings.ToLower(strings.TrimSpace(d.Sections[i].Category))
		for j, r := range d.Sections[i].Rows {
			d.Sections[i].Rows[j] = strings.ToUpper(strings.TrimSpace(r))
		}
	}
	return d
}

func validateVenue(d VenueDetails) error {
	if d.Name == "" || utf8.RuneCountInString(d.Name) > 200 {
		return domain.NewInvalid("invalid-name", "name", "catalog: name must be 1..200 characters")
	}
	if d.City == "" || utf8.RuneCountInString(d.City) > 100 {
		return domain.NewInvalid("invalid-city", "city", "catalog: city must be 1..100 characters")
	}
	if utf8.RuneCountInString(d.Address) > 500 {
		return domain.NewInvalid("invalid-address", "address", "catalog: address must be at most 500 characters")
	}
	return seating.Validate(d.Sections)
}
