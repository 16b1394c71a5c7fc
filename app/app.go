package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/bus"
	"github.com/seatline/seatline/cluster"
	"github.com/seatline/seatline/commands"
	"github.com/seatline/seatline/coord"
	"github.com/seatline/seatline/domain/booking"
	"github.com/seatline/seatline/domain/broadcast"
	"github.com/seatline/seatline/domain/catalog"
	"github.com/seatline/seatline/domain/show"
	"github.com/seatline/seatline/embeddeddb"
	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/httpapi"
	"github.com/seatline/seatline/identity"
	"github.com/seatline/seatline/mailer"
	"github.com/seatline/seatline/metrics"
	"github.com/seatline/seatline/newsletter"
	"github.com/seatline/seatline/notifications"
	"github.com/seatline/seatline/payments"
	"github.com/seatline/seatline/projections"
	"github.com/seatline/seatline/ratelimit"
	"github.com/seatline/seatline/relay"
	"github.com/seatline/seatline/sagas"
	"github.com/seatline/seatline/timeline"
)

// App is one running process of the booking engine.
type App struct {
	cfg    Config
	hooks  Hooks
	log    *slog.Logger
	ferret *embeddeddb.Server
	client *mongo.Client
	redis  *redis.Client

	Store       *eventstore.Store
	Bus         *bus.Bus
	Relay       *relay.Relay
	Consumer    *relay.Consumer
	Commands    *commands.Handlers
	Identity    *identity.Service
	OAuth       *identity.OAuth
	Catalog     *projections.Catalog
	Shows       *projections.Shows
	SeatMaps    *projections.SeatMaps
	Bookings    *projections.Bookings
	Freshness   *projections.Freshness
	Generations *projections.Generations
	Rebuilder   *projections.Rebuilder
	DeadLetters *relay.DeadLetters
	Metrics     *metrics.Metrics
	Index       *projections.ShowIndex
	SeatHub     *projections.SeatHub
	LiveSeats   *projections.LiveSeatMaps
	Deciders    *cluster.Deciders // nil without Redis
	LiveBook    *projections.LiveBookings
	Feed        *relay.Feed
	Payments    *sagas.Payment
	Expiry      *sagas.Expiry
	Notify      *sagas.Notify
	Outbox      *notifications.Outbox
	Newsletter  *newsletter.Service
	sender      mailer.Sender
	Simulator   *payments.Simulator // nil unless PAYMENT_GATEWAY=simulator
	Handlers    []relay.Handler
	handler     http.Handler
	leaser      coord.Leaser
	progress    coord.Progress
	FirstAdmin  *Credentials

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// Credentials of a generated first admin, shown once.
type Credentials struct{ Email, Password string }

// Groups lists every consumer group of the deployment. The relay keeps a
// commit in circulation until all of them have handled it, so the list is
// the same in every process whatever its role.
func Groups() []string {
	return []string{
		projections.MoviesProjection, projections.VenuesProjection, projections.ShowsProjection,
		projections.SeatMapsProjection, projections.BookingsProjection, sagas.BookingSeatsSaga,
		sagas.PaymentSaga, sagas.ExpirySaga, sagas.ShowChangesSaga, sagas.NotifySaga,
	}
}

// Registry lists every event the engine stores, under its stored name.
func Registry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	r.Register(catalog.Events()...)
	r.Register(show.Events()...)
	r.Register(booking.Events()...)
	r.Register(broadcast.Events()...)
	return r
}

