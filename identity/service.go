package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/ratelimit"
)

// Errors of the identity service.
var (
	ErrInvalidEmail       = domain.NewInvalid("invalid-email", "email", "identity: not a valid email address")
	ErrInvalidName        = domain.NewInvalid("invalid-name", "name", "identity: name must be 1..100 characters")
	ErrWeakPassword       = domain.NewInvalid("weak-password", "password", "identity: password must be 10..128 characters and not a common one")
	ErrInvalidCredentials = &domain.Error{Kind: domain.Unauthorized, Code: "invalid-credentials", Msg: "identity: wrong email or password"}
	ErrInvalidRefresh     = &domain.Error{Kind: domain.Unauthorized, Code: "invalid-refresh-token", Msg: "identity: refresh token invalid, expired or revoked"}
	ErrUserNotFound       = &domain.Error{Kind: domain.NotFound, Code: "user-not-found", Msg: "identity: user not found"}
	ErrTooManyAttempts    = &domain.Error{Kind: domain.RateLimited, Code: "too-many-attempts", Msg: "identity: too many attempts, try again later"}
	ErrAccountLocked      = &domain.Error{Kind: domain.Forbidden, Code: "account-locked", Msg: "identity: the account is locked; contact support"}
	ErrInvalidToken       = domain.NewInvalid("invalid-token", "token", "identity: the token is invalid, expired or used")
	ErrInvalidCode        = &domain.Error{Kind: domain.Unauthorized, Code: "invalid-code", Msg: "identity: wrong or used code"}
	ErrWrongPassword      = &domain.Error{Kind: domain.Unauthorized, Code: "wrong-password", Msg: "identity: the current password is wrong"}
)

// User is an account as stored. Deleting an account erases its personal
// data and keeps the id (bookings refer to it).
type User struct {
	ID             string    `bson:"_id"`
	Email          string    `bson:"email"`
	Name           string    `bson:"name"`
	PasswordHash   string    `bson:"password_hash,omitempty"`
	Role           string    `bson:"role"`
	EmailVerified  bool      `bson:"email_verified"`
	PendingEmail   string    `bson:"pending_email,omitempty"`
	Locked         bool      `bson:"locked"`
	Deleted        bool      `bson:"deleted,omitempty"`
	SessionVersion int64     `bson:"session_version"`
	TOTP           TOTPState `bson:"totp"`
	CreatedAt      time.Time `bson:"created_at"`
	UpdatedAt      time.Time `bson:"updated_at"`
}

// TOTPState is a user's second factor. Secrets are stored encrypted.
type TOTPState struct {
	Enabled       bool     `bson:"enabled"`
	Secret        string   `bson:"secret,omitempty"`
	PendingSecret string   `bson:"pending_secret,omitempty"`
	RecoveryCodes []string `bson:"recovery_codes,omitempty"` // sha256 hex of each code
}

// Notice is an email identity asks for: a template, a recipient (a user,
// or an explicit address for a new email), and a link or code.
type Notice struct {
	ID       string // unique per email, so that a retry does not send twice
	Template string
	UserID   string
	To       string // overrides the user's address (email change)
	Link     string
}

// Notifier queues emails.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// Options configure the identity service.
type Options struct {
	Hash       HashParams
	RefreshTTL time.Duration // lifetime of a refresh token (30 days)
	Now        func() time.Time
	PublicURL  string // base of links in emails
	Limits     ratelimit.Store
	Logger     *slog.Logger
	// TOTPKey encrypts TOTP secrets at rest (32 bytes).
	TOTPKey []byte
	// IPBudget is how many email-sending requests (register, resend,
	// forgot) one client address may make per hour, and a tenth of how many
	// failed logins it may make per 15 minutes (default 20).
	IPBudget int
	// LockoutBase is the first lockout after too many failures; each
	// further one within a day doubles it, up to an hour (1m).
	LockoutBase time.Duration
}

// Service manages accounts and sessions.
type Service struct {
	db     *mongo.Database
	users  *mongo.Collection
	emails *mongo.Collection
	tokens *Tokens
	notify Notifier
	opts   Options

	loginAcct, loginIP, mfa, resend, reset, ipRequests *ratelimit.Limiter

	dummyHash string

	// sessions caches users for Authenticate, contacts for Contact: apart,
	// so that an address read for an email never stands in for the
	// account state a session needs (a verification made meanwhile).
	sessions, contacts userCache
}

// userCache keeps users read in the last userCacheTTL.
type userCache struct {
	mu sync.Mutex
	m  map[string]cachedUser
}

type cachedUser struct {
	u  User
	at time.Time
}

func (c *userCache) get(id string) (User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || time.Since(e.at) >= userCacheTTL {
		return User{}, false
	}
	return e.u, true
}

func (c *userCache) put(u User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 100000 {
		c.m = map[string]cachedUser{}
	}
	c.m[u.ID] = cachedUser{u: u, at: time.Now()}
}

