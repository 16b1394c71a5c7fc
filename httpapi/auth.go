package httpapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/identity"
)

const principalKey = "principal"

// authenticated requires a valid bearer access token of a live account
// (not locked, deleted, or logged out everywhere since) and puts its
// principal in the context.
func (a *api) authenticated(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		fail(c, errUnauthorized)
		return
	}
	p, err := a.Identity.Authenticate(c, strings.TrimSpace(token))
	if err != nil {
		if errors.Is(err, identity.ErrBadAccessToken) {
			err = errUnauthorized
		}
		fail(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// adminOnly requires the admin role; it runs after authenticated.
func (a *api) adminOnly(c *gin.Context) {
	if !principal(c).IsAdmin() {
		fail(c, errForbidden)
		return
	}
	c.Next()
}

var errNotVerified = &domain.Error{Kind: domain.Forbidden, Code: "email-not-verified", Msg: "confirm your email address first (see the email we sent, or POST /auth/verify-email/resend)"}

// verified requires a confirmed email address when the deployment asks
// for it (REQUIRE_EMAIL_VERIFICATION); admins are exempt.
func (a *api) verified(c *gin.Context) {
	if p := principal(c); a.RequireVerifiedEmail && !p.EmailVerified && !p.IsAdmin() {
		fail(c, errNotVerified)
		return
	}
	c.Next()
}

func principal(c *gin.Context) identity.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(identity.Principal)
	return pr
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// register answers the same whether or not the email has an account:
// 201 and "check your email".
func (a *api) register(c *gin.Context) {
	var req registerRequest
	if !bind(c, &req) {
		return
	}
	if err := a.Identity.Register(c, req.Email, req.Password, req.Name, c.ClientIP()); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"status": "verification_pending",
		"message": "check your email to confirm your address"})
}

type tokenRequest struct {
	Token string `json:"token"`
}

func (a *api) verifyEmail(c *gin.Context) {
	var req tokenRequest
	if !bind(c, &req) || !required(c, "token", req.Token) {
		return
	}
	if err := a.Identity.VerifyEmail(c, req.Token); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "verified"})
}

type emailRequest struct {
	Email string `json:"email"`
}

// resendVerification and forgotPassword answer 202 whatever the email.
func (a *api) resendVerification(c *gin.Context) {
	var req emailRequest
	if !bind(c, &req) {
		return
	}
	if err := a.Identity.ResendVerification(c, req.Email, c.ClientIP()); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
}

func (a *api) forgotPassword(c *gin.Context) {
	var req emailRequest
	if !bind(c, &req) {
		return
	}
	if err := a.Identity.ForgotPassword(c, req.Email, c.ClientIP()); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (a *api) resetPassword(c *gin.Context) {
	var req resetRequest
	if !bind(c, &req) || !required(c, "token", req.Token, "password", req.Password) {
		return
	}
	if err := a.Identity.ResetPassword(c, req.Token, req.Password, c.ClientIP()); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "password_reset"})
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

func toTokens(t identity.TokenPair) tokenResponse {
	return tokenResponse{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: "Bearer", ExpiresIn: int(t.ExpiresIn.Seconds())}
}

// respondLogin writes tokens, or the MFA challenge of an account with 2FA.
func respondLogin(c *gin.Context, r identity.LoginResult) {
	if r.MFAToken != "" {
		c.JSON(http.StatusOK, gin.H{"mfa_required": true, "mfa_token": r.MFAToken})
		return
	}
	c.JSON(http.StatusOK, toTokens(r.Tokens))
}

func (a *api) login(c *gin.Context) {
	var req loginRequest
	if !bind(c, &req) {
		return
	}
	r, err := a.Identity.Login(c, req.Email, req.Password, c.ClientIP())
	if err != nil {
		fail(c, err)
		return
	}
	respondLogin(c, r)
}

type mfaRequest struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
}

