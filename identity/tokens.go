package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
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
	UserID        string
	Role          string
	EmailVerified bool
}

// IsAdmin reports whether the caller is an admin.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// ErrBadAccessToken is returned for any access token that does not verify.
var ErrBadAccessToken = errors.New("identity: invalid access token")

// Key is a named HS256 signing key.
type Key struct {
	ID     string
	Secret []byte
}

// ParseKeys reads JWT_SECRET: either one secret (key id "k1"), or a
// comma-separated list of kid:secret pairs whose first entry signs and all
// of which verify, so that keys can be rotated without logging users out.
// Every secret must be at least 32 bytes.
func ParseKeys(s string) ([]Key, error) {
	parts := strings.Split(s, ",")
	var keys []Key
	seen := map[string]bool{}
	for _, p := range parts {
		m := keyEntry.FindStringSubmatch(strings.TrimSpace(p))
		if m == nil || seen[m[1]] {
			keys = nil
			break
		}
		seen[m[1]] = true
		keys = append(keys, Key{ID: m[1], Secret: []byte(m[2])})
	}
	if keys != nil {
		return keys, nil
	}
	if strings.Contains(s, ",") || len(s) < 32 {
		return nil, errors.New("identity: JWT_SECRET must be one secret of at least 32 bytes, or kid:secret,... with unique kids and such secrets")
	}
	return []Key{{ID: "k1", Secret: []byte(s)}}, nil
}

var keyEntry = regexp.MustCompile(`^([A-Za-z0-9_-]{1,16}):(.{32,})$`)

// Tokens issues and verifies access tokens: HS256 JWTs with a key id,
// issuer, audience, expiry, issue time, a unique id and the session
// version, all checked.
type Tokens struct {
	keys     []Key
	ttl      time.Duration
	issuer   string
	audience string
	now      func() time.Time
}

// NewTokens returns a token issuer signing with keys[0].
func NewTokens(keys []Key, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(keys) == 0 {
		return nil, errors.New("identity: no JWT key")
	}
	for _, k := range keys {
		if len(k.Secret) < 32 {
			return nil, errors.New("identity: the JWT secret must be at least 32 bytes")
		}
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{keys: keys, ttl: ttl, issuer: "seatline", audience: "seatline-api", now: now}, nil
}

// TTL is the lifetime of an access token.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Claims are what an access token carries.
type Claims struct {
	Role           string `json:"role"`
	SessionVersion int64  `json:"sv"`
	jwt.RegisteredClaims
}

// Issue returns a signed access token for a user at a session version.
func (t *Tokens) Issue(userID, role string, sessionVersion int64) (string, error) {
	now := t.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c := Claims{Role: role, SessionVersion: sessionVersion, RegisteredClaims: jwt.RegisteredClaims{
		Subject: userID, Issuer: t.issuer, Audience: jwt.ClaimStrings{t.audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)), ID: hex.EncodeToString(jti[:]),
	}}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = t.keys[0].ID
	s, err := tok.SignedString(t.keys[0].Secret)
	if err != nil {
		return "", fmt.Errorf("identity: sign token: %w", err)
	}
	return s, nil
}

// Verify checks an access token's signature (by its kid) and claims.
func (t *Tokens) Verify(token string) (Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range t.keys {
			if k.ID == kid {
				return k.Secret, nil
			}
		}
		return nil, errors.New("unknown key id")
	},
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(t.issuer), jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(t.now), jwt.WithLeeway(5*time.Second))
	if err != nil || c.Subject == "" || c.ID == "" || (c.Role != RoleUser && c.Role != RoleAdmin) {
		return Claims{}, ErrBadAccessToken
	}
	return c, nil
}
