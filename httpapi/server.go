package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/identity"
	"github.com/seatline/seatline/newsletter"
	"github.com/seatline/seatline/notifications"
	"github.com/seatline/seatline/payments"
	"github.com/seatline/seatline/projections"
	"github.com/seatline/seatline/sagas"
	"github.com/seatline/seatline/timeline"
)

// Deps is everything the API calls.
type Deps struct {
	Commands *commands.Handlers
	Identity *identity.Service
	OAuth    *identity.OAuth
	// RequireVerifiedEmail refuses bookings of accounts whose email is not
	// confirmed (REQUIRE_EMAIL_VERIFICATION).
	RequireVerifiedEmail bool
	// TrustedProxies may set X-Forwarded-For; nil trusts none, so that the
	// per-IP limits see the real peer.
	TrustedProxies []string
	Catalog        *projections.Catalog
	Shows          *projections.Shows
	SeatMaps       *projections.SeatMaps
	// LiveSeats, when set, serves seat maps from memory, kept current by
	// this instance's feed (Feed); else they are read from the read model.
	LiveSeats interface {
		Get(ctx context.Context, showID string, now time.Time) (projections.SeatMap, bool, error)
	}
	// LiveBookings, when set, serves GET /bookings/{id} from memory in
	// the same way.
	LiveBookings interface {
		Get(ctx context.Context, id string, now time.Time) (projections.Booking, bool, error)
	}
	Bookings  *projections.Bookings
	Freshness *projections.Freshness
	Rebuilder *projections.Rebuilder
	Queues    Queues
	Timeline  interface {
		Build(ctx context.Context, bookingID string) (timeline.Timeline, bool, error)
	}
	Index   *projections.ShowIndex
	SeatHub *projections.SeatHub
	Feed    interface {
		Wait(ctx context.Context, pos int64, timeout time.Duration) bool
	}
	Log interface {
		ReadCommit(ctx context.Context, pos int64) (eventstore.Commit, error)
		ReadRange(ctx context.Context, from, to int64) ([]eventstore.Commit, error)
		Head(ctx context.Context) (int64, error)
	}
	// SSEHeartbeat is the interval of keep-alive comments on event
	// streams (15s).
	SSEHeartbeat time.Duration
	// CursorKey signs pagination cursors; every instance needs the same.
	CursorKey []byte
	// Head returns the latest log position this process knows of; reads
	// wait (briefly) for the read models to reach it, so a client sees its
	// own writes through the same instance.
	Head func() int64
	// Ready reports whether dependencies (database, Redis, relay) answer.
	Ready      func(ctx context.Context) error
	Now        func() time.Time
	Logger     *slog.Logger
	Webhooks   *payments.Webhooks
	Outbox     *notifications.Outbox
	Newsletter *newsletter.Service
	Broadcasts interface {
		Broadcast(ctx context.Context, id string) (sagas.BroadcastDoc, bool, error)
	}
	// Metrics records request latencies; MetricsHandler serves /metrics,
	// behind MetricsToken (a bearer token) when it is set.
	Metrics interface {
		HTTP(route, method string, status int, d time.Duration)
		HoldPlaced()
	}
	MetricsHandler http.Handler
	MetricsToken   string
	// ReadWait bounds the implicit wait for read models (500ms);
	// MinPositionWait bounds the wait for an explicit X-Min-Position (2s).
	ReadWait, MinPositionWait time.Duration
}

type api struct {
	Deps
	seatBodies seatBodyCache
}

// New returns the HTTP handler of the whole API.
func New(d Deps) http.Handler {
	a, r := newRouter(d)
	a.routes(r)
	return r
}

// NewOps returns the handler a worker process serves: only /healthz,
// /readyz and /metrics, so that probes and scrapers reach every process.
func NewOps(d Deps) http.Handler {
	_, r := newRouter(d)
	return r
}

// newRouter returns the router with the middleware and the operations
// routes every process serves.
func newRouter(d Deps) (*api, *gin.Engine) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.ReadWait <= 0 {
		d.ReadWait = 500 * time.Millisecond
	}
	if d.MinPositionWait <= 0 {
		d.MinPositionWait = 2 * time.Second
	}
	if d.SSEHeartbeat <= 0 {
		d.SSEHeartbeat = 15 * time.Second
	}
	a := &api{Deps: d}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	_ = r.SetTrustedProxies(d.TrustedProxies)
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(a.requestContext, a.recover, a.limitBody)
	r.NoRoute(func(c *gin.Context) { fail(c, errNotFound) })
	r.NoMethod(func(c *gin.Context) { fail(c, errMethodNotAllow) })

	r.GET("/healthz", a.healthz)
	r.GET("/readyz", a.readyz)
	r.GET("/metrics", a.metrics)
	return a, r
}

