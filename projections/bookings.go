package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/eventstore"
)

// BookingsProjection is the consumer group of the booking read models. It
// never changes.
const BookingsProjection = "projection.bookings"

// ErrBadCursor is returned for a cursor this reader did not hand out.
var ErrBadCursor = errors.New("projections: invalid cursor")

// Booking is the booking read model as stored.
type Booking struct {
	Head         `bson:",inline"`
	ID           string         `bson:"_id"`
	UserID       string         `bson:"user_id"`
	ShowID       string         `bson:"show_id"`
	Seats        []string       `bson:"seats"`
	Amount       int64          `bson:"amount"`
	Currency     string         `bson:"currency"`
	Status       booking.Status `bson:"status"`
	ExpiresAt    time.Time      `bson:"expires_at"`
	PlacedAt     time.Time      `bson:"placed_at"`
	UpdatedAt    time.Time      `bson:"updated_at"`
	CancelledBy  string         `bson:"cancelled_by,omitempty"`
	CancelReason string         `bson:"cancel_reason,omitempty"`
	Payment      Payment        `bson:"payment"`
	ConfirmedAt  time.Time      `bson:"confirmed_at,omitzero"`
}

// Payment is what a booking's read model says about its money.
type Payment struct {
	Status       string `bson:"status,omitempty"`
	Reason       string `bson:"reason,omitempty"`
	ChargeID     string `bson:"charge_id,omitempty"`
	RefundAmount int64  `bson:"refund_amount,omitempty"`
}

// userBookings lists one user's bookings, newest first.
type userBookings struct {
	UserID   string     `bson:"_id"`
	Bookings []userItem `bson:"bookings"`
}

type userItem struct {
	ID       string    `bson:"id"`
	PlacedAt time.Time `bson:"placed_at"`
}

// Bookings projects and reads bookings, by id and by user.
type Bookings struct {
	target *Target
	log    StreamReader
	// users keeps users' lists in memory while the model is built by a
	// rebuild (nil otherwise).
	users *docBuffer[*userBookings]
	// userCache holds the users' lists the projector wrote last.
	userCache docCache[*userBookings]
}

// NewBookings returns the booking read models kept in target.
func NewBookings(target *Target, log StreamReader) *Bookings {
	return &Bookings{target: target, log: log}
}

func (b *Bookings) coll() *mongo.Collection   { return b.target.DB().Collection("bookings") }
func (b *Bookings) byUser() *mongo.Collection { return b.target.DB().Collection("user_bookings") }

// Model describes the booking read models for rebuilds.
func (b *Bookings) Model() Model {
	return Model{Name: BookingsProjection, Collections: []string{"bookings", "user_bookings"}, Target: b.target,
		build: func(db *mongo.Database, buf bool) builder {
			nb := NewBookings(Fixed(db), b.log)
			p := nb.Projector()
			if buf {
				nb.users = newBuffer[*userBookings]()
				p.flushSide = nb.flushUsers
			}
			return withBuffer(p, buf)
		}}
}

// flushUsers writes the users' lists a rebuild changed.
func (b *Bookings) flushUsers(ctx context.Context) error { return b.users.flush(ctx, b.byUser()) }

// Projector returns the bookings projector.
func (b *Bookings) Projector() *streamModel[Booking, *Booking] {
	return &streamModel[Booking, *Booking]{name: BookingsProjection, prefix: booking.StreamPrefix, target: b.target, collection: "bookings", log: b.log,
		apply:  applyBooking,
		before: b.addToUsers, onRefresh: b.userCache.clear}
}

// applyBooking folds one event of a booking into its read model.
func applyBooking(d *Booking, c eventstore.Commit, e eventstore.Event) {
	switch ev := e.Event.(type) {
	case booking.Placed:
		d.ID, d.UserID, d.ShowID, d.Seats = ev.BookingID, ev.UserID, ev.ShowID, ev.Seats
		d.Amount, d.Currency, d.ExpiresAt, d.PlacedAt = ev.Amount, ev.Currency, ev.ExpiresAt, ev.PlacedAt
		d.Status = booking.StatusHeld
	case booking.CheckoutStarted:
		d.Status, d.ExpiresAt, d.Payment = booking.StatusPaymentPending, ev.Deadline, Payment{Status: booking.PaymentPending}
	case booking.PaymentSucceeded:
		d.Payment.Status, d.Payment.ChargeID, d.Payment.Reason = booking.PaymentSucceededStat, ev.ChargeID, ""
	case booking.PaymentFailed:
		d.Status, d.Payment.Status, d.Payment.Reason = booking.StatusPaymentFailed, booking.PaymentFailedStat, ev.Reason
	case booking.Confirmed:
		d.Status, d.ConfirmedAt = booking.StatusConfirmed, ev.At
	case booking.Cancelled:
		d.Status, d.CancelledBy, d.CancelReason = booking.StatusCancelled, ev.By, ev.Reason
	case booking.Expired:
		d.Status = booking.StatusExpired
	case booking.RefundRequested:
		d.Status = booking.StatusRefunded
		d.Payment.Status, d.Payment.Reason, d.Payment.RefundAmount = booking.PaymentRefundPending, ev.Reason, ev.Amount
	case booking.Refunded:
		d.Payment.Status = booking.PaymentRefunded
	}
	d.UpdatedAt = c.Time
}