// New builds the process for cfg: it connects to (or starts) the database
// and Redis, and wires every part. Start runs the background parts; Close
// releases everything.
func New(ctx context.Context, cfg Config, hooks Hooks) (a *App, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hooks = hooks.withDefaults()
	a = &App{cfg: cfg, hooks: hooks, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	uri := cfg.MongoURI
	if cfg.Embedded() {
		if a.ferret, err = embeddeddb.Start(filepath.Join(cfg.DataDir, "ferretdb"), "127.0.0.1:0", nil); err != nil {
			return a, err
		}
		uri = a.ferret.URI
	}
	a.Metrics = metrics.New()
	copts := options.Client().ApplyURI(uri).SetMaxPoolSize(128).SetMonitor(a.Metrics.DBMonitor())
	if a.client, err = mongo.Connect(copts); err != nil {
		return a, fmt.Errorf("app: connect to MongoDB: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err = a.client.Ping(pingCtx, nil); err != nil {
		return a, fmt.Errorf("app: MongoDB does not answer: %w", err)
	}
	// The log, each read model, the relay's bookkeeping and identity live
	// in databases of their own: on FerretDB over SQLite a database is a
	// file with one write lock, and writers of different files do not wait
	// for each other.
	db := func(suffix string) *mongo.Database { return a.client.Database(cfg.MongoDB + suffix) }
	logDB, relayDB, idDB := db(""), db("_relay"), db("_identity")

	if err = a.connectRedis(pingCtx); err != nil {
		return a, err
	}
	if a.Store, err = eventstore.Open(ctx, logDB, Registry(), eventstore.Options{Logger: a.log, Now: hooks.Clock.Now, OnWrite: a.Metrics.GroupCommit,
		Snapshots: db("_snapshots")}); err != nil {
		return a, err
	}
	secret, err := a.jwtSecret()
	if err != nil {
		return a, err
	}
	ttl := cfg.AccessTokenTTL
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	keys, err := identity.ParseKeys(string(secret))
	if err != nil {
		return a, err
	}
	tokens, err := identity.NewTokens(keys, ttl, nil)
	if err != nil {
		return a, err
	}
	totpKey := sha256.Sum256(append([]byte("seatline/totp/"), keys[0].Secret...))
	var limits ratelimit.Store = ratelimit.NewMemory()
	if a.redis != nil {
		limits = ratelimit.Redis{C: a.redis, Prefix: cfg.RedisPrefix}
	}
	a.Identity, err = identity.NewService(idDB, tokens, notifier{a}, identity.Options{Hash: cfg.PasswordHash,
		PublicURL: cfg.PublicURL, Limits: limits, Logger: a.log, TOTPKey: totpKey[:], IPBudget: cfg.IPBudget, LockoutBase: cfg.LockoutBase})
	if err != nil {
		return a, err
	}
	a.OAuth = identity.NewOAuth(a.Identity, cfg.PublicURL, cfg.OAuthProviders)
	if created, login, pw, err := a.Identity.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword); err != nil {
		return a, err
	} else if created && pw != "" {
		a.FirstAdmin = &Credentials{Email: login, Password: pw}
	}

	a.Store.OnCommit(func(cs []eventstore.Commit) {
		n := 0
		for _, c := range cs {
			n += len(c.Events)
		}
		a.Metrics.Appended(len(cs), n)
	})
	var forward commands.Forwarder
	if sets, ok := a.leaser.(interface{ Set(string) coord.Members }); ok && a.redis != nil {
		// One decider per show across the API processes (package cluster).
		self := ""
		if cfg.Role != RoleWorker {
			self = cfg.InternalURL
		}
		fkey := sha256.Sum256(append([]byte("seatline/forward/"), keys[0].Secret...))
		a.Deciders = cluster.New(cluster.Options{Self: self, Key: fkey[:], Leaser: a.leaser, Members: sets.Set("deciders"),
			TTL: cfg.Relay.LeaseTTL, Logger: a.log, OnRoute: a.Metrics.Route})
		forward = a.Deciders
	}
	a.Commands = commands.New(a.Store, commands.Config{HoldTTL: cfg.HoldTTL, CheckoutGrace: cfg.CheckoutGrace, Now: hooks.Clock.Now, ClockTolerance: cfg.ClockTolerance,
		RefundCutoff: cfg.RefundCutoff, MaxSeatsPerBooking: cfg.MaxSeatsPerBooking, Logger: a.log, Forward: forward,
		Repository: commands.Options{Observe: a.Metrics.Command, OnConflict: a.Metrics.Conflict, OnBatch: a.Metrics.Batch}})
	// Read models live where their last rebuild put them.
	a.Generations = projections.NewGenerations(relayDB.Collection("generations"), a.client, a.log)
	targets := map[string]*projections.Target{}
	for group, suffix := range map[string]string{projections.MoviesProjection: "_catalog", projections.VenuesProjection: "_catalog",
		projections.ShowsProjection: "_shows", projections.SeatMapsProjection: "_seatmaps", projections.BookingsProjection: "_bookings"} {
		if targets[group], err = a.Generations.Target(ctx, group, cfg.MongoDB+suffix); err != nil {
			return a, err
		}
	}
	a.Catalog = projections.NewCatalog(targets[projections.MoviesProjection], targets[projections.VenuesProjection], a.Store)
	a.Shows = projections.NewShows(targets[projections.ShowsProjection], a.Store)
	a.SeatMaps = projections.NewSeatMaps(targets[projections.SeatMapsProjection], a.Store)
	a.Bookings = projections.NewBookings(targets[projections.BookingsProjection], a.Store)
	a.Freshness = projections.NewFreshness(a.progress, func(ctx context.Context) (map[string]int64, error) {
		return a.Relay.Checkpoints(ctx)
	})
	gateway := a.gateway(db("_simulator"))
	hit := hooks.Failpoint
	if a.sender, err = a.mailer(); err != nil {
		return a, err
	}
	tmpl, err := notifications.LoadTemplates(time.UTC)
	if err != nil {
		return a, err
	}
	a.Outbox = notifications.NewOutbox(db("_notifications"), a.Bus.Partitions(), hooks.Clock, a.sender, a.Identity, sagas.Details{Cmd: a.Commands}, tmpl, a.log)
	a.Outbox.OnResult = a.Metrics.Email
	a.Payments = sagas.NewPayment(a.Commands, gateway, db("_payments"), a.Bus, hooks.Clock, cfg.PaymentTimeout, a.log, hit)
	a.Payments.OnCall = a.Metrics.Payment
	a.Expiry = sagas.NewExpiry(a.Commands, db("_expiry"), a.Bus, hooks.Clock, cfg.ExpiryCheckInterval, a.log)
	a.Expiry.OnExpired = a.Metrics.HoldExpired
	a.Notify = sagas.NewNotify(a.Commands, a.Outbox, a.Identity, db("_notifications"), a.Bus, hooks.Clock, time.Hour, a.log)
	a.Handlers = []relay.Handler{
		a.Catalog.MoviesProjector(), a.Catalog.VenuesProjector(), a.Shows.Projector(),
		a.SeatMaps.Projector(), a.Bookings.Projector(), sagas.NewBookingSeats(a.Commands, hit),
		a.Payments, a.Expiry, sagas.NewShowChanges(a.Commands), a.Notify,
	}
	if hooks.WrapHandler != nil {
		for i, h := range a.Handlers {
			a.Handlers[i] = hooks.WrapHandler(h)
		}
	}
	rt := cfg.Relay
	a.Relay = relay.New(a.Store, a.Bus, a.leaser, a.progress, relayDB, relay.Options{
		Groups: Groups(), Grace: rt.Grace, Redeliver: rt.Redeliver, LeaseTTL: rt.LeaseTTL, Duplicate: rt.Duplicate, Reorder: rt.Reorder, Logger: a.log})
	marks, err := a.Relay.Checkpoints(ctx)
	if err != nil {
		return a, err
	}
	for g, pos := range marks {
		a.Freshness.SetFloor(g, pos)
	}
	a.DeadLetters = relay.NewDeadLetters(relayDB)
	a.Consumer = relay.NewConsumer(a.Bus, a.Store.Registry(), a.leaser, a.progress, a.DeadLetters,
		relay.ConsumerOptions{LeaseTTL: rt.LeaseTTL, Logger: a.log, Log: a.Store, Hit: hit, Observe: a.Metrics.Handled})
	a.Metrics.Gauges(a.metricsState, a.log)
	a.Rebuilder = projections.NewRebuilder(a.Store, relayDB, a.Generations, a.Consumer,
		append(a.Catalog.Models(), a.Shows.Model(), a.SeatMaps.Model(), a.Bookings.Model()),
		projections.RebuildOptions{Prefix: cfg.MongoDB, Logger: a.log, OnSwitch: hooks.OnSwitch, OnProgress: hooks.OnRebuildProgress, DropAfter: cfg.Rebuild.DropAfter,
			Watermark: a.Freshness.Watermark})
	a.Index = projections.NewShowIndex(a.Shows, a.Catalog)
	a.SeatHub = projections.NewSeatHub(a.Store, 256)
	a.LiveSeats = projections.NewLiveSeatMaps(a.SeatMaps, a.Store, 1000)
	a.LiveBook = projections.NewLiveBookings(a.Bookings, a.Store, 20000)
	var listKeys [][]byte
	for _, k := range keys {
		sum := sha256.Sum256(append([]byte("seatline/newsletter/"), k.Secret...))
		listKeys = append(listKeys, sum[:])
	}
	a.Newsletter = newsletter.NewService(db("_newsletter"), listKeys, cfg.PublicURL, newsletterMail{a}, limits, a.log)
	cursorKey := sha256.Sum256(append([]byte("seatline/cursor/"), keys[0].Secret...))
	deps := httpapi.Deps{
		CursorKey: cursorKey[:], Index: a.Index, SeatHub: a.SeatHub, Feed: feedWaiter{a}, Log: a.Store, SSEHeartbeat: cfg.SSEHeartbeat,
		Commands: a.Commands, Identity: a.Identity, Catalog: a.Catalog, Shows: a.Shows, SeatMaps: a.SeatMaps,
		Bookings: a.Bookings, Freshness: a.Freshness, Rebuilder: a.Rebuilder,
		Timeline: timeline.Builder{Log: a.Store, Emails: a.Outbox, Calls: a.Payments}, Queues: queues{a},
		Metrics: a.Metrics, MetricsHandler: a.Metrics.Handler(), MetricsToken: cfg.MetricsToken, Head: a.Store.KnownHead, Ready: a.ready, Logger: a.log,
		Webhooks: payments.NewWebhooks(cfg.PaymentWebhookSecret, 5*time.Minute, db("_payments")),
		Outbox:   a.Outbox, Broadcasts: a.Notify, OAuth: a.OAuth, Newsletter: a.Newsletter,
		RequireVerifiedEmail: cfg.RequireEmailVerification, Now: hooks.Clock.Now, TrustedProxies: cfg.TrustedProxies,
	}
	deps.LiveSeats, deps.LiveBookings = a.LiveSeats, a.LiveBook // kept current by the feed Start runs
	a.handler = httpapi.New(deps)
	if cfg.Role == RoleWorker {
		a.handler = httpapi.NewOps(deps) // probes and scrapers only
	} else if a.Deciders != nil {
		mux := http.NewServeMux()
		mux.Handle(cluster.Path, a.Deciders.Handler(a.Commands))
		mux.Handle("/", a.handler)
		a.handler = mux
	}
	return a, nil
}

func (a *App) connectRedis(ctx context.Context) error {
	if a.cfg.RedisURL == "" {
		m := coord.NewMemory()
		a.leaser, a.progress = m, m
		a.Bus = bus.NewMemory(a.log)
		return nil
	}
	opt, err := redis.ParseURL(a.cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("app: REDIS_URL: %w", err)
	}
	a.redis = redis.NewClient(opt)
	if err := a.redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("app: Redis does not answer: %w", err)
	}
	prefix := a.cfg.RedisPrefix
	if prefix == "" {
		prefix = "seatline:"
	}
	// Every process of a deployment must spread commits over the same
	// partitions, or some would publish where nobody consumes.
	parts := max(1, a.cfg.Partitions)
	if _, err := a.redis.SetNX(ctx, prefix+"partitions", parts, 0).Result(); err != nil {
		return fmt.Errorf("app: Redis: %w", err)
	}
	if have, err := a.redis.Get(ctx, prefix+"partitions").Int(); err != nil {
		return fmt.Errorf("app: Redis: %w", err)
	} else if have != parts {
		return fmt.Errorf("app: PARTITIONS is %d but this deployment (REDIS_PREFIX %q) uses %d; start every process with the same value", parts, prefix, have)
	}
	r := coord.NewRedis(a.redis, prefix)
	a.leaser, a.progress = r, r
	a.Bus, err = bus.NewRedis(a.redis, bus.RedisOptions{Prefix: prefix, ClaimIdle: a.cfg.Relay.ClaimIdle, Partitions: a.cfg.Partitions}, a.log)
	return err
}

