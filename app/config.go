package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seatline/seatline/identity"
)

// Roles a process can run.
const (
	RoleAll    = "all"    // API, relay, projections and sagas in one process
	RoleAPI    = "api"    // HTTP API and the relay (it publishes what it commits)
	RoleWorker = "worker" // projections, sagas and the relay's catch-up
)

// Config is the whole configuration, read once at start.
type Config struct {
	HTTPAddr  string
	DataDir   string
	MongoURI  string
	MongoDB   string
	RedisURL  string
	PublicURL string
	// InternalURL is where other processes of the deployment reach this
	// one's internal API (forwarded commands): INTERNAL_URL, default
	// http://HTTP_ADDR (cmd/bookingd fills in the port it got).
	InternalURL        string
	JWTSecret          string
	AdminEmail         string
	AdminPassword      string
	HoldTTL            time.Duration
	MaxSeatsPerBooking int
	Role               string
	LogLevel           slog.Level

	SMTPURL              string        // SMTP_URL; empty: emails go to the log
	MailFrom             string        // MAIL_FROM
	PaymentGateway       string        // PAYMENT_GATEWAY: "simulator" or the gateway's base URL
	PaymentWebhookSecret string        // PAYMENT_WEBHOOK_SECRET
	PaymentTimeout       time.Duration // PAYMENT_TIMEOUT: one gateway call
	SimulatorSlowDelay   time.Duration // PAYMENT_SIM_SLOW: how long tok_slow takes
	CheckoutGrace        time.Duration // CHECKOUT_GRACE: how much checkout extends a hold
	RefundCutoff         time.Duration // REFUND_CUTOFF: no refunds this close to the show
	ExpiryCheckInterval  time.Duration // EXPIRY_CHECK_INTERVAL
	NewsletterRate       float64       // NEWSLETTER_RATE: campaign emails per second (50)
	MetricsToken         string        // METRICS_TOKEN: bearer token /metrics asks for (none: open)
	Partitions           int           // PARTITIONS: bus streams per consumer group, spread over workers (1)
	ClockTolerance       time.Duration // CLOCK_TOLERANCE (2s): holds count as live this long past their deadline for decisions, covering clock skew between processes

	RequireEmailVerification bool                      // REQUIRE_EMAIL_VERIFICATION (true)
	IPBudget                 int                       // IP_BUDGET: email-sending requests per client address and hour (20)
	LockoutBase              time.Duration             // first login lockout (1m; tests shorten it)
	SSEHeartbeat             time.Duration             // keep-alive comments on event streams (15s)
	TrustedProxies           []string                  // TRUSTED_PROXIES: who may set X-Forwarded-For
	OAuthProviders           []identity.ProviderConfig // OAUTH_GOOGLE_*, OAUTH_GITHUB_*, OIDC_PROVIDERS + OIDC_<NAME>_*

	// Not from the environment: knobs for tests and tools.
	RedisPrefix    string              // key prefix in Redis (REDIS_PREFIX, "seatline:")
	PasswordHash   identity.HashParams // argon2id cost (production default)
	AccessTokenTTL time.Duration       // 15m
	Relay          RelayTuning
	Rebuild        RebuildTuning
	Logger         *slog.Logger // overrides the JSON logger on stdout
}

// RebuildTuning adjusts rebuilds.
type RebuildTuning struct {
	DropAfter time.Duration // how long an old generation is kept (10s)
}

// RelayTuning adjusts the relay's delays; zero values take its defaults.
// LEASE_TTL and RELAY_REDELIVER set two of them from the environment.
type RelayTuning struct {
	Grace, Redeliver, ClaimIdle, LeaseTTL time.Duration
	// Duplicate publishes every commit twice (tests of idempotence).
	Duplicate bool
	// Reorder publishes batches shuffled and again later (tests of order).
	Reorder bool
}

// Embedded reports whether the process runs its own FerretDB.
func (c Config) Embedded() bool { return c.MongoURI == "" }

