package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pquerna/otp/totp"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/internal/testenv"
)

const testJWTSecret = "test-secret-test-secret-test-secret!"

var tokenInLink = regexp.MustCompile(`token=([0-9a-f]{64})`)

// mailedToken waits for an email to addr with subject and returns the
// token of the link in it.
func mailedToken(t *testing.T, addr, subject string) string {
	t.Helper()
	for _, m := range testenv.WaitMail(t, addr, subject, 10*time.Second) {
		if strings.Contains(m.Subject, subject) {
			if mt := tokenInLink.FindStringSubmatch(testenv.MailText(t, m.ID)); mt != nil {
				return mt[1]
			}
		}
	}
	t.Fatalf("no token in the %q email to %s", subject, addr)
	return ""
}

func mailEngine(t *testing.T, tune func(*app.Config)) *apptest.Engine {
	_, prefix := testenv.Redis(t)
	return apptest.Start(t, apptest.Options{Redis: true, RedisPrefix: prefix, Mail: true, Tune: tune})
}

func register(t *testing.T, c *apptest.Client, email, password string) apptest.Response {
	t.Helper()
	return c.Must(201, "POST", "/auth/register", map[string]string{"email": email, "password": password, "name": "Dev"})
}

func TestRegistrationNeedsEmailVerificationToBook(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	show := apptest.Show(t, e.Admin(t), 1, 4)
	c := e.Client(t)
	email := "verify-" + testenv.ID() + "@example.com"
	if r := register(t, c, email, "a long passphrase"); r.Body["status"] != "verification_pending" {
		t.Fatalf("register: %v", r.Body)
	}
	user := c.Login(email, "a long passphrase")
	if me := user.Must(200, "GET", "/me", nil).Body; me["email_verified"] != false {
		t.Fatalf("a new account is verified: %v", me)
	}
	r := user.Do("POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}})
	if r.Status != 403 || !strings.Contains(string(r.Raw), "email-not-verified") {
		t.Fatalf("an unverified account booked: %d %s", r.Status, r.Raw)
	}
	tok := mailedToken(t, email, "Confirm your email")
	c.Must(422, "POST", "/auth/verify-email", map[string]string{"token": strings.Repeat("0", 64)})
	c.Must(200, "POST", "/auth/verify-email", map[string]string{"token": tok})
	if r := c.Do("POST", "/auth/verify-email", map[string]string{"token": tok}); r.Status != 422 || !strings.Contains(string(r.Raw), "invalid-token") {
		t.Fatalf("a verification token worked twice: %d %s", r.Status, r.Raw)
	}
	user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}})
	// Resending for a verified address sends nothing (and says the same).
	c.Must(202, "POST", "/auth/verify-email/resend", map[string]string{"email": email})
	time.Sleep(500 * time.Millisecond)
	if n := testenv.CountMail(testenv.Mails(t, email), "Confirm your email"); n != 1 {
		t.Fatalf("%d verification emails", n)
	}
	c.Must(422, "POST", "/auth/register", map[string]string{"email": "x" + testenv.ID() + "@example.com", "password": "1234567890", "name": "X"})
}

// TestNoAccountEnumeration sends the same requests for an address that has
// an account and one that does not: the answers are byte for byte the
// same but for the request id. (Timing is compared by
// BenchmarkLoginEnumeration, not here: tests assert behaviour, not time.)
func TestNoAccountEnumeration(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	c := e.Client(t)
	known := "known-" + testenv.ID() + "@example.com"
	register(t, c, known, "a long passphrase")
	unknown := "unknown-" + testenv.ID() + "@example.com"
	same := func(name string, a, b apptest.Response) {
		t.Helper()
		strip := regexp.MustCompile(`"request_id":"[^"]*"`)
		if a.Status != b.Status || strip.ReplaceAllString(string(a.Raw), "") != strip.ReplaceAllString(string(b.Raw), "") {
			t.Fatalf("%s differs: %d %s / %d %s", name, a.Status, a.Raw, b.Status, b.Raw)
		}
	}
	same("register", c.Do("POST", "/auth/register", map[string]string{"email": known, "password": "another passphrase", "name": "Eve"}),
		c.Do("POST", "/auth/register", map[string]string{"email": unknown, "password": "another passphrase", "name": "Eve"}))
	same("login", c.Do("POST", "/auth/login", map[string]string{"email": known, "password": "wrong passphrase"}),
		c.Do("POST", "/auth/login", map[string]string{"email": "nobody-" + testenv.ID() + "@example.com", "password": "wrong passphrase"}))
	same("forgot", c.Do("POST", "/auth/password/forgot", map[string]string{"email": known}),
		c.Do("POST", "/auth/password/forgot", map[string]string{"email": "nobody@example.com"}))
	same("resend", c.Do("POST", "/auth/verify-email/resend", map[string]string{"email": known}),
		c.Do("POST", "/auth/verify-email/resend", map[string]string{"email": "nobody@example.com"}))
	// The owner of the known address hears about the attempt.
	testenv.WaitMail(t, known, "You already have a Seatline account", 10*time.Second)
}