// metricsState reads what the gauges show: the log head, each group's
// watermark, pending messages and dead letters, and active holds.
func (a *App) metricsState(ctx context.Context) (metrics.State, error) {
	qs, err := a.Relay.Queues(ctx, a.DeadLetters)
	if err != nil {
		return metrics.State{}, err
	}
	st := metrics.State{Watermarks: map[string]int64{}, Pending: map[string]int64{}, DeadLetters: map[string]int{}}
	for _, q := range qs {
		st.Head = q.Head
		for _, g := range q.Groups {
			st.Watermarks[g.Name], st.DeadLetters[g.Name] = g.Checkpoint, g.DeadLetters
			if q.Mode == "redis" {
				st.Pending[g.Name] += g.Pending
			}
		}
	}
	st.HoldsActive, err = a.Expiry.Active(ctx)
	return st, err
}

// queues shows and works the bus for the API.
type queues struct{ a *App }

func (q queues) Topic() string { return q.a.Bus.Topic() }

func (q queues) Queues(ctx context.Context) ([]relay.QueueReport, error) {
	return q.a.Relay.Queues(ctx, q.a.DeadLetters)
}

// DeadLetters lists the dead letters with their commits (personal data
// masked as in timelines).
func (q queues) DeadLetters(ctx context.Context) ([]relay.DeadLetter, error) {
	all, err := q.a.DeadLetters.List(ctx, "")
	if err != nil {
		return nil, err
	}
	for i, dl := range all {
		if c, err := q.a.Store.ReadCommit(ctx, dl.Position); err == nil {
			for j := range c.Events {
				c.Events[j].Data = timeline.MaskJSON(c.Events[j].Data)
			}
			all[i].Commit = &c
		}
	}
	return all, nil
}

