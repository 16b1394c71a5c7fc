package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/identity"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
)

// oauthEngine starts an engine whose "mock" OIDC provider is a real
// in-process OIDC server (mockoidc), and whose "github" provider talks to
// fake GitHub endpoints.
func oauthEngine(t *testing.T) (*apptest.Engine, *mockoidc.MockOIDC, *fakeGitHub) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	gh := newFakeGitHub(t)
	cfg := m.Config()
	e := apptest.Start(t, apptest.Options{Tune: func(c *app.Config) {
		c.OAuthProviders = []identity.ProviderConfig{
			{Name: "mock", Kind: "oidc", Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret},
			{Name: "github", Kind: "github", ClientID: "gh-client", ClientSecret: "gh-secret",
				AuthURL: gh.srv.URL + "/login/oauth/authorize", TokenURL: gh.srv.URL + "/login/oauth/access_token", APIURL: gh.srv.URL},
		}
	}})
	return e, m, gh
}

// oauthLogin runs the browser's part: start, follow the provider's
// redirects back to the callback, and return the callback's answer.
func oauthLogin(t *testing.T, e *apptest.Engine, provider string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(e.URL + "/api/v1/auth/oauth/" + provider + "/start")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

func TestOAuthLoginWithMockOIDC(t *testing.T) {
	t.Parallel()
	e, m, _ := oauthEngine(t)
	email := "oidc-" + testenv.ID() + "@example.com"

	// A verified email the provider vouches for creates an account.
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-1", Email: email, EmailVerified: true, PreferredUsername: "ada"})
	status, body := oauthLogin(t, e, "mock")
	if status != 200 || body["access_token"] == nil {
		t.Fatalf("first login: %d %v", status, body)
	}
	me := e.Client(t).As(body["access_token"].(string)).Must(200, "GET", "/me", nil).Body
	if me["email"] != email || me["email_verified"] != true || me["has_password"] != false {
		t.Fatalf("account from OIDC: %v", me)
	}
	// The same subject logs into the same account.
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-1", Email: email, EmailVerified: true})
	_, again := oauthLogin(t, e, "mock")
	if e.Client(t).As(again["access_token"].(string)).Must(200, "GET", "/me", nil).Body["id"] != me["id"] {
		t.Fatal("a second login made another account")
	}

	// An unverified email is not trusted.
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-2", Email: "unverified-" + testenv.ID() + "@example.com", EmailVerified: false})
	if status, body := oauthLogin(t, e, "mock"); status != 403 || !strings.Contains(jsonString(body), "email-not-verified") {
		t.Fatalf("unverified provider email: %d %v", status, body)
	}

	// An existing, verified local account is linked.
	_, localID, localEmail := e.NewUserWithEmail(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-3", Email: localEmail, EmailVerified: true})
	_, linked := oauthLogin(t, e, "mock")
	if e.Client(t).As(linked["access_token"].(string)).Must(200, "GET", "/me", nil).Body["id"] != localID {
		t.Fatal("the verified local account was not linked")
	}

	// An existing local account whose address was never verified is not
	// linked: whoever registered it may not own the mailbox.
	_, _, squatted := e.NewUnverifiedUser(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-4", Email: squatted, EmailVerified: true})
	if status, body := oauthLogin(t, e, "mock"); status != 409 || !strings.Contains(jsonString(body), "account-unverified") {
		t.Fatalf("linking to an unverified account: %d %v", status, body)
	}
}

func TestOAuthStateAndReplay(t *testing.T) {
	t.Parallel()
	e, m, _ := oauthEngine(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(e.URL + "/api/v1/auth/oauth/mock/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("the authorization request lacks PKCE, nonce or state: %s", loc)
	}
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-s", Email: "s-" + testenv.ID() + "@example.com", EmailVerified: true})
	resp, err = noRedirect.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, _ := url.Parse(resp.Header.Get("Location"))
	tampered := *cb
	tq := tampered.Query()
	tq.Set("state", "forged-state")
	tampered.RawQuery = tq.Encode()
	c := e.Client(t)
	c.Base = e.URL
	if r := c.Do("GET", tampered.RequestURI(), nil); r.Status != 401 || !strings.Contains(string(r.Raw), "invalid-oauth-state") {
		t.Fatalf("a forged state: %d %s", r.Status, r.Raw)
	}
	c.Must(200, "GET", cb.RequestURI(), nil)
	if r := c.Do("GET", cb.RequestURI(), nil); r.Status != 401 {
		t.Fatalf("a replayed callback: %d %s", r.Status, r.Raw)
	}
	c.Must(404, "GET", "/api/v1/auth/oauth/nope/start", nil)
}

func TestOAuthLoginWithGitHub(t *testing.T) {
	t.Parallel()
	e, _, gh := oauthEngine(t)
	gh.email, gh.verified = "gh-"+testenv.ID()+"@example.com", true
	status, body := oauthLogin(t, e, "github")
	if status != 200 || body["access_token"] == nil {
		t.Fatalf("github login: %d %v", status, body)
	}
	if gh.verifier == "" {
		t.Fatal("the token request carried no PKCE verifier")
	}
	gh.email, gh.verified = "gh2-"+testenv.ID()+"@example.com", false
	if status, _ := oauthLogin(t, e, "github"); status != 403 {
		t.Fatalf("github login with an unverified primary email: %d", status)
	}
}

// fakeGitHub stands in for GitHub's OAuth and API endpoints.
type fakeGitHub struct {
	srv      *httptest.Server
	email    string
	verified bool
	verifier string
	next     int
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{}
	mux := http.NewServeMux()
	mux.HandleFunc("/login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		u, _ := url.Parse(r.URL.Query().Get("redirect_uri"))
		q := u.Query()
		q.Set("code", "gh-code")
		q.Set("state", r.URL.Query().Get("state"))
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	})
	mux.HandleFunc("/login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		g.verifier = r.Form.Get("code_verifier")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"gh-token","token_type":"bearer"}`))
	})
	mux.HandleFunc("/user", func(w http.ResponseWriter, r *http.Request) {
		g.next++
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 1000 + g.next, "login": "octo", "name": "Octo Cat"})
	})
	mux.HandleFunc("/user/emails", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode([]map[string]any{{"email": g.email, "primary": true, "verified": g.verified}})
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