// FromEnv reads the configuration from environment variables (the names of
// DESIGN.md section 7) and validates it, reporting every problem at once.
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	c := Config{
		HTTPAddr: or(getenv("HTTP_ADDR"), "127.0.0.1:8080"), DataDir: or(getenv("DATA_DIR"), "./data"),
		MongoURI: getenv("MONGO_URI"), MongoDB: or(getenv("MONGO_DB"), "seatline"), RedisURL: getenv("REDIS_URL"),
		PublicURL: getenv("PUBLIC_URL"), InternalURL: getenv("INTERNAL_URL"), JWTSecret: getenv("JWT_SECRET"),
		AdminEmail: getenv("ADMIN_EMAIL"), AdminPassword: getenv("ADMIN_PASSWORD"),
		Role: or(getenv("ROLE"), RoleAll), RedisPrefix: or(getenv("REDIS_PREFIX"), "seatline:"),
		SMTPURL: getenv("SMTP_URL"), MailFrom: or(getenv("MAIL_FROM"), "no-reply@seatline.local"),
		PaymentGateway: or(getenv("PAYMENT_GATEWAY"), "simulator"), PaymentWebhookSecret: getenv("PAYMENT_WEBHOOK_SECRET"),
		MetricsToken: getenv("METRICS_TOKEN"),
	}
	if tp := getenv("TRUSTED_PROXIES"); tp != "" {
		c.TrustedProxies = strings.Split(tp, ",")
	}
	switch v := strings.ToLower(or(getenv("REQUIRE_EMAIL_VERIFICATION"), "true")); v {
	case "true", "1", "yes":
		c.RequireEmailVerification = true
	case "false", "0", "no":
	default:
		errs = append(errs, fmt.Errorf("REQUIRE_EMAIL_VERIFICATION: %q is not true or false", v))
	}
	c.OAuthProviders = oauthFromEnv(getenv, &errs)
	if s := getenv("IP_BUDGET"); s != "" {
		var err error
		if c.IPBudget, err = strconv.Atoi(s); err != nil || c.IPBudget < 1 {
			errs = append(errs, fmt.Errorf("IP_BUDGET: %q is not a positive integer", s))
		}
	}
	if s := getenv("PARTITIONS"); s != "" {
		var err error
		if c.Partitions, err = strconv.Atoi(s); err != nil || c.Partitions < 1 || c.Partitions > 64 {
			errs = append(errs, fmt.Errorf("PARTITIONS: %q is not an integer from 1 to 64", s))
		}
	}
	if s := getenv("NEWSLETTER_RATE"); s != "" {
		var err error
		if c.NewsletterRate, err = strconv.ParseFloat(s, 64); err != nil || c.NewsletterRate <= 0 {
			errs = append(errs, fmt.Errorf("NEWSLETTER_RATE: %q is not a positive number", s))
		}
	}
	var err error
	if c.HoldTTL, err = duration(getenv("HOLD_TTL"), 10*time.Minute); err != nil {
		errs = append(errs, fmt.Errorf("HOLD_TTL: %w", err))
	}
	if s := getenv("MAX_SEATS_PER_BOOKING"); s != "" {
		if c.MaxSeatsPerBooking, err = strconv.Atoi(s); err != nil {
			errs = append(errs, fmt.Errorf("MAX_SEATS_PER_BOOKING: %q is not an integer", s))
		}
	} else {
		c.MaxSeatsPerBooking = 10
	}
	durations := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"LEASE_TTL", &c.Relay.LeaseTTL, 0}, {"RELAY_REDELIVER", &c.Relay.Redeliver, 0}, {"BUS_CLAIM_IDLE", &c.Relay.ClaimIdle, 0},
		{"PAYMENT_TIMEOUT", &c.PaymentTimeout, 20 * time.Second}, {"PAYMENT_SIM_SLOW", &c.SimulatorSlowDelay, 5 * time.Second},
		{"CHECKOUT_GRACE", &c.CheckoutGrace, 5 * time.Minute}, {"REFUND_CUTOFF", &c.RefundCutoff, 2 * time.Hour},
		{"EXPIRY_CHECK_INTERVAL", &c.ExpiryCheckInterval, time.Second}, {"CLOCK_TOLERANCE", &c.ClockTolerance, 2 * time.Second},
	}
	for _, d := range durations {
		if *d.dst, err = duration(getenv(d.name), d.def); err != nil || *d.dst < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration", d.name, getenv(d.name)))
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(or(getenv("LOG_LEVEL"), "info"))); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// withDefaults fills the zero values a programmatic Config may leave
// (FromEnv sets them all).
func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.PaymentTimeout, 20*time.Second)
	set(&c.SimulatorSlowDelay, 5*time.Second)
	set(&c.CheckoutGrace, 5*time.Minute)
	set(&c.RefundCutoff, 2*time.Hour)
	set(&c.ExpiryCheckInterval, time.Second)
	if c.PaymentGateway == "" {
		c.PaymentGateway = "simulator"
	}
	if c.MailFrom == "" {
		c.MailFrom = "no-reply@seatline.local"
	}
	if c.MongoDB == "" {
		c.MongoDB = "seatline"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.HTTPAddr
	}
	if c.InternalURL == "" {
		c.InternalURL = "http://" + c.HTTPAddr
	}
	return c
}

