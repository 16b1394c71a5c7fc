package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/github"

	"github.com/seatline/seatline/domain"
)

// Errors of OAuth login.
var (
	ErrUnknownProvider  = &domain.Error{Kind: domain.NotFound, Code: "unknown-provider", Msg: "identity: no such login provider"}
	ErrOAuthState       = &domain.Error{Kind: domain.Unauthorized, Code: "invalid-oauth-state", Msg: "identity: the login attempt is invalid, expired or used; start again"}
	ErrOAuthFailed      = &domain.Error{Kind: domain.Unauthorized, Code: "oauth-failed", Msg: "identity: the provider did not confirm the login"}
	ErrOAuthUnverified  = &domain.Error{Kind: domain.Forbidden, Code: "email-not-verified", Msg: "identity: the provider does not vouch for this email address"}
	ErrOAuthLinkRefused = &domain.Error{Kind: domain.Conflict, Code: "account-unverified", Msg: "identity: an account with this email exists but its address was never verified; verify it (or reset its password) first, then sign in with the provider"}
)

// ProviderConfig configures one login provider. Kind "oidc" discovers the
// provider at Issuer (Google's issuer is https://accounts.google.com);
// kind "github" uses GitHub's OAuth endpoints and API (overridable for
// tests).
type ProviderConfig struct {
	Name, Kind             string
	Issuer                 string
	ClientID, ClientSecret string
	AuthURL, TokenURL      string // github only; default github.com
	APIURL                 string // github only; default https://api.github.com
}

// OAuth runs authorization-code logins with PKCE, state and nonce.
type OAuth struct {
	svc       *Service
	redirect  string // base of callback URLs
	providers map[string]*provider
	client    *http.Client
}

type provider struct {
	cfg ProviderConfig
	mu  sync.Mutex
	op  *oidc.Provider
}

// NewOAuth returns the OAuth login of svc; callbacks are
// publicURL/api/v1/auth/oauth/<name>/callback.
func NewOAuth(svc *Service, publicURL string, cfgs []ProviderConfig) *OAuth {
	o := &OAuth{svc: svc, redirect: strings.TrimRight(publicURL, "/") + "/api/v1/auth/oauth/", providers: map[string]*provider{},
		client: &http.Client{Timeout: 15 * time.Second}}
	for _, c := range cfgs {
		o.providers[c.Name] = &provider{cfg: c}
	}
	return o
}

// Providers lists the configured provider names.
func (o *OAuth) Providers() []string {
	var out []string
	for n := range o.providers {
		out = append(out, n)
	}
	return out
}

func (o *OAuth) config(ctx context.Context, p *provider) (*oauth2.Config, error) {
	c := &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: o.redirect + p.cfg.Name + "/callback"}
	if p.cfg.Kind == "github" {
		c.Endpoint, c.Scopes = github.Endpoint, []string{"read:user", "user:email"}
		if p.cfg.AuthURL != "" {
			c.Endpoint = oauth2.Endpoint{AuthURL: p.cfg.AuthURL, TokenURL: p.cfg.TokenURL}
		}
		return c, nil
	}
	op, err := o.discover(ctx, p)
	if err != nil {
		return nil, err
	}
	c.Endpoint, c.Scopes = op.Endpoint(), []string{oidc.ScopeOpenID, "email", "profile"}
	return c, nil
}

// discover fetches the OIDC provider's configuration once.
func (o *OAuth) discover(ctx context.Context, p *provider) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.op != nil {
		return p.op, nil
	}
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("identity: discover %s: %w", p.cfg.Name, err)
	}
	p.op = op
	return op, nil
}

