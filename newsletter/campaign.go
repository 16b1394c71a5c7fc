package newsletter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/mailer"
)

// Campaign statuses.
const (
	Queued  = "queued"
	Sending = "sending"
	Done    = "done"
)

// Campaign is one newsletter and its progress.
type Campaign struct {
	ID          string    `bson:"_id" json:"id"`
	Subject     string    `bson:"subject" json:"subject"`
	HTML        string    `bson:"html" json:"-"`
	Text        string    `bson:"text" json:"-"`
	Status      string    `bson:"status" json:"status"`
	Snapshotted bool      `bson:"snapshotted" json:"-"`
	Batches     int       `bson:"batches" json:"-"`
	Total       int       `bson:"total" json:"total"`
	Sent        int       `bson:"sent" json:"sent"`
	Failed      int       `bson:"failed" json:"failed"`
	Unknown     int       `bson:"unknown" json:"unknown"`
	Skipped     int       `bson:"skipped" json:"skipped"` // unsubscribed after the snapshot
	CreatedAt   time.Time `bson:"created_at" json:"created_at"`
	FinishedAt  time.Time `bson:"finished_at,omitzero" json:"finished_at,omitzero"`
}

// Remaining is how many addresses are still to be sent.
func (c Campaign) Remaining() int { return max(0, c.Total-c.Sent-c.Failed-c.Unknown-c.Skipped) }

// Errors of campaigns.
var (
	ErrNoCampaign = &domain.Error{Kind: domain.NotFound, Code: "campaign-not-found", Msg: "newsletter: no such campaign"}
	errBadSubject = domain.NewInvalid("invalid-subject", "subject", "newsletter: subject must be one line of 1..200 characters")
	errBadContent = domain.NewInvalid("invalid-content", "html", "newsletter: html or text is required (at most 500 kB)")
	ugc           = bluemonday.UGCPolicy()
	strict        = bluemonday.StrictPolicy()
)

// CreateCampaign stores a campaign to send (its HTML sanitised, a text
// part derived if missing); the sender picks it up.
func (s *Service) CreateCampaign(ctx context.Context, subject, body, text string) (Campaign, error) {
	subject = strings.TrimSpace(subject)
	if subject == "" || utf8.RuneCountInString(subject) > 200 || strings.ContainsAny(subject, "\r\n") {
		return Campaign{}, errBadSubject
	}
	if (strings.TrimSpace(body) == "" && strings.TrimSpace(text) == "") || len(body)+len(text) > 500_000 {
		return Campaign{}, errBadContent
	}
	body = strings.TrimSpace(ugc.Sanitize(body))
	if strings.TrimSpace(text) == "" {
		text = strings.NewReplacer("</p>", "\n\n", "<br>", "\n", "<br/>", "\n").Replace(body)
		text = strings.TrimSpace(html.UnescapeString(strict.Sanitize(text)))
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	c := Campaign{ID: hex.EncodeToString(b[:]), Subject: subject, HTML: body, Text: text, Status: Queued, CreatedAt: s.now()}
	if _, err := s.campaigns.InsertOne(ctx, c); err != nil {
		return Campaign{}, err
	}
	return c, nil
}

// Campaign returns a campaign and its progress.
func (s *Service) Campaign(ctx context.Context, id string) (Campaign, error) {
	var c Campaign
	err := s.campaigns.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return c, ErrNoCampaign
	}
	return c, err
}

type batchDoc struct {
	ID     string   `bson:"_id"` // campaign:seq
	Emails []string `bson:"emails"`
}

type sendDoc struct {
	ID     string    `bson:"_id"`    // campaign:email
	Status string    `bson:"status"` // sending, sent, failed
	Error  string    `bson:"error,omitempty"`
	At     time.Time `bson:"at"`
}

// SenderOptions tune campaign sending.
type SenderOptions struct {
	Rate      float64 // emails per second (50)
	BatchSize int     // addresses per batch (100)
	Hit       func(string)
}

