package identity

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/seatline/seatline/domain"
)

// Errors of two-factor authentication.
var (
	ErrTOTPNotSetUp    = &domain.Error{Kind: domain.Conflict, Code: "2fa-not-set-up", Msg: "identity: start 2FA setup first"}
	ErrTOTPEnabled     = &domain.Error{Kind: domain.Conflict, Code: "2fa-enabled", Msg: "identity: 2FA is already enabled"}
	ErrTOTPDisabled    = &domain.Error{Kind: domain.Conflict, Code: "2fa-disabled", Msg: "identity: 2FA is not enabled"}
	ErrInvalidMFAToken = &domain.Error{Kind: domain.Unauthorized, Code: "invalid-mfa-token", Msg: "identity: the MFA token is invalid or expired"}
)

// TOTPSetup is what a user needs to add the account to an authenticator.
type TOTPSetup struct {
	Secret string
	URL    string
	QRPNG  []byte
}

const issuerName = "Seatline"

// SetupTOTP creates a new pending TOTP secret for the user (replacing an
// earlier pending one). It takes effect only once EnableTOTP sees a code.
func (s *Service) SetupTOTP(ctx context.Context, userID string) (TOTPSetup, error) {
	u, err := s.User(ctx, userID)
	if err != nil {
		return TOTPSetup{}, err
	}
	if u.TOTP.Enabled {
		return TOTPSetup{}, ErrTOTPEnabled
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuerName, AccountName: u.Email})
	if err != nil {
		return TOTPSetup{}, err
	}
	enc, err := s.seal(key.Secret())
	if err != nil {
		return TOTPSetup{}, err
	}
	if err := s.update(ctx, u.ID, bson.M{"totp.pending_secret": enc}); err != nil {
		return TOTPSetup{}, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return TOTPSetup{}, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{Secret: key.Secret(), URL: key.URL(), QRPNG: b.Bytes()}, nil
}

// EnableTOTP turns 2FA on once the user proves the pending secret with a
// code, and returns 10 single-use recovery codes (shown once, stored hashed).
func (s *Service) EnableTOTP(ctx context.Context, userID, code string) ([]string, error) {
	u, err := s.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.TOTP.Enabled {
		return nil, ErrTOTPEnabled
	}
	if u.TOTP.PendingSecret == "" {
		return nil, ErrTOTPNotSetUp
	}
	secret, err := s.open(u.TOTP.PendingSecret)
	if err != nil {
		return nil, err
	}
	if err := s.checkTOTP(ctx, u.ID, secret, code); err != nil {
		return nil, err
	}
	codes, hashes := recoveryCodes()
	err = s.update(ctx, u.ID, bson.M{"totp.enabled": true, "totp.secret": u.TOTP.PendingSecret, "totp.pending_secret": "", "totp.recovery_codes": hashes})
	return codes, err
}

// DisableTOTP turns 2FA off; it needs a current code, a recovery code or
// the password.
func (s *Service) DisableTOTP(ctx context.Context, userID, code, password string) error {
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	if !u.TOTP.Enabled {
		return ErrTOTPDisabled
	}
	switch {
	case password != "":
		if ok, _ := CheckPassword(u.PasswordHash, password); u.PasswordHash == "" || !ok {
			return s.mfaFail(ctx, u.ID, ErrWrongPassword)
		}
	default:
		if err := s.secondFactor(ctx, u, code); err != nil {
			return err
		}
	}
	return s.update(ctx, u.ID, bson.M{"totp.enabled": false, "totp.secret": "", "totp.recovery_codes": []string{}})
}

type mfaDoc struct {
	Hash      string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	ExpiresAt time.Time `bson:"expires_at"`
}

func (s *Service) newMFAChallenge(ctx context.Context, userID string) (string, error) {
	tok := randomToken()
	_, err := s.db.Collection("mfa_challenges").InsertOne(ctx, mfaDoc{Hash: hashToken(tok), UserID: userID, ExpiresAt: s.opts.Now().Add(5 * time.Minute)})
	return tok, err
}