func TestRefreshRotationAndReuseDetection(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	_, _, email := e.NewUserWithEmail(t)
	c := e.Client(t)
	first := c.Must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"}).Body
	second := c.Must(200, "POST", "/auth/refresh", map[string]any{"refresh_token": first["refresh_token"]}).Body
	if second["refresh_token"] == first["refresh_token"] || second["access_token"] == "" {
		t.Fatal("refresh did not rotate")
	}
	// The old token is presented again: stolen. The whole family dies.
	if r := c.Do("POST", "/auth/refresh", map[string]any{"refresh_token": first["refresh_token"]}); r.Status != 401 {
		t.Fatalf("a reused refresh token: %d %s", r.Status, r.Raw)
	}
	if r := c.Do("POST", "/auth/refresh", map[string]any{"refresh_token": second["refresh_token"]}); r.Status != 401 {
		t.Fatalf("the family survived a reuse: %d %s", r.Status, r.Raw)
	}
	// Logout revokes; logout everywhere stops access tokens at once.
	third := c.Must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"}).Body
	c.Must(204, "POST", "/auth/logout", map[string]any{"refresh_token": third["refresh_token"]})
	c.Must(401, "POST", "/auth/refresh", map[string]any{"refresh_token": third["refresh_token"]})
	fourth := c.Must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"}).Body
	other := c.Must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"}).Body
	u := c.As(fourth["access_token"].(string))
	u.Must(200, "GET", "/me", nil)
	c.As(other["access_token"].(string)).Must(204, "POST", "/auth/logout-all", nil)
	u.Must(401, "GET", "/me", nil)
	c.Must(401, "POST", "/auth/refresh", map[string]any{"refresh_token": fourth["refresh_token"]})
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	old, _, email := e.NewUserWithEmail(t)
	c := e.Client(t)
	c.Must(202, "POST", "/auth/password/forgot", map[string]string{"email": email})
	tok := mailedToken(t, email, "Reset your Seatline password")
	c.Must(422, "POST", "/auth/password/reset", map[string]string{"token": tok, "password": "short"})
	c.Must(200, "POST", "/auth/password/reset", map[string]string{"token": tok, "password": "a brand new passphrase"})
	if r := c.Do("POST", "/auth/password/reset", map[string]string{"token": tok, "password": "yet another passphrase"}); r.Status != 422 {
		t.Fatalf("a reset token worked twice: %d %s", r.Status, r.Raw)
	}
	old.Must(401, "GET", "/me", nil) // sessions before the reset are gone
	c.Must(401, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"})
	c.Login(email, "a brand new passphrase").Must(200, "GET", "/me", nil)
}

func TestTwoFactorAuthentication(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	u, _, email := e.NewUserWithEmail(t)
	c := e.Client(t)
	u.Must(409, "POST", "/auth/2fa/enable", map[string]string{"code": "123456"})
	setup := u.Must(200, "POST", "/auth/2fa/setup", nil).Body
	secret := setup["secret"].(string)
	if !strings.HasPrefix(setup["otpauth_url"].(string), "otpauth://totp/Seatline:") || !strings.HasPrefix(setup["qr_png"].(string), "data:image/png;base64,") {
		t.Fatalf("setup %v", setup)
	}
	code := func(offset time.Duration) string {
		s, err := totp.GenerateCode(secret, time.Now().Add(offset))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	u.Must(401, "POST", "/auth/2fa/enable", map[string]string{"code": "000000"})
	en := u.Must(200, "POST", "/auth/2fa/enable", map[string]string{"code": code(0)}).Body
	recovery := en["recovery_codes"].([]any)
	if len(recovery) != 10 {
		t.Fatalf("recovery codes %v", en)
	}
	login := func() string {
		r := c.Must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"}).Body
		if r["mfa_required"] != true || r["access_token"] != nil {
			t.Fatalf("login with 2FA answered %v", r)
		}
		return r["mfa_token"].(string)
	}
	mfa := login()
	c.Must(401, "POST", "/auth/2fa/verify", map[string]string{"mfa_token": mfa, "code": "000000"})
	next := code(30 * time.Second) // the next window, within the allowed skew
	tokens := c.Must(200, "POST", "/auth/2fa/verify", map[string]string{"mfa_token": mfa, "code": next}).Body
	if tokens["access_token"] == nil {
		t.Fatalf("verify %v", tokens)
	}
	c.Must(401, "POST", "/auth/2fa/verify", map[string]string{"mfa_token": mfa, "code": next}) // the MFA token is spent
	if r := c.Do("POST", "/auth/2fa/verify", map[string]string{"mfa_token": login(), "code": next}); r.Status != 401 {
		t.Fatalf("a TOTP code was accepted twice in its window: %d %s", r.Status, r.Raw)
	}
	// A recovery code works once.
	rc := recovery[0].(string)
	c.Must(200, "POST", "/auth/2fa/verify", map[string]string{"mfa_token": login(), "code": rc})
	c.Must(401, "POST", "/auth/2fa/verify", map[string]string{"mfa_token": login(), "code": rc})
	// Disabling needs a code or the password.
	u2 := c.As(tokens["access_token"].(string))
	u2.Must(422, "POST", "/auth/2fa/disable", map[string]string{})
	u2.Must(401, "POST", "/auth/2fa/disable", map[string]string{"password": "wrong passphrase"})
	u2.Must(200, "POST", "/auth/2fa/disable", map[string]string{"password": "long enough password"})
	if r := c.Must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"}).Body; r["access_token"] == nil {
		t.Fatalf("login after disabling 2FA: %v", r)
	}
}

func TestBruteForceLockout(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, func(c *app.Config) { c.LockoutBase = 2 * time.Second })
	admin := e.Admin(t)
	_, id, email := e.NewUserWithEmail(t)
	c := e.Client(t)
	bad := map[string]string{"email": email, "password": "wrong passphrase"}
	for i := 0; i < 4; i++ {
		c.Must(401, "POST", "/auth/login", bad)
	}
	r := c.Do("POST", "/auth/login", bad)
	if r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("the fifth failure: %d %s", r.Status, r.Raw)
	}
	good := map[string]string{"email": email, "password": "long enough password"}
	if r := c.Do("POST", "/auth/login", good); r.Status != 429 {
		t.Fatalf("the right password during a lockout: %d %s", r.Status, r.Raw)
	}
	time.Sleep(2100 * time.Millisecond) // the lockout ends by itself
	// Another round of failures locks for longer (4s); an admin can unlock
	// at once. (A successful login resets the growth.)
	for i := 0; i < 4; i++ {
		c.Must(401, "POST", "/auth/login", bad)
	}
	c.Must(429, "POST", "/auth/login", bad)
	if r := c.Do("POST", "/auth/login", good); r.Status != 429 || r.Header.Get("Retry-After") < "3" {
		t.Fatalf("second lockout: %d %s Retry-After %s", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	f := false
	admin.Must(200, "PATCH", "/admin/users/"+id, map[string]any{"locked": f})
	c.Must(200, "POST", "/auth/login", good)
	// Unknown accounts lock the same way: the lockout tells nothing.
	ghost := map[string]string{"email": "ghost-" + testenv.ID() + "@example.com", "password": "wrong passphrase"}
	for i := 0; i < 4; i++ {
		c.Must(401, "POST", "/auth/login", ghost)
	}
	c.Must(429, "POST", "/auth/login", ghost)
}

func TestAdminLocksAndPromotes(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	admin := e.Admin(t)
	u, id, email := e.NewUserWithEmail(t)
	u.Must(403, "GET", "/admin/users", nil)
	page := admin.Must(200, "GET", "/admin/users?q="+email, nil).Body["items"].([]any)
	if len(page) != 1 || page[0].(map[string]any)["id"] != id {
		t.Fatalf("search %v", page)
	}
	tr := true
	admin.Must(200, "PATCH", "/admin/users/"+id, map[string]any{"locked": tr})
	u.Must(401, "GET", "/me", nil) // a locked account's tokens stop working at once
	if r := e.Client(t).Do("POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"}); r.Status != 403 || !strings.Contains(string(r.Raw), "account-locked") {
		t.Fatalf("login of a locked account: %d %s", r.Status, r.Raw)
	}
	f := false
	admin.Must(200, "PATCH", "/admin/users/"+id, map[string]any{"locked": f, "role": "admin"})
	promoted := e.Client(t).Login(email, "long enough password")
	promoted.Must(200, "GET", "/admin/users", nil)
	admin.Must(422, "PATCH", "/admin/users/"+id, map[string]any{"role": "root"})
	admin.Must(404, "PATCH", "/admin/users/nope", map[string]any{"locked": tr})
	// Pages: a cursor continues, a foreign cursor is refused.
	for i := 0; i < 3; i++ {
		e.NewUser(t)
	}
	p1 := admin.Must(200, "GET", "/admin/users?limit=2", nil).Body
	if len(p1["items"].([]any)) != 2 || p1["next_cursor"] == nil {
		t.Fatalf("page 1 %v", p1)
	}
	admin.Must(200, "GET", "/admin/users?limit=2&cursor="+p1["next_cursor"].(string), nil)
	admin.Must(400, "GET", "/admin/users?cursor=nope", nil)
}

