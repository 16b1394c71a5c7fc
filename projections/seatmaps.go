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

// SeatMapDoc is the stored seat map of one show: every seat in layout
// order with its owner as recorded. The state a client sees is derived at
// read time, so a hold shows as free from its deadline on.
type SeatMapDoc struct {
	Head  `bson:",inline"`
	ID    string    `bson:"_id"`
	Seats []SeatDoc `bson:"seats"`
}

// SeatDoc is one seat of a stored seat map.
type SeatDoc struct {
	ID       string    `bson:"id"`
	Category string    `bson:"category"`
	Price    int64     `bson:"price"`
	Booking  string    `bson:"booking,omitempty"`
	Sold     bool      `bson:"sold,omitempty"`
	Until    time.Time `bson:"until,omitempty"`
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
}

// SeatMaps projects and reads seat maps.
type SeatMaps struct {
	coll *mongo.Collection
	log  StreamReader
}

// NewSeatMaps returns the seat maps in db.
func NewSeatMaps(db *mongo.Database, log StreamReader) *SeatMaps {
	return &SeatMaps{coll: db.Collection("seatmaps"), log: log}
}

// Projector returns the seat map projector.
func (s *SeatMaps) Projector() *streamModel[SeatMapDoc, *SeatMapDoc] {
	return &streamModel[SeatMapDoc, *SeatMapDoc]{name: SeatMapsProjection, prefix: show.StreamPrefix, coll: s.coll, log: s.log,
		apply: func(d *SeatMapDoc, _ eventstore.Commit, e eventstore.Event) {
			switch ev := e.Event.(type) {
			case show.Scheduled:
				d.ID = ev.ShowID
				d.Seats = nil
				for _, seat := range seating.Seats(ev.Sections) {
					d.Seats = append(d.Seats, SeatDoc{ID: seat.ID, Category: seat.Category, Price: ev.Prices[seat.Category]})
				}
			case show.SeatsHeld:
				d.each(ev.Seats, func(seat *SeatDoc) { seat.Booking, seat.Until, seat.Sold = ev.BookingID, ev.Until, false })
			case show.HoldExpired:
				d.free(ev.BookingID, ev.Seats)
			case show.SeatsReleased:
				d.free(ev.BookingID, ev.Seats)
			}
		}}
}

func (d *SeatMapDoc) each(ids []string, fn func(*SeatDoc)) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	for i := range d.Seats {
		if want[d.Seats[i].ID] {
			fn(&d.Seats[i])
		}
	}
}

func (d *SeatMapDoc) free(booking string, ids []string) {
	d.each(ids, func(seat *SeatDoc) {
		if seat.Booking == booking {
			*seat = SeatDoc{ID: seat.ID, Category: seat.Category, Price: seat.Price}
		}
	})
}

// Get returns the seat map of a show as it is at now.
func (s *SeatMaps) Get(ctx context.Context, showID string, now time.Time) (SeatMap, bool, error) {
	d, ok, err := getDoc[SeatMapDoc](ctx, s.coll, showID)
	if err != nil || !ok {
		return SeatMap{}, ok, err
	}
	m := SeatMap{ShowID: d.ID, Position: d.Position, Version: d.Version, Seats: make([]Seat, len(d.Seats))}
	for i, seat := range d.Seats {
		st := show.SeatState(seat.Booking != "", seat.Sold, seat.Until, now)
		m.Seats[i] = Seat{ID: seat.ID, Category: seat.Category, Price: seat.Price, State: st}
		if st == show.Held {
			m.Seats[i].Until = seat.Until
		}
	}
	return m, true, nil
}
