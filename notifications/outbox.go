// Package notifications turns decisions into emails through an outbox in
// MongoDB: each email to send is a durable job keyed by the event (and
// recipient and template) that caused it, so a redelivered event never
// sends twice, and a crash never loses one. A history document per email
// records its status, attempts and last error for admins.
package notifications

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/groupwrite"
	"github.com/seatline/seatline/jobs"
	"github.com/seatline/seatline/mailer"
)

// Request is one email to send: which template, to whom, about what.
type Request struct {
	ID        string `bson:"id"`
	Template  string `bson:"template"`
	UserID    string `bson:"user_id"`
	BookingID string `bson:"booking_id,omitempty"`
	// BookingVersion and ShowVersion are the versions the booking and its
	// show had reached at the event that caused the email (0: any), so
	// that the email shows the booking at least as of that event.
	BookingVersion int64     `bson:"booking_version,omitempty"`
	ShowVersion    int64     `bson:"show_version,omitempty"`
	Reason         string    `bson:"reason,omitempty"`
	Previous       time.Time `bson:"previous,omitzero"` // a rescheduled show's old start
	BroadcastID    string    `bson:"broadcast_id,omitempty"`
	Subject        string    `bson:"subject,omitempty"` // broadcasts
	Text           string    `bson:"text,omitempty"`    // broadcasts
	To             string    `bson:"to,omitempty"`      // overrides the user's address (email change)
	Link           string    `bson:"link,omitempty"`    // account emails; never kept in the history
}

// BookingInfo is what templates show of a booking.
type BookingInfo struct {
	ID, Code, UserID string
	Seats            []string
	Amount           int64
	RefundAmount     int64
	Currency         string
	ExpiresAt        time.Time
	Status           string
	PaymentReason    string
	ShowID           string
}

// ShowInfo is what templates show of a show.
type ShowInfo struct {
	ID, MovieTitle, VenueName, City string
	StartsAt                        time.Time
}

// Details finds what templates show of a booking, at least as recent as
// the versions the request names.
type Details interface {
	Booking(ctx context.Context, r Request) (BookingInfo, ShowInfo, bool, error)
}

// Recipients finds a user's address; ok is false for a deleted user.
type Recipients interface {
	Contact(ctx context.Context, userID string) (email, name string, ok bool, err error)
}

// Record is the history of one email.
type Record struct {
	ID          string    `bson:"_id" json:"id"`
	Template    string    `bson:"template" json:"template"`
	UserID      string    `bson:"user_id" json:"user_id"`
	BookingID   string    `bson:"booking_id,omitempty" json:"booking_id,omitempty"`
	BroadcastID string    `bson:"broadcast_id,omitempty" json:"broadcast_id,omitempty"`
	To          string    `bson:"to,omitempty" json:"to,omitempty"`
	Subject     string    `bson:"subject,omitempty" json:"subject,omitempty"`
	Text        string    `bson:"text,omitempty" json:"-"`
	Status      string    `bson:"status" json:"status"` // sent, retrying, failed, skipped
	Attempts    int       `bson:"attempts" json:"attempts"`
	LastError   string    `bson:"last_error,omitempty" json:"last_error,omitempty"`
	UpdatedAt   time.Time `bson:"updated_at" json:"updated_at"`
	SentAt      time.Time `bson:"sent_at,omitzero" json:"sent_at,omitzero"`
	stored      bool      // a record of this email exists already
}

// Email statuses.
const (
	Sent     = "sent"
	Retrying = "retrying"
	Failed   = "failed"
	Skipped  = "skipped"
)

// Outbox queues and sends emails.
type Outbox struct {
	clock   clock.Clock
	queues  *jobs.Partitioned[Request]
	history *mongo.Collection
	firsts  *groupwrite.Inserter // the first record of each email, into history
	sender  mailer.Sender
	rcpt    Recipients
	details Details
	tmpl    *Templates
	log     *slog.Logger
	opts    jobs.Options
	// OnResult reports each email's outcome: sent, retrying, failed or
	// skipped (metrics).
	OnResult func(template, status string)
}

// NewOutbox returns the outbox stored in db, with a queue for each of
// partitions (the notification saga's: emails go out from the process that
// consumes the partition of the event that caused them), retries due by
// clk.
func NewOutbox(db *mongo.Database, partitions int, clk clock.Clock, sender mailer.Sender, rcpt Recipients, details Details, tmpl *Templates, log *slog.Logger) *Outbox {
	return &Outbox{
		clock:  clk,
		queues: jobs.NewPartitioned[Request](db, "email_jobs", partitions, clk, log), history: db.Collection("emails"), firsts: groupwrite.NewInserter(db.Collection("emails"), 0),
		sender: sender, rcpt: rcpt, details: details, tmpl: tmpl, log: log,
		opts: jobs.Options{Workers: 16, MaxAttempts: 8},
	}
}

// Enqueue queues an email unless one with the same id was queued before.
// It goes to partition 0, whose runner looks for emails other processes
// queued (account emails of API requests) every two seconds.
func (o *Outbox) Enqueue(ctx context.Context, r Request) (bool, error) {
	return o.queues.Of(0).Add(ctx, r.ID, o.clock.Now(), r)
}

// EnqueueMany queues emails of one partition with one insert, skipping
// those queued before.
func (o *Outbox) EnqueueMany(ctx context.Context, partition int, rs []Request) error {
	items := make([]jobs.Item[Request], len(rs))
	now := o.clock.Now()
	for i, r := range rs {
		items[i] = jobs.Item[Request]{ID: r.ID, Due: now, Payload: r}
	}
	_, err := o.queues.Of(partition).AddMany(ctx, items)
	return err
}

