package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Email templates identity asks for.
const (
	TemplateVerify        = "verify_email"
	TemplateAccountExists = "account_exists"
	TemplateReset         = "reset_password"
	TemplateEmailChange   = "email_change"
)

// Token kinds.
const (
	kindVerify = "verify"
	kindReset  = "reset"
	kindChange = "email-change"
)

type emailTokenDoc struct {
	Hash      string    `bson:"_id"`
	Kind      string    `bson:"kind"`
	UserID    string    `bson:"user_id"`
	Email     string    `bson:"email"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// Register creates an account with role user and emails a verification
// link. To avoid telling who has an account, an email that is taken gets
// the same answer (and the same hashing work); its owner is emailed that
// someone tried to register. Invalid input is refused before any lookup.
func (s *Service) Register(ctx context.Context, email, password, name, ip string) error {
	e, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	if name, err = checkName(name); err != nil {
		return err
	}
	if err := CheckPasswordPolicy(password, e); err != nil {
		return err
	}
	if err := s.requests(ctx, ip); err != nil {
		return err
	}
	u, created, err := s.create(ctx, e, password, name, RoleUser, false)
	if err != nil {
		return err
	}
	if !created {
		if ok, _, _ := s.resend.Allow(ctx, "exists:"+e); ok && !u.Deleted {
			return s.notify.Notify(ctx, Notice{ID: "exists:" + randomToken()[:16], Template: TemplateAccountExists, UserID: u.ID,
				Link: s.link("/reset-password")})
		}
		return nil
	}
	return s.sendToken(ctx, u, kindVerify, u.Email, 48*time.Hour, TemplateVerify, "/verify-email")
}

// create claims an email and writes the user. It reports the existing user
// (created false) if the email is taken, after the same hashing work.
func (s *Service) create(ctx context.Context, email, password, name, role string, verified bool) (User, bool, error) {
	var hash string
	var err error
	if password != "" {
		if hash, err = HashPassword(password, s.opts.Hash); err != nil {
			return User{}, false, err
		}
	}
	now := s.opts.Now()
	u := User{ID: newID(), Email: email, Name: name, PasswordHash: hash, Role: role, EmailVerified: verified, CreatedAt: now, UpdatedAt: now}
	if _, err := s.emails.InsertOne(ctx, emailDoc{Email: email, UserID: u.ID}); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			return User{}, false, fmt.Errorf("identity: claim email: %w", err)
		}
		// Taken, unless a registration died between claiming the address
		// and writing the user: then finish it under the claimed id.
		var claim emailDoc
		if err := s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&claim); err != nil {
			return User{}, false, fmt.Errorf("identity: read email claim: %w", err)
		}
		existing, err := s.User(ctx, claim.UserID)
		if err == nil {
			return existing, false, nil
		}
		if !errors.Is(err, ErrUserNotFound) {
			return User{}, false, err
		}
		u.ID = claim.UserID
	}
	if _, err := s.users.InsertOne(ctx, u); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			existing, rerr := s.User(ctx, u.ID)
			return existing, false, rerr
		}
		return User{}, false, fmt.Errorf("identity: write user: %w", err)
	}
	return u, true, nil
}

// sendToken stores a single-use token of kind for u (hashed) and emails
// its link to address.
func (s *Service) sendToken(ctx context.Context, u User, kind, address string, ttl time.Duration, template, path string) error {
	tok := randomToken()
	_, err := s.db.Collection("email_tokens").InsertOne(ctx, emailTokenDoc{Hash: hashToken(tok), Kind: kind, UserID: u.ID,
		Email: address, ExpiresAt: s.opts.Now().Add(ttl)})
	if err != nil {
		return fmt.Errorf("identity: store token: %w", err)
	}
	n := Notice{ID: kind + ":" + hashToken(tok)[:24], Template: template, UserID: u.ID, Link: s.link(path + "?token=" + tok)}
	if address != u.Email {
		n.To = address
	}
	return s.notify.Notify(ctx, n)
}

func (s *Service) link(path string) string {
	return strings.TrimRight(s.opts.PublicURL, "/") + path
}

// useToken consumes a single-use token of kind: it must exist, be
// unexpired and unused; using it marks it used (an insert, so two
// concurrent uses cannot both succeed).
func (s *Service) useToken(ctx context.Context, kind, token string) (emailTokenDoc, error) {
	d, err := s.peekToken(ctx, kind, token)
	if err != nil {
		return d, err
	}
	first, err := s.once(ctx, "email_tokens_used", d.Hash)
	if err != nil {
		return d, err
	}
	if !first {
		return d, ErrInvalidToken
	}
	return d, nil
}

// peekToken finds a valid (unexpired, unused) token of kind without
// spending it.
func (s *Service) peekToken(ctx context.Context, kind, token string) (emailTokenDoc, error) {
	var d emailTokenDoc
	err := s.db.Collection("email_tokens").FindOne(ctx, bson.D{{Key: "_id", Value: hashToken(token)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && (d.Kind != kind || !s.opts.Now().Before(d.ExpiresAt))) {
		return d, ErrInvalidToken
	}
	if err != nil {
		return d, err
	}
	if used, err := s.marked(ctx, "email_tokens_used", d.Hash); err != nil || used {
		if err != nil {
			return d, err
		}
		return d, ErrInvalidToken
	}
	return d, nil
}

// VerifyEmail confirms an email address with the token from the emailed
// link: a new account's address, or the new address of an email change.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	var d emailTokenDoc
	var err error
	if d, err = s.useToken(ctx, kindVerify, token); errors.Is(err, ErrInvalidToken) {
		d, err = s.useToken(ctx, kindChange, token)
	}
	if err != nil {
		return err
	}
	u, err := s.User(ctx, d.UserID)
	if err != nil {
		return ErrInvalidToken
	}
	if d.Kind == kindVerify {
		if u.Email != d.Email {
			return ErrInvalidToken // the address changed since
		}
		return s.update(ctx, u.ID, bson.M{"email_verified": true})
	}
	return s.switchEmail(ctx, u, d.Email)
}

// switchEmail moves an account to a new, verified address: the new
// address is claimed (unique), then the user updated, then the old claim
// released.
func (s *Service) switchEmail(ctx context.Context, u User, email string) error {
	if u.Email == email {
		return nil
	}
	if _, err := s.emails.InsertOne(ctx, emailDoc{Email: email, UserID: u.ID}); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			var claim emailDoc
			if err := s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&claim); err != nil || claim.UserID != u.ID {
				return ErrEmailInUse
			}
		} else {
			return err
		}
	}
	if err := s.update(ctx, u.ID, bson.M{"email": email, "email_verified": true, "pending_email": ""}); err != nil {
		return err
	}
	_, err := s.emails.DeleteOne(ctx, bson.D{{Key: "_id", Value: u.Email}, {Key: "user_id", Value: u.ID}})
	return err
}

// ResendVerification emails a new verification link to an unverified
// account. It answers the same whether or not the address has an
// account; sends are limited per address.
func (s *Service) ResendVerification(ctx context.Context, email, ip string) error {
	if err := s.requests(ctx, ip); err != nil {
		return err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return nil
	}
	u, err := s.userByEmail(ctx, e)
	if err != nil || u.EmailVerified {
		return nil
	}
	if ok, _, err := s.resend.Allow(ctx, "verify:"+e); err != nil || !ok {
		return err
	}
	return s.sendToken(ctx, u, kindVerify, u.Email, 48*time.Hour, TemplateVerify, "/verify-email")
}

// AllowEmailRequest spends one of a client address's anonymous
// email-sending requests (IP_BUDGET an hour), for other parts that email
// on a stranger's request, such as newsletter sign-ups.
func (s *Service) AllowEmailRequest(ctx context.Context, ip string) error { return s.requests(ctx, ip) }

// requests limits anonymous requests that send email per client address.
func (s *Service) requests(ctx context.Context, ip string) error {
	ok, left, err := s.ipRequests.Allow(ctx, ip)
	if err != nil {
		return err
	}
	if !ok {
		return ErrTooManyAttempts.With("retry_after_seconds", int(left.Seconds()+1))
	}
	return nil
}

// ErrEmailInUse is returned when a new address belongs to another account.
var ErrEmailInUse = ErrInvalidToken.Withf("the address belongs to another account")
