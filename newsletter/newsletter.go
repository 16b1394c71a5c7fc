// Package newsletter owns the mailing list: double opt-in subscriptions
// (guests and users), one-click unsubscribe (RFC 8058) by signed link, and
// campaigns sent in the background. The rules:
//
//   - Only confirmed subscribers ever receive a campaign. A guest confirms
//     through an emailed link; a user whose account email is verified is
//     confirmed at once.
//   - Campaign HTML is sanitised (bluemonday's user-content policy) before
//     it is stored, so a compromised admin account cannot mail scripts.
//   - A campaign snapshots its recipients when sending starts, sends in
//     batches at a limited rate, and survives a crash: every address is
//     claimed (an insert) before its email is handed to SMTP, so no
//     address ever gets two copies. An address whose claim exists but whose
//     send was not recorded (the sender died in that instant) is reported
//     as unknown and not retried: at most once, never twice.
package newsletter

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/ratelimit"
)

// Subscription statuses.
const (
	Pending      = "pending"
	Confirmed    = "confirmed"
	Unsubscribed = "unsubscribed"
)

// Errors of the newsletter.
var (
	ErrInvalidToken = domain.NewInvalid("invalid-token", "token", "newsletter: the link is invalid or expired")
	ErrInvalidEmail = domain.NewInvalid("invalid-email", "email", "newsletter: not a valid email address")
)

// Confirmer emails a confirmation link to an address.
type Confirmer interface {
	SendConfirmation(ctx context.Context, email, link string) error
}

// Service manages subscriptions and campaigns.
type Service struct {
	subs, tokens, campaigns, batches, sends *mongo.Collection
	db                                      *mongo.Database
	keys                                    [][]byte
	publicURL                               string
	confirm                                 Confirmer
	limit                                   *ratelimit.Limiter
	log                                     *slog.Logger
	now                                     func() time.Time
}

// NewService returns the newsletter stored in db. keys sign unsubscribe
// links: the first signs, any verifies (so links outlive a key rotation);
// every instance needs the same.
func NewService(db *mongo.Database, keys [][]byte, publicURL string, confirm Confirmer, limits ratelimit.Store, log *slog.Logger) *Service {
	return &Service{
		subs: db.Collection("subscribers"), tokens: db.Collection("confirm_tokens"), campaigns: db.Collection("campaigns"),
		batches: db.Collection("campaign_batches"), sends: db.Collection("campaign_sends"), db: db,
		keys: keys, publicURL: strings.TrimRight(publicURL, "/"), confirm: confirm, log: log,
		limit: ratelimit.New(limits, "newsletter", ratelimit.Policy{Max: 3, Window: time.Hour, Base: time.Hour, MaxLock: time.Hour}),
		now:   func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
	}
}

// Subscriber is one address on the list.
type Subscriber struct {
	Email          string    `bson:"_id" json:"email"`
	Status         string    `bson:"status" json:"status"`
	UserID         string    `bson:"user_id,omitempty" json:"user_id,omitempty"`
	CreatedAt      time.Time `bson:"created_at" json:"created_at"`
	ConfirmedAt    time.Time `bson:"confirmed_at,omitzero" json:"confirmed_at,omitzero"`
	UnsubscribedAt time.Time `bson:"unsubscribed_at,omitzero" json:"unsubscribed_at,omitzero"`
}

func normalize(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	at := strings.LastIndex(e, "@")
	if at < 1 || at == len(e)-1 || len(e) > 254 || strings.ContainsAny(e, " \t\r\n<>\",") || !strings.Contains(e[at:], ".") {
		return "", ErrInvalidEmail
	}
	return e, nil
}