// oauthFromEnv reads login providers: Google (OAUTH_GOOGLE_CLIENT_ID,
// OAUTH_GOOGLE_CLIENT_SECRET), GitHub (OAUTH_GITHUB_CLIENT_ID,
// OAUTH_GITHUB_CLIENT_SECRET) and any OIDC provider listed in
// OIDC_PROVIDERS=name,... with OIDC_<NAME>_ISSUER, _CLIENT_ID,
// _CLIENT_SECRET.
func oauthFromEnv(getenv func(string) string, errs *[]error) []identity.ProviderConfig {
	var out []identity.ProviderConfig
	if id := getenv("OAUTH_GOOGLE_CLIENT_ID"); id != "" {
		out = append(out, identity.ProviderConfig{Name: "google", Kind: "oidc", Issuer: "https://accounts.google.com",
			ClientID: id, ClientSecret: getenv("OAUTH_GOOGLE_CLIENT_SECRET")})
	}
	if id := getenv("OAUTH_GITHUB_CLIENT_ID"); id != "" {
		out = append(out, identity.ProviderConfig{Name: "github", Kind: "github", ClientID: id, ClientSecret: getenv("OAUTH_GITHUB_CLIENT_SECRET")})
	}
	for _, name := range strings.Split(getenv("OIDC_PROVIDERS"), ",") {
		name = strings.TrimSpace(strings.ToLower(name))
		if name == "" {
			continue
		}
		env := "OIDC_" + strings.ToUpper(name) + "_"
		p := identity.ProviderConfig{Name: name, Kind: "oidc", Issuer: getenv(env + "ISSUER"), ClientID: getenv(env + "CLIENT_ID"), ClientSecret: getenv(env + "CLIENT_SECRET")}
		if p.Issuer == "" || p.ClientID == "" {
			*errs = append(*errs, fmt.Errorf("OIDC_PROVIDERS: %s needs %sISSUER and %sCLIENT_ID", name, env, env))
			continue
		}
		out = append(out, p)
	}
	for _, p := range out {
		if p.ClientSecret == "" {
			*errs = append(*errs, fmt.Errorf("login provider %s: the client secret is missing", p.Name))
		}
	}
	return out
}

// Validate checks the configuration and joins every problem it finds.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("HTTP_ADDR: %q is not host:port", c.HTTPAddr))
	}
	if c.Embedded() && c.DataDir == "" {
		errs = append(errs, errors.New("DATA_DIR: required without MONGO_URI"))
	}
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		errs = append(errs, errors.New("MONGO_URI: must start with mongodb:// or mongodb+srv://"))
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			errs = append(errs, errors.New("REDIS_URL: must be redis://host:port[/db] or rediss://"))
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("PUBLIC_URL: %q is not an absolute URL", c.PublicURL))
		}
	}
	if !c.Embedded() && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("JWT_SECRET: required with MONGO_URI and at least 32 characters (only the embedded default generates one)"))
	}
	if c.JWTSecret != "" {
		if _, err := identity.ParseKeys(c.JWTSecret); err != nil {
			errs = append(errs, fmt.Errorf("JWT_SECRET: %w", err))
		}
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		errs = append(errs, errors.New("ADMIN_EMAIL and ADMIN_PASSWORD: set both or neither"))
	}
	if c.AdminPassword != "" {
		if err := identity.CheckPasswordPolicy(c.AdminPassword, ""); err != nil {
			errs = append(errs, errors.New("ADMIN_PASSWORD: must be 10..128 characters and not a common password"))
		}
	}
	if c.HoldTTL < time.Second || c.HoldTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("HOLD_TTL: %v is outside 1s..24h", c.HoldTTL))
	}
	if c.MaxSeatsPerBooking < 1 || c.MaxSeatsPerBooking > 100 {
		errs = append(errs, fmt.Errorf("MAX_SEATS_PER_BOOKING: %d is outside 1..100", c.MaxSeatsPerBooking))
	}
	if c.PaymentGateway != "simulator" {
		if u, err := url.Parse(c.PaymentGateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("PAYMENT_GATEWAY: simulator, or the gateway's http(s):// base URL"))
		}
	}
	if c.PaymentWebhookSecret != "" && len(c.PaymentWebhookSecret) < 16 {
		errs = append(errs, errors.New("PAYMENT_WEBHOOK_SECRET: at least 16 characters"))
	}
	if c.SMTPURL != "" && !strings.HasPrefix(c.SMTPURL, "smtp://") && !strings.HasPrefix(c.SMTPURL, "smtps://") {
		errs = append(errs, errors.New("SMTP_URL: must be smtp://[user:pass@]host:port[?tls=none|opportunistic|mandatory]"))
	}
	if c.PaymentTimeout < 0 || c.CheckoutGrace < 0 || c.RefundCutoff < 0 || c.ExpiryCheckInterval < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	switch c.Role {
	case RoleAll:
	case RoleAPI, RoleWorker:
		if c.RedisURL == "" {
			errs = append(errs, fmt.Errorf("ROLE %s: needs REDIS_URL (without Redis the bus is in-process, so only role all works)", c.Role))
		}
	default:
		errs = append(errs, fmt.Errorf("ROLE: %q is not one of all, api, worker", c.Role))
	}
	return errors.Join(errs...)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func duration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	return time.ParseDuration(s)
}
