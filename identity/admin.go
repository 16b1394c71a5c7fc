package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/seatline/seatline/domain"
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
		e, err := NormalizeEmail(email)
		if err != nil {
			return false, "", "", fmt.Errorf("identity: ADMIN_EMAIL: %w", err)
		}
		_, created, err := s.create(ctx, e, password, "Administrator", RoleAdmin, true)
		if err != nil {
			return false, "", "", fmt.Errorf("identity: first admin: %w", err)
		}
		return created, e, "", nil
	}
	// The marker insert makes "first start" true for exactly one process.
	first, err := s.once(ctx, "settings", "first-admin")
	if err != nil || !first {
		return false, "", "", err
	}
	raw := make([]byte, 18)
	_, _ = rand.Read(raw)
	pw := base64.RawURLEncoding.EncodeToString(raw)
	if _, _, err := s.create(ctx, DefaultAdminEmail, pw, "Administrator", RoleAdmin, true); err != nil {
		return false, "", "", fmt.Errorf("identity: first admin: %w", err)
	}
	return true, DefaultAdminEmail, pw, nil
}

// UserPage is one page of the admin's user list.
type UserPage struct {
	Users []User
	Next  string
}

// ErrBadCursor is returned for a user-list cursor this service did not give.
var ErrBadCursor = domain.NewInvalid("invalid-cursor", "cursor", "identity: invalid cursor")

// ListUsers lists users whose email or name contains q (case-insensitive,
// plain text), newest first, limit per page after the user id in cursor.
// It scans the users collection: an admin page, not a hot path.
func (s *Service) ListUsers(ctx context.Context, q, cursor string, limit int) (UserPage, error) {
	cur, err := s.users.Find(ctx, bson.D{})
	if err != nil {
		return UserPage{}, err
	}
	var all []User
	if err := cur.All(ctx, &all); err != nil {
		return UserPage{}, err
	}
	q = strings.ToLower(strings.TrimSpace(q))
	var hits []User
	for _, u := range all {
		if u.Deleted {
			continue
		}
		if q == "" || strings.Contains(strings.ToLower(u.Email), q) || strings.Contains(strings.ToLower(u.Name), q) {
			hits = append(hits, u)
		}
	}
	slices.SortFunc(hits, func(a, b User) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	start := 0
	if cursor != "" {
		i := slices.IndexFunc(hits, func(u User) bool { return u.ID == cursor })
		if i < 0 {
			return UserPage{}, ErrBadCursor
		}
		start = i + 1
	}
	end := min(start+limit, len(hits))
	p := UserPage{Users: hits[start:end]}
	if end < len(hits) && end > start {
		p.Next = hits[end-1].ID
	}
	return p, nil
}

// AdminChange is what an admin may change about a user.
type AdminChange struct {
	Role          *string
	Locked        *bool
	EmailVerified *bool
}

// ErrBadRole is returned for a role that does not exist.
var ErrBadRole = domain.NewInvalid("invalid-role", "role", "identity: role must be user or admin")

// AdminUpdate changes a user's role, lock or verification. Locking revokes
// every session at once; unlocking also clears login lockouts.
func (s *Service) AdminUpdate(ctx context.Context, id string, c AdminChange) (User, error) {
	u, err := s.User(ctx, id)
	if err != nil {
		return User{}, err
	}
	set := bson.M{}
	if c.Role != nil {
		if *c.Role != RoleUser && *c.Role != RoleAdmin {
			return User{}, ErrBadRole
		}
		set["role"] = *c.Role
	}
	if c.EmailVerified != nil {
		set["email_verified"] = *c.EmailVerified
	}
	if c.Locked != nil {
		set["locked"] = *c.Locked
		if *c.Locked {
			set["session_version"] = max(s.opts.Now().UnixMilli(), u.SessionVersion+1)
		}
	}
	if len(set) > 0 {
		if err := s.update(ctx, id, set); err != nil {
			return User{}, err
		}
	}
	if c.Locked != nil && !*c.Locked {
		if err := s.loginAcct.Reset(ctx, u.Email); err != nil {
			return User{}, err
		}
		if err := s.mfa.Reset(ctx, u.ID); err != nil {
			return User{}, err
		}
	}
	return s.User(ctx, id)
}
