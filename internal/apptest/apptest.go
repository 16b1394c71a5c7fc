// Package apptest boots whole engines for component tests: the real app
// (store, bus, relay, projections, sagas, API) on the test database and
// Redis, served over HTTP, plus a small JSON client.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/clock"
	"github.com/seatline/seatline/httpapi"
	"github.com/seatline/seatline/identity"
	"github.com/seatline/seatline/internal/testenv"
)

// AdminEmail and AdminPassword log in the admin of every test engine.
const (
	AdminEmail    = "admin@test.example"
	AdminPassword = "admin-password-123"
)

// HoldTTL is how long holds last on a test engine unless Options say
// otherwise: long enough never to lapse by itself during a test. Tests
// that need a hold to lapse advance the engine's Clock past it.
const HoldTTL = 10 * time.Minute

// Options choose what an engine shares with others.
type Options struct {
	DB          string // database name; engines with the same name share data
	Redis       bool   // use Redis Streams (else the in-process bus)
	RedisPrefix string // engines with the same prefix share a bus (default: a bus of its own)
	RedisURL    string // another Redis than the suite's (a fault test's own)
	HoldTTL     time.Duration
	Mail        bool   // send email to the test Mailpit (else to the log)
	Gateway     string // PAYMENT_GATEWAY (default: the built-in simulator)
	Tune        func(*app.Config)
	// Clock is the engine's business time; engines of one deployment
	// share one (default: a clock of its own at real time).
	Clock *clock.Offset
	Hooks app.Hooks // Hooks.Clock is set from Clock
}

// Engine is one running app behind an HTTP test server.
type Engine struct {
	App *app.App
	URL string
	// Clock is the engine's business time: Advance it to make holds,
	// checkouts and jobs fall due instead of sleeping.
	Clock *clock.Offset
	srv   *httptest.Server
}

// Start boots an engine and stops it when the test ends.
func Start(t testing.TB, o Options) *Engine {
	t.Helper()
	if o.DB == "" {
		o.DB = testenv.DBName(t)
	}
	if o.HoldTTL == 0 {
		o.HoldTTL = HoldTTL
	}
	cfg := app.Config{
		HTTPAddr: "127.0.0.1:0", MongoURI: testenv.MongoURI(t), MongoDB: o.DB,
		JWTSecret: "test-secret-test-secret-test-secret!", AdminEmail: AdminEmail, AdminPassword: AdminPassword,
		HoldTTL: o.HoldTTL, MaxSeatsPerBooking: 10, Role: app.RoleAll,
		PasswordHash:             identity.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1},
		RequireEmailVerification: true, IPBudget: 1_000_000,
		Logger: testenv.Logger(t),
		Relay:  app.RelayTuning{Grace: 300 * time.Millisecond, Redeliver: 2 * time.Second, ClaimIdle: 2 * time.Second, LeaseTTL: 2 * time.Second},
	}
	if o.Redis {
		if o.RedisPrefix == "" { // a bus of its own
			_, o.RedisPrefix = testenv.Redis(t)
		}
		cfg.RedisURL = testenv.RedisURL()
		if o.RedisURL != "" {
			cfg.RedisURL = o.RedisURL
		}
		cfg.RedisPrefix = o.RedisPrefix
	}
	if o.Mail {
		testenv.RequireMailpit(t)
		cfg.SMTPURL = testenv.MailpitSMTP()
	}
	cfg.PaymentGateway = o.Gateway
	// Listen first, so that links and OAuth callbacks name the real address.
	srv := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	cfg.InternalURL = cfg.PublicURL
	if o.Tune != nil {
		o.Tune(&cfg)
	}
	if o.Clock == nil {
		o.Clock = clock.NewOffset(0)
	}
	o.Hooks.Clock = o.Clock
	a, err := app.New(context.Background(), cfg, o.Hooks)
	if err != nil {
		t.Fatalf("apptest: start engine: %v", err)
	}
	if err := a.Start(context.Background()); err != nil {
		a.Close()
		t.Fatalf("apptest: start engine: %v", err)
	}
	srv.Config.Handler = a.Handler()
	srv.Start()
	e := &Engine{App: a, URL: srv.URL, Clock: o.Clock, srv: srv}
	t.Cleanup(e.Stop)
	return e
}

// Stop shuts the engine down; stopping twice is fine.
func (e *Engine) Stop() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	e.App.Close()
	e.srv = nil
}

// Client calls an engine's API.
type Client struct {
	t     testing.TB
	Base  string
	Token string
	http  *http.Client
}

// transport keeps connections for many concurrent clients (the default
// keeps two per host, so a test with hundreds of clients would measure
// connection set-up).
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 1024
	return t
}()

// Client returns an anonymous client of the engine.
func (e *Engine) Client(t testing.TB) *Client {
	return &Client{t: t, Base: e.URL + "/api/v1", http: &http.Client{Timeout: 30 * time.Second, Transport: transport}}
}

// As returns a copy of the client that sends token.
func (c *Client) As(token string) *Client {
	cc := *c
	cc.Token = token
	return &cc
}

// Response is a decoded JSON response.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Do sends a request with an optional JSON body and decodes the answer.
// headers are name, value pairs. A transport error fails the test.
func (c *Client) Do(method, path string, body any, headers ...string) Response {
	c.t.Helper()
	r, err := c.Try(method, path, body, headers...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// Try is Do that returns transport errors (a server that went away)
// instead of failing the test; it may be called from any goroutine. A
// response that does not match httpapi/openapi.yaml is a test error (see
// checkContract).
func (c *Client) Try(method, path string, body any, headers ...string) (Response, error) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return Response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	c.checkContract(resp, raw)
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r, nil
}

// contract is httpapi/openapi.yaml as a router, built on first use and
// shared by every client of the test binary.
var contract struct {
	once   sync.Once
	router routers.Router
	err    error
}

func contractRouter() (routers.Router, error) {
	contract.once.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(httpapi.OpenAPI())
		if err == nil {
			err = doc.Validate(loader.Context)
		}
		if err == nil {
			contract.router, err = gorillamux.NewRouter(doc)
		}
		if err != nil {
			contract.err = fmt.Errorf("apptest: httpapi/openapi.yaml: %w", err)
		}
	})
	return contract.router, contract.err
}