// Status returns an address's subscription status ("" if never subscribed).
func (s *Service) Status(ctx context.Context, email string) (string, error) {
	e, err := normalize(email)
	if err != nil {
		return "", err
	}
	var d Subscriber
	err = s.subs.FindOne(ctx, bson.D{{Key: "_id", Value: e}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	return d.Status, err
}

type tokenDoc struct {
	Hash      string    `bson:"_id"`
	Email     string    `bson:"email"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// Subscribe starts a double opt-in for a guest: the address is pending
// until the emailed link is opened. It says nothing about the address's
// current status (the answer is always the same) and limits confirmation
// emails per address.
func (s *Service) Subscribe(ctx context.Context, email string) error {
	e, err := normalize(email)
	if err != nil {
		return err
	}
	st, err := s.Status(ctx, e)
	if err != nil || st == Confirmed {
		return err
	}
	if ok, _, err := s.limit.Allow(ctx, e); err != nil || !ok {
		return err
	}
	if err := s.put(ctx, e, Pending, ""); err != nil {
		return err
	}
	tok := rand.Text()
	if _, err := s.tokens.InsertOne(ctx, tokenDoc{Hash: hash(tok), Email: e, ExpiresAt: s.now().Add(48 * time.Hour)}); err != nil {
		return err
	}
	return s.confirm.SendConfirmation(ctx, e, s.publicURL+"/api/v1/newsletter/confirm?token="+tok)
}

// SubscribeVerified subscribes an address whose owner proved it (a user's
// verified account email) without a confirmation email.
func (s *Service) SubscribeVerified(ctx context.Context, email, userID string) error {
	e, err := normalize(email)
	if err != nil {
		return err
	}
	return s.put(ctx, e, Confirmed, userID)
}

// Confirm confirms a pending subscription with the emailed token.
func (s *Service) Confirm(ctx context.Context, token string) (string, error) {
	var d tokenDoc
	err := s.tokens.FindOne(ctx, bson.D{{Key: "_id", Value: hash(token)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !s.now().Before(d.ExpiresAt)) {
		return "", ErrInvalidToken
	}
	if err != nil {
		return "", err
	}
	if st, err := s.Status(ctx, d.Email); err != nil || st == Confirmed {
		return d.Email, err
	}
	return d.Email, s.put(ctx, d.Email, Confirmed, "")
}

// UnsubscribeLink returns the signed one-click unsubscribe URL of an address.
func (s *Service) UnsubscribeLink(email string) string {
	return s.publicURL + "/api/v1/newsletter/unsubscribe?token=" + signUnsubscribe(s.keys[0], email)
}

func signUnsubscribe(key []byte, email string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("unsubscribe:" + email))
	return base64.RawURLEncoding.EncodeToString([]byte(email)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// CheckUnsubscribe returns the address a signed unsubscribe token names.
func (s *Service) CheckUnsubscribe(token string) (string, error) {
	body, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", ErrInvalidToken
	}
	for _, k := range s.keys {
		if hmac.Equal([]byte(signUnsubscribe(k, string(raw))), []byte(token)) {
			return string(raw), nil
		}
	}
	return "", ErrInvalidToken
}

// Unsubscribe removes the address a signed token names. It needs no login
// and is idempotent.
func (s *Service) Unsubscribe(ctx context.Context, token string) (string, error) {
	e, err := s.CheckUnsubscribe(token)
	if err != nil {
		return "", err
	}
	return e, s.UnsubscribeEmail(ctx, e)
}

// UnsubscribeEmail removes an address from the list (a user at /me).
func (s *Service) UnsubscribeEmail(ctx context.Context, email string) error {
	e, err := normalize(email)
	if err != nil {
		return err
	}
	if st, err := s.Status(ctx, e); err != nil || st == "" || st == Unsubscribed {
		return err
	}
	return s.put(ctx, e, Unsubscribed, "")
}

// put sets an address's status. One address is one document, changed only
// by its owner's own actions, so concurrent writers are not a concern.
func (s *Service) put(ctx context.Context, email, status, userID string) error {
	var d Subscriber
	err := s.subs.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	now := s.now()
	if d.Email == "" {
		d = Subscriber{Email: email, CreatedAt: now}
	}
	d.Status = status
	if userID != "" {
		d.UserID = userID
	}
	switch status {
	case Confirmed:
		d.ConfirmedAt = now
	case Unsubscribed:
		d.UnsubscribedAt = now
	}
	_, err = s.subs.ReplaceOne(ctx, bson.D{{Key: "_id", Value: email}}, d, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("newsletter: save %s: %w", email, err)
	}
	return nil
}

// AddConfirmed puts addresses on the list as confirmed, for imports of
// lists whose consent was collected elsewhere (and for tests).
func (s *Service) AddConfirmed(ctx context.Context, emails []string) error {
	now := s.now()
	var docs []mongo.WriteModel
	for _, e := range emails {
		n, err := normalize(e)
		if err != nil {
			return err
		}
		docs = append(docs, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: n}}).
			SetReplacement(Subscriber{Email: n, Status: Confirmed, CreatedAt: now, ConfirmedAt: now}).SetUpsert(true))
	}
	// At most 64 updates per command: FerretDB on SQLite hangs on an
	// update command with more than 99 statements that match documents.
	for i := 0; i < len(docs); i += 64 {
		if _, err := s.subs.BulkWrite(ctx, docs[i:min(i+64, len(docs))], options.BulkWrite().SetOrdered(false)); err != nil {
			return err
		}
	}
	return nil
}

func hash(t string) string {
	sum := sha256.Sum256([]byte(t))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Forget erases an address from the list (its owner deleted the account).
func (s *Service) Forget(ctx context.Context, email string) error {
	e, err := normalize(email)
	if err != nil {
		return nil // erased accounts may carry a placeholder address
	}
	_, err = s.subs.DeleteOne(ctx, bson.D{{Key: "_id", Value: e}})
	return err
}