// addToUsers adds newly placed bookings to their users' lists, one read
// and one write per user; adding a booking twice is a no-op.
func (b *Bookings) addToUsers(ctx context.Context, changed []Changed[*Booking]) error {
	added := map[string][]userItem{}
	var users []string
	for _, c := range changed {
		for _, e := range c.Applied {
			if _, ok := e.Event.(booking.Placed); ok {
				if _, seen := added[c.Doc.UserID]; !seen {
					users = append(users, c.Doc.UserID)
				}
				added[c.Doc.UserID] = append(added[c.Doc.UserID], userItem{ID: c.Doc.ID, PlacedAt: c.Doc.PlacedAt})
			}
		}
	}
	if len(users) == 0 {
		return nil
	}
	if b.users != nil {
		for _, u := range users {
			d := b.users.docs[u]
			if d == nil {
				d = &userBookings{UserID: u}
				b.users.docs[u] = d
			}
			addItems(d, added[u])
			b.users.dirty[u] = true
		}
		return nil
	}
	db := b.byUser().Database().Name()
	lists := make([]*userBookings, len(users))
	err := parallel(ctx, len(users), 8, func(ctx context.Context, i int) error {
		if u, ok := b.userCache.get(db, users[i]); ok {
			lists[i] = &userBookings{UserID: u.UserID, Bookings: slices.Clone(u.Bookings)}
		} else {
			u, _, err := getDoc[userBookings](ctx, b.byUser(), users[i])
			if err != nil {
				return err
			}
			lists[i] = &u
		}
		lists[i].UserID = users[i]
		addItems(lists[i], added[users[i]])
		return nil
	})
	if err != nil {
		return err
	}
	writes := make([]mongo.WriteModel, len(lists))
	for i, u := range lists {
		writes[i] = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: u.UserID}}).SetReplacement(u).SetUpsert(true)
	}
	if err := writeChunks(ctx, b.byUser(), nil, writes); err != nil {
		b.userCache.clear()
		return fmt.Errorf("projections: write users' bookings: %w", err)
	}
	for _, u := range lists {
		b.userCache.put(db, u.UserID, u)
	}
	return nil
}

// addItems adds bookings to a user's list (once each), newest first.
func addItems(u *userBookings, items []userItem) {
	for _, it := range items {
		if !slices.ContainsFunc(u.Bookings, func(x userItem) bool { return x.ID == it.ID }) {
			u.Bookings = append(u.Bookings, it)
		}
	}
	slices.SortFunc(u.Bookings, func(a, b userItem) int {
		if c := b.PlacedAt.Compare(a.PlacedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Get returns one booking with its status as it is at now.
func (b *Bookings) Get(ctx context.Context, id string, now time.Time) (Booking, bool, error) {
	d, ok, err := getDoc[Booking](ctx, b.coll(), id)
	if ok {
		d.Status = booking.EffectiveStatus(d.Status, d.Payment.ChargeID != "", d.ExpiresAt, now)
	}
	return d, ok, err
}

// ListByUser returns up to limit of a user's bookings, newest first,
// starting after the booking id in cursor ("" for the first page). The
// returned cursor is "" on the last page.
func (b *Bookings) ListByUser(ctx context.Context, userID, cursor string, limit int, now time.Time) ([]Booking, string, error) {
	u, _, err := getDoc[userBookings](ctx, b.byUser(), userID)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if cursor != "" {
		i := slices.IndexFunc(u.Bookings, func(it userItem) bool { return it.ID == cursor })
		if i < 0 {
			return nil, "", ErrBadCursor
		}
		start = i + 1
	}
	end := min(start+limit, len(u.Bookings))
	out := make([]Booking, 0, end-start)
	for _, it := range u.Bookings[start:end] {
		d, ok, err := b.Get(ctx, it.ID, now)
		if err != nil {
			return nil, "", err
		}
		if ok {
			out = append(out, d)
		}
	}
	next := ""
	if end < len(u.Bookings) && end > start {
		next = u.Bookings[end-1].ID
	}
	return out, next, nil
}