// Run sends a partition's queued emails until ctx ends (one process at a
// time per partition).
func (o *Outbox) Run(ctx context.Context, partition int) {
	opts := o.opts
	if partition == 0 {
		opts.Rescan = 2 * time.Second // for Enqueue in other processes
	}
	if err := o.queues.Of(partition).Run(ctx, opts, o.send); err != nil && ctx.Err() == nil {
		o.log.Error("notifications: outbox stopped", "partition", partition, "err", err)
	}
}

// send delivers one email. A history marked sent means an earlier run sent
// it and died before removing the job: nothing is sent again.
func (o *Outbox) send(ctx context.Context, j jobs.Job[Request]) error {
	r := j.Payload
	var prev Record
	err := o.history.FindOne(ctx, bson.D{{Key: "_id", Value: r.ID}}).Decode(&prev)
	if err == nil && prev.Status == Sent {
		return nil
	}
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	rec := Record{ID: r.ID, Template: r.Template, UserID: r.UserID, BookingID: r.BookingID, BroadcastID: r.BroadcastID, Attempts: j.Attempts + 1,
		stored: err == nil}
	msg, skip, err := o.compose(ctx, r)
	switch {
	case err != nil:
		return o.failed(ctx, rec, err)
	case skip != "":
		rec.Status, rec.LastError = Skipped, skip
		return o.save(ctx, rec)
	}
	rec.To, rec.Subject, rec.Text = msg.To, msg.Subject, msg.Text
	if r.Link != "" {
		rec.Text = "" // it carries a secret link
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = o.sender.Send(sctx, msg)
	cancel()
	if err != nil {
		return o.failed(ctx, rec, err)
	}
	rec.Status, rec.SentAt = Sent, o.clock.Now()
	return o.save(ctx, rec)
}

func (o *Outbox) compose(ctx context.Context, r Request) (mailer.Message, string, error) {
	email, name := r.To, ""
	if r.UserID != "" { // else a guest (a newsletter confirmation): To only
		e, n, ok, err := o.rcpt.Contact(ctx, r.UserID)
		if err != nil {
			return mailer.Message{}, "", err
		}
		if !ok {
			return mailer.Message{}, "the recipient no longer exists", nil
		}
		name = n
		if email == "" {
			email = e
		}
	}
	data := map[string]any{"Name": name, "Reason": r.Reason, "Previous": r.Previous, "Subject": r.Subject, "Text": r.Text, "Link": r.Link}
	if r.BookingID != "" {
		b, s, found, err := o.details.Booking(ctx, r)
		if err != nil {
			return mailer.Message{}, "", err
		}
		if !found {
			return mailer.Message{}, "the booking does not exist", nil
		}
		data["Booking"], data["Show"] = b, s
	}
	subject, text, html, err := o.tmpl.Render(r.Template, data)
	if err != nil {
		return mailer.Message{}, "", jobs.Permanent(err)
	}
	sum := sha256.Sum256([]byte(r.ID))
	return mailer.Message{To: email, ToName: name, Subject: subject, Text: text, HTML: html,
		MessageID: hex.EncodeToString(sum[:16]) + "@seatline"}, "", nil
}

func (o *Outbox) failed(ctx context.Context, rec Record, cause error) error {
	rec.Status, rec.LastError = Retrying, cause.Error()
	if errors.Is(cause, mailer.ErrPermanent) || rec.Attempts >= o.opts.MaxAttempts {
		rec.Status = Failed
		cause = jobs.Permanent(cause)
	}
	if err := o.save(ctx, rec); err != nil {
		o.log.Warn("notifications: record failure", "email", rec.ID, "err", err)
	}
	return fmt.Errorf("send %s: %w", rec.ID, cause)
}

// Record returns the history of one email by its id.
func (o *Outbox) Record(ctx context.Context, id string) (Record, bool, error) {
	var r Record
	err := o.history.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return r, false, nil
	}
	return r, err == nil, err
}

func (o *Outbox) save(ctx context.Context, rec Record) error {
	if o.OnResult != nil {
		o.OnResult(rec.Template, rec.Status)
	}
	rec.UpdatedAt = o.clock.Now()
	if !rec.stored { // the first record of an email: an insert, cheaper than an update
		err := o.firsts.Insert(ctx, rec)
		if !mongo.IsDuplicateKeyError(err) {
			return err
		}
	}
	_, err := o.history.ReplaceOne(ctx, bson.D{{Key: "_id", Value: rec.ID}}, rec, options.Replace().SetUpsert(true))
	return err
}

// RecordFilter selects email history; empty fields match all.
type RecordFilter struct {
	BookingID, BroadcastID, Status, UserID string
	Limit                                  int
}

// Records lists email history matching f (a scan: for admins).
func (o *Outbox) Records(ctx context.Context, f RecordFilter) ([]Record, error) {
	filter := bson.D{}
	for k, v := range map[string]string{"booking_id": f.BookingID, "broadcast_id": f.BroadcastID, "status": f.Status, "user_id": f.UserID} {
		if v != "" {
			filter = append(filter, bson.E{Key: k, Value: v})
		}
	}
	opts := options.Find()
	if f.Limit > 0 {
		opts.SetLimit(int64(f.Limit))
	}
	cur, err := o.history.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	var out []Record
	err = cur.All(ctx, &out)
	return out, err
}

// Pending returns the queue's counts, for monitoring.
func (o *Outbox) Pending(ctx context.Context) (jobs.Stats, error) { return o.queues.Stats(ctx) }