func (a *api) verifyMFA(c *gin.Context) {
	var req mfaRequest
	if !bind(c, &req) || !required(c, "mfa_token", req.MFAToken, "code", req.Code) {
		return
	}
	t, err := a.Identity.VerifyMFA(c, req.MFAToken, req.Code)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toTokens(t))
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (a *api) refresh(c *gin.Context) {
	var req refreshRequest
	if !bind(c, &req) {
		return
	}
	t, err := a.Identity.Refresh(c, req.RefreshToken)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toTokens(t))
}

func (a *api) logout(c *gin.Context) {
	var req refreshRequest
	if !bind(c, &req) {
		return
	}
	if err := a.Identity.Logout(c, req.RefreshToken); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) logoutEverywhere(c *gin.Context) {
	if err := a.Identity.LogoutEverywhere(c, principal(c).UserID); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) setupTOTP(c *gin.Context) {
	s, err := a.Identity.SetupTOTP(c, principal(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": s.Secret, "otpauth_url": s.URL,
		"qr_png": "data:image/png;base64," + base64.StdEncoding.EncodeToString(s.QRPNG)})
}

type codeRequest struct {
	Code     string `json:"code"`
	Password string `json:"password"`
}

func (a *api) enableTOTP(c *gin.Context) {
	var req codeRequest
	if !bind(c, &req) || !required(c, "code", req.Code) {
		return
	}
	codes, err := a.Identity.EnableTOTP(c, principal(c).UserID, req.Code)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"enabled": true, "recovery_codes": codes})
}

func (a *api) disableTOTP(c *gin.Context) {
	var req codeRequest
	if !bind(c, &req) {
		return
	}
	if req.Code == "" && req.Password == "" {
		fail(c, domain.NewInvalid("missing-field", "code", "a code or the password is required"))
		return
	}
	if err := a.Identity.DisableTOTP(c, principal(c).UserID, req.Code, req.Password); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"enabled": false})
}

func (a *api) oauthStart(c *gin.Context) {
	u, err := a.OAuth.Start(c, c.Param("provider"))
	if err != nil {
		fail(c, err)
		return
	}
	c.Redirect(http.StatusFound, u)
}

// oauthCallback finishes a provider login and answers with tokens (or an
// MFA challenge) as JSON.
func (a *api) oauthCallback(c *gin.Context) {
	if e := c.Query("error"); e != "" {
		fail(c, identity.ErrOAuthFailed.Withf("%s", e))
		return
	}
	r, err := a.OAuth.Callback(c, c.Param("provider"), c.Query("code"), c.Query("state"))
	if err != nil {
		fail(c, err)
		return
	}
	respondLogin(c, r)
}

type userResponse struct {
	ID               string    `json:"id"`
	Email            string    `json:"email"`
	Name             string    `json:"name"`
	Role             string    `json:"role"`
	EmailVerified    bool      `json:"email_verified"`
	PendingEmail     string    `json:"pending_email,omitempty"`
	TwoFactorEnabled bool      `json:"two_factor_enabled"`
	HasPassword      bool      `json:"has_password"`
	Locked           bool      `json:"locked"`
	CreatedAt        time.Time `json:"created_at"`
	// Newsletter is the subscription of the account's address (none,
	// pending, confirmed, unsubscribed); only on the caller's own /me.
	Newsletter string `json:"newsletter,omitempty"`
}

func toUser(u identity.User) userResponse {
	return userResponse{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, EmailVerified: u.EmailVerified, PendingEmail: u.PendingEmail,
		TwoFactorEnabled: u.TOTP.Enabled, HasPassword: u.PasswordHash != "", Locked: u.Locked, CreatedAt: u.CreatedAt}
}

func (a *api) me(c *gin.Context) {
	u, err := a.Identity.User(c, principal(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	a.respondMe(c, u)
}

// respondMe answers with the caller's own account and newsletter status.
func (a *api) respondMe(c *gin.Context, u identity.User) {
	r := toUser(u)
	if a.Newsletter != nil {
		st, err := a.Newsletter.Status(c, u.Email)
		if err != nil {
			fail(c, err)
			return
		}
		r.Newsletter = or(st, "none")
	}
	c.JSON(http.StatusOK, r)
}