func (q queues) RetryDeadLetter(ctx context.Context, id string) (relay.DeadLetter, error) {
	return q.a.DeadLetters.RequestRetry(ctx, id)
}

func (q queues) RetryAllDeadLetters(ctx context.Context) (int, error) {
	return q.a.DeadLetters.RequestRetryAll(ctx)
}

// feedWaiter lets the API wait on the feed, which Start creates.
type feedWaiter struct{ a *App }

func (f feedWaiter) Wait(ctx context.Context, pos int64, timeout time.Duration) bool {
	if f.a.Feed == nil {
		return true
	}
	return f.a.Feed.Wait(ctx, pos, timeout)
}

// notifier hands identity's emails to the outbox.
type notifier struct{ a *App }

func (n notifier) Notify(ctx context.Context, x identity.Notice) error {
	_, err := n.a.Outbox.Enqueue(ctx, notifications.Request{ID: "account:" + x.ID, Template: x.Template, UserID: x.UserID, To: x.To, Link: x.Link})
	return err
}

// newsletterMail hands the newsletter's confirmation emails to the outbox.
type newsletterMail struct{ a *App }

func (n newsletterMail) SendConfirmation(ctx context.Context, email, link string) error {
	sum := sha256.Sum256([]byte(link))
	_, err := n.a.Outbox.Enqueue(ctx, notifications.Request{ID: "newsletter:" + hex.EncodeToString(sum[:16]),
		Template: notifications.NewsletterConfirm, To: email, Link: link})
	return err
}

