// Package timeline answers "what happened to booking X": every event that
// concerns the booking across streams (its own, and its seats' on the
// show), the payment gateway calls and the emails, in log order, each with
// its correlation and causation ids and the id of the item that caused it.
// Personal data in payloads is masked.
package timeline

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/notifications"
	"github.com/seatline/seatline/sagas"
)

// Item kinds.
const (
	Event       = "event"
	PaymentCall = "payment_call"
	Email       = "email"
)

// Item is one entry of a timeline.
type Item struct {
	Kind          string         `json:"kind"`
	Name          string         `json:"name"` // event name, charge/refund, or email template
	Time          time.Time      `json:"time"`
	Position      int64          `json:"position,omitempty"`
	StreamID      string         `json:"stream_id,omitempty"`
	Version       int64          `json:"version,omitempty"`
	EventID       string         `json:"event_id,omitempty"`
	Actor         string         `json:"actor,omitempty"`
	CorrelationID string         `json:"correlation_id,omitempty"`
	CausationID   string         `json:"causation_id,omitempty"`
	CausedBy      string         `json:"caused_by,omitempty"` // event_id of the item that caused this one, if listed
	Data          map[string]any `json:"data,omitempty"`
}

// Timeline is a booking's history.
type Timeline struct {
	BookingID string `json:"booking_id"`
	ShowID    string `json:"show_id"`
	Items     []Item `json:"items"`
}

// Log reads streams.
type Log interface {
	ReadStream(ctx context.Context, stream string, after, atLeast int64) ([]eventstore.Commit, error)
}

// Emails finds emails by id.
type Emails interface {
	Record(ctx context.Context, id string) (notifications.Record, bool, error)
}

// Calls finds a booking's payment gateway calls.
type Calls interface {
	Calls(ctx context.Context, bookingID string) ([]sagas.GatewayCall, error)
}

// Builder builds timelines.
type Builder struct {
	Log    Log
	Emails Emails
	Calls  Calls
}

// Build returns the timeline of a booking; found is false if it does not
// exist.
func (b Builder) Build(ctx context.Context, bookingID string) (Timeline, bool, error) {
	own, err := b.Log.ReadStream(ctx, booking.StreamPrefix+bookingID, 0, 0)
	if err != nil || len(own) == 0 {
		return Timeline{}, false, err
	}
	t := Timeline{BookingID: bookingID}
	var events []Item
	var emailIDs []string
	for _, c := range own {
		for i, e := range c.Events {
			if p, ok := e.Event.(booking.Placed); ok {
				t.ShowID = p.ShowID
			}
			events = append(events, eventItem(c, i))
			emailIDs = append(emailIDs, sagas.EmailIDs(c, i, bookingID)...)
		}
	}
	if t.ShowID != "" {
		seats, err := b.Log.ReadStream(ctx, show.StreamPrefix+t.ShowID, 0, 0)
		if err != nil {
			return t, false, err
		}
		for _, c := range seats {
			for i, e := range c.Events {
				if concerns(e, bookingID) {
					events = append(events, eventItem(c, i))
					emailIDs = append(emailIDs, sagas.EmailIDs(c, i, bookingID)...)
				}
			}
		}
	}
	slices.SortStableFunc(events, func(x, y Item) int {
		if x.Position != y.Position {
			return int(x.Position - y.Position)
		}
		return strings.Compare(x.EventID, y.EventID)
	})
	var others []Item
	if b.Calls != nil {
		calls, err := b.Calls.Calls(ctx, bookingID)
		if err != nil {
			return t, false, err
		}
		for _, c := range calls {
			others = append(others, Item{Kind: PaymentCall, Name: c.Kind, Time: c.At, CorrelationID: c.Correlation, CausationID: c.Causation,
				Data: compact(map[string]any{"attempt": c.Attempt, "outcome": c.Outcome, "reason": c.Reason, "error": c.Error,
					"charge_id": c.ChargeID, "refund_id": c.RefundID, "ms": c.Millis})})
		}
	}
	if b.Emails != nil {
		for _, id := range emailIDs {
			r, ok, err := b.Emails.Record(ctx, id)
			if err != nil {
				return t, false, err
			}
			if !ok {
				continue
			}
			at := r.SentAt
			if at.IsZero() {
				at = r.UpdatedAt
			}
			cause, _, _ := strings.Cut(id, ":")
			others = append(others, Item{Kind: Email, Name: r.Template, Time: at, CausationID: cause,
				Data: compact(map[string]any{"status": r.Status, "attempts": r.Attempts, "to": maskEmail(r.To), "subject": r.Subject, "last_error": r.LastError})})
		}
	}
	t.Items = merge(events, others)
	byEvent := map[string]bool{}
	for _, it := range t.Items {
		if it.EventID != "" {
			byEvent[it.EventID] = true
		}
	}
	for i, it := range t.Items {
		if byEvent[it.CausationID] {
			t.Items[i].CausedBy = it.CausationID
		}
	}
	return t, true, nil
}

