package httpapi

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/newsletter"
)

type subscribeRequest struct {
	Email string `json:"email"`
}

// subscribe starts a double opt-in. The answer is the same whatever the
// address's state, so it tells a stranger nothing about who subscribed.
func (a *api) subscribe(c *gin.Context) {
	var req subscribeRequest
	if !bind(c, &req) || !required(c, "email", req.Email) {
		return
	}
	if err := a.Identity.AllowEmailRequest(c, c.ClientIP()); err != nil {
		fail(c, err)
		return
	}
	if err := a.Newsletter.Subscribe(c, req.Email); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "pending", "message": "check your inbox for a confirmation link"})
}

// confirmSubscription opens the emailed double opt-in link. Browsers get
// a page, API clients JSON.
func (a *api) confirmSubscription(c *gin.Context) {
	email, err := a.Newsletter.Confirm(c, c.Query("token"))
	if err != nil {
		if wantsHTML(c) {
			page(c, http.StatusBadRequest, "Link not valid", "This confirmation link is invalid or has expired. Subscribe again to get a new one.", "")
			return
		}
		fail(c, err)
		return
	}
	if wantsHTML(c) {
		page(c, http.StatusOK, "Subscribed", "Thank you: "+email+" will receive the Seatline newsletter.", "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"email": email, "status": newsletter.Confirmed})
}

// unsubscribePage is the GET of an unsubscribe link: it only asks for a
// confirmation, so that mail scanners that open links unsubscribe nobody.
func (a *api) unsubscribePage(c *gin.Context) {
	token := c.Query("token")
	email, err := a.Newsletter.CheckUnsubscribe(token)
	if err != nil {
		if wantsHTML(c) {
			page(c, http.StatusBadRequest, "Link not valid", "This unsubscribe link is not valid.", "")
			return
		}
		fail(c, err)
		return
	}
	st, err := a.Newsletter.Status(c, email)
	if err != nil {
		fail(c, err)
		return
	}
	if wantsHTML(c) {
		if st != newsletter.Confirmed && st != newsletter.Pending {
			page(c, http.StatusOK, "Unsubscribed", email+" does not receive the newsletter.", "")
			return
		}
		page(c, http.StatusOK, "Unsubscribe", "Stop sending the Seatline newsletter to "+email+"?",
			"/api/v1/newsletter/unsubscribe?token="+url.QueryEscape(token))
		return
	}
	c.JSON(http.StatusOK, gin.H{"email": email, "status": or(st, "none")})
}

// unsubscribe is the one-click POST of RFC 8058: the token in the query
// (with the body List-Unsubscribe=One-Click that mail clients send), in a
// form field, or in a JSON body. It needs no login and is idempotent.
func (a *api) unsubscribe(c *gin.Context) {
	token := c.Query("token")
	if token == "" {
		if strings.HasPrefix(c.ContentType(), "application/json") {
			var req struct {
				Token string `json:"token"`
			}
			if !bind(c, &req) {
				return
			}
			token = req.Token
		} else {
			token = c.PostForm("token")
		}
	}
	if !required(c, "token", token) {
		return
	}
	email, err := a.Newsletter.Unsubscribe(c, token)
	if err != nil {
		fail(c, err)
		return
	}
	if wantsHTML(c) {
		page(c, http.StatusOK, "Unsubscribed", email+" will not receive the newsletter any more.", "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"email": email, "status": newsletter.Unsubscribed})
}

type campaignRequest struct {
	Subject string `json:"subject"`
	HTML    string `json:"html"`
	Text    string `json:"text"`
}

type campaignResponse struct {
	newsletter.Campaign
	Remaining int `json:"remaining"`
}

// createCampaign queues a newsletter to every confirmed subscriber.
func (a *api) createCampaign(c *gin.Context) {
	var req campaignRequest
	if !bind(c, &req) {
		return
	}
	camp, err := a.Newsletter.CreateCampaign(c, req.Subject, req.HTML, req.Text)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/admin/newsletters/"+camp.ID)
	c.JSON(http.StatusAccepted, campaignResponse{camp, camp.Remaining()})
}

// getCampaign shows a campaign's progress.
func (a *api) getCampaign(c *gin.Context) {
	camp, err := a.Newsletter.Campaign(c, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, campaignResponse{camp, camp.Remaining()})
}

func wantsHTML(c *gin.Context) bool {
	acc := c.GetHeader("Accept")
	return strings.Contains(acc, "text/html") && !strings.Contains(acc, "application/json")
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} · Seatline</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
button{font:inherit;padding:.5rem 1.2rem;border:0;border-radius:.3rem;background:#b3261e;color:#fff;cursor:pointer}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Action}}<form method="post" action="{{.Action}}"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>{{end}}
</body></html>`))

// page writes a small HTML page for people who open emailed links.
func page(c *gin.Context, status int, title, text, action string) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Status(status)
	_ = pageTmpl.Execute(c.Writer, map[string]string{"Title": title, "Text": text, "Action": action})
}
