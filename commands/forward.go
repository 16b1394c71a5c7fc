package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/eventstore"
)

// Forwarder hands a command about a show to the process that decides the
// show's commands: one decider per hot show across processes, whose cache
// of the show is always current and whose appends to it never conflict
// (the cluster-sharding pattern). ok false means: decide here, because
// this process owns the show, or the owner could not be reached (the
// unique key of the log still keeps two deciders from both winning).
type Forwarder interface {
	Forward(ctx context.Context, showID, command string, args, reply any) (ok bool, err error)
}

type decideHereKey struct{}

// DecideHere returns ctx for commands that this process must decide
// itself: those another process forwarded to it.
func DecideHere(ctx context.Context) context.Context {
	return context.WithValue(ctx, decideHereKey{}, true)
}

// The commands a Forwarder carries, by name, and their arguments.
const (
	cmdHold          = "hold-seats"
	cmdCheckout      = "checkout"
	cmdCancel        = "cancel-booking"
	cmdRelease       = "release-seats"
	cmdPlace         = "place-booking"
	cmdRecordPayment = "record-payment"
	cmdPaymentFailed = "record-payment-failure"
	cmdConfirm       = "confirm-paid"
	cmdExpire        = "expire-booking"
)

// metricNames are the commands' names in metrics (as before forwarding
// existed: the methods' names).
var metricNames = map[string]string{
	cmdHold: "HoldSeats", cmdCheckout: "Checkout", cmdCancel: "CancelBooking", cmdRelease: "ReleaseSeats",
	cmdPlace: "PlaceBooking", cmdRecordPayment: "RecordPayment", cmdPaymentFailed: "RecordPaymentFailure",
	cmdConfirm: "ConfirmPaid", cmdExpire: "ExpireBooking",
}

type bookingArgs struct {
	BookingID string              `json:"booking_id"`
	Known     int64               `json:"known,omitempty"`
	ChargeID  string              `json:"charge_id,omitempty"`
	Amount    int64               `json:"amount,omitempty"`
	Reason    string              `json:"reason,omitempty"`
	ShowID    string              `json:"show_id,omitempty"`
	Placement *booking.Placement  `json:"placement,omitempty"`
	Meta      eventstore.Metadata `json:"meta"`
}

// forwarded runs a command about showID on its decider, or here.
func forwarded[T any](h *Handlers, ctx context.Context, showID, name string, args any, local func(context.Context) (T, error)) (T, error) {
	ctx = named(ctx, metricNames[name])
	if h.cfg.Forward != nil && showID != "" && ctx.Value(decideHereKey{}) == nil {
		var out T
		if ok, err := h.cfg.Forward.Forward(ctx, showID, name, args, &out); ok {
			return out, err
		}
	}
	return local(ctx)
}

// HoldSeats holds seats for a booking: see holdSeats.
func (h *Handlers) HoldSeats(ctx context.Context, cmd HoldSeats) (Held, error) {
	held, err := forwarded(h, ctx, cmd.ShowID, cmdHold, cmd, func(ctx context.Context) (Held, error) { return h.holdSeats(ctx, cmd) })
	if err == nil {
		h.showOfBooking.note(cmd.BookingID, cmd.ShowID)
	}
	return held, err
}

// Checkout starts paying for a held booking: see checkout.
func (h *Handlers) Checkout(ctx context.Context, cmd Checkout) (CheckedOut, error) {
	return forwarded(h, ctx, h.showOf(ctx, cmd.BookingID), cmdCheckout, cmd, func(ctx context.Context) (CheckedOut, error) { return h.checkout(ctx, cmd) })
}

// CancelBooking cancels a booking: see cancelBooking.
func (h *Handlers) CancelBooking(ctx context.Context, cmd CancelBooking) (Result, error) {
	return forwarded(h, ctx, h.showOf(ctx, cmd.BookingID), cmdCancel, cmd, func(ctx context.Context) (Result, error) { return h.cancelBooking(ctx, cmd) })
}

// ReleaseSeats gives back a booking's seats on a show: see releaseSeats.
func (h *Handlers) ReleaseSeats(ctx context.Context, showID, bookingID, reason string, meta eventstore.Metadata) (Result, error) {
	args := bookingArgs{BookingID: bookingID, ShowID: showID, Reason: reason, Meta: meta}
	return forwarded(h, ctx, showID, cmdRelease, args, func(ctx context.Context) (Result, error) {
		return h.releaseSeats(ctx, showID, bookingID, reason, meta)
	})
}

// PlaceBooking records a booking for its hold: see placeBooking.
func (h *Handlers) PlaceBooking(ctx context.Context, id string, p booking.Placement, meta eventstore.Metadata) (Result, error) {
	args := bookingArgs{BookingID: id, Placement: &p, Meta: meta}
	return forwarded(h, ctx, p.ShowID, cmdPlace, args, func(ctx context.Context) (Result, error) { return h.placeBooking(ctx, id, p, meta) })
}

