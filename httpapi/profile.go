package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/identity"
)

// patchMe changes the caller's own profile. Only name, email and password
// (with current_password) may be sent; any other field, such as role or
// email_verified, is refused with 422 naming it, rather than ignored.
func (a *api) patchMe(c *gin.Context) {
	var raw map[string]json.RawMessage
	if !bind(c, &raw) {
		return
	}
	allowed := map[string]bool{"name": true, "email": true, "current_password": true, "new_password": true}
	for k := range raw {
		if !allowed[k] {
			fail(c, domain.NewInvalid("field-not-allowed", k, "this field cannot be changed here; allowed: name, email, new_password with current_password"))
			return
		}
	}
	var ch identity.ProfileChange
	str := func(k string) (*string, bool) {
		v, ok := raw[k]
		if !ok {
			return nil, true
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			fail(c, errMalformed.Withf("field %q must be a string", k).With("field", k))
			return nil, false
		}
		return &s, true
	}
	var ok bool
	if ch.Name, ok = str("name"); !ok {
		return
	}
	if ch.Email, ok = str("email"); !ok {
		return
	}
	if ch.NewPassword, ok = str("new_password"); !ok {
		return
	}
	cur, ok := str("current_password")
	if !ok {
		return
	}
	if cur != nil {
		ch.CurrentPassword = *cur
	}
	u, err := a.Identity.UpdateProfile(c, principal(c).UserID, ch)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUser(u))
}

type deleteMeRequest struct {
	Password string `json:"password"`
}

// deleteMe erases the caller's personal data; bookings stay, by user id.
func (a *api) deleteMe(c *gin.Context) {
	var req deleteMeRequest
	if c.Request.ContentLength != 0 && !bind(c, &req) {
		return
	}
	if err := a.Identity.DeleteAccount(c, principal(c).UserID, req.Password); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) listUsers(c *gin.Context) {
	n, err := limit(c)
	if err != nil {
		fail(c, err)
		return
	}
	p, err := a.Identity.ListUsers(c, c.Query("q"), c.Query("cursor"), n)
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]userResponse, len(p.Users))
	for i, u := range p.Users {
		out[i] = toUser(u)
	}
	c.JSON(http.StatusOK, list[userResponse]{Items: out, NextCursor: p.Next})
}

type adminUserRequest struct {
	Role          *string `json:"role"`
	Locked        *bool   `json:"locked"`
	EmailVerified *bool   `json:"email_verified"`
}

func (a *api) patchUser(c *gin.Context) {
	var req adminUserRequest
	if !bind(c, &req) {
		return
	}
	if c.Param("id") == principal(c).UserID && ((req.Role != nil && *req.Role != identity.RoleAdmin) || (req.Locked != nil && *req.Locked)) {
		fail(c, &domain.Error{Kind: domain.Conflict, Code: "self-lockout", Msg: "admins cannot demote or lock themselves"})
		return
	}
	u, err := a.Identity.AdminUpdate(c, c.Param("id"), identity.AdminChange{Role: req.Role, Locked: req.Locked, EmailVerified: req.EmailVerified})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUser(u))
}