// routes adds the API's routes.
func (a *api) routes(r *gin.Engine) {
	r.GET("/openapi.yaml", a.openAPI)

	v1 := r.Group("/api/v1")
	v1.POST("/auth/register", a.register)
	v1.POST("/auth/verify-email", a.verifyEmail)
	v1.POST("/auth/verify-email/resend", a.resendVerification)
	v1.POST("/auth/login", a.login)
	v1.POST("/auth/2fa/verify", a.verifyMFA)
	v1.POST("/auth/refresh", a.refresh)
	v1.POST("/auth/logout", a.logout)
	v1.POST("/auth/logout-all", a.authenticated, a.logoutEverywhere)
	v1.POST("/auth/password/forgot", a.forgotPassword)
	v1.POST("/auth/password/reset", a.resetPassword)
	v1.POST("/auth/2fa/setup", a.authenticated, a.setupTOTP)
	v1.POST("/auth/2fa/enable", a.authenticated, a.enableTOTP)
	v1.POST("/auth/2fa/disable", a.authenticated, a.disableTOTP)
	v1.GET("/auth/oauth/:provider/start", a.oauthStart)
	v1.GET("/auth/oauth/:provider/callback", a.oauthCallback)
	v1.GET("/me", a.authenticated, a.me)
	v1.PATCH("/me", a.authenticated, a.patchMe)
	v1.DELETE("/me", a.authenticated, a.deleteMe)

	v1.GET("/movies", a.listMovies)
	v1.GET("/movies/:id", a.getMovie)
	v1.GET("/venues", a.listVenues)
	v1.GET("/venues/:id", a.getVenue)
	v1.GET("/shows", a.listShows)
	v1.GET("/shows/:id", a.getShow)
	v1.GET("/shows/:id/seats", a.getSeats)
	v1.GET("/shows/:id/seats/stream", a.seatStream)

	v1.POST("/newsletter/subscribe", a.subscribe)
	v1.GET("/newsletter/confirm", a.confirmSubscription)
	v1.GET("/newsletter/unsubscribe", a.unsubscribePage)
	v1.POST("/newsletter/unsubscribe", a.unsubscribe)

	b := v1.Group("/bookings", a.authenticated)
	b.POST("", a.verified, a.createBooking)
	b.GET("", a.listBookings)
	b.GET("/:id", a.getBooking)
	b.POST("/:id/cancel", a.cancelBooking)
	b.POST("/:id/checkout", a.checkout)
	v1.POST("/payments/webhook", a.webhook)

	adm := v1.Group("/admin", a.authenticated, a.adminOnly)
	adm.POST("/movies", a.createMovie)
	adm.PATCH("/movies/:id", a.patchMovie)
	adm.POST("/venues", a.createVenue)
	adm.PATCH("/venues/:id", a.patchVenue)
	adm.POST("/shows", a.createShow)
	adm.PATCH("/shows/:id", a.patchShow)
	adm.POST("/shows/:id/cancel", a.cancelShow)
	adm.POST("/notifications", a.sendBroadcast)
	adm.GET("/notifications/:id", a.getBroadcast)
	adm.GET("/emails", a.listEmails)
	adm.GET("/bookings/:id/timeline", a.bookingTimeline)
	adm.GET("/events", a.listEvents)
	adm.GET("/queues", a.listQueues)
	adm.GET("/queues/:topic/dead-letters", a.topic, a.listDeadLetters)
	adm.POST("/queues/:topic/dead-letters/retry", a.topic, a.retryAllDeadLetters)
	adm.POST("/queues/:topic/dead-letters/:id/retry", a.topic, a.retryDeadLetter)
	adm.GET("/projections", a.listProjections)
	adm.POST("/projections/:name/rebuild", a.rebuildProjection)
	adm.GET("/projections/:name/rebuild", a.getRebuild)
	adm.POST("/projections/:name/rebuild/cancel", a.cancelRebuild)
	adm.POST("/newsletters", a.createCampaign)
	adm.GET("/newsletters/:id", a.getCampaign)
	adm.GET("/users", a.listUsers)
	adm.PATCH("/users/:id", a.patchUser)
}

const (
	requestIDKey = "request_id"
	loggerKey    = "logger"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestContext gives every request an id (the client's X-Request-Id if
// it is sane), a logger carrying it, and an access log line.
func (a *api) requestContext(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !validRequestID.MatchString(id) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-Id", id)
	l := a.Logger.With("request_id", id)
	c.Set(loggerKey, l)
	start := time.Now()
	c.Next()
	d := time.Since(start)
	l.Debug("http", "method", c.Request.Method, "route", c.FullPath(), "status", c.Writer.Status(),
		"ms", float64(d.Microseconds())/1000)
	if a.Metrics != nil {
		a.Metrics.HTTP(c.FullPath(), c.Request.Method, c.Writer.Status(), d)
	}
}

// recover turns a panic into a 500 without a stack trace for the client.
func (a *api) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if errors.Is(fmt.Errorf("%v", r), http.ErrAbortHandler) {
				panic(r)
			}
			logger(c).Error("panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			fail(c, fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

// limitBody caps request bodies at 1 MiB.
func (a *api) limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	}
	c.Next()
}

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

func (a *api) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// metrics serves Prometheus metrics, to scrapers that bring the token
// when METRICS_TOKEN is set.
func (a *api) metrics(c *gin.Context) {
	if a.MetricsHandler == nil {
		fail(c, errNotFound)
		return
	}
	if a.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(c.GetHeader("Authorization")), []byte("Bearer "+a.MetricsToken)) != 1 {
		fail(c, errUnauthorized)
		return
	}
	a.MetricsHandler.ServeHTTP(c.Writer, c.Request)
}

func (a *api) readyz(c *gin.Context) {
	if a.Ready != nil {
		ctx, cancel := context.WithTimeout(c, 2*time.Second)
		defer cancel()
		if err := a.Ready(ctx); err != nil {
			fail(c, errNotReady.Withf("not ready: %v", err))
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
