package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// DefaultAdminEmail is the login of the generated first admin.
const DefaultAdminEmail = "admin@seatline.local"

// EnsureAdmin creates the first admin once per deployment. With email and
// password given (ADMIN_EMAIL, ADMIN_PASSWORD) that account is created if
// missing. Otherwise, on the very first start only, an admin with a
// generated password is created and its credentials returned, to be shown
// once. created reports whether this call created the account.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (created bool, login, secret string, err error) {
	if email != "" || password != "" {
		if email == "" || password == "" {
			return false, "", "", errors.New("identity: ADMIN_EMAIL and ADMIN_PASSWORD go together")
		}
		_, err := s.create(ctx, email, password, "Administrator", RoleAdmin)
		if errors.Is(err, ErrEmailTaken) {
			return false, email, "", nil
		}
		if err != nil {
			return false, "", "", fmt.Errorf("identity: first admin: %w", err)
		}
		return true, email, "", nil
	}
	// The marker insert makes "first start" true for exactly one process.
	if _, err := s.settings.InsertOne(ctx, markerDoc{ID: "first-admin", Time: s.opts.Now().UTC()}); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return false, "", "", nil
		}
		return false, "", "", fmt.Errorf("identity: first admin marker: %w", err)
	}
	raw := make([]byte, 18)
	_, _ = rand.Read(raw)
	pw := base64.RawURLEncoding.EncodeToString(raw)
	if _, err := s.create(ctx, DefaultAdminEmail, pw, "Administrator", RoleAdmin); err != nil {
		return false, "", "", fmt.Errorf("identity: first admin: %w", err)
	}
	return true, DefaultAdminEmail, pw, nil
}
