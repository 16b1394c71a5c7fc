package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/identity"
)

const principalKey = "principal"

// authenticated requires a valid bearer access token and puts its
// principal in the context.
func (a *api) authenticated(c *gin.Context) {
	h := c.GetHeader("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		fail(c, errUnauthorized)
		return
	}
	p, err := a.Identity.Tokens().Verify(strings.TrimSpace(token))
	if err != nil {
		fail(c, errUnauthorized)
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

type userResponse struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	Role          string    `json:"role"`
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
}

func toUser(u identity.User) userResponse {
	return userResponse{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt}
}

func (a *api) register(c *gin.Context) {
	var req registerRequest
	if !bind(c, &req) {
		return
	}
	u, err := a.Identity.Register(c, req.Email, req.Password, req.Name)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, toUser(u))
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

func (a *api) login(c *gin.Context) {
	var req loginRequest
	if !bind(c, &req) {
		return
	}
	t, err := a.Identity.Login(c, req.Email, req.Password)
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

func (a *api) me(c *gin.Context) {
	u, err := a.Identity.User(c, principal(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUser(u))
}
