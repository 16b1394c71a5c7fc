package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TokenPair is what a login or refresh returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	User         User
}

// LoginResult is a finished login (Tokens) or a second factor to ask for
// (MFAToken).
type LoginResult struct {
	Tokens   TokenPair
	MFAToken string
}

// Login checks credentials. Wrong passwords count against the account and
// the client's IP address; past the budget both are locked out for a
// while that grows with each lockout (429 with Retry-After). Unknown
// emails cost the same hashing and count the same way, so neither the
// answer, its timing nor the lockout tells whether an account exists. An
// account with 2FA gets an MFA token to exchange with a code.
func (s *Service) Login(ctx context.Context, email, password, ip string) (LoginResult, error) {
	e, emailErr := NormalizeEmail(email)
	if emailErr != nil {
		e = email
	}
	if err := s.locked(ctx, s.loginAcct, e); err != nil {
		return LoginResult{}, err
	}
	if err := s.locked(ctx, s.loginIP, ip); err != nil {
		return LoginResult{}, err
	}
	u, err := s.userByEmail(ctx, e)
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return LoginResult{}, err
	}
	ok := false
	if err == nil && u.PasswordHash != "" && emailErr == nil {
		ok, _ = CheckPassword(u.PasswordHash, password)
	} else {
		_, _ = CheckPassword(s.dummyHash, password)
	}
	if !ok {
		return LoginResult{}, s.failLogin(ctx, e, ip)
	}
	if u.Locked {
		return LoginResult{}, ErrAccountLocked
	}
	_ = s.loginAcct.Reset(ctx, e)
	if u.TOTP.Enabled {
		tok, err := s.newMFAChallenge(ctx, u.ID)
		return LoginResult{MFAToken: tok}, err
	}
	t, err := s.issue(ctx, u, newID())
	return LoginResult{Tokens: t}, err
}

func (s *Service) locked(ctx context.Context, l interface {
	Check(context.Context, string) (time.Duration, error)
}, key string) error {
	left, err := l.Check(ctx, key)
	if err != nil {
		return err
	}
	if left > 0 {
		return ErrTooManyAttempts.With("retry_after_seconds", int(left.Seconds()+1))
	}
	return nil
}

func (s *Service) failLogin(ctx context.Context, email, ip string) error {
	d1, err := s.loginAcct.Fail(ctx, email)
	if err != nil {
		return err
	}
	d2, err := s.loginIP.Fail(ctx, ip)
	if err != nil {
		return err
	}
	if d := max(d1, d2); d > 0 {
		return ErrTooManyAttempts.With("retry_after_seconds", int(d.Seconds()))
	}
	return ErrInvalidCredentials
}

type refreshDoc struct {
	Hash           string    `bson:"_id"`
	UserID         string    `bson:"user_id"`
	Family         string    `bson:"family"`
	SessionVersion int64     `bson:"session_version"`
	ExpiresAt      time.Time `bson:"expires_at"`
	CreatedAt      time.Time `bson:"created_at"`
}

// issue creates an access token and a refresh token in family.
func (s *Service) issue(ctx context.Context, u User, family string) (TokenPair, error) {
	access, err := s.tokens.Issue(u.ID, u.Role, u.SessionVersion)
	if err != nil {
		return TokenPair{}, err
	}
	refresh := randomToken()
	now := s.opts.Now()
	_, err = s.db.Collection("refresh_tokens").InsertOne(ctx, refreshDoc{Hash: hashToken(refresh), UserID: u.ID, Family: family,
		SessionVersion: u.SessionVersion, ExpiresAt: now.Add(s.opts.RefreshTTL), CreatedAt: now})
	if err != nil {
		return TokenPair{}, fmt.Errorf("identity: store refresh token: %w", err)
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: s.tokens.TTL(), User: u}, nil
}

// Refresh exchanges a refresh token for a new pair (rotation). Each
// refresh token works once; presenting a used one again revokes its whole
// family, because it was stolen or replayed. Tokens from before the user's
// sessions were revoked (logout everywhere, password change or reset) do
// not work.
func (s *Service) Refresh(ctx context.Context, token string) (TokenPair, error) {
	d, err := s.refreshDoc(ctx, token)
	if err != nil {
		return TokenPair{}, err
	}
	first, err := s.once(ctx, "refresh_used", d.Hash)
	if err != nil {
		return TokenPair{}, err
	}
	if !first {
		_ = s.revokeFamily(ctx, d.Family)
		s.opts.Logger.Warn("identity: refresh token reused; family revoked", "user", d.UserID)
		return TokenPair{}, ErrInvalidRefresh
	}
	u, err := s.User(ctx, d.UserID)
	if err != nil || u.Locked || d.SessionVersion < u.SessionVersion {
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

// LogoutEverywhere revokes every session of a user: refresh tokens stop
// working, and access tokens issued before stop working at once.
func (s *Service) LogoutEverywhere(ctx context.Context, userID string) error {
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	return s.revokeSessions(ctx, u)
}

func (s *Service) revokeSessions(ctx context.Context, u User) error {
	v := max(s.opts.Now().UnixMilli(), u.SessionVersion+1)
	return s.update(ctx, u.ID, bson.M{"session_version": v})
}

func (s *Service) refreshDoc(ctx context.Context, token string) (refreshDoc, error) {
	var d refreshDoc
	err := s.db.Collection("refresh_tokens").FindOne(ctx, bson.D{{Key: "_id", Value: hashToken(token)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, ErrInvalidRefresh
	}
	if err != nil {
		return d, fmt.Errorf("identity: read refresh token: %w", err)
	}
	if !s.opts.Now().Before(d.ExpiresAt) {
		return d, ErrInvalidRefresh
	}
	if revoked, err := s.marked(ctx, "revoked_families", d.Family); err != nil || revoked {
		if err != nil {
			return d, err
		}
		return d, ErrInvalidRefresh
	}
	return d, nil
}

func (s *Service) revokeFamily(ctx context.Context, family string) error {
	_, err := s.once(ctx, "revoked_families", family)
	return err
}

// Authenticate verifies an access token and checks it against the
// account's current state: a locked or deleted account, or a token from
// before the sessions were revoked, is refused. The state is cached for a
// few seconds per process.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	c, err := s.tokens.Verify(token)
	if err != nil {
		return Principal{}, err
	}
	u, err := s.cachedUser(ctx, &s.sessions, c.Subject)
	if err != nil {
		if errors.Is(err, ErrUserNotFound) {
			return Principal{}, ErrBadAccessToken
		}
		return Principal{}, err
	}
	if u.Locked || c.SessionVersion < u.SessionVersion {
		return Principal{}, ErrBadAccessToken
	}
	return Principal{UserID: u.ID, Role: u.Role, EmailVerified: u.EmailVerified}, nil
}

const userCacheTTL = 5 * time.Second

func (s *Service) cachedUser(ctx context.Context, c *userCache, id string) (User, error) {
	if u, ok := c.get(id); ok {
		return u, nil
	}
	u, err := s.User(ctx, id)
	if err != nil {
		return User{}, err
	}
	c.put(u)
	return u, nil
}

func (s *Service) forget(id string) {
	s.sessions.forget(id)
	s.contacts.forget(id)
}
