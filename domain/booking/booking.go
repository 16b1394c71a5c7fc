// Package booking owns the lifecycle of one booking: held, then paid and
// confirmed, or released (cancelled, expired, payment failed), and refunded
// when money taken must go back. The seats themselves belong to the show; a
// booking records what the customer was promised and what happened to it.
//
//	held ──checkout──▶ payment_pending ──paid──▶ (paid) ──seats sold──▶ confirmed
//	 │                   │        │                 │                     │
//	 │ cancel            │ declined │ deadline,     │ seats gone          │ cancel (policy),
//	 ▼                   ▼        ▼ unpaid          ▼                     ▼ show cancelled
//	cancelled      payment_failed  expired ─late payment─▶ refunded ◀──────┘
//	   └────────────── late payment ──────────────────────▶ refunded
package booking

import (
	"slices"
	"time"
	"unicode/utf8"

	"github.com/seatline/seatline/domain"
)

// Status is where a booking is in its lifecycle.
type Status string

// The booking statuses of the API contract.
const (
	StatusNone           Status = ""
	StatusHeld           Status = "held"
	StatusPaymentPending Status = "payment_pending"
	StatusConfirmed      Status = "confirmed"
	StatusPaymentFailed  Status = "payment_failed"
	StatusExpired        Status = "expired"
	StatusCancelled      Status = "cancelled"
	StatusRefunded       Status = "refunded"
)

// Payment statuses, as the API shows them under "payment".
const (
	PaymentPending       = "pending"
	PaymentSucceededStat = "succeeded"
	PaymentFailedStat    = "failed"
	PaymentRefundPending = "refund_pending"
	PaymentRefunded      = "refunded"
)

// Errors returned by Booking's decisions.
var (
	ErrNotFound           = &domain.Error{Kind: domain.NotFound, Code: "booking-not-found", Msg: "booking: not found"}
	ErrAlreadyPlaced      = &domain.Error{Kind: domain.Conflict, Code: "booking-exists", Msg: "booking: already placed with other details"}
	ErrHoldExpired        = &domain.Error{Kind: domain.Conflict, Code: "hold-expired", Msg: "booking: the hold has expired"}
	ErrNotCancelable      = &domain.Error{Kind: domain.Conflict, Code: "not-cancelable", Msg: "booking: cannot be cancelled in its current status"}
	ErrPaymentInProgress  = &domain.Error{Kind: domain.Conflict, Code: "payment-in-progress", Msg: "booking: a payment is in progress"}
	ErrCancellationClosed = &domain.Error{Kind: domain.Conflict, Code: "cancellation-closed", Msg: "booking: too close to the show to cancel with a refund"}
	ErrNotCheckoutable    = &domain.Error{Kind: domain.Conflict, Code: "not-checkoutable", Msg: "booking: only a held booking can be checked out"}
	ErrOtherToken         = &domain.Error{Kind: domain.Conflict, Code: "checkout-started", Msg: "booking: checkout already started with another payment token"}
	ErrBadToken           = domain.NewInvalid("invalid-payment-token", "payment_token", "booking: payment_token must be 1..200 characters")
)

// Booking is the booking aggregate.
type Booking struct {
	domain.Recorder
	s State
	// tolerance is how long past its deadline an unpaid booking is still
	// live for this process's decisions (see WithClockTolerance).
	tolerance time.Duration
}

// WithClockTolerance makes Expire wait d past the deadline, so that a
// process whose clock runs up to d ahead of the one that set the deadline
// never expires a booking early. It returns b.
func (b *Booking) WithClockTolerance(d time.Duration) *Booking {
	b.tolerance = d
	return b
}

