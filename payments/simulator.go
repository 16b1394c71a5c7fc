package payments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/groupwrite"
)

// Test tokens understood by the simulator.
const (
	TokenApprove = "tok_approve" // charged at once
	TokenDecline = "tok_decline" // declined: card_declined
	TokenTimeout = "tok_timeout" // never answers (the caller's timeout ends it; nothing is charged)
	TokenSlow    = "tok_slow"    // charged after SlowDelay, even if the caller gave up waiting
	TokenError   = "tok_error"   // 503 on the first try of an idempotency key, charged on the next
)

// Simulator is a payment gateway for development and tests, speaking the
// protocol Client expects. Its ledger lives in MongoDB and is keyed by
// idempotency key, so the same key never charges twice, across restarts.
type Simulator struct {
	charges, refunds, flakes *mongo.Collection
	newCharges               *groupwrite.Inserter // into charges: concurrent calls share commands
	clock                    clock.Clock
	SlowDelay                time.Duration
	waiting                  sync.Map // reference → slow charges in flight
}

// NewSimulator returns a simulator with its ledger in db. A slow charge
// answers once slow has passed on clk.
func NewSimulator(db *mongo.Database, clk clock.Clock, slow time.Duration) *Simulator {
	if slow <= 0 {
		slow = 5 * time.Second
	}
	return &Simulator{charges: db.Collection("sim_charges"), refunds: db.Collection("sim_refunds"),
		flakes: db.Collection("sim_flakes"), clock: clk, SlowDelay: slow,
		newCharges: groupwrite.NewInserter(db.Collection("sim_charges"), 0)}
}

type chargeDoc struct {
	Key     string    `bson:"_id"`
	Charge  Charge    `bson:"charge"`
	Created time.Time `bson:"created"`
}

type refundDoc struct {
	Key     string    `bson:"_id"`
	Refund  Refund    `bson:"refund"`
	Created time.Time `bson:"created"`
}

// Waiting reports whether a slow charge for reference (a booking id) is
// at the simulated card network, not answered yet.
func (s *Simulator) Waiting(reference string) bool {
	_, ok := s.waiting.Load(reference)
	return ok
}

// ServeHTTP implements the gateway protocol: POST /v1/charges,
// POST /v1/refunds, GET /v1/charges?reference=.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/charges":
		s.charge(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refunds":
		s.refund(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/charges":
		s.list(w, r)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (s *Simulator) charge(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	var req ChargeRequest
	if key == "" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Amount < 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	// Work on after the caller hangs up, as a card network would.
	ctx := context.WithoutCancel(r.Context())
	if prev, ok, err := s.findCharge(ctx, key); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	} else if ok {
		writeJSON(w, prev)
		return
	}
	ch := Charge{ID: "ch_" + randomID(), Status: Succeeded, Reference: req.Reference, Amount: req.Amount}
	switch req.Token {
	case TokenApprove:
	case TokenDecline:
		ch.Status, ch.DeclineReason = Declined, "card_declined"
	case TokenTimeout:
		<-r.Context().Done()
		return
	case TokenSlow:
		s.waiting.Store(req.Reference, true)
		<-s.clock.After(s.SlowDelay)
		s.waiting.Delete(req.Reference)
	case TokenError:
		if _, err := s.flakes.InsertOne(ctx, bson.D{{Key: "_id", Value: key}}); err == nil {
			http.Error(w, "simulated gateway failure", http.StatusServiceUnavailable)
			return
		}
	default:
		ch.Status, ch.DeclineReason = Declined, "unknown test token"
	}
	if err := s.newCharges.Insert(ctx, chargeDoc{Key: key, Charge: ch, Created: s.clock.Now()}); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// A concurrent call with the same key won: answer with its charge.
		if prev, ok, err := s.findCharge(ctx, key); err == nil && ok {
			ch = prev
		}
	}
	writeJSON(w, ch)
}

func (s *Simulator) findCharge(ctx context.Context, key string) (Charge, bool, error) {
	var d chargeDoc
	err := s.charges.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Charge{}, false, nil
	}
	return d.Charge, err == nil, err
}

func (s *Simulator) refund(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	var req RefundRequest
	if key == "" || json.NewDecoder(r.Body).Decode(&req) != nil || req.ChargeID == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ctx := context.WithoutCancel(r.Context())
	rf := Refund{ID: "re_" + randomID(), ChargeID: req.ChargeID, Amount: req.Amount}
	if _, err := s.refunds.InsertOne(ctx, refundDoc{Key: key, Refund: rf, Created: s.clock.Now()}); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var d refundDoc
		if err := s.refunds.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		rf = d.Refund
	}
	writeJSON(w, rf)
}

// Ledger lists what the simulator charged and refunded for a reference
// (a booking id), for tests and operators.
func (s *Simulator) Ledger(ctx context.Context, reference string) (charges []Charge, refunds []Refund, err error) {
	var cs []chargeDoc
	cur, err := s.charges.Find(ctx, bson.D{{Key: "charge.reference", Value: reference}})
	if err != nil {
		return nil, nil, err
	}
	if err := cur.All(ctx, &cs); err != nil {
		return nil, nil, err
	}
	ids := map[string]bool{}
	for _, c := range cs {
		if c.Charge.Status == Succeeded {
			charges = append(charges, c.Charge)
			ids[c.Charge.ID] = true
		}
	}
	var rs []refundDoc
	cur, err = s.refunds.Find(ctx, bson.D{})
	if err != nil {
		return nil, nil, err
	}
	if err := cur.All(ctx, &rs); err != nil {
		return nil, nil, err
	}
	for _, r := range rs {
		if ids[r.Refund.ChargeID] {
			refunds = append(refunds, r.Refund)
		}
	}
	return charges, refunds, nil
}

func (s *Simulator) list(w http.ResponseWriter, r *http.Request) {
	charges, refunds, err := s.Ledger(r.Context(), r.URL.Query().Get("reference"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"charges": charges, "refunds": refunds})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