// checkContract reports, as a test error, a response that does not match
// httpapi/openapi.yaml: a route or status the document does not describe,
// or a JSON body or documented header that does not fit its schema. Only
// responses are checked, not requests. Non-JSON bodies (event streams,
// HTML pages, the YAML document) are not validated, but their status and
// content type must be documented. A 404 or 405 of a route the API does
// not have is fine, and so are redirects that leave the API's host.
// Benchmarks skip the check, which would skew their timings.
func (c *Client) checkContract(resp *http.Response, raw []byte) {
	c.t.Helper()
	if _, bench := c.t.(*testing.B); bench {
		return
	}
	req := resp.Request
	if req.Method == http.MethodHead {
		return
	}
	first := req // before any redirect
	for first.Response != nil {
		first = first.Response.Request
	}
	if first.URL.Host != req.URL.Host {
		return
	}
	name := req.Method + " " + req.URL.RequestURI()
	router, err := contractRouter()
	if err != nil {
		c.t.Errorf("%s: status %d: %v", name, resp.StatusCode, err)
		return
	}
	route, params, err := router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound) && resp.StatusCode == http.StatusNotFound,
		errors.Is(err, routers.ErrMethodNotAllowed) && resp.StatusCode == http.StatusMethodNotAllowed:
		return
	case err != nil:
		c.t.Errorf("%s: status %d: no operation in httpapi/openapi.yaml: %v", name, resp.StatusCode, err)
		return
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: !isJSON,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()}}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                opts,
	}
	in.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.t.Errorf("%s: status %d does not match httpapi/openapi.yaml: %v\nbody: %.2000s", name, resp.StatusCode, err, raw)
		return
	}
	if !isJSON && len(raw) > 0 {
		if rr := route.Operation.Responses.Status(resp.StatusCode); rr != nil && rr.Value != nil && rr.Value.Content.Get(ct) == nil {
			c.t.Errorf("%s: status %d: httpapi/openapi.yaml does not document the content type %q", name, resp.StatusCode, ct)
		}
	}
}

// Must sends a request and fails the test unless the status is want.
func (c *Client) Must(want int, method, path string, body any, headers ...string) Response {
	c.t.Helper()
	r := c.Do(method, path, body, headers...)
	if r.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// Login returns a client logged in with email and password.
func (c *Client) Login(email, password string) *Client {
	c.t.Helper()
	r := c.Must(200, "POST", "/auth/login", map[string]string{"email": email, "password": password})
	return c.As(r.Body["access_token"].(string))
}

// Admin returns a client logged in as the test admin.
func (e *Engine) Admin(t testing.TB) *Client {
	return e.Client(t).Login(AdminEmail, AdminPassword)
}

// NewUser registers a user with a unique email and returns it logged in.
func (e *Engine) NewUser(t testing.TB) (*Client, string) {
	c, id, _ := e.NewUserWithEmail(t)
	return c, id
}

// NewUserWithEmail is NewUser that also returns the user's email address.
// The address is marked verified (as an admin could); the verification
// flow itself has its own tests.
func (e *Engine) NewUserWithEmail(t testing.TB) (*Client, string, string) {
	t.Helper()
	c, id, email := e.NewUnverifiedUser(t)
	verified := true
	if _, err := e.App.Identity.AdminUpdate(context.Background(), id, identity.AdminChange{EmailVerified: &verified}); err != nil {
		t.Fatalf("apptest: verify %s: %v", email, err)
	}
	return c, id, email
}

// NewUnverifiedUser registers and logs in a user who has not confirmed
// the email address.
func (e *Engine) NewUnverifiedUser(t testing.TB) (*Client, string, string) {
	t.Helper()
	c := e.Client(t)
	email := fmt.Sprintf("u%s@example.com", testenv.ID())
	c.Must(201, "POST", "/auth/register", map[string]string{"email": email, "password": "long enough password", "name": "Test User"})
	c = c.Login(email, "long enough password")
	return c, c.Must(200, "GET", "/me", nil).Body["id"].(string), email
}

// Show creates a movie, a venue with rows A..rows of perRow premium seats,
// and a show starting in a week, and returns the show id.
func Show(t testing.TB, admin *Client, rows, perRow int) string {
	t.Helper()
	m := admin.Must(201, "POST", "/admin/movies", map[string]any{"title": "Test Movie " + testenv.ID(), "genres": []string{"drama"},
		"language": "en", "duration_minutes": 120})
	var rowNames []string
	for i := 0; i < rows; i++ {
		rowNames = append(rowNames, rowName(i))
	}
	v := admin.Must(201, "POST", "/admin/venues", map[string]any{"name": "Hall " + testenv.ID(), "city": "Pune",
		"sections": []map[string]any{{"category": "premium", "rows": rowNames, "seats_per_row": perRow}}})
	s := admin.Must(201, "POST", "/admin/shows", map[string]any{"movie_id": m.Body["id"], "venue_id": v.Body["id"],
		"starts_at": time.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339), "prices": map[string]int{"premium": 1000}, "currency": "INR"})
	return s.Body["id"].(string)
}

func rowName(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return string(rune('A'+i/26-1)) + string(rune('A'+i%26))
}
