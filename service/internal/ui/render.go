package ui

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/buildinfo"
	"github.com/gopherops/gopherops/service/internal/web"
)

//go:embed static/*
var staticFS embed.FS

// views are the pages, by the name a page result carries; each asserts its
// view model's type (a handler test catches a mismatch).
var views = map[string]func(pd pageData) templ.Component{
	"index":     func(pd pageData) templ.Component { return indexView(pd) },
	"about":     func(pageData) templ.Component { return aboutView() },
	"login":     func(pd pageData) templ.Component { return loginView(pd, loginDataOf(pd)) },
	"users":     func(pd pageData) templ.Component { return usersView(pd, pd.Data.(usersData)) },
	"user":      func(pd pageData) templ.Component { return userView(pd, pd.Data.(userData)) },
	"dashboard": func(pd pageData) templ.Component { return dashboardView(pd, pd.Data.(dashboardData)) },
	"audit":     func(pd pageData) templ.Component { return auditView(pd, pd.Data.(auditData)) },
	"confirm":   func(pd pageData) templ.Component { return confirmView(pd, pd.Data.(confirmData)) },
	"error":     func(pd pageData) templ.Component { return errorView(pd, pd.Data.(errorData)) },
}

// loginDataOf is the sign-in page's data; a page rendered without it (an
// error's sign-in link) offers passwords only.
func loginDataOf(pd pageData) loginData {
	if d, ok := pd.Data.(loginData); ok {
		return d
	}
	return loginData{Passwords: true}
}

// fragments are the parts of pages served alone, by page and block.
var fragments = map[string]func(pd pageData) templ.Component{
	"dashboard/live": func(pd pageData) templ.Component { return dashboardLive(pd, pd.Data.(dashboardData)) },
}

// staticFiles is the embedded stylesheet, script and icon.
func staticFiles() (fs.FS, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static: %w", err)
	}
	return sub, nil
}

// responder is what every handler's answer goes through: the templates,
// the per-request layout data (who is signed in, the CSRF token, the
// flash) and the classification of errors into pages.
type responder struct {
	deps   Deps
	auth   *web.Auth
	log    *slog.Logger
	static fs.FS
	flash  flashSealer
}

// pageData is what every template receives.
type pageData struct {
	Title     string
	Nav       string // which navigation entry is the current page
	Here      string // this page's path and query, where its forms come back to
	Actor     *accounts.User
	CSRF      string
	Notice    *notice
	Error     string
	Temp      *temporaryPassword
	Form      pageForm
	Version   string
	RequestID string
	Data      any
}

// pageNotices are fixed messages chosen by a query key after a redirect, so
// no user-controlled text is ever reflected into a page: for when there is
// no session left to bind a flash to (after sign-out).
var pageNotices = map[string]string{
	"signed-out":      "You are signed out.",
	"sso-failed":      "Single sign-on failed. Try again; if it keeps failing, sign in another way or ask an administrator.",
	"sso-unavailable": "The single sign-on provider cannot be reached right now. Try again shortly.",
	"sso-no-account":  "No account here has the email address your provider gave. Ask an administrator for one.",
	"sso-unverified":  "Your provider has not verified your email address, so it cannot open an account here.",
	"sso-disabled":    "This account is disabled. Ask an administrator to enable it.",
}

// renderPage renders p in the layout into buf.
func (r *responder) renderPage(c *gin.Context, p page, buf *bytes.Buffer) error {
	view, ok := views[p.Name]
	if !ok {
		return fmt.Errorf("ui: no page %q", p.Name)
	}
	pd := r.pageData(c, p)
	return layout(pd, view(pd)).Render(c.Request.Context(), buf)
}

func (r *responder) pageData(c *gin.Context, p page) pageData {
	if _, ok := web.Actor(c); !ok && c.FullPath() == "" {
		r.signedInOn404(c) // an unmatched route ran no authentication
	}
	f := r.takeFlash(c)
	pd := pageData{Title: p.Title, CSRF: r.auth.CSRFToken(c), Version: buildinfo.Version, RequestID: web.RequestID(c),
		Notice: f.Notice, Error: p.Alert, Temp: f.Temp, Form: pageForm{f: f}, Data: p.Data}
	if pd.Notice == nil {
		if text, ok := pageNotices[c.Query("msg")]; ok {
			pd.Notice = plainNotice(text)
		}
	}
	if pd.Error == "" {
		pd.Error = f.Error
	}
	if a, ok := web.Actor(c); ok {
		u := a.User
		pd.Actor = &u
	}
	pd.Nav = navFor(c.Request.URL.Path, pd.Actor)
	pd.Here = c.Request.URL.RequestURI()
	return pd
}

// signedInOn404 recognises the session cookie on pages served outside the
// authenticated routes (a 404), so a signed-in visitor keeps the signed-in
// navigation. A missing, expired or unreadable session leaves the visitor
// anonymous: this never fails the page.
func (r *responder) signedInOn404(c *gin.Context) {
	ck, err := c.Cookie(r.auth.SessionCookieName())
	if err != nil || ck == "" || !storable(ck) {
		return
	}
	u, sess, err := r.deps.Accounts.Authenticate(c.Request.Context(), ck, accounts.KindSession, web.ClientIP(c))
	if err != nil {
		return
	}
	web.SetActor(c, accounts.Actor{User: u, SessionID: sess.ID, RequestID: web.RequestID(c), ClientIP: web.ClientIP(c),
		UserAgent: c.Request.UserAgent(), Scopes: sess.Scopes})
	web.SetSession(c, ck)
}

// navFor names the navigation entry of path, for aria-current.
func navFor(path string, actor *accounts.User) string {
	switch {
	case path == "/":
		return "home"
	case path == "/about", path == "/dashboard", path == "/login", path == "/users", path == "/audit":
		return strings.TrimPrefix(path, "/")
	case actor != nil && path == "/users/"+strconv.FormatInt(actor.ID, 10):
		return "me"
	case strings.HasPrefix(path, "/users/"):
		return "users"
	}
	return ""
}