func (c *userCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// NewService returns the identity service on db.
func NewService(db *mongo.Database, tokens *Tokens, notify Notifier, o Options) (*Service, error) {
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 30 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
	}
	if o.Limits == nil {
		o.Limits = ratelimit.NewMemory()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if len(o.TOTPKey) != 32 {
		return nil, errors.New("identity: the TOTP key must be 32 bytes")
	}
	dummy, err := HashPassword("not a password of anyone", o.Hash)
	if err != nil {
		return nil, err
	}
	if o.IPBudget <= 0 {
		o.IPBudget = 20
	}
	if o.LockoutBase <= 0 {
		o.LockoutBase = time.Minute
	}
	lockout := ratelimit.Policy{Max: 5, Window: 15 * time.Minute, Base: o.LockoutBase, MaxLock: time.Hour}
	s := &Service{
		db: db, users: db.Collection("users"), emails: db.Collection("user_emails"),
		tokens: tokens, notify: notify, opts: o, dummyHash: dummy,
		loginAcct:  ratelimit.New(o.Limits, "login-acct", lockout),
		loginIP:    ratelimit.New(o.Limits, "login-ip", ratelimit.Policy{Max: 10 * o.IPBudget, Window: 15 * time.Minute, Base: o.LockoutBase, MaxLock: time.Hour}),
		mfa:        ratelimit.New(o.Limits, "mfa", lockout),
		resend:     ratelimit.New(o.Limits, "mail", ratelimit.Policy{Max: 3, Window: time.Hour, Base: 15 * time.Minute, MaxLock: time.Hour}),
		reset:      ratelimit.New(o.Limits, "reset", lockout),
		ipRequests: ratelimit.New(o.Limits, "ip-requests", ratelimit.Policy{Max: o.IPBudget, Window: time.Hour, Base: 15 * time.Minute, MaxLock: time.Hour}),
	}
	return s, nil
}

// Tokens returns the access-token issuer.
func (s *Service) Tokens() *Tokens { return s.tokens }

type emailDoc struct {
	Email  string `bson:"_id"`
	UserID string `bson:"user_id"`
}

// NormalizeEmail lower-cases and trims an email address, and checks it.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndex(e, "@"):], ".") {
		return "", ErrInvalidEmail
	}
	return e, nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 100 {
		return "", ErrInvalidName
	}
	return name, nil
}

// User returns the account with the given id; deleted accounts are not found.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	var u User
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && u.Deleted) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("identity: read user: %w", err)
	}
	return u, nil
}

func (s *Service) userByEmail(ctx context.Context, email string) (User, error) {
	var claim emailDoc
	err := s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&claim)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("identity: read email: %w", err)
	}
	return s.User(ctx, claim.UserID)
}

// update sets fields of a user and reads them back, writing again if a
// concurrent writer's replace lost them (FerretDB applies updates as
// read-modify-write, so two writers can undo each other).
func (s *Service) update(ctx context.Context, id string, set bson.M) error {
	set["updated_at"] = s.opts.Now()
	for attempt := 0; attempt < 5; attempt++ {
		if _, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: set}}); err != nil {
			return fmt.Errorf("identity: update user: %w", err)
		}
		var got bson.M
		if err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got); err != nil {
			return fmt.Errorf("identity: reread user: %w", err)
		}
		if applied(got, set) {
			s.forget(id)
			return nil
		}
	}
	return errors.New("identity: update kept being overwritten")
}

func applied(doc, set bson.M) bool {
	for k, v := range set {
		if k == "updated_at" {
			continue
		}
		path := strings.Split(k, ".")
		var cur any = doc
		for _, p := range path {
			switch m := cur.(type) {
			case bson.M:
				cur = m[p]
			case bson.D:
				cur = nil
				for _, e := range m {
					if e.Key == p {
						cur = e.Value
					}
				}
			default:
				return false
			}
		}
		if fmt.Sprint(normalize(cur)) != fmt.Sprint(normalize(v)) {
			return false
		}
	}
	return true
}

func normalize(v any) any {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case bson.A:
		if len(x) == 0 {
			return ""
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []string:
		if len(x) == 0 {
			return ""
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case bson.DateTime:
		return x.Time().UTC().Truncate(time.Millisecond)
	case time.Time:
		return x.UTC().Truncate(time.Millisecond)
	case nil:
		return ""
	}
	return v
}

// Contact returns a user's email and name for notifications; ok is false
// if the user does not exist (any more).
//
// It reads through a short-lived cache (userCacheTTL): a change of
// address or a deletion in another process reaches emails within it, as
// account changes reach sessions.
func (s *Service) Contact(ctx context.Context, userID string) (email, name string, ok bool, err error) {
	u, err := s.cachedUser(ctx, &s.contacts, userID)
	if errors.Is(err, ErrUserNotFound) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	return u.Email, u.Name, true, nil
}

// AllUserIDs lists every live user id (a scan: for broadcasts).
func (s *Service) AllUserIDs(ctx context.Context) ([]string, error) {
	cur, err := s.users.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "deleted", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var docs []struct {
		ID      string `bson:"_id"`
		Deleted bool   `bson:"deleted"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		if !d.Deleted {
			out = append(out, d.ID)
		}
	}
	return out, nil
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// markerDoc is an insert-only marker: the insert is the atomic check.
type markerDoc struct {
	ID   string    `bson:"_id"`
	Time time.Time `bson:"time"`
}

// once inserts a marker and reports whether this call was the first.
func (s *Service) once(ctx context.Context, coll, id string) (bool, error) {
	_, err := s.db.Collection(coll).InsertOne(ctx, markerDoc{ID: id, Time: s.opts.Now()})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	return err == nil, err
}

func (s *Service) marked(ctx context.Context, coll, id string) (bool, error) {
	err := s.db.Collection(coll).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}
