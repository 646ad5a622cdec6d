package sso

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/safetext"
	"github.com/gopherops/gopherops/service/internal/web"
)

// Paths of the browser's sign-in through the provider; OIDC_REDIRECT_URL
// must name CallbackPath on this service.
const (
	StartPath    = "/login/sso"
	CallbackPath = "/login/sso/callback"
)

// Deps are what the routes need.
type Deps struct {
	Provider *Provider
	Accounts *accounts.Service
	Auth     *web.Auth
	Metrics  *observability.Metrics
	Logger   *slog.Logger
	// AllowSignup creates accounts for verified emails that have none.
	AllowSignup bool
	// HSTS adds Strict-Transport-Security (production).
	HSTS bool
}

// Register mounts the sign-in routes on r.
func Register(r gin.IRouter, d Deps) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	g := r.Group("", web.BrowserHeaders(d.HSTS))
	g.GET(StartPath, d.start)
	g.GET(CallbackPath, d.callback)
}

// start sends the browser to the provider, its pending sign-in in a cookie.
func (d Deps) start(c *gin.Context) {
	url, pend, err := d.Provider.Start(c.Request.Context())
	if err != nil {
		d.refuse(c, err)
		return
	}
	d.Auth.SetCookie(c, d.Auth.SSOCookieName(), d.Provider.Seal(pend), int(pendingTTL.Seconds()))
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, url)
}

// callback finishes the sign-in the provider sent the browser back with.
func (d Deps) callback(c *gin.Context) {
	ctx := c.Request.Context()
	ck, _ := c.Cookie(d.Auth.SSOCookieName())
	// One answer per pending sign-in: the cookie goes whatever happens.
	d.Auth.SetCookie(c, d.Auth.SSOCookieName(), "", -1)
	c.Header("Cache-Control", "no-store")
	pend, err := d.Provider.Open(ck)
	if err != nil {
		d.refuse(c, err)
		return
	}
	if e := c.Query("error"); e != "" {
		d.refuse(c, errors.New("sso: the provider answered "+safetext.TruncateRunes(safetext.Clean(e), 64)))
		return
	}
	id, err := d.Provider.Finish(ctx, pend, c.Query("state"), c.Query("code"))
	if err != nil {
		d.refuse(c, err)
		return
	}
	u, err := d.Accounts.SignInExternal(ctx, accounts.ExternalSignIn{
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified,
		AllowSignup: d.AllowSignup, ClientIP: web.ClientIP(c), RequestID: web.RequestID(c),
	})
	if err != nil {
		d.refuse(c, err)
		return
	}
	secret, _, err := d.Accounts.StartSession(ctx, u, accounts.SessionInput{
		Kind: accounts.KindSession, UserAgent: c.Request.UserAgent(), ClientIP: web.ClientIP(c)})
	if err != nil {
		d.refuse(c, err)
		return
	}
	if d.Metrics != nil {
		web.CountLogin(d.Metrics, nil)
	}
	d.Auth.SetCookie(c, d.Auth.SessionCookieName(), secret, 0)
	d.Auth.SetCookie(c, d.Auth.CSRFCookieName(), "", -1)
	c.Redirect(http.StatusSeeOther, "/dashboard")
}

// refuse logs why a sign-in failed and sends the browser to the sign-in
// page with what it may know: a protocol failure (a forged state, a code
// used twice, a token from elsewhere) is only "failed".
func (d Deps) refuse(c *gin.Context, err error) {
	msg := "sso-failed"
	switch {
	case errors.Is(err, ErrUnavailable):
		msg = "sso-unavailable"
	case errors.Is(err, accounts.ErrNoAccount):
		msg = "sso-no-account"
	case errors.Is(err, accounts.ErrEmailUnverified):
		msg = "sso-unverified"
	case errors.Is(err, accounts.ErrAccountDisabled):
		msg = "sso-disabled"
	}
	if d.Metrics != nil && !errors.Is(err, ErrUnavailable) {
		web.CountLogin(d.Metrics, err)
	}
	d.Logger.WarnContext(c.Request.Context(), "single sign-on refused", "reason", err.Error(), "request_id", web.RequestID(c))
	c.Redirect(http.StatusSeeOther, "/login?msg="+msg)
}