// gateway returns the payment gateway adapter: an HTTP client of the
// gateway at PAYMENT_GATEWAY, or of the built-in simulator reached in
// process through the same client code.
func (a *App) gateway(simDB *mongo.Database) payments.Gateway {
	if a.cfg.PaymentGateway != "simulator" {
		return &payments.Client{BaseURL: a.cfg.PaymentGateway, HTTP: &http.Client{}}
	}
	a.Simulator = payments.NewSimulator(simDB, a.hooks.Clock, a.cfg.SimulatorSlowDelay)
	return &payments.Client{BaseURL: "http://simulator.internal", HTTP: &http.Client{Transport: payments.HandlerTransport{Handler: a.Simulator}}}
}

// mailer returns the SMTP sender of SMTP_URL, or one that logs emails.
func (a *App) mailer() (mailer.Sender, error) {
	if a.cfg.SMTPURL == "" {
		return mailer.Log{Logger: a.log}, nil
	}
	return mailer.NewSMTP(a.cfg.SMTPURL, a.cfg.MailFrom, "Seatline")
}

// jwtSecret returns JWT_SECRET, or in the embedded mode a secret generated
// once and kept in the data directory.
func (a *App) jwtSecret() ([]byte, error) {
	if a.cfg.JWTSecret != "" {
		return []byte(a.cfg.JWTSecret), nil
	}
	path := filepath.Join(a.cfg.DataDir, "jwt-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("app: keep the generated JWT secret: %w", err)
	}
	return []byte(secret), nil
}

