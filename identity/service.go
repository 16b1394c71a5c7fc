package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/domain"
)

// Errors of the identity service.
var (
	ErrInvalidEmail       = domain.NewInvalid("invalid-email", "email", "identity: not a valid email address")
	ErrInvalidName        = domain.NewInvalid("invalid-name", "name", "identity: name must be 1..100 characters")
	ErrWeakPassword       = domain.NewInvalid("weak-password", "password", "identity: password must be 10..128 characters")
	ErrEmailTaken         = &domain.Error{Kind: domain.Conflict, Code: "email-taken", Msg: "identity: an account with this email exists"}
	ErrInvalidCredentials = &domain.Error{Kind: domain.Unauthorized, Code: "invalid-credentials", Msg: "identity: wrong email or password"}
	ErrInvalidRefresh     = &domain.Error{Kind: domain.Unauthorized, Code: "invalid-refresh-token", Msg: "identity: refresh token invalid, expired or revoked"}
	ErrUserNotFound       = &domain.Error{Kind: domain.NotFound, Code: "user-not-found", Msg: "identity: user not found"}
)

// User is an account as stored.
type User struct {
	ID            string    `bson:"_id"`
	Email         string    `bson:"email"`
	Name          string    `bson:"name"`
	PasswordHash  string    `bson:"password_hash"`
	Role          string    `bson:"role"`
	EmailVerified bool      `bson:"email_verified"`
	CreatedAt     time.Time `bson:"created_at"`
}

// Options configure the identity service.
type Options struct {
	Hash       HashParams
	RefreshTTL time.Duration // lifetime of a refresh token (30 days)
	Now        func() time.Time
}

// Service manages accounts and sessions.
type Service struct {
	users, emails, refresh, refreshUsed, revoked, settings *mongo.Collection
	tokens                                                 *Tokens
	opts                                                   Options
	dummyHash                                              string
}

// NewService returns the identity service on db.
func NewService(db *mongo.Database, tokens *Tokens, o Options) (*Service, error) {
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 30 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
	}
	dummy, err := HashPassword("not a password of anyone", o.Hash)
	if err != nil {
		return nil, err
	}
	return &Service{
		users: db.Collection("users"), emails: db.Collection("user_emails"),
		refresh: db.Collection("refresh_tokens"), refreshUsed: db.Collection("refresh_used"),
		revoked: db.Collection("revoked_families"), settings: db.Collection("settings"),
		tokens: tokens, opts: o, dummyHash: dummy,
	}, nil
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

// CheckPasswordPolicy checks a new password.
func CheckPasswordPolicy(pw string) error {
	if n := utf8.RuneCountInString(pw); n < 10 || n > 128 {
		return ErrWeakPassword
	}
	return nil
}

// Register creates an account with role user.
func (s *Service) Register(ctx context.Context, email, password, name string) (User, error) {
	return s.create(ctx, email, password, name, RoleUser)
}

func (s *Service) create(ctx context.Context, email, password, name, role string) (User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 100 {
		return User{}, ErrInvalidName
	}
	if err := CheckPasswordPolicy(password); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password, s.opts.Hash)
	if err != nil {
		return User{}, err
	}
	u := User{ID: newID(), Email: e, Name: name, PasswordHash: hash, Role: role, CreatedAt: s.opts.Now().UTC()}
	// The email document claims the address; the insert is the uniqueness check.
	if _, err := s.emails.InsertOne(ctx, emailDoc{Email: e, UserID: u.ID}); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			return User{}, fmt.Errorf("identity: claim email: %w", err)
		}
		// Taken, unless a registration died between claiming the address
		// and writing the user: then finish it under the claimed id.
		var claim emailDoc
		if err := s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: e}}).Decode(&claim); err != nil {
			return User{}, fmt.Errorf("identity: read email claim: %w", err)
		}
		if _, err := s.User(ctx, claim.UserID); !errors.Is(err, ErrUserNotFound) {
			return User{}, ErrEmailTaken
		}
		u.ID = claim.UserID
	}
	if _, err := s.users.InsertOne(ctx, u); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return User{}, ErrEmailTaken
		}
		return User{}, fmt.Errorf("identity: write user: %w", err)
	}
	return u, nil
}

// User returns the account with the given id.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	var u User
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
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

// TokenPair is what a login or refresh returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	User         User
}

