package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id parameters. The defaults follow the OWASP
// password storage recommendation (19 MiB, 2 passes, 1 lane).
type HashParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultHashParams are the production parameters.
var DefaultHashParams = HashParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// HashPassword returns an encoded argon2id hash of password with a random salt.
func HashPassword(password string, p HashParams) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("identity: malformed password hash")

// CheckPassword reports whether password matches an encoded hash, in time
// that does not depend on where they differ.
func CheckPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var p HashParams
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

//go:embed common-passwords.txt
var commonPasswordList string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(commonPasswordList, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[strings.ToLower(l)] = true
		}
	}
	return m
}()

// CheckPasswordPolicy checks a new password: 10 to 128 characters, not on
// the list of common passwords, and not the email address itself.
func CheckPasswordPolicy(pw, email string) error {
	if n := utf8.RuneCountInString(pw); n < 10 || n > 128 {
		return ErrWeakPassword
	}
	low := strings.ToLower(pw)
	if commonPasswords[low] || (email != "" && (low == email || low == strings.Split(email, "@")[0])) {
		return ErrWeakPassword.Withf("it is too common or too close to the email")
	}
	return nil
}

// ForgotPassword emails a reset link if the address has an account. It
// answers the same either way, limits sends per address and per client.
func (s *Service) ForgotPassword(ctx context.Context, email, ip string) error {
	if err := s.requests(ctx, ip); err != nil {
		return err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return nil
	}
	u, err := s.userByEmail(ctx, e)
	if err != nil {
		return nil
	}
	if ok, _, err := s.resend.Allow(ctx, "reset:"+e); err != nil || !ok {
		return err
	}
	return s.sendToken(ctx, u, kindReset, u.Email, time.Hour, TemplateReset, "/reset-password")
}

// ResetPassword sets a new password with the token from the emailed link
// (single use, one hour) and revokes every session of the account. A reset
// also proves control of the address, so it verifies it.
func (s *Service) ResetPassword(ctx context.Context, token, password, ip string) error {
	if err := s.locked(ctx, s.reset, ip); err != nil {
		return err
	}
	d, err := s.peekToken(ctx, kindReset, token)
	if err != nil {
		_, _ = s.reset.Fail(ctx, ip)
		return err
	}
	u, err := s.User(ctx, d.UserID)
	if err != nil {
		return ErrInvalidToken
	}
	// Check the new password before spending the token, so that a weak
	// choice can be corrected with the same link.
	if err := CheckPasswordPolicy(password, u.Email); err != nil {
		return err
	}
	if _, err := s.useToken(ctx, kindReset, token); err != nil {
		return err
	}
	hash, err := HashPassword(password, s.opts.Hash)
	if err != nil {
		return err
	}
	v := max(s.opts.Now().UnixMilli(), u.SessionVersion+1)
	if err := s.update(ctx, u.ID, map[string]any{"password_hash": hash, "session_version": v, "email_verified": u.EmailVerified || u.Email == d.Email}); err != nil {
		return err
	}
	return s.loginAcct.Reset(ctx, u.Email)
}

// ChangePassword sets a new password after checking the current one, and
// revokes every session of the account (the caller logs in again).
func (s *Service) ChangePassword(ctx context.Context, userID, current, next string) error {
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.PasswordHash != "" {
		if ok, _ := CheckPassword(u.PasswordHash, current); !ok {
			return ErrWrongPassword
		}
	}
	if err := CheckPasswordPolicy(next, u.Email); err != nil {
		return err
	}
	hash, err := HashPassword(next, s.opts.Hash)
	if err != nil {
		return err
	}
	v := max(s.opts.Now().UnixMilli(), u.SessionVersion+1)
	return s.update(ctx, u.ID, map[string]any{"password_hash": hash, "session_version": v})
}