// RecordPayment records the gateway's success: see recordPayment.
func (h *Handlers) RecordPayment(ctx context.Context, bookingID, chargeID string, amount int64, meta eventstore.Metadata) (Result, error) {
	args := bookingArgs{BookingID: bookingID, ChargeID: chargeID, Amount: amount, Meta: meta}
	return forwarded(h, ctx, h.showOf(ctx, bookingID), cmdRecordPayment, args, func(ctx context.Context) (Result, error) {
		return h.recordPayment(ctx, bookingID, chargeID, amount, meta)
	})
}

// RecordPaymentFailure records the gateway's decline: see
// recordPaymentFailure.
func (h *Handlers) RecordPaymentFailure(ctx context.Context, bookingID, reason string, meta eventstore.Metadata) (Result, error) {
	args := bookingArgs{BookingID: bookingID, Reason: reason, Meta: meta}
	return forwarded(h, ctx, h.showOf(ctx, bookingID), cmdPaymentFailed, args, func(ctx context.Context) (Result, error) {
		return h.recordPaymentFailure(ctx, bookingID, reason, meta)
	})
}

// ConfirmPaid confirms a paid booking: see confirmPaid.
func (h *Handlers) ConfirmPaid(ctx context.Context, bookingID string, known int64, meta eventstore.Metadata) (Result, error) {
	args := bookingArgs{BookingID: bookingID, Known: known, Meta: meta}
	return forwarded(h, ctx, h.showOf(ctx, bookingID), cmdConfirm, args, func(ctx context.Context) (Result, error) {
		return h.confirmPaid(ctx, bookingID, known, meta)
	})
}

// ExpireBooking records a lapsed booking: see expireBooking.
func (h *Handlers) ExpireBooking(ctx context.Context, bookingID string, known int64, meta eventstore.Metadata) (Result, error) {
	args := bookingArgs{BookingID: bookingID, Known: known, Meta: meta}
	return forwarded(h, ctx, h.showOf(ctx, bookingID), cmdExpire, args, func(ctx context.Context) (Result, error) {
		return h.expireBooking(ctx, bookingID, known, meta)
	})
}

// Decide runs a command another process forwarded (Forwarder), here,
// and returns its result to send back.
func (h *Handlers) Decide(ctx context.Context, command string, raw json.RawMessage) (any, error) {
	ctx = DecideHere(ctx)
	var b bookingArgs
	decode := func(v any) error {
		if err := json.Unmarshal(raw, v); err != nil {
			return &domain.Error{Kind: domain.Invalid, Code: "bad-forward", Msg: fmt.Sprintf("commands: forwarded %s: %v", command, err)}
		}
		return nil
	}
	switch command {
	case cmdHold:
		var cmd HoldSeats
		if err := decode(&cmd); err != nil {
			return nil, err
		}
		return h.HoldSeats(ctx, cmd)
	case cmdCheckout:
		var cmd Checkout
		if err := decode(&cmd); err != nil {
			return nil, err
		}
		return h.Checkout(ctx, cmd)
	case cmdCancel:
		var cmd CancelBooking
		if err := decode(&cmd); err != nil {
			return nil, err
		}
		return h.CancelBooking(ctx, cmd)
	}
	if err := decode(&b); err != nil {
		return nil, err
	}
	switch command {
	case cmdRelease:
		return h.ReleaseSeats(ctx, b.ShowID, b.BookingID, b.Reason, b.Meta)
	case cmdPlace:
		if b.Placement == nil {
			return nil, &domain.Error{Kind: domain.Invalid, Code: "bad-forward", Msg: "commands: forwarded placement missing"}
		}
		return h.PlaceBooking(ctx, b.BookingID, *b.Placement, b.Meta)
	case cmdRecordPayment:
		return h.RecordPayment(ctx, b.BookingID, b.ChargeID, b.Amount, b.Meta)
	case cmdPaymentFailed:
		return h.RecordPaymentFailure(ctx, b.BookingID, b.Reason, b.Meta)
	case cmdConfirm:
		return h.ConfirmPaid(ctx, b.BookingID, b.Known, b.Meta)
	case cmdExpire:
		return h.ExpireBooking(ctx, b.BookingID, b.Known, b.Meta)
	}
	return nil, &domain.Error{Kind: domain.NotFound, Code: "unknown-command", Msg: "commands: no such forwarded command " + command}
}

// showOf is the show of a booking, to route its commands: from the
// bookings this process holds or forwarded, else from the log ("" if the
// booking does not exist, decided here).
func (h *Handlers) showOf(ctx context.Context, bookingID string) string {
	if h.cfg.Forward == nil {
		return ""
	}
	if s, ok := h.showOfBooking.noted(bookingID); ok {
		return s
	}
	b, _, err := h.bookings.LoadAt(ctx, bookingID, 0)
	if err != nil || !b.Exists() {
		return ""
	}
	h.showOfBooking.note(bookingID, b.ShowID())
	return b.ShowID()
}

// bookingShows remembers the show of bookings this process saw held.
type bookingShows struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *bookingShows) note(bookingID, showID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) > 200_000 {
		s.m = map[string]string{}
	}
	s.m[bookingID] = showID
}

func (s *bookingShows) noted(bookingID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[bookingID]
	return v, ok
}
