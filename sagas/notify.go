package sagas

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/broadcast"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/notifications"
)

// NotifySaga is the consumer group of Notify. It never changes.
const NotifySaga = "saga.notifications"

// Users lists every user id, for broadcasts to all users.
type Users interface {
	AllUserIDs(ctx context.Context) ([]string, error)
}

// Notify decides which emails events cause and queues them in the outbox,
// keyed by the event (and recipient), so a redelivered event queues
// nothing new. It runs the outbox while it holds its lease.
//
//	booking.Placed           → hold_created       booking.Confirmed       → booking_confirmed
//	booking.PaymentFailed    → payment_failed     booking.Expired         → hold_expired
//	booking.Cancelled        → booking_cancelled  booking.RefundRequested → refund_started
//	show.Rescheduled         → show_rescheduled, to every live booking's holder
//	broadcast.Requested      → broadcast, to the show's holders or to all users
//
// Events older than MaxAge (an old commit delivered again, a new consumer
// group reading history) send nothing: replays never email.
type Notify struct {
	cmd        *commands.Handlers
	clock      clock.Clock
	parts      Partitioner
	outbox     *notifications.Outbox
	users      Users
	broadcasts *mongo.Collection
	maxAge     time.Duration
	log        *slog.Logger
}

// NewNotify returns the saga; broadcast bookkeeping lives in db.
func NewNotify(cmd *commands.Handlers, outbox *notifications.Outbox, users Users, db *mongo.Database, parts Partitioner, clk clock.Clock, maxAge time.Duration, log *slog.Logger) *Notify {
	if maxAge <= 0 {
		maxAge = time.Hour
	}
	return &Notify{cmd: cmd, clock: clk, parts: parts, outbox: outbox, users: users, broadcasts: db.Collection("broadcasts"), maxAge: maxAge, log: log}
}

// Name implements relay.Handler.
func (*Notify) Name() string { return NotifySaga }

// StartTerm implements relay.TermAware: the outbox sends the partition's
// emails for the term.
func (n *Notify) StartTerm(ctx context.Context, partition int) { go n.outbox.Run(ctx, partition) }

// queue collects a batch's emails; they are queued with one insert per
// partition once the batch is decided.
type queue func(notifications.Request)

var bookingTemplates = map[string]string{
	booking.Placed{}.Name():          notifications.HoldCreated,
	booking.Confirmed{}.Name():       notifications.BookingConfirmed,
	booking.PaymentFailed{}.Name():   notifications.PaymentFailed,
	booking.Expired{}.Name():         notifications.HoldExpired,
	booking.Cancelled{}.Name():       notifications.BookingCancelled,
	booking.RefundRequested{}.Name(): notifications.RefundStarted,
}

// Handle implements relay.Handler.
func (n *Notify) Handle(ctx context.Context, batch []eventstore.Commit) error {
	out := map[int][]notifications.Request{}
	for _, c := range batch {
		if n.clock.Now().Sub(c.Time) > n.maxAge {
			continue
		}
		part := n.parts.Partition(c.StreamID)
		add := func(r notifications.Request) { out[part] = append(out[part], r) }
		for i, e := range c.Events {
			if err := n.handle(ctx, c, i, e, add); err != nil {
				return fmt.Errorf("%s: commit %d: %w", NotifySaga, c.Position, err)
			}
		}
	}
	for part, rs := range out {
		if err := n.outbox.EnqueueMany(ctx, part, rs); err != nil {
			return fmt.Errorf("%s: %w", NotifySaga, err)
		}
	}
	return nil
}

