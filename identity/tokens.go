package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Principal is an authenticated caller.
type Principal struct {
	UserID string
	Role   string
}

// IsAdmin reports whether the caller is an admin.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// ErrInvalidToken is returned for any access token that does not verify.
var ErrInvalidToken = errors.New("identity: invalid token")

// Tokens issues and verifies access tokens: HS256 JWTs with issuer,
// audience, expiry, issue time and a unique id, all checked.
type Tokens struct {
	secret   []byte
	ttl      time.Duration
	issuer   string
	audience string
	now      func() time.Time
}

// NewTokens returns a token issuer. The secret must be at least 32 bytes.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) < 32 {
		return nil, errors.New("identity: the JWT secret must be at least 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: secret, ttl: ttl, issuer: "seatline", audience: "seatline-api", now: now}, nil
}

// TTL is the lifetime of an access token.
func (t *Tokens) TTL() time.Duration { return t.ttl }

type claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// Issue returns a signed access token for p.
func (t *Tokens) Issue(p Principal) (string, error) {
	now := t.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c := claims{Role: p.Role, RegisteredClaims: jwt.RegisteredClaims{
		Subject: p.UserID, Issuer: t.issuer, Audience: jwt.ClaimStrings{t.audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)), ID: hex.EncodeToString(jti[:]),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("identity: sign token: %w", err)
	}
	return s, nil
}

// Verify checks an access token and returns its principal.
func (t *Tokens) Verify(token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(t.issuer), jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(t.now), jwt.WithLeeway(5*time.Second))
	if err != nil || c.Subject == "" || c.ID == "" || (c.Role != RoleUser && c.Role != RoleAdmin) {
		return Principal{}, ErrInvalidToken
	}
	return Principal{UserID: c.Subject, Role: c.Role}, nil
}
