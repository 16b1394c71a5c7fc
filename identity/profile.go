package identity

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ProfileChange lists what a user may change about themselves; nil
// fields stay. Nothing else (role, verification, lock state) can be set.
type ProfileChange struct {
	Name            *string
	Email           *string
	CurrentPassword string
	NewPassword     *string
}

// UpdateProfile applies a user's own changes. A new email address is only
// taken once confirmed through a link sent to it (the old one stays until
// then); a new password needs the current one and revokes all sessions.
func (s *Service) UpdateProfile(ctx context.Context, userID string, c ProfileChange) (User, error) {
	u, err := s.User(ctx, userID)
	if err != nil {
		return User{}, err
	}
	if c.Name != nil {
		name, err := checkName(*c.Name)
		if err != nil {
			return User{}, err
		}
		if err := s.update(ctx, u.ID, bson.M{"name": name}); err != nil {
			return User{}, err
		}
	}
	if c.NewPassword != nil {
		if err := s.ChangePassword(ctx, u.ID, c.CurrentPassword, *c.NewPassword); err != nil {
			return User{}, err
		}
	}
	if c.Email != nil {
		e, err := NormalizeEmail(*c.Email)
		if err != nil {
			return User{}, err
		}
		if e != u.Email {
			if u.PasswordHash != "" {
				if ok, _ := CheckPassword(u.PasswordHash, c.CurrentPassword); !ok {
					return User{}, ErrWrongPassword
				}
			}
			if err := s.update(ctx, u.ID, bson.M{"pending_email": e}); err != nil {
				return User{}, err
			}
			if err := s.sendToken(ctx, u, kindChange, e, 48*time.Hour, TemplateEmailChange, "/verify-email"); err != nil {
				return User{}, err
			}
		}
	}
	return s.User(ctx, u.ID)
}

// DeleteAccount erases a user's personal data (email, name, password,
// second factor) and revokes every session. The user id stays, so that
// bookings remain attributable; the email address becomes free.
func (s *Service) DeleteAccount(ctx context.Context, userID, password string) error {
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.PasswordHash != "" {
		if ok, _ := CheckPassword(u.PasswordHash, password); !ok {
			return ErrWrongPassword
		}
	}
	v := max(s.opts.Now().UnixMilli(), u.SessionVersion+1)
	erased := bson.M{"email": "", "name": "", "password_hash": "", "pending_email": "", "deleted": true,
		"email_verified": false, "session_version": v,
		"totp.enabled": false, "totp.secret": "", "totp.pending_secret": "", "totp.recovery_codes": []string{}}
	if err := s.update(ctx, u.ID, erased); err != nil {
		return err
	}
	if _, err := s.emails.DeleteOne(ctx, bson.D{{Key: "_id", Value: u.Email}, {Key: "user_id", Value: u.ID}}); err != nil {
		return err
	}
	_, err = s.db.Collection("user_identities").DeleteMany(ctx, bson.D{{Key: "user_id", Value: u.ID}})
	s.forget(u.ID)
	return err
}
