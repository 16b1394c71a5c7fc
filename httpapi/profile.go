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
	allowed := map[string]bool{"name": true, "email": true, "current_password": true, "new_password": true, "newsletter": true}
	for k := range raw {
		if !allowed[k] {
			fail(c, domain.NewInvalid("field-not-allowed", k, "this field cannot be changed here; allowed: name, email, newsletter, new_password with current_password"))
			return
		}
	}
	var subscribe *bool
	if v, ok := raw["newsletter"]; ok {
		subscribe = new(bool)
		if err := json.Unmarshal(v, subscribe); err != nil {
			fail(c, errMalformed.Withf("field \"newsletter\" must be a boolean").With("field", "newsletter"))
			return
		}
		delete(raw, "newsletter")
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
	var u identity.User
	var err error
	if len(raw) > 0 {
		u, err = a.Identity.UpdateProfile(c, principal(c).UserID, ch)
	} else {
		u, err = a.Identity.User(c, principal(c).UserID)
	}
	if err != nil {
		fail(c, err)
		return
	}
	if subscribe != nil {
		if err := a.setNewsletter(c, u, *subscribe); err != nil {
			fail(c, err)
			return
		}
	}
	a.respondMe(c, u)
}

// setNewsletter subscribes or unsubscribes the caller's address. A
// verified address is confirmed at once; an unverified one gets the double
// opt-in email like a guest's.
func (a *api) setNewsletter(c *gin.Context, u identity.User, on bool) error {
	switch {
	case !on:
		return a.Newsletter.UnsubscribeEmail(c, u.Email)
	case u.EmailVerified:
		return a.Newsletter.SubscribeVerified(c, u.Email, u.ID)
	default:
		return a.Newsletter.Subscribe(c, u.Email)
	}
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
	u, err := a.Identity.User(c, principal(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	if err := a.Identity.DeleteAccount(c, principal(c).UserID, req.Password); err != nil {
		fail(c, err)
		return
	}
	// The erased account's address leaves the mailing list too.
	if err := a.Newsletter.Forget(c, u.Email); err != nil {
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
	cur, ok := a.cursor(c)
	if !ok {
		return
	}
	p, err := a.Identity.ListUsers(c, c.Query("q"), cur, n)
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]userResponse, len(p.Users))
	for i, u := range p.Users {
		out[i] = toUser(u)
	}
	c.JSON(http.StatusOK, list[userResponse]{Items: out, NextCursor: a.sealCursor(p.Next)})
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