// Handler is the HTTP API.
func (a *App) Handler() http.Handler { return a.handler }

// Logger is the process logger.
func (a *App) Logger() *slog.Logger { return a.log }

// Start runs the background parts of the role until Close: the relay in
// every role, consumers (projections and sagas) in worker and all. In the
// embedded mode it returns once every consumer has subscribed.
func (a *App) Start(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		a.Relay.Run(ctx)
	}()
	go func() {
		defer a.wg.Done()
		a.Generations.Watch(ctx, 250*time.Millisecond)
	}()
	if a.cfg.Role != RoleWorker {
		if err := a.startFeed(ctx); err != nil {
			return err
		}
	}
	if a.Deciders != nil && a.cfg.Role != RoleWorker {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.Deciders.Run(ctx)
		}()
	}
	if a.cfg.Role == RoleAPI {
		return nil
	}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		coord.RunLeased(ctx, a.leaser, "rebuilds", coord.RunOptions{TTL: a.cfg.Relay.LeaseTTL, Logger: a.log}, func(ctx context.Context, _ int64) {
			a.Rebuilder.Run(ctx)
		})
	}()
	go func() {
		defer a.wg.Done()
		coord.RunLeased(ctx, a.leaser, "newsletter", coord.RunOptions{TTL: a.cfg.Relay.LeaseTTL, Logger: a.log},
			func(ctx context.Context, _ int64) {
				a.Newsletter.RunSender(ctx, a.sender, newsletter.SenderOptions{Rate: a.cfg.NewsletterRate, Hit: a.hooks.Failpoint})
			})
	}()
	for _, h := range a.Handlers {
		a.wg.Add(1)
		go func(h relay.Handler) {
			defer a.wg.Done()
			a.Consumer.Run(ctx, h)
		}(h)
	}
	if a.redis != nil {
		return nil
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return a.Consumer.WaitSubscribed(wait, Groups()...)
}

// startFeed loads the in-memory views of the API (the show search index)
// and feeds them, and the live seat maps, every commit from the point
// their read models had reached.
func (a *App) startFeed(ctx context.Context) error {
	from := a.Store.KnownHead()
	for _, g := range []string{projections.ShowsProjection, projections.MoviesProjection, projections.VenuesProjection} {
		w, err := a.Freshness.Watermark(ctx, g)
		if err != nil {
			return err
		}
		from = min(from, w)
	}
	a.Feed = relay.NewFeed(a.Bus, a.Store.Registry(), a.Store, from, 0, a.log)
	if err := a.Index.Load(ctx); err != nil {
		return err
	}
	a.Store.OnCommit(a.Feed.Offer)
	a.Feed.Listen(func(cs []eventstore.Commit) { a.Index.Apply(ctx, cs) })
	a.Feed.Listen(func(cs []eventstore.Commit) { a.SeatHub.Apply(ctx, cs) })
	a.Feed.Listen(func(cs []eventstore.Commit) { a.LiveSeats.Apply(ctx, cs) })
	a.Feed.Listen(func(cs []eventstore.Commit) { a.LiveBook.Apply(ctx, cs) })
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.Feed.Run(ctx)
	}()
	return nil
}

// Serve serves the API on ln until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *App) ready(ctx context.Context) error {
	if err := a.client.Ping(ctx, nil); err != nil {
		return errors.New("database unreachable")
	}
	if a.redis != nil {
		if err := a.redis.Ping(ctx).Err(); err != nil {
			return errors.New("redis unreachable")
		}
	}
	if err := a.Relay.Healthy(ctx); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}

// Close stops the background parts, then the store (after queued appends),
// then closes connections and the embedded database.
func (a *App) Close() {
	if a.cancel != nil {
		a.cancel()
		a.wg.Wait()
	}
	if a.Store != nil {
		a.Store.Close()
	}
	if a.Bus != nil {
		_ = a.Bus.Close()
	}
	if a.client != nil {
		_ = a.client.Disconnect(context.Background())
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.ferret != nil {
		a.ferret.Stop()
	}
}
