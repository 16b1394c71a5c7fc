package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/gin-gonic/gin"
)

// Cursors handed to clients are signed (HMAC-SHA256, truncated), so that
// a tampered one is refused with 400 instead of silently moving the page.
// Every instance derives the same key from the deployment's secret.

func (a *api) sealCursor(inner string) string {
	if inner == "" {
		return ""
	}
	m := hmac.New(sha256.New, a.CursorKey)
	m.Write([]byte(inner))
	return base64.RawURLEncoding.EncodeToString([]byte(inner)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// cursor reads and checks the cursor query parameter ("" if absent); it
// writes a 400 and returns false when it was tampered with.
func (a *api) cursor(c *gin.Context) (string, bool) {
	s := c.Query("cursor")
	if s == "" {
		return "", true
	}
	body, sig, ok := strings.Cut(s, ".")
	raw, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	m := hmac.New(sha256.New, a.CursorKey)
	m.Write(raw)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(got, m.Sum(nil)[:12]) {
		fail(c, errBadCursor)
		return "", false
	}
	return string(raw), true
}
