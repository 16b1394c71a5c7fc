package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client is the HTTP adapter of a gateway at BaseURL.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// Charge implements Gateway. A decline is a Charge with status declined,
// not an error.
func (c *Client) Charge(ctx context.Context, r ChargeRequest) (Charge, error) {
	var ch Charge
	err := c.post(ctx, "/v1/charges", r.IdempotencyKey, r, &ch)
	return ch, err
}

// Refund implements Gateway.
func (c *Client) Refund(ctx context.Context, r RefundRequest) (Refund, error) {
	var rf Refund
	err := c.post(ctx, "/v1/refunds", r.IdempotencyKey, r, &rf)
	return rf, err
}

func (c *Client) post(ctx context.Context, path, key string, body, out any) error {
	if key == "" {
		return errors.New("payments: an idempotency key is required")
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTransient, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTransient, err)
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s %s: %d", ErrTransient, http.MethodPost, path, resp.StatusCode)
	case resp.StatusCode >= 400:
		return fmt.Errorf("payments: %s %s: %d %s", http.MethodPost, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("payments: decode %s answer: %w", path, err)
	}
	return nil
}

// HandlerTransport sends requests straight to an http.Handler in the same
// process, so the built-in simulator is reached through the same client
// code as a remote gateway.
type HandlerTransport struct{ Handler http.Handler }

// RoundTrip implements http.RoundTripper.
func (t HandlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.Handler.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: rec.code, Header: rec.header, Body: io.NopCloser(&rec.body), Request: req,
		ContentLength: int64(rec.body.Len())}, nil
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }
