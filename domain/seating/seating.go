// Package seating describes seat layouts: sections of rows with a category,
// and the seat ids derived from them (row + number: A1 … A10). Venues own a
// layout; a show copies its venue's layout when it is scheduled.
package seating

import (
	"fmt"
	"regexp"

	"github.com/seatline/seatline/domain"
)

// Section is a block of rows that share a price category.
type Section struct {
	Category    string   `json:"category"`
	Rows        []string `json:"rows"`
	SeatsPerRow int      `json:"seats_per_row"`
}

// Limits on a layout, so that one request cannot create an absurd venue.
const (
	MaxSeatsPerRow = 200
	MaxSeats       = 20000
)

var (
	rowName      = regexp.MustCompile(`^[A-Z]{1,3}$`)
	categoryName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// ErrInvalidLayout is returned for a layout that cannot be seated.
var ErrInvalidLayout = &domain.Error{Kind: domain.Invalid, Code: "invalid-layout", Msg: "seating: invalid layout"}

// Validate checks that the layout has at least one section, that row names
// are unique across sections, and that categories and sizes are sensible.
func Validate(sections []Section) error {
	if len(sections) == 0 {
		return ErrInvalidLayout.Withf("at least one section is required").With("field", "sections")
	}
	rows := map[string]bool{}
	total := 0
	for i, s := range sections {
		field := fmt.Sprintf("sections[%d]", i)
		if !categoryName.MatchString(s.Category) {
			return ErrInvalidLayout.Withf("%s.category must be lower-case letters, digits, '-' or '_'", field).With("field", field+".category")
		}
		if len(s.Rows) == 0 {
			return ErrInvalidLayout.Withf("%s.rows must not be empty", field).With("field", field+".rows")
		}
		if s.SeatsPerRow < 1 || s.SeatsPerRow > MaxSeatsPerRow {
			return ErrInvalidLayout.Withf("%s.seats_per_row must be 1..%d", field, MaxSeatsPerRow).With("field", field+".seats_per_row")
		}
		for _, r := range s.Rows {
			if !rowName.MatchString(r) {
				return ErrInvalidLayout.Withf("row %q must be 1-3 upper-case letters", r).With("field", field+".rows")
			}
			if rows[r] {
				return ErrInvalidLayout.Withf("row %q appears twice", r).With("field", field+".rows")
			}
			rows[r] = true
		}
		total += len(s.Rows) * s.SeatsPerRow
	}
	if total > MaxSeats {
		return ErrInvalidLayout.Withf("%d seats exceed the limit of %d", total, MaxSeats).With("field", "sections")
	}
	return nil
}

// Seat is one seat of a layout.
type Seat struct {
	ID       string
	Category string
}

// Seats lists every seat of the layout in display order: sections in order,
// rows in order, seats by number.
func Seats(sections []Section) []Seat {
	var out []Seat
	for _, s := range sections {
		for _, r := range s.Rows {
			for n := 1; n <= s.SeatsPerRow; n++ {
				out = append(out, Seat{ID: fmt.Sprintf("%s%d", r, n), Category: s.Category})
			}
		}
	}
	return out
}

// Categories returns the distinct categories of the layout in first-seen order.
func Categories(sections []Section) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range sections {
		if !seen[s.Category] {
			seen[s.Category] = true
			out = append(out, s.Category)
		}
	}
	return out
}

// Clone returns a deep copy of sections.
func Clone(sections []Section) []Section {
	out := make([]Section, len(sections))
	for i, s := range sections {
		out[i] = Section{Category: s.Category, Rows: append([]string(nil), s.Rows...), SeatsPerRow: s.SeatsPerRow}
	}
	return out
}
