package projections

import (
	"context"
	"sync"
	"time"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// LiveSeatMaps serves seat maps from memory (see liveDocs): a show's
// seat map document grows with every booking, and during a sale every
// customer reads the same one again and again.
type LiveSeatMaps struct {
	docs *liveDocs[SeatMapDoc, *SeatMapDoc]

	mu    sync.Mutex
	views map[string]seatMapView // the last view of each document
}

type seatMapView struct {
	doc  *SeatMapDoc
	view SeatMap
}

// NewLiveSeatMaps keeps up to max shows in memory (the least recently
// read go first), loading them from stored and log.
func NewLiveSeatMaps(stored *SeatMaps, log StreamReader, max int) *LiveSeatMaps {
	return &LiveSeatMaps{docs: newLiveDocs(show.StreamPrefix, applySeatMap, cloneSeatMap, stored.doc, log, max)}
}

// Apply takes commits from the feed (any order, duplicates allowed).
func (l *LiveSeatMaps) Apply(ctx context.Context, commits []eventstore.Commit) {
	l.docs.Apply(ctx, commits)
}

// Get returns the seat map of a show as it is at now. Its seats are
// shared with other readers: read them, do not change them.
func (l *LiveSeatMaps) Get(ctx context.Context, id string, now time.Time) (SeatMap, bool, error) {
	d, ok, err := l.docs.get(ctx, id)
	if err != nil || !ok {
		return SeatMap{}, ok, err
	}
	l.mu.Lock()
	v, ok := l.views[id]
	l.mu.Unlock()
	if ok && v.doc == d && (v.view.Changes.IsZero() || now.Before(v.view.Changes)) {
		return v.view, true, nil // nothing committed, no hold lapsed since
	}
	m := seatView(d, now)
	l.mu.Lock()
	if l.views == nil || len(l.views) > l.docs.max {
		l.views = map[string]seatMapView{}
	}
	l.views[id] = seatMapView{doc: d, view: m}
	l.mu.Unlock()
	return m, true, nil
}

// cloneSeatMap copies what applySeatMap changes.
func cloneSeatMap(d *SeatMapDoc) *SeatMapDoc {
	c := *d
	c.Holds = make(map[string]HoldDoc, len(d.Holds)+8)
	for k, v := range d.Holds {
		c.Holds[k] = v
	}
	return &c
}

// LiveBookings serves bookings from memory (see liveDocs): every customer
// of a sale polls their booking until the payment's outcome shows.
type LiveBookings struct {
	docs *liveDocs[Booking, *Booking]
}

// NewLiveBookings keeps up to max bookings in memory (the least recently
// read go first), loading them from stored and log.
func NewLiveBookings(stored *Bookings, log StreamReader, max int) *LiveBookings {
	load := func(ctx context.Context, id string) (Booking, bool, error) {
		return getDoc[Booking](ctx, stored.coll(), id)
	}
	clone := func(d *Booking) *Booking { c := *d; return &c } // apply replaces fields, never changes them in place
	docs := newLiveDocs(booking.StreamPrefix, applyBooking, clone, load, log, max)
	docs.adopt = true
	return &LiveBookings{docs: docs}
}

// Apply takes commits from the feed (any order, duplicates allowed).
func (l *LiveBookings) Apply(ctx context.Context, commits []eventstore.Commit) {
	l.docs.Apply(ctx, commits)
}

// Get returns one booking with its status as it is at now.
func (l *LiveBookings) Get(ctx context.Context, id string, now time.Time) (Booking, bool, error) {
	d, ok, err := l.docs.get(ctx, id)
	if err != nil || !ok {
		return Booking{}, ok, err
	}
	b := *d
	b.Status = booking.EffectiveStatus(b.Status, b.Payment.ChargeID != "", b.ExpiresAt, now)
	return b, true, nil
}