// concerns reports whether a show event is about the booking (or about
// the whole show, which affects it).
func concerns(e eventstore.Event, bookingID string) bool {
	switch e.Event.(type) {
	case show.Cancelled, show.Rescheduled:
		return true
	}
	var d struct {
		BookingID string `json:"booking_id"`
	}
	return json.Unmarshal(e.Data, &d) == nil && d.BookingID == bookingID
}

func eventItem(c eventstore.Commit, i int) Item {
	e := c.Events[i]
	var data map[string]any
	_ = json.Unmarshal(e.Data, &data)
	return Item{Kind: Event, Name: e.Name, Time: c.Time, Position: c.Position, StreamID: c.StreamID, Version: e.Version,
		EventID: c.EventID(i), Actor: e.Meta.Actor, CorrelationID: e.Meta.CorrelationID, CausationID: e.Meta.CausationID, Data: mask(data)}
}

// merge keeps events in log order and puts every other item after the
// event that caused it and after the events that came before it in time.
func merge(events, others []Item) []Item {
	slices.SortStableFunc(others, func(x, y Item) int { return x.Time.Compare(y.Time) })
	out := make([]Item, 0, len(events)+len(others))
	placed := map[string]bool{}
	j := 0
	for _, ev := range events {
		for j < len(others) && others[j].Time.Before(ev.Time) && (others[j].CausationID == "" || placed[others[j].CausationID] || !isEventID(others[j].CausationID, events)) {
			out = append(out, others[j])
			j++
		}
		out = append(out, ev)
		placed[ev.EventID] = true
	}
	return append(out, others[j:]...)
}

func isEventID(id string, events []Item) bool {
	return slices.ContainsFunc(events, func(e Item) bool { return e.EventID == id })
}

// MaskJSON masks personal data in a JSON event payload.
func MaskJSON(raw json.RawMessage) json.RawMessage {
	var data map[string]any
	if json.Unmarshal(raw, &data) != nil {
		return raw
	}
	out, err := json.Marshal(mask(data))
	if err != nil {
		return raw
	}
	return out
}

// mask hides personal data in an event payload: payment tokens and email
// addresses (names never enter the log: accounts are not event-sourced).
func mask(m map[string]any) map[string]any {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			m[k] = mask(x)
		case string:
			switch k {
			case "payment_token", "token", "card":
				m[k] = maskToken(x)
			case "email", "to":
				m[k] = maskEmail(x)
			}
		}
	}
	return m
}

func maskToken(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:4] + "****"
}

func maskEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" {
		return maskToken(s)
	}
	return local[:1] + "***@" + domain
}

// compact drops empty values.
func compact(m map[string]any) map[string]any {
	for k, v := range m {
		if v == "" || v == 0 || v == int64(0) {
			delete(m, k)
		}
	}
	return m
}