func TestProfileWhitelistAndEmailChange(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	u, _, email := e.NewUserWithEmail(t)
	for _, field := range []string{"role", "email_verified", "locked", "id", "two_factor_enabled"} {
		r := u.Do("PATCH", "/me", map[string]any{field: "admin", "name": "Mallory"})
		if r.Status != 422 || !strings.Contains(string(r.Raw), "field-not-allowed") || !strings.Contains(string(r.Raw), field) {
			t.Fatalf("mass assignment of %s: %d %s", field, r.Status, r.Raw)
		}
	}
	if me := u.Must(200, "GET", "/me", nil).Body; me["role"] != "user" || me["name"] == "Mallory" {
		t.Fatalf("a refused PATCH changed something: %v", me)
	}
	if me := u.Must(200, "PATCH", "/me", map[string]any{"name": "Neo"}).Body; me["name"] != "Neo" {
		t.Fatalf("rename %v", me)
	}
	u.Must(401, "PATCH", "/me", map[string]any{"email": "new@example.com", "current_password": "wrong passphrase"})
	newEmail := "moved-" + testenv.ID() + "@example.com"
	me := u.Must(200, "PATCH", "/me", map[string]any{"email": newEmail, "current_password": "long enough password"}).Body
	if me["email"] != email || me["pending_email"] != newEmail {
		t.Fatalf("the email changed before confirmation: %v", me)
	}
	tok := mailedToken(t, newEmail, "Confirm your new email")
	e.Client(t).Must(200, "POST", "/auth/verify-email", map[string]string{"token": tok})
	if me := u.Must(200, "GET", "/me", nil).Body; me["email"] != newEmail || me["email_verified"] != true {
		t.Fatalf("after confirming the new address: %v", me)
	}
	e.Client(t).Login(newEmail, "long enough password")
	e.Client(t).Must(401, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"})
	// A password change needs the current one and ends other sessions.
	u.Must(401, "PATCH", "/me", map[string]any{"new_password": "a fresh passphrase", "current_password": "nope nope nope"})
	u.Must(200, "PATCH", "/me", map[string]any{"new_password": "a fresh passphrase", "current_password": "long enough password"})
	u.Must(401, "GET", "/me", nil)
	e.Client(t).Login(newEmail, "a fresh passphrase")
}

func TestAccountDeletionErasesPersonalData(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	admin := e.Admin(t)
	show := apptest.Show(t, admin, 1, 4)
	u, id, email := e.NewUserWithEmail(t)
	b := u.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	u.Must(401, "DELETE", "/me", map[string]any{"password": "wrong passphrase"})
	u.Must(204, "DELETE", "/me", map[string]any{"password": "long enough password"})
	u.Must(401, "GET", "/me", nil)
	e.Client(t).Must(401, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"})
	if items := admin.Must(200, "GET", "/admin/users?q="+email, nil).Body["items"].([]any); len(items) != 0 {
		t.Fatalf("a deleted account is listed: %v", items)
	}
	raw, err := e.App.Identity.User(t.Context(), id)
	if err == nil {
		t.Fatalf("a deleted user is still readable: %+v", raw)
	}
	// The booking stays, attributed to the id.
	if got := admin.Must(200, "GET", "/bookings/"+b, nil).Body; got["id"] != b {
		t.Fatalf("booking after deletion %v", got)
	}
	// The address is free again.
	register(t, e.Client(t), email, "a new person's passphrase")
}

// TestForgedTokens signs tokens with the test secret but wrong claims, and
// checks each is refused; a token from a rotated-out key is refused too,
// while one from a key still listed is accepted.
func TestForgedTokens(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Tune: func(c *app.Config) {
		c.JWTSecret = "k2:" + strings.Repeat("n", 40) + ",k1:" + testJWTSecret
	}})
	_, id, _ := e.NewUserWithEmail(t)
	sign := func(kid string, secret string, mutate func(jwt.MapClaims)) string {
		now := time.Now()
		c := jwt.MapClaims{"sub": id, "role": "user", "iss": "seatline", "aud": []string{"seatline-api"}, "iat": now.Unix(),
			"nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": "x1", "sv": 0}
		mutate(c)
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c := e.Client(t)
	ok := sign("k1", testJWTSecret, func(jwt.MapClaims) {})
	c.As(ok).Must(200, "GET", "/me", nil) // the older key still verifies
	for name, tok := range map[string]string{
		"wrong audience":     sign("k1", testJWTSecret, func(m jwt.MapClaims) { m["aud"] = []string{"other-api"} }),
		"wrong issuer":       sign("k1", testJWTSecret, func(m jwt.MapClaims) { m["iss"] = "evil" }),
		"expired":            sign("k1", testJWTSecret, func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-time.Minute).Unix() }),
		"no expiry":          sign("k1", testJWTSecret, func(m jwt.MapClaims) { delete(m, "exp") }),
		"issued in future":   sign("k1", testJWTSecret, func(m jwt.MapClaims) { m["iat"] = time.Now().Add(time.Hour).Unix() }),
		"admin role claimed": sign("k1", testJWTSecret, func(m jwt.MapClaims) { m["role"] = "root" }),
		"unknown kid":        sign("k9", testJWTSecret, func(jwt.MapClaims) {}),
		"wrong key for kid":  sign("k2", testJWTSecret, func(jwt.MapClaims) {}),
		"alg none":           "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoiazEifQ." + strings.Split(ok, ".")[1] + ".",
	} {
		if r := c.As(tok).Do("GET", "/me", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	// A role claimed in a token does not matter: the account's role does.
	adminClaim := sign("k1", testJWTSecret, func(m jwt.MapClaims) { m["role"] = "admin" })
	c.As(adminClaim).Must(403, "GET", "/admin/users", nil)
}

func TestPerAddressAndSecondFactorLockouts(t *testing.T) {
	t.Parallel()
	// One failed login budget per address: 10 failures in 15 minutes.
	e := mailEngine(t, func(c *app.Config) { c.IPBudget = 1 })
	c := e.Client(t)
	for i := 0; i < 9; i++ {
		c.Must(401, "POST", "/auth/login", map[string]string{"email": "spray" + testenv.ID() + "@example.com", "password": "wrong passphrase"})
	}
	c.Must(429, "POST", "/auth/login", map[string]string{"email": "spray" + testenv.ID() + "@example.com", "password": "wrong passphrase"})
	// Now every account is locked for this address, even with the right password.
	if r := c.Do("POST", "/auth/login", map[string]string{"email": apptest.AdminEmail, "password": apptest.AdminPassword}); r.Status != 429 {
		t.Fatalf("login from a locked address: %d %s", r.Status, r.Raw)
	}
	// And one email-sending request per hour.
	c.Must(202, "POST", "/auth/password/forgot", map[string]string{"email": "a@example.com"})
	c.Must(429, "POST", "/auth/password/forgot", map[string]string{"email": "b@example.com"})
}

func TestSecondFactorBruteForce(t *testing.T) {
	t.Parallel()
	e := mailEngine(t, nil)
	u, _, email := e.NewUserWithEmail(t)
	secret := u.Must(200, "POST", "/auth/2fa/setup", nil).Body["secret"].(string)
	code, _ := totp.GenerateCode(secret, time.Now())
	u.Must(200, "POST", "/auth/2fa/enable", map[string]string{"code": code})
	c := e.Client(t)
	mfa := c.Must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "long enough password"}).Body["mfa_token"].(string)
	for i := 0; i < 4; i++ {
		c.Must(401, "POST", "/auth/2fa/verify", map[string]string{"mfa_token": mfa, "code": "000000"})
	}
	c.Must(429, "POST", "/auth/2fa/verify", map[string]string{"mfa_token": mfa, "code": "000000"})
	good, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if r := c.Do("POST", "/auth/2fa/verify", map[string]string{"mfa_token": mfa, "code": good}); r.Status != 429 {
		t.Fatalf("a right code during the lockout: %d %s", r.Status, r.Raw)
	}
}
