package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/seatline/seatline/cluster"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/domain"
)

// decider answers "echo" with its arguments and refuses "refuse".
type decider struct{ calls int }

var errRefused = &domain.Error{Kind: domain.Conflict, Code: "seat-unavailable", Msg: "taken", Details: map[string]any{"seats": []any{"A1"}}}

func (d *decider) Decide(_ context.Context, command string, args json.RawMessage) (any, error) {
	d.calls++
	if command == "refuse" {
		return nil, errRefused
	}
	var v map[string]any
	err := json.Unmarshal(args, &v)
	return v, err
}

func TestCommandsGoToTheShowsOwnerAndFallBackWhenItIsGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := coord.NewMemory()
	key := []byte("forwarding-key-0123456789")
	var dec decider
	var owner *cluster.Deciders
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { owner.Handler(&dec).ServeHTTP(w, r) }))
	owner = cluster.New(cluster.Options{Slots: 4, Self: srv.URL, Key: key, Leaser: m, Members: m.Set("deciders"), TTL: time.Second})
	go owner.Run(ctx)
	other := cluster.New(cluster.Options{Slots: 4, Key: key, Leaser: m, Members: m.Set("deciders"), TTL: time.Second})
	deadline := time.Now().Add(5 * time.Second)
	for other.Owner(ctx, "show-1") != srv.URL {
		if time.Now().After(deadline) {
			t.Fatal("the only decider never took the show's slot")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got map[string]any
	if ok, err := other.Forward(ctx, "show-1", "echo", map[string]any{"seat": "A1"}, &got); !ok || err != nil || got["seat"] != "A1" {
		t.Fatalf("forwarded: ok %v, err %v, answer %v", ok, err, got)
	}
	if ok, err := other.Forward(ctx, "show-1", "refuse", map[string]any{}, &got); !ok || !errors.Is(err, errRefused) {
		t.Fatalf("a refusal comes back as the domain error: ok %v, err %v", ok, err)
	}
	var self map[string]any
	if ok, _ := owner.Forward(ctx, "show-1", "echo", map[string]any{}, &self); ok {
		t.Fatal("the owner forwarded to itself")
	}
	// A forged request is refused.
	resp, err := http.Post(srv.URL+cluster.Path+"echo", "application/json", bytes.NewBufferString(`{}`))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned request: %v %v", resp.StatusCode, err)
	}
	calls := dec.calls
	srv.Close() // the owner is gone
	if ok, err := other.Forward(ctx, "show-1", "echo", map[string]any{}, &got); ok || err != nil {
		t.Fatalf("with the owner gone: ok %v, err %v; want decide here", ok, err)
	}
	if dec.calls != calls {
		t.Fatal("a call reached the closed owner")
	}
}
