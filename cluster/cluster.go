// Package cluster gives each show one decider across the API processes of
// a deployment (the cluster-sharding pattern of Akka and Orleans, on the
// leases the deployment already has): shows hash to slots, each slot is
// leased by one API process (spread over the live ones by coord.Share),
// and a process asked for a command about a show it does not own forwards
// it to the owner over internal HTTP. The owner's cache of the show is
// always current and its appends to the show never conflict with another
// process's, so a hot show is decided at the speed of one process instead
// of ping-ponging conflicts between several. When the owner cannot be
// reached the command is decided where it arrived: the unique key of the
// event log still lets only one decision per stream version win, and
// every forwarded command is idempotent, so a command the dead owner may
// already have carried out is harmless to repeat.
package cluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/domain"
)

// Options configure Deciders.
type Options struct {
	Slots   int           // slots shows hash to (64)
	Self    string        // this process's internal base URL; "" for a process that never decides (a worker)
	Key     []byte        // signs forwarded commands (every process needs the same)
	Leaser  coord.Leaser  // must also be a coord.LeaseHolder to find owners
	Members coord.Members // the set of deciding processes
	TTL     time.Duration // slot leases (10s): how fast a dead owner's slots move
	Timeout time.Duration // one forwarded command (5s)
	Logger  *slog.Logger
	// OnRoute, if set, is told where each command went: "local" (this
	// process owns the show, or nobody does), "forwarded", or "fallback"
	// (the owner did not answer: decided here).
	OnRoute func(command, route string)
}

// Deciders routes commands about a show to the process that owns its slot.
type Deciders struct {
	o      Options
	share  *coord.Share
	client *http.Client

	mu     sync.Mutex
	owners map[int]owner // cached for a second
}

type owner struct {
	url string
	at  time.Time
}

// New returns the router of a deployment.
func New(o Options) *Deciders {
	if o.Slots <= 0 {
		o.Slots = 64
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnRoute == nil {
		o.OnRoute = func(string, string) {}
	}
	return &Deciders{o: o, owners: map[int]owner{},
		share:  &coord.Share{Leaser: o.Leaser, Members: o.Members, Self: o.Self, TTL: o.TTL, Logger: o.Logger},
		client: &http.Client{Timeout: o.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}}
}

// Slot is the slot a show hashes to.
func (d *Deciders) Slot(showID string) int {
	h := fnv.New32a()
	h.Write([]byte(showID))
	return int(h.Sum32() % uint32(d.o.Slots))
}

func leaseName(slot int) string { return "decider:" + strconv.Itoa(slot) }

// Run takes, until ctx ends, the slots this process is preferred for among
// the live deciding processes (it must have a Self).
func (d *Deciders) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for slot := range d.o.Slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.share.Run(ctx, leaseName(slot), "deciders", slot, nil, func(ctx context.Context, _ int64) { <-ctx.Done() })
		}()
	}
	wg.Wait()
}

// Owner returns the internal URL of the process that owns a show's slot
// now ("" if none does).
func (d *Deciders) Owner(ctx context.Context, showID string) string {
	slot := d.Slot(showID)
	d.mu.Lock()
	o, ok := d.owners[slot]
	d.mu.Unlock()
	if ok && time.Since(o.at) < time.Second {
		return o.url
	}
	url := ""
	if h, ok := d.o.Leaser.(coord.LeaseHolder); ok {
		if holder, _, err := h.Holder(ctx, leaseName(slot)); err == nil && holder != "" {
			url = holder[:max(strings.LastIndex(holder, "/"), 0)] // "<url>/<random>", see coord.RunLeased
		}
	}
	d.mu.Lock()
	d.owners[slot] = owner{url: url, at: time.Now()}
	d.mu.Unlock()
	return url
}

func (d *Deciders) forget(showID string) {
	d.mu.Lock()
	delete(d.owners, d.Slot(showID))
	d.mu.Unlock()
}

// Forward implements commands.Forwarder: it sends the command to the
// show's owner and decodes its answer into reply. It returns ok false
// (decide here) when this process owns the show, nobody does, or the
// owner does not answer.
func (d *Deciders) Forward(ctx context.Context, showID, command string, args, reply any) (bool, error) {
	url := d.Owner(ctx, showID)
	if url == "" || url == d.o.Self {
		d.o.OnRoute(command, "local")
		return false, nil
	}
	ok, err := d.send(ctx, url, showID, command, args, reply)
	if ok {
		d.o.OnRoute(command, "forwarded")
	} else {
		d.o.OnRoute(command, "fallback")
	}
	return ok, err
}

func (d *Deciders) send(ctx context.Context, url, showID, command string, args, reply any) (bool, error) {
	body, err := json.Marshal(args)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+Path+command, bytes.NewReader(body))
	if err != nil {
		return false, nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sign(d.o.Key, command, body))
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		d.o.Logger.Warn("cluster: the show's decider does not answer; deciding here", "owner", url, "command", command, "err", err)
		d.forget(showID)
		return false, nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode >= 500 {
		d.o.Logger.Warn("cluster: the show's decider failed; deciding here", "owner", url, "command", command, "status", resp.StatusCode, "err", err)
		d.forget(showID)
		return false, nil
	}
	var out answer
	if err := json.Unmarshal(raw, &out); err != nil {
		return false, nil
	}
	if out.Error != nil {
		return true, &domain.Error{Kind: out.Error.Kind, Code: out.Error.Code, Msg: out.Error.Message, Details: out.Error.Details}
	}
	if resp.StatusCode != http.StatusOK {
		return false, nil
	}
	if err := json.Unmarshal(out.Result, reply); err != nil {
		return true, fmt.Errorf("cluster: answer of %s: %w", command, err)
	}
	return true, nil
}

// Path is where deciding processes take forwarded commands.
const Path = "/internal/v1/commands/"

// SignatureHeader carries the HMAC-SHA256 of the command and its body.
const SignatureHeader = "X-Seatline-Forward"

func sign(key []byte, command string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(command + "\n"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

type answer struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *answerError    `json:"error,omitempty"`
}

type answerError struct {
	Kind    domain.Kind    `json:"kind"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// Decider decides forwarded commands (commands.Handlers).
type Decider interface {
	Decide(ctx context.Context, command string, args json.RawMessage) (any, error)
}

// Handler serves the commands other processes forward to this one. A
// request without a valid signature is refused.
func (d *Deciders) Handler(dec Decider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		command, ok := strings.CutPrefix(r.URL.Path, Path)
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if !ok || r.Method != http.MethodPost || err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(sign(d.o.Key, command, body))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		res, err := dec.Decide(r.Context(), command, body)
		var de *domain.Error
		w.Header().Set("Content-Type", "application/json")
		switch {
		case err == nil:
			raw, _ := json.Marshal(res)
			_ = json.NewEncoder(w).Encode(answer{Result: raw})
		case errors.As(err, &de) && de.Kind != domain.Internal && de.Kind != domain.Unavailable:
			w.WriteHeader(http.StatusConflict) // a decision: the caller reports it as is
			_ = json.NewEncoder(w).Encode(answer{Error: &answerError{Kind: de.Kind, Code: de.Code, Message: de.Msg, Details: de.Details}})
		default: // not decided: the caller decides itself
			d.o.Logger.Warn("cluster: forwarded command failed", "command", command, "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(answer{Error: &answerError{Code: "not-decided", Message: "not decided"}})
		}
	})
}