// State is everything a Booking knows; it is what snapshots store.
type State struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	ShowID    string    `json:"show_id"`
	Seats     []string  `json:"seats"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	ExpiresAt time.Time `json:"expires_at"` // the deadline, extended once at checkout
	PlacedAt  time.Time `json:"placed_at"`
	Status    Status    `json:"status"`
	Payment   Payment   `json:"payment"`
	// Token is the payment token given at checkout.
	Token string `json:"token,omitempty"`
}

// Payment is what is known of a booking's money.
type Payment struct {
	Status       string `json:"status,omitempty"`
	ChargeID     string `json:"charge_id,omitempty"`
	Reason       string `json:"reason,omitempty"`
	RefundID     string `json:"refund_id,omitempty"`
	RefundAmount int64  `json:"refund_amount,omitempty"`
}

// Paid reports whether money was taken (and perhaps given back since).
func (p Payment) Paid() bool { return p.ChargeID != "" }

// New returns an empty booking with the given id, to load events into.
func New(id string) *Booking { return &Booking{s: State{ID: id}} }

// FromState rebuilds a booking from a snapshot.
func FromState(s State) *Booking {
	s.Seats = slices.Clone(s.Seats)
	return &Booking{s: s}
}

// State returns a copy of the booking's state.
func (b *Booking) State() State {
	s := b.s
	s.Seats = slices.Clone(s.Seats)
	return s
}

// Clone returns an independent copy without recorded changes.
func (b *Booking) Clone() *Booking { return FromState(b.s) }

// Exists reports whether the booking has been placed.
func (b *Booking) Exists() bool { return b.s.Status != StatusNone }

// Owner is the id of the user the booking belongs to.
func (b *Booking) Owner() string { return b.s.UserID }

// ShowID is the show whose seats the booking holds.
func (b *Booking) ShowID() string { return b.s.ShowID }

// Deadline is when the booking expires unless paid.
func (b *Booking) Deadline() time.Time { return b.s.ExpiresAt }

// Status returns the booking's status at now: a booking whose deadline
// passed unpaid is expired even before its expiry is recorded.
func (b *Booking) Status(now time.Time) Status {
	return EffectiveStatus(b.s.Status, b.s.Payment.Paid(), b.s.ExpiresAt, now)
}

// EffectiveStatus is the status at now of a booking recorded as status: a
// held booking, or a pending one whose payment has not succeeded, counts
// as expired from its deadline on, before its expiry is recorded.
func EffectiveStatus(status Status, paid bool, deadline, now time.Time) Status {
	if (status == StatusHeld || (status == StatusPaymentPending && !paid)) && !now.Before(deadline) {
		return StatusExpired
	}
	return status
}

// Placement is what a booking is created from: a hold on its show.
type Placement struct {
	UserID    string
	ShowID    string
	Seats     []string
	Amount    int64
	Currency  string
	ExpiresAt time.Time
}

// Place creates the booking. Placing it again with the same user, show and
// seats changes nothing (a retried request); other details are a conflict.
func (b *Booking) Place(p Placement, now time.Time) error {
	if b.Exists() {
		if b.s.UserID == p.UserID && b.s.ShowID == p.ShowID && slices.Equal(b.s.Seats, p.Seats) {
			return nil
		}
		return ErrAlreadyPlaced
	}
	b.record(Placed{
		BookingID: b.s.ID, UserID: p.UserID, ShowID: p.ShowID, Seats: slices.Clone(p.Seats),
		Amount: p.Amount, Currency: p.Currency, ExpiresAt: p.ExpiresAt.UTC(), PlacedAt: now.UTC(),
	})
	return nil
}

// CheckoutDeadline is the deadline a checkout started now would set: the
// hold's deadline extended once by grace.
func (b *Booking) CheckoutDeadline(grace time.Duration) time.Time {
	if b.s.Status == StatusPaymentPending {
		return b.s.ExpiresAt
	}
	return b.s.ExpiresAt.Add(grace)
}

// CheckToken checks the shape of a payment token: 1..200 characters.
func CheckToken(token string) error {
	if token == "" || utf8.RuneCountInString(token) > 200 {
		return ErrBadToken
	}
	return nil
}

// StartCheckout starts paying a held booking with a payment token, before
// its deadline; the deadline moves to deadline (CheckoutDeadline). Starting
// it again with the same token changes nothing.
func (b *Booking) StartCheckout(token string, deadline, now time.Time) error {
	if err := CheckToken(token); err != nil {
		return err
	}
	switch b.Status(now) {
	case StatusNone:
		return ErrNotFound
	case StatusHeld:
		b.record(CheckoutStarted{PaymentToken: token, Deadline: deadline.UTC(), At: now.UTC()})
		return nil
	case StatusPaymentPending:
		if b.s.Token == token {
			return nil
		}
		return ErrOtherToken
	case StatusExpired:
		return ErrHoldExpired
	default:
		return ErrNotCheckoutable.With("status", string(b.s.Status))
	}
}

// RecordPayment records that the gateway took the money. A payment is
// honoured if it is recorded before the booking's deadline (extended at
// checkout by the grace period); one that arrives later, or after the
// booking was cancelled or failed, is refunded in full at once, because its
// seats may already be someone else's. Recording a payment again changes
// nothing: there is one charge per booking (the gateway's idempotency key is
// derived from the booking id).
func (b *Booking) RecordPayment(chargeID string, amount int64, now time.Time) error {
	if !b.Exists() {
		return ErrNotFound
	}
	if b.s.Payment.Paid() {
		return nil
	}
	late := b.Released() || !now.Before(b.s.ExpiresAt)
	b.record(PaymentSucceeded{ChargeID: chargeID, Amount: amount, At: now.UTC()})
	if late {
		b.record(RefundRequested{Amount: amount, Reason: "late-payment", By: "system", At: now.UTC()})
	}
	return nil
}

// RecordPaymentFailure records that the gateway declined. It only matters
// while the payment is pending and no money was taken.
func (b *Booking) RecordPaymentFailure(reason string, now time.Time) error {
	if !b.Exists() {
		return ErrNotFound
	}
	if b.s.Status != StatusPaymentPending || b.s.Payment.Paid() {
		return nil
	}
	b.record(PaymentFailed{Reason: reason, At: now.UTC()})
	return nil
}

// Confirm confirms a paid booking whose seats were sold to it.
func (b *Booking) Confirm(now time.Time) error {
	switch {
	case b.s.Status == StatusConfirmed:
		return nil
	case b.s.Status == StatusPaymentPending && b.s.Payment.Paid():
		b.record(Confirmed{At: now.UTC()})
		return nil
	}
	return ErrNotCheckoutable.Withf("cannot confirm a %s booking", b.s.Status)
}

// RequestRefund asks for the money of a paid booking back, in full, unless
// a refund was already requested.
func (b *Booking) RequestRefund(reason, by string, now time.Time) error {
	if !b.s.Payment.Paid() || b.s.Payment.Status == PaymentRefundPending || b.s.Payment.Status == PaymentRefunded {
		return nil
	}
	b.record(RefundRequested{Amount: b.s.Amount, Reason: reason, By: by, At: now.UTC()})
	return nil
}

// RecordRefund records that the gateway returned the money.
func (b *Booking) RecordRefund(refundID string, now time.Time) error {
	if b.s.Payment.Status != PaymentRefundPending {
		return nil
	}
	b.record(Refunded{RefundID: refundID, Amount: b.s.Payment.RefundAmount, At: now.UTC()})
	return nil
}

// CancelPolicy says whether a confirmed booking may still be cancelled for
// a refund: until Cutoff before the show starts, or at any time before the
// start when the show was rescheduled or cancelled (FreeCancel).
type CancelPolicy struct {
	ShowStartsAt time.Time
	Cutoff       time.Duration
	FreeCancel   bool
}

func (p CancelPolicy) refundable(now time.Time) bool {
	if p.FreeCancel {
		return now.Before(p.ShowStartsAt)
	}
	return now.Before(p.ShowStartsAt.Add(-p.Cutoff))
}

// Cancel cancels a booking. A held booking is cancelled (its seats go
// back); a confirmed one is refunded in full if the policy allows. Paying
// bookings cannot be cancelled until the payment's outcome is known.
// Cancelling twice changes nothing.
func (b *Booking) Cancel(by, reason string, now time.Time, policy CancelPolicy) error {
	switch b.Status(now) {
	case StatusNone:
		return ErrNotFound
	case StatusCancelled:
		return nil
	case StatusRefunded:
		return nil
	case StatusExpired:
		return ErrHoldExpired
	case StatusHeld:
		b.record(Cancelled{By: by, Reason: reason})
		return nil
	case StatusPaymentPending:
		return ErrPaymentInProgress
	case StatusConfirmed:
		if !policy.refundable(now) {
			return ErrCancellationClosed.With("cutoff_hours", policy.Cutoff.Hours())
		}
		if reason == "" {
			reason = "cancelled"
		}
		b.record(RefundRequested{Amount: b.s.Amount, Reason: reason, By: by, At: now.UTC()})
		return nil
	default:
		return ErrNotCancelable.With("status", string(b.s.Status))
	}
}

// Expire records that a booking passed its deadline (and the clock
// tolerance) unpaid: held, or pending without a payment. Anything else,
// including a deadline still ahead, is left alone.
func (b *Booking) Expire(now time.Time) error {
	if (b.s.Status != StatusHeld && b.s.Status != StatusPaymentPending) || b.s.Payment.Paid() || now.Before(b.s.ExpiresAt.Add(b.tolerance)) {
		return nil
	}
	b.record(Expired{At: now.UTC()})
	return nil
}

// Released reports whether the booking ended without seats: cancelled,
// expired, failed or refunded.
func (b *Booking) Released() bool {
	switch b.s.Status {
	case StatusCancelled, StatusExpired, StatusPaymentFailed, StatusRefunded:
		return true
	}
	return false
}

func (b *Booking) record(e domain.Event) {
	b.apply(e)
	b.Record(e)
}

// Apply applies a committed event; it is how a booking is loaded from its stream.
func (b *Booking) Apply(e domain.Event) { b.apply(e) }

func (b *Booking) apply(e domain.Event) {
	switch e := e.(type) {
	case Placed:
		b.s.UserID, b.s.ShowID, b.s.Seats = e.UserID, e.ShowID, e.Seats
		b.s.Amount, b.s.Currency = e.Amount, e.Currency
		b.s.ExpiresAt, b.s.PlacedAt = e.ExpiresAt, e.PlacedAt
		b.s.Status = StatusHeld
	case CheckoutStarted:
		b.s.Status, b.s.ExpiresAt, b.s.Token = StatusPaymentPending, e.Deadline, e.PaymentToken
		b.s.Payment = Payment{Status: PaymentPending}
	case PaymentSucceeded:
		b.s.Payment.Status, b.s.Payment.ChargeID, b.s.Payment.Reason = PaymentSucceededStat, e.ChargeID, ""
	case PaymentFailed:
		b.s.Status = StatusPaymentFailed
		b.s.Payment.Status, b.s.Payment.Reason = PaymentFailedStat, e.Reason
	case Confirmed:
		b.s.Status = StatusConfirmed
	case Cancelled:
		b.s.Status = StatusCancelled
	case Expired:
		b.s.Status = StatusExpired
	case RefundRequested:
		b.s.Status = StatusRefunded
		b.s.Payment.Status, b.s.Payment.Reason, b.s.Payment.RefundAmount = PaymentRefundPending, e.Reason, e.Amount
	case Refunded:
		b.s.Payment.Status, b.s.Payment.RefundID = PaymentRefunded, e.RefundID
	}
}

// StreamPrefix starts the event stream id of every booking: "booking-<id>".
const StreamPrefix = "booking-"
