package payments

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// SignatureHeader carries a webhook's signature: "t=<unix seconds>,v1=<hex
// HMAC-SHA256 of "<t>.<body>" with the shared secret>".
const SignatureHeader = "Seatline-Signature"

// Webhook event types a provider sends.
const (
	EventPaymentSucceeded = "payment.succeeded"
	EventPaymentFailed    = "payment.failed"
	EventRefundSucceeded  = "refund.succeeded"
)

// WebhookEvent is a provider's notification.
type WebhookEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		BookingID string `json:"booking_id"`
		ChargeID  string `json:"charge_id"`
		RefundID  string `json:"refund_id"`
		Amount    int64  `json:"amount"`
		Currency  string `json:"currency"`
		Reason    string `json:"reason"`
	} `json:"data"`
}

// ErrBadSignature is returned for a webhook whose signature does not
// verify, or whose timestamp is outside the tolerance (a replay).
var ErrBadSignature = errors.New("payments: bad webhook signature")

// Webhooks verifies provider webhooks and remembers which events were
// handled, so that a provider's redelivery has no second effect.
type Webhooks struct {
	secret    []byte
	tolerance time.Duration
	seen      *mongo.Collection
}

// NewWebhooks returns a verifier for secret that keeps handled event ids
// in db. Signatures older or newer than tolerance (5m) are refused.
func NewWebhooks(secret string, tolerance time.Duration, db *mongo.Database) *Webhooks {
	if tolerance <= 0 {
		tolerance = 5 * time.Minute
	}
	return &Webhooks{secret: []byte(secret), tolerance: tolerance, seen: db.Collection("webhook_events")}
}

// Sign returns the signature header value for body at t, as a provider
// computes it.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header for body at now.
func (w *Webhooks) Verify(header string, body []byte, now time.Time) error {
	if len(w.secret) == 0 {
		return fmt.Errorf("%w: no webhook secret configured", ErrBadSignature)
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > w.tolerance || d < -w.tolerance {
		return fmt.Errorf("%w: timestamp outside the tolerance", ErrBadSignature)
	}
	mac := hmac.New(sha256.New, w.secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// Seen reports whether an event id was handled before.
func (w *Webhooks) Seen(ctx context.Context, id string) (bool, error) {
	err := w.seen.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// MarkSeen records that an event id was handled.
func (w *Webhooks) MarkSeen(ctx context.Context, id string) error {
	_, err := w.seen.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "at", Value: time.Now().UTC()}})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return err
	}
	return nil
}
