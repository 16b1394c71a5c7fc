package httpapi

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/seatline/seatline/projections"
)

// seatBodyCache keeps the encoded answer of GET /shows/{id}/seats for the
// version of each show's map it was made from, until a hold on it lapses:
// in a sale every customer asks for the same map of thousands of seats
// again and again, and encoding it is most of the work of answering.
type seatBodyCache struct {
	mu    sync.Mutex
	shows map[string]seatBody
}

type seatBody struct {
	version int64
	changes time.Time // when a hold lapses (zero: none)
	body    []byte
}

// maxSeatBodies bounds the cache; past it, it starts over.
const maxSeatBodies = 1000

// body returns the encoded answer for m, read at now.
func (s *seatBodyCache) body(m projections.SeatMap, now time.Time) []byte {
	s.mu.Lock()
	b, ok := s.shows[m.ShowID]
	s.mu.Unlock()
	if ok && b.version == m.Version && (b.changes.IsZero() || now.Before(b.changes)) {
		return b.body
	}
	raw, err := json.Marshal(seatMap(m))
	if err != nil { // cannot happen: plain strings and numbers
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shows == nil || len(s.shows) >= maxSeatBodies {
		s.shows = map[string]seatBody{}
	}
	s.shows[m.ShowID] = seatBody{version: m.Version, changes: m.Changes, body: raw}
	return raw
}
