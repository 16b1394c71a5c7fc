// Package payments is the payment gateway port and its adapter. The
// gateway speaks a small HTTP protocol (charges and refunds, each with an
// Idempotency-Key so that a retried call never charges twice); Client is
// the adapter, and Simulator is a gateway that speaks the same protocol
// with outcomes chosen by test tokens. The built-in simulator is reached
// through the same client code, over an in-process transport.
package payments

import (
	"context"
	"errors"
)

// ChargeRequest asks the gateway to take money.
type ChargeRequest struct {
	IdempotencyKey string `json:"-"`
	Reference      string `json:"reference"` // the booking id
	Token          string `json:"token"`
	Amount         int64  `json:"amount"` // minor units
	Currency       string `json:"currency"`
}

// Charge is the gateway's answer to a charge.
type Charge struct {
	ID            string `json:"id"`
	Status        string `json:"status"` // succeeded or declined
	DeclineReason string `json:"decline_reason,omitempty"`
	Reference     string `json:"reference"`
	Amount        int64  `json:"amount"`
}

// Charge statuses.
const (
	Succeeded = "succeeded"
	Declined  = "declined"
)

// RefundRequest asks the gateway to return money of a charge.
type RefundRequest struct {
	IdempotencyKey string `json:"-"`
	ChargeID       string `json:"charge_id"`
	Amount         int64  `json:"amount"`
}

// Refund is the gateway's answer to a refund.
type Refund struct {
	ID       string `json:"id"`
	ChargeID string `json:"charge_id"`
	Amount   int64  `json:"amount"`
}

// ErrTransient wraps failures worth retrying with the same idempotency
// key: timeouts, connection errors, 5xx answers.
var ErrTransient = errors.New("payments: transient failure")

// Gateway takes and returns money. Calls with the same idempotency key
// have one effect.
type Gateway interface {
	Charge(ctx context.Context, r ChargeRequest) (Charge, error)
	Refund(ctx context.Context, r RefundRequest) (Refund, error)
}
