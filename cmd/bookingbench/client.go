package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// client speaks the public API over HTTP.
type client struct {
	base string // …/api/v1
	http *http.Client
}

func newClient(base string, conns int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns, conns, 0
	return &client{base: base, http: &http.Client{Timeout: 60 * time.Second, Transport: tr}}
}

// result is one answered request.
type result struct {
	Status  int
	Code    string // the error body's code, for 4xx/5xx
	Body    []byte
	Elapsed time.Duration
}

// OK reports a 2xx answer.
func (r result) OK() bool { return r.Status >= 200 && r.Status < 300 }

// key names the outcome for error counts: "409 seats-unavailable".
func (r result) key() string {
	if r.Status == 0 {
		return "transport " + r.Code
	}
	return fmt.Sprintf("%d %s", r.Status, r.Code)
}

func (r result) decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d answer: %w", r.Status, err)
	}
	return nil
}

// do sends one request, with headers as name, value pairs; a transport
// failure is a result with status 0.
func (c *client) do(ctx context.Context, token, method, path string, body any, headers ...string) result {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return result{Code: err.Error()}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return result{Code: err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		code := "error"
		if ctx.Err() != nil {
			code = "cancelled"
		}
		return result{Code: code, Elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r := result{Status: resp.StatusCode, Body: b, Elapsed: time.Since(start)}
	if err != nil {
		r.Status, r.Code = 0, "read-body"
		return r
	}
	if !r.OK() {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		r.Code = e.Error.Code
	}
	return r
}

// call is do for setup steps: anything but want is an error.
func (c *client) call(ctx context.Context, token, method, path string, body any, want int, out any) error {
	r := c.do(ctx, token, method, path, body)
	if r.Status != want {
		return fmt.Errorf("%s %s: %d %s: %s", method, path, r.Status, r.Code, truncate(r.Body, 300))
	}
	if out != nil {
		return r.decode(out)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
