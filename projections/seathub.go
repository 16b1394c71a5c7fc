package projections

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
)

// SeatChange is one commit's change to a show's seats, as live seat maps
// stream it. Position is its log position (the SSE event id).
type SeatChange struct {
	ShowID    string       `json:"show_id"`
	Position  int64        `json:"position"`
	Version   int64        `json:"version"`
	Base      int64        `json:"-"`
	Seats     []SeatUpdate `json:"seats"`
	Cancelled bool         `json:"cancelled,omitempty"`
}

// SeatUpdate is a seat's new state.
type SeatUpdate struct {
	ID    string     `json:"id"`
	State string     `json:"state"`
	Until *time.Time `json:"held_until,omitempty"`
}

// SeatHub turns show commits into seat changes and hands them to live
// subscribers of each show in this process. It keeps the last changes of
// each show, so that a reconnecting client resumes where it stopped, and
// reads the log for anything older.
type SeatHub struct {
	log   StreamReader
	keep  int
	mu    sync.Mutex
	shows map[string]*hubShow
}

type hubShow struct {
	version int64
	ring    []SeatChange
	subs    map[*SeatSub]struct{}
}

// SeatSub receives a show's changes. C is closed when the subscriber
// fell too far behind (or unsubscribed).
type SeatSub struct {
	C      chan SeatChange
	show   string
	closed bool
}

// NewSeatHub returns a hub that remembers the last keep changes per show.
func NewSeatHub(log StreamReader, keep int) *SeatHub {
	if keep <= 0 {
		keep = 256
	}
	return &SeatHub{log: log, keep: keep, shows: map[string]*hubShow{}}
}

// Apply takes commits from the feed (any order, duplicates allowed).
func (h *SeatHub) Apply(ctx context.Context, commits []eventstore.Commit) {
	byShow := map[string][]eventstore.Commit{}
	for _, c := range commits {
		if id, ok := strings.CutPrefix(c.StreamID, show.StreamPrefix); ok {
			byShow[id] = append(byShow[id], c)
		}
	}
	for id, cs := range byShow {
		slices.SortFunc(cs, func(a, b eventstore.Commit) int { return cmp.Compare(a.Base, b.Base) })
		h.mu.Lock()
		st := h.show(id)
		known := st.version
		h.mu.Unlock()
		if known > 0 && cs[len(cs)-1].Version > known && cs[0].Base > known {
			if missing, err := h.log.ReadStream(ctx, show.StreamPrefix+id, known, cs[0].Base); err == nil {
				cs = append(missing, cs...)
			}
		}
		h.mu.Lock()
		for _, c := range cs {
			if c.Version <= st.version || (st.version > 0 && c.Base > st.version) {
				continue
			}
			ch := Change(id, c)
			st.version = c.Version
			st.ring = append(st.ring, ch)
			if len(st.ring) > h.keep {
				st.ring = st.ring[len(st.ring)-h.keep:]
			}
			for sub := range st.subs {
				select {
				case sub.C <- ch:
				default: // too slow: drop it; it reconnects with Last-Event-ID
					h.drop(st, sub)
				}
			}
		}
		h.mu.Unlock()
	}
}

func (h *SeatHub) show(id string) *hubShow {
	st, ok := h.shows[id]
	if !ok {
		st = &hubShow{subs: map[*SeatSub]struct{}{}}
		h.shows[id] = st
	}
	return st
}

func (h *SeatHub) drop(st *hubShow, sub *SeatSub) {
	if !sub.closed {
		sub.closed = true
		close(sub.C)
	}
	delete(st.subs, sub)
}

// Subscribe starts receiving a show's changes, with room for buf pending.
func (h *SeatHub) Subscribe(showID string, buf int) *SeatSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	sub := &SeatSub{C: make(chan SeatChange, buf), show: showID}
	h.show(showID).subs[sub] = struct{}{}
	return sub
}

// Unsubscribe stops a subscription.
func (h *SeatHub) Unsubscribe(sub *SeatSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(h.show(sub.show), sub)
}

// Since returns a show's changes after version v, from memory when the
// remembered changes reach back to v, otherwise from the log.
func (h *SeatHub) Since(ctx context.Context, showID string, v int64) ([]SeatChange, error) {
	h.mu.Lock()
	st := h.show(showID)
	if len(st.ring) > 0 && st.ring[0].Base <= v {
		var out []SeatChange
		for _, c := range st.ring {
			if c.Version > v {
				out = append(out, c)
			}
		}
		h.mu.Unlock()
		return out, nil
	}
	h.mu.Unlock()
	commits, err := h.log.ReadStream(ctx, show.StreamPrefix+showID, v, 0)
	if err != nil {
		return nil, err
	}
	out := make([]SeatChange, len(commits))
	for i, c := range commits {
		out[i] = Change(showID, c)
	}
	return out, nil
}

// Change turns a show commit into the seat updates it makes. A held seat
// becomes free on the stream when its expiry is recorded (within about a
// second of its deadline); a hold extension changes no state and shows as
// an empty change.
func Change(showID string, c eventstore.Commit) SeatChange {
	ch := SeatChange{ShowID: showID, Position: c.Position, Version: c.Version, Base: c.Base}
	set := func(seats []string, state string, until *time.Time) {
		for _, id := range seats {
			ch.Seats = append(ch.Seats, SeatUpdate{ID: id, State: state, Until: until})
		}
	}
	for _, e := range c.Events {
		switch ev := e.Event.(type) {
		case show.SeatsHeld:
			u := ev.Until
			set(ev.Seats, show.Held, &u)
		case show.SeatsSold:
			set(ev.Seats, show.Sold, nil)
		case show.HoldExpired:
			set(ev.Seats, show.Free, nil)
		case show.SeatsReleased:
			set(ev.Seats, show.Free, nil)
		case show.Cancelled:
			ch.Cancelled = true
		}
	}
	return ch
}