func (n *Notify) handle(ctx context.Context, c eventstore.Commit, i int, e eventstore.Event, add queue) error {
	id := c.EventID(i)
	switch ev := e.Event.(type) {
	case show.Rescheduled:
		sh, _, err := n.cmd.Show(ctx, c.StreamID[len(show.StreamPrefix):])
		if err != nil {
			return err
		}
		for _, b := range sh.Bookings() {
			r := notifications.Request{ID: id + ":" + b, Template: notifications.ShowRescheduled, BookingID: b, Previous: ev.Previous, ShowVersion: c.Version}
			if err := n.toHolder(ctx, r, true, add); err != nil {
				return err
			}
		}
		return nil
	case broadcast.Requested:
		return n.broadcast(ctx, ev, add)
	}
	tmpl, ok := bookingTemplates[e.Name]
	if !ok {
		return nil
	}
	reason := ""
	switch ev := e.Event.(type) {
	case booking.Cancelled:
		reason = ev.Reason
	case booking.RefundRequested:
		reason = ev.Reason
	}
	return n.toHolder(ctx, notifications.Request{ID: id + ":" + tmpl, Template: tmpl, BookingID: c.StreamID[len(booking.StreamPrefix):],
		BookingVersion: c.Version, Reason: reason}, false, add)
}

// EmailIDs returns the ids under which the saga queues the emails that the
// i-th event of c causes for a booking (the outbox keeps its history under
// the same ids), for timelines.
func EmailIDs(c eventstore.Commit, i int, bookingID string) []string {
	e := c.Events[i]
	if _, ok := e.Event.(show.Rescheduled); ok {
		return []string{c.EventID(i) + ":" + bookingID}
	}
	if tmpl, ok := bookingTemplates[e.Name]; ok {
		return []string{c.EventID(i) + ":" + tmpl}
	}
	return nil
}

// toHolder queues r to its booking's owner; onlyLive skips bookings that
// ended (read from the log: a cached state could miss the end).
func (n *Notify) toHolder(ctx context.Context, r notifications.Request, onlyLive bool, add queue) error {
	load := func() (*booking.Booking, int64, error) { return n.cmd.BookingAt(ctx, r.BookingID, r.BookingVersion) }
	if onlyLive {
		load = func() (*booking.Booking, int64, error) { return n.cmd.Booking(ctx, r.BookingID) }
	}
	b, _, err := load()
	if err != nil || !b.Exists() || (onlyLive && b.Released()) {
		return err
	}
	r.UserID = b.Owner()
	add(r)
	return nil
}

// BroadcastDoc records whom a broadcast went to.
type BroadcastDoc struct {
	ID       string    `bson:"_id" json:"id"`
	Audience string    `bson:"audience" json:"audience"`
	ShowID   string    `bson:"show_id,omitempty" json:"show_id,omitempty"`
	Subject  string    `bson:"subject" json:"subject"`
	Total    int       `bson:"total" json:"total"`
	Queued   time.Time `bson:"queued_at" json:"queued_at"`
}

func (n *Notify) broadcast(ctx context.Context, ev broadcast.Requested, add queue) error {
	var users []string
	if ev.Audience == broadcast.AllUsers {
		all, err := n.users.AllUserIDs(ctx)
		if err != nil {
			return err
		}
		users = all
	} else {
		sh, _, err := n.cmd.Show(ctx, ev.ShowID)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, b := range sh.Bookings() {
			bk, _, err := n.cmd.Booking(ctx, b)
			if err != nil {
				return err
			}
			if bk.Exists() && !bk.Released() && !seen[bk.Owner()] {
				seen[bk.Owner()] = true
				users = append(users, bk.Owner())
			}
		}
	}
	_, err := n.broadcasts.ReplaceOne(ctx, bson.D{{Key: "_id", Value: ev.BroadcastID}}, BroadcastDoc{
		ID: ev.BroadcastID, Audience: ev.Audience, ShowID: ev.ShowID, Subject: ev.Subject, Total: len(users), Queued: n.clock.Now(),
	}, options.Replace().SetUpsert(true))
	if err != nil {
		return err
	}
	for _, u := range users {
		add(notifications.Request{ID: "broadcast:" + ev.BroadcastID + ":" + u, Template: notifications.Broadcast,
			UserID: u, BroadcastID: ev.BroadcastID, Subject: ev.Subject, Text: ev.Text})
	}
	return nil
}

// Broadcast returns a broadcast's recipients count, if it was queued.
func (n *Notify) Broadcast(ctx context.Context, id string) (BroadcastDoc, bool, error) {
	var d BroadcastDoc
	err := n.broadcasts.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return d, false, nil
	}
	return d, err == nil, err
}
