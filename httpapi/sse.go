package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/projections"
)

// seatStream streams a show's seat map as server-sent events: first the
// whole map ("snapshot"), then every change ("seats") as it is recorded,
// each with its log position as the event id. A client that reconnects
// with Last-Event-ID gets the changes it missed (or a fresh snapshot if
// that id is not one of this show's). Comment lines keep idle connections
// alive; a client that cannot keep up is disconnected and reconnects.
func (a *api) seatStream(c *gin.Context) {
	id := c.Param("id")
	sub := a.SeatHub.Subscribe(id, 256)
	defer a.SeatHub.Unsubscribe(sub)

	var sent int64 // the show version the client has
	resumed := false
	if last := c.GetHeader("Last-Event-ID"); last != "" {
		if pos, err := strconv.ParseInt(last, 10, 64); err == nil && pos > 0 {
			if cm, err := a.Log.ReadCommit(c, pos); err == nil && cm.StreamID == show.StreamPrefix+id {
				sent, resumed = cm.Version, true
			}
		}
	}
	var snapshot *seatMapResponse
	if !resumed {
		m, ok, _ := a.seatMapOf(c, id)
		if !ok {
			return
		}
		r := seatMap(m)
		snapshot, sent = &r, m.Version
	}
	backlog, err := a.SeatHub.Since(c, id, sent)
	if err != nil {
		fail(c, err)
		return
	}

	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if snapshot != nil {
		if writeEvent(w, "snapshot", snapshot.Position, snapshot) != nil {
			return
		}
	}
	for _, ch := range backlog {
		if writeEvent(w, "seats", ch.Position, ch) != nil {
			return
		}
		sent = ch.Version
	}
	w.Flush()

	beat := time.NewTicker(a.SSEHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			w.Flush()
		case ch, ok := <-sub.C:
			if !ok {
				return // dropped for falling behind
			}
			if ch.Version <= sent {
				continue
			}
			if ch.Base > sent { // missed some: take them from the log
				gap, err := a.SeatHub.Since(c, id, sent)
				if err != nil {
					return
				}
				for _, g := range gap {
					if g.Version < ch.Version {
						if writeEvent(w, "seats", g.Position, g) != nil {
							return
						}
					}
				}
			}
			if writeEvent(w, "seats", ch.Position, ch) != nil {
				return
			}
			sent = ch.Version
			w.Flush()
		}
	}
}

func writeEvent(w gin.ResponseWriter, event string, id int64, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, event, data)
	return err
}

func seatMap(m projections.SeatMap) seatMapResponse {
	out := seatMapResponse{ShowID: m.ShowID, Seats: make([]seatResponse, len(m.Seats)), Version: m.Version, Position: m.Position}
	for i, s := range m.Seats {
		out.Seats[i] = seatResponse{ID: s.ID, Category: s.Category, Price: s.Price, State: s.State}
		if s.State == show.Held {
			until := s.Until
			out.Seats[i].HeldTill = &until
		}
	}
	return out
}