// Login checks credentials and opens a session. Unknown emails cost the
// same password hashing as known ones, so timing does not tell them apart.
func (s *Service) Login(ctx context.Context, email, password string) (TokenPair, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		_, _ = CheckPassword(s.dummyHash, password)
		return TokenPair{}, ErrInvalidCredentials
	}
	u, err := s.userByEmail(ctx, e)
	if errors.Is(err, ErrUserNotFound) {
		_, _ = CheckPassword(s.dummyHash, password)
		return TokenPair{}, ErrInvalidCredentials
	}
	if err != nil {
		return TokenPair{}, err
	}
	ok, err := CheckPassword(u.PasswordHash, password)
	if err != nil || !ok {
		return TokenPair{}, ErrInvalidCredentials
	}
	return s.issue(ctx, u, newID())
}

type refreshDoc struct {
	Hash      string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	Family    string    `bson:"family"`
	ExpiresAt time.Time `bson:"expires_at"`
	CreatedAt time.Time `bson:"created_at"`
}

type markerDoc struct {
	ID   string    `bson:"_id"`
	Time time.Time `bson:"time"`
}

// issue creates an access token and a refresh token in family.
func (s *Service) issue(ctx context.Context, u User, family string) (TokenPair, error) {
	access, err := s.tokens.Issue(Principal{UserID: u.ID, Role: u.Role})
	if err != nil {
		return TokenPair{}, err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	refresh := base64.RawURLEncoding.EncodeToString(raw)
	now := s.opts.Now().UTC()
	_, err = s.refresh.InsertOne(ctx, refreshDoc{Hash: hashToken(refresh), UserID: u.ID, Family: family,
		ExpiresAt: now.Add(s.opts.RefreshTTL), CreatedAt: now})
	if err != nil {
		return TokenPair{}, fmt.Errorf("identity: store refresh token: %w", err)
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: s.tokens.TTL(), User: u}, nil
}

// Refresh exchanges a refresh token for a new pair. Each refresh token
// works once; presenting a used one again revokes its whole family (the
// token was stolen or replayed).
func (s *Service) Refresh(ctx context.Context, token string) (TokenPair, error) {
	d, err := s.refreshDoc(ctx, token)
	if err != nil {
		return TokenPair{}, err
	}
	if _, err := s.refreshUsed.InsertOne(ctx, markerDoc{ID: d.Hash, Time: s.opts.Now().UTC()}); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			_ = s.revokeFamily(ctx, d.Family)
			return TokenPair{}, ErrInvalidRefresh
		}
		return TokenPair{}, fmt.Errorf("identity: use refresh token: %w", err)
	}
	u, err := s.User(ctx, d.UserID)
	if err != nil {
		return TokenPair{}, ErrInvalidRefresh
	}
	return s.issue(ctx, u, d.Family)
}

// Logout revokes the session a refresh token belongs to.
func (s *Service) Logout(ctx context.Context, token string) error {
	d, err := s.refreshDoc(ctx, token)
	if err != nil {
		return err
	}
	return s.revokeFamily(ctx, d.Family)
}

func (s *Service) refreshDoc(ctx context.Context, token string) (refreshDoc, error) {
	var d refreshDoc
	err := s.refresh.FindOne(ctx, bson.D{{Key: "_id", Value: hashToken(token)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, ErrInvalidRefresh
	}
	if err != nil {
		return d, fmt.Errorf("identity: read refresh token: %w", err)
	}
	if !s.opts.Now().Before(d.ExpiresAt) {
		return d, ErrInvalidRefresh
	}
	err = s.revoked.FindOne(ctx, bson.D{{Key: "_id", Value: d.Family}}).Err()
	if err == nil {
		return d, ErrInvalidRefresh
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return d, fmt.Errorf("identity: read revocations: %w", err)
	}
	return d, nil
}

func (s *Service) revokeFamily(ctx context.Context, family string) error {
	_, err := s.revoked.InsertOne(ctx, markerDoc{ID: family, Time: s.opts.Now().UTC()})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("identity: revoke: %w", err)
	}
	return nil
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// Contact returns a user's email and name for notifications; ok is false
// if the user does not exist (any more).
func (s *Service) Contact(ctx context.Context, userID string) (email, name string, ok bool, err error) {
	u, err := s.User(ctx, userID)
	if errors.Is(err, ErrUserNotFound) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	return u.Email, u.Name, true, nil
}

// AllUserIDs lists every user id (a scan: for broadcasts).
func (s *Service) AllUserIDs(ctx context.Context) ([]string, error) {
	cur, err := s.users.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out, nil
}