// RunSender sends queued campaigns until ctx ends. Run it in one process
// at a time (under a lease); a new holder resumes where the last one died.
func (s *Service) RunSender(ctx context.Context, m mailer.Sender, o SenderOptions) {
	if o.Rate <= 0 {
		o.Rate = 50
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Hit == nil {
		o.Hit = func(string) {}
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		cur, err := s.campaigns.Find(ctx, bson.D{{Key: "status", Value: bson.D{{Key: "$ne", Value: Done}}}})
		var open []Campaign
		if err == nil {
			err = cur.All(ctx, &open)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("newsletter: list campaigns", "err", err)
		}
		slices.SortFunc(open, func(a, b Campaign) int { return a.CreatedAt.Compare(b.CreatedAt) })
		for _, c := range open {
			if err := s.send(ctx, m, o, c); err != nil && ctx.Err() == nil {
				s.log.Warn("newsletter: campaign", "campaign", c.ID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// send runs one campaign to its end.
func (s *Service) send(ctx context.Context, m mailer.Sender, o SenderOptions, c Campaign) error {
	if !c.Snapshotted {
		if err := s.snapshot(ctx, &c, o.BatchSize); err != nil {
			return err
		}
	}
	// Recount what earlier runs did: sent, failed, and claimed but never
	// recorded (unknown: the sender died while handing it to SMTP).
	c.Sent, c.Failed, c.Unknown, c.Skipped = 0, 0, 0, 0
	done := map[string]bool{}
	cur, err := s.sends.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: c.ID + ":"}, {Key: "$lt", Value: c.ID + ";"}}}})
	if err != nil {
		return err
	}
	var prior []sendDoc
	if err := cur.All(ctx, &prior); err != nil {
		return err
	}
	for _, d := range prior {
		done[d.ID] = true
		switch d.Status {
		case "sent":
			c.Sent++
		case "failed":
			c.Failed++
		case "skipped":
			c.Skipped++
		default:
			c.Unknown++
		}
	}
	interval := time.Duration(float64(time.Second) / o.Rate)
	next := time.Now()
	for b := 0; b < c.Batches; b++ {
		var batch batchDoc
		if err := s.batches.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%s:%06d", c.ID, b)}}).Decode(&batch); err != nil {
			return err
		}
		for _, email := range batch.Emails {
			id := c.ID + ":" + email
			if done[id] {
				continue
			}
			st, err := s.Status(ctx, email)
			if err != nil {
				return err
			}
			if st == Confirmed {
				select { // the rate limit, before the claim
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Until(next)):
				}
				next = time.Now().Add(interval)
			}
			claim := sendDoc{ID: id, Status: "sending", At: s.now()}
			if st != Confirmed { // unsubscribed since the snapshot
				claim.Status = "skipped"
			}
			if _, err := s.sends.InsertOne(ctx, claim); err != nil {
				if mongo.IsDuplicateKeyError(err) {
					continue
				}
				return err
			}
			if claim.Status == "skipped" {
				c.Skipped++
				continue
			}
			link := s.UnsubscribeLink(email)
			msg := mailer.Message{To: email, Subject: c.Subject, MessageID: hash(id)[:32] + "@seatline",
				Text:    c.Text + "\n\n--\nUnsubscribe: " + link,
				Headers: map[string]string{"List-Unsubscribe": "<" + link + ">", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}
			if c.HTML != "" {
				msg.HTML = c.HTML + `<p style="color:#777;font-size:12px"><a href="` + html.EscapeString(link) + `">Unsubscribe</a></p>`
			}
			o.Hit("newsletter.before-send")
			serr := m.Send(ctx, msg)
			d := sendDoc{ID: id, Status: "sent", At: s.now()}
			if serr != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				d.Status, d.Error = "failed", serr.Error()
				c.Failed++
			} else {
				c.Sent++
			}
			if _, err := s.sends.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, d); err != nil {
				return err
			}
		}
		c.Status = Sending
		if err := s.saveProgress(ctx, c); err != nil {
			return err
		}
	}
	c.Status, c.FinishedAt = Done, s.now()
	return s.saveProgress(ctx, c)
}

// snapshot fixes a campaign's recipients: every confirmed subscriber now,
// in batches.
func (s *Service) snapshot(ctx context.Context, c *Campaign, size int) error {
	cur, err := s.subs.Find(ctx, bson.D{{Key: "status", Value: Confirmed}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return err
	}
	var subs []Subscriber
	if err := cur.All(ctx, &subs); err != nil {
		return err
	}
	emails := make([]string, len(subs))
	for i, d := range subs {
		emails[i] = d.Email
	}
	slices.Sort(emails)
	c.Batches = 0
	for i := 0; i < len(emails); i += size {
		d := batchDoc{ID: fmt.Sprintf("%s:%06d", c.ID, c.Batches), Emails: emails[i:min(i+size, len(emails))]}
		if _, err := s.batches.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true)); err != nil {
			return err
		}
		c.Batches++
	}
	c.Total, c.Snapshotted, c.Status = len(emails), true, Sending
	return s.saveProgress(ctx, *c)
}

func (s *Service) saveProgress(ctx context.Context, c Campaign) error {
	_, err := s.campaigns.ReplaceOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, c)
	return err
}