// VerifyMFA finishes a login with 2FA: the MFA token from Login and a TOTP
// or recovery code. Codes cannot be reused; failures count towards a
// lockout of the account's second factor.
func (s *Service) VerifyMFA(ctx context.Context, mfaToken, code string) (TokenPair, error) {
	var d mfaDoc
	err := s.db.Collection("mfa_challenges").FindOne(ctx, bson.D{{Key: "_id", Value: hashToken(mfaToken)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !s.opts.Now().Before(d.ExpiresAt)) {
		return TokenPair{}, ErrInvalidMFAToken
	}
	if err != nil {
		return TokenPair{}, err
	}
	if used, err := s.marked(ctx, "mfa_used", d.Hash); err != nil || used {
		if err != nil {
			return TokenPair{}, err
		}
		return TokenPair{}, ErrInvalidMFAToken
	}
	u, err := s.User(ctx, d.UserID)
	if err != nil {
		return TokenPair{}, ErrInvalidMFAToken
	}
	if u.Locked {
		return TokenPair{}, ErrAccountLocked
	}
	if err := s.secondFactor(ctx, u, code); err != nil {
		return TokenPair{}, err
	}
	if first, err := s.once(ctx, "mfa_used", d.Hash); err != nil || !first {
		if err != nil {
			return TokenPair{}, err
		}
		return TokenPair{}, ErrInvalidMFAToken
	}
	return s.issue(ctx, u, newID())
}

// secondFactor checks a TOTP code or, failing that, a recovery code.
func (s *Service) secondFactor(ctx context.Context, u User, code string) error {
	if err := s.locked(ctx, s.mfa, u.ID); err != nil {
		return err
	}
	code = strings.TrimSpace(code)
	if len(code) == 6 {
		secret, err := s.open(u.TOTP.Secret)
		if err != nil {
			return err
		}
		return s.checkTOTP(ctx, u.ID, secret, code)
	}
	h := hashToken(strings.ToUpper(strings.ReplaceAll(code, "-", "")))
	for _, c := range u.TOTP.RecoveryCodes {
		if c == h {
			first, err := s.once(ctx, "recovery_used", u.ID+":"+h)
			if err != nil {
				return err
			}
			if !first {
				break
			}
			var rest []string
			for _, x := range u.TOTP.RecoveryCodes {
				if x != h {
					rest = append(rest, x)
				}
			}
			_ = s.update(ctx, u.ID, bson.M{"totp.recovery_codes": rest})
			_ = s.mfa.Reset(ctx, u.ID)
			return nil
		}
	}
	return s.mfaFail(ctx, u.ID, ErrInvalidCode)
}

// checkTOTP validates a code against secret, allowing one 30 s step of
// clock skew either way, and refuses a code already used in its window.
func (s *Service) checkTOTP(ctx context.Context, userID, secret, code string) error {
	now := s.opts.Now()
	for _, skew := range []int{0, -1, 1} {
		at := now.Add(time.Duration(skew*30) * time.Second)
		ok, err := totp.ValidateCustom(code, secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil || !ok {
			continue
		}
		step := at.Unix() / 30
		first, err := s.once(ctx, "totp_used", fmt.Sprintf("%s:%d", userID, step))
		if err != nil {
			return err
		}
		if !first {
			return s.mfaFail(ctx, userID, ErrInvalidCode.Withf("the code was used already"))
		}
		_ = s.mfa.Reset(ctx, userID)
		return nil
	}
	return s.mfaFail(ctx, userID, ErrInvalidCode)
}

func (s *Service) mfaFail(ctx context.Context, userID string, cause error) error {
	d, err := s.mfa.Fail(ctx, userID)
	if err != nil {
		return err
	}
	if d > 0 {
		return ErrTooManyAttempts.With("retry_after_seconds", int(d.Seconds()))
	}
	return cause
}

func recoveryCodes() (codes, hashes []string) {
	enc := base32.NewEncoding("23456789ABCDEFGHJKLMNPQRSTUVWXYZ").WithPadding(base32.NoPadding)
	for i := 0; i < 10; i++ {
		b := make([]byte, 5)
		_, _ = rand.Read(b)
		c := enc.EncodeToString(b)
		codes = append(codes, c[:4]+"-"+c[4:8])
		hashes = append(hashes, hashToken(c[:8]))
	}
	return codes, hashes
}

// seal encrypts a TOTP secret with AES-GCM under the service's key.
func (s *Service) seal(plain string) (string, error) {
	block, err := aes.NewCipher(s.opts.TOTPKey)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawStdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(plain), nil)), nil
}

func (s *Service) open(sealed string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(s.opts.TOTPKey)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(raw) < gcm.NonceSize() {
		return "", errors.New("identity: sealed secret too short")
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
	if err != nil {
		return "", errors.New("identity: cannot decrypt the TOTP secret (was the key changed?)")
	}
	return string(plain), nil
}
