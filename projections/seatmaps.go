package projections

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/domain/seating"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// SeatMapsProjection is the consumer group of the seat maps. It never changes.
const SeatMapsProjection = "projection.seatmaps"

// SeatMapDoc is the stored seat map of one show: its layout and prices,
// and the holds on it as recorded. It stays small (one entry per booking,
// not per seat) because FerretDB decodes whole documents on every read.
// The state a client sees is derived at read time, so a hold shows as free
// from its deadline on.
type SeatMapDoc struct {
	Head     `bson:",inline"`
	ID       string             `bson:"_id"`
	Sections []seating.Section  `bson:"sections"`
	Prices   map[string]int64   `bson:"prices"`
	Holds    map[string]HoldDoc `bson:"holds"`
}

// HoldDoc is one booking's seats on a stored seat map.
type HoldDoc struct {
	Seats []string  `bson:"seats"`
	Until time.Time `bson:"until"`
	Sold  bool      `bson:"sold,omitempty"`
}

// Seat is a seat as clients see it at a moment.
type Seat struct {
	ID       string
	Category string
	Price    int64
	State    string // free, held or sold
	Until    time.Time
}

// SeatMap is a show's seat map at a moment.
type SeatMap struct {
	ShowID   string
	Seats    []Seat
	Position int64
	Version  int64
	// Changes is when the first hold on the map lapses, so that the map
	// would read differently without a new commit (zero: none does).
	Changes time.Time
}

// SeatMaps projects and reads seat maps.
type SeatMaps struct {
	target *Target
	log    StreamReader
}

// NewSeatMaps returns the seat maps kept in target.
func NewSeatMaps(target *Target, log StreamReader) *SeatMaps {
	return &SeatMaps{target: target, log: log}
}

// Model describes the seat maps for rebuilds.
func (s *SeatMaps) Model() Model {
	return Model{Name: SeatMapsProjection, Collections: []string{"seatmaps"}, Target: s.target,
		build: func(db *mongo.Database, buf bool) builder {
			return withBuffer(NewSeatMaps(Fixed(db), s.log).Projector(), buf)
		}}
}

// Projector returns the seat map projector.
func (s *SeatMaps) Projector() *streamModel[SeatMapDoc, *SeatMapDoc] {
	return &streamModel[SeatMapDoc, *SeatMapDoc]{name: SeatMapsProjection, prefix: show.StreamPrefix, target: s.target, collection: "seatmaps", log: s.log,
		apply: applySeatMap}
}

// applySeatMap folds one event of a show into its seat map.
func applySeatMap(d *SeatMapDoc, _ eventstore.Commit, e eventstore.Event) {
	if d.Holds == nil {
		d.Holds = map[string]HoldDoc{}
	}
	switch ev := e.Event.(type) {
	case show.Scheduled:
		d.ID, d.Sections, d.Prices = ev.ShowID, ev.Sections, ev.Prices
	case show.SeatsHeld:
		d.Holds[ev.BookingID] = HoldDoc{Seats: ev.Seats, Until: ev.Until}
	case show.HoldExpired:
		delete(d.Holds, ev.BookingID)
	case show.SeatsReleased:
		delete(d.Holds, ev.BookingID)
	case show.HoldExtended:
		h := d.Holds[ev.BookingID]
		h.Until = ev.Until
		d.Holds[ev.BookingID] = h
	case show.SeatsSold:
		h := d.Holds[ev.BookingID]
		h.Sold = true
		d.Holds[ev.BookingID] = h
	}
}

// Get returns the seat map of a show as it is at now.
func (s *SeatMaps) Get(ctx context.Context, showID string, now time.Time) (SeatMap, bool, error) {
	d, ok, err := s.doc(ctx, showID)
	if err != nil || !ok {
		return SeatMap{}, ok, err
	}
	return seatView(&d, now), true, nil
}

func (s *SeatMaps) doc(ctx context.Context, showID string) (SeatMapDoc, bool, error) {
	return getDoc[SeatMapDoc](ctx, s.target.DB().Collection("seatmaps"), showID)
}

// seatView is what clients see of a stored seat map at now.
func seatView(d *SeatMapDoc, now time.Time) SeatMap {
	owner := map[string]HoldDoc{}
	for _, h := range d.Holds {
		for _, id := range h.Seats {
			owner[id] = h
		}
	}
	seats := seating.Seats(d.Sections)
	m := SeatMap{ShowID: d.ID, Position: d.Position, Version: d.Version, Seats: make([]Seat, len(seats))}
	for i, seat := range seats {
		h, owned := owner[seat.ID]
		st := show.SeatState(owned, h.Sold, h.Until, now)
		m.Seats[i] = Seat{ID: seat.ID, Category: seat.Category, Price: d.Prices[seat.Category], State: st}
		if st == show.Held {
			m.Seats[i].Until = h.Until
			if m.Changes.IsZero() || h.Until.Before(m.Changes) {
				m.Changes = h.Until
			}
		}
	}
	return m
}