type oauthState struct {
	Hash      string    `bson:"_id"`
	Provider  string    `bson:"provider"`
	Nonce     string    `bson:"nonce"`
	Verifier  string    `bson:"verifier"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// Start begins a login with provider name and returns the URL to send the
// browser to. The state, nonce and PKCE verifier are kept server-side for
// ten minutes and are good for one callback.
func (o *OAuth) Start(ctx context.Context, name string) (string, error) {
	p, ok := o.providers[name]
	if !ok {
		return "", ErrUnknownProvider
	}
	c, err := o.config(ctx, p)
	if err != nil {
		return "", err
	}
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	_, err = o.svc.db.Collection("oauth_states").InsertOne(ctx, oauthState{Hash: hashToken(state), Provider: name, Nonce: nonce,
		Verifier: verifier, ExpiresAt: o.svc.opts.Now().Add(10 * time.Minute)})
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.cfg.Kind != "github" {
		opts = append(opts, oidc.Nonce(nonce))
	}
	return c.AuthCodeURL(state, opts...), nil
}

// external is what a provider says about the person logging in.
type external struct {
	Subject, Email, Name string
	EmailVerified        bool
}

// Callback finishes a login: it checks the state (CSRF), exchanges the
// code with the PKCE verifier, verifies the ID token (signature, issuer,
// audience, expiry) and its nonce, then logs the person in under the
// account-linking rule of oauthLogin.
func (o *OAuth) Callback(ctx context.Context, name, code, state string) (LoginResult, error) {
	p, ok := o.providers[name]
	if !ok {
		return LoginResult{}, ErrUnknownProvider
	}
	var st oauthState
	err := o.svc.db.Collection("oauth_states").FindOne(ctx, bson.D{{Key: "_id", Value: hashToken(state)}}).Decode(&st)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && (st.Provider != name || !o.svc.opts.Now().Before(st.ExpiresAt))) {
		return LoginResult{}, ErrOAuthState
	}
	if err != nil {
		return LoginResult{}, err
	}
	if first, err := o.svc.once(ctx, "oauth_states_used", st.Hash); err != nil || !first {
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, ErrOAuthState
	}
	c, err := o.config(ctx, p)
	if err != nil {
		return LoginResult{}, err
	}
	hctx := oidc.ClientContext(ctx, o.client)
	tok, err := c.Exchange(hctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return LoginResult{}, ErrOAuthFailed.Withf("exchange: %v", err)
	}
	var who external
	if p.cfg.Kind == "github" {
		who, err = o.githubUser(hctx, p, c, tok)
	} else {
		who, err = o.oidcUser(hctx, p, tok, st.Nonce)
	}
	if err != nil {
		return LoginResult{}, err
	}
	return o.svc.oauthLogin(ctx, name, who)
}

func (o *OAuth) oidcUser(ctx context.Context, p *provider, tok *oauth2.Token, nonce string) (external, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return external{}, ErrOAuthFailed.Withf("no id_token")
	}
	op, err := o.discover(ctx, p)
	if err != nil {
		return external{}, err
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return external{}, ErrOAuthFailed.Withf("id token: %v", err)
	}
	if idt.Nonce != nonce {
		return external{}, ErrOAuthFailed.Withf("nonce mismatch")
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil {
		return external{}, ErrOAuthFailed.Withf("claims: %v", err)
	}
	verified := claims.EmailVerified == true || claims.EmailVerified == "true"
	return external{Subject: idt.Subject, Email: claims.Email, Name: claims.Name, EmailVerified: verified}, nil
}

func (o *OAuth) githubUser(ctx context.Context, p *provider, c *oauth2.Config, tok *oauth2.Token) (external, error) {
	api := strings.TrimRight(p.cfg.APIURL, "/")
	if api == "" {
		api = "https://api.github.com"
	}
	hc := c.Client(ctx, tok)
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := getJSON(ctx, hc, api+"/user", &user); err != nil || user.ID == 0 {
		return external{}, ErrOAuthFailed.Withf("github user: %v", err)
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := getJSON(ctx, hc, api+"/user/emails", &emails); err != nil {
		return external{}, ErrOAuthFailed.Withf("github emails: %v", err)
	}
	who := external{Subject: fmt.Sprint(user.ID), Name: or(user.Name, user.Login)}
	for _, e := range emails {
		if e.Primary {
			who.Email, who.EmailVerified = e.Email, e.Verified
		}
	}
	return who, nil
}

func getJSON(ctx context.Context, hc *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type identityDoc struct {
	ID     string    `bson:"_id"` // provider:subject
	UserID string    `bson:"user_id"`
	Linked time.Time `bson:"linked_at"`
}

// oauthLogin logs in a person a provider vouched for. The linking rule:
//
//  1. A (provider, subject) seen before logs into the account it was linked to.
//  2. Otherwise the provider must assert that the email is verified.
//  3. An existing account with that email is linked only if its own address
//     was verified (so its owner proved control of the same mailbox the
//     provider vouches for); an unverified account is never linked, which
//     stops a stranger who pre-registered the address from sharing it.
//  4. Otherwise a new account is created, verified, without a password.
//
// Accounts with 2FA still need their second factor.
func (s *Service) oauthLogin(ctx context.Context, provider string, who external) (LoginResult, error) {
	key := provider + ":" + who.Subject
	var link identityDoc
	err := s.db.Collection("user_identities").FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&link)
	var u User
	switch {
	case err == nil:
		if u, err = s.User(ctx, link.UserID); err != nil {
			return LoginResult{}, ErrOAuthFailed
		}
	case !errors.Is(err, mongo.ErrNoDocuments):
		return LoginResult{}, err
	default:
		if !who.EmailVerified {
			return LoginResult{}, ErrOAuthUnverified
		}
		email, err := NormalizeEmail(who.Email)
		if err != nil {
			return LoginResult{}, ErrOAuthUnverified
		}
		existing, err := s.userByEmail(ctx, email)
		switch {
		case err == nil && !existing.EmailVerified:
			return LoginResult{}, ErrOAuthLinkRefused
		case err == nil:
			u = existing
		case errors.Is(err, ErrUserNotFound):
			name, nerr := checkName(who.Name)
			if nerr != nil {
				name = strings.Split(email, "@")[0]
			}
			created, isNew, cerr := s.create(ctx, email, "", name, RoleUser, true)
			if cerr != nil {
				return LoginResult{}, cerr
			}
			if !isNew && !created.EmailVerified {
				return LoginResult{}, ErrOAuthLinkRefused
			}
			u = created
		default:
			return LoginResult{}, err
		}
		if _, err := s.db.Collection("user_identities").InsertOne(ctx, identityDoc{ID: key, UserID: u.ID, Linked: s.opts.Now()}); err != nil && !mongo.IsDuplicateKeyError(err) {
			return LoginResult{}, err
		}
	}
	if u.Locked {
		return LoginResult{}, ErrAccountLocked
	}
	if u.TOTP.Enabled {
		tok, err := s.newMFAChallenge(ctx, u.ID)
		return LoginResult{MFAToken: tok}, err
	}
	t, err := s.issue(ctx, u, newID())
	return LoginResult{Tokens: t}, err
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
