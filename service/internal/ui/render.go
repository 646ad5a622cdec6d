package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/buildinfo"
	"github.com/gopherops/gopherops/service/internal/web"
)

//go:embed templates/*.html static/*
var webFS embed.FS

// pageNames are the templates with a page of their own.
var pageNames = []string{"index", "about", "login", "users", "user", "dashboard", "audit", "confirm", "error"}

// templates holds one parsed template set per page, each with the shared layout.
type templates struct {
	byName map[string]*template.Template
	static fs.FS
}

func newTemplates() (*templates, error) {
	base, err := template.New("base.html").Funcs(templateFuncs).ParseFS(webFS, "templates/base.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parse layout: %w", err)
	}
	t := &templates{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		pt, err := template.Must(base.Clone()).ParseFS(webFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", name, err)
		}
		t.byName[name] = pt
	}
	t.static, err = fs.Sub(webFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static: %w", err)
	}
	return t, nil
}

// execute renders block of the page name into w.
func (t *templates) execute(w io.Writer, name, block string, data any) error {
	pt, ok := t.byName[name]
	if !ok {
		return fmt.Errorf("ui: no template %q", name)
	}
	return pt.ExecuteTemplate(w, block, data)
}

// responder is what every handler's answer goes through: the templates,
// the per-request layout data (who is signed in, the CSRF token, the
// flash) and the classification of errors into pages.
type responder struct {
	deps  Deps
	auth  *web.Auth
	log   *slog.Logger
	pages *templates
	flash flashSealer
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
	"signed-out": "You are signed out.",
}

// renderPage renders p in the layout.
func (r *responder) renderPage(c *gin.Context, p page) ([]byte, error) {
	pd := r.pageData(c, p)
	var buf bytes.Buffer
	if err := r.pages.execute(&buf, p.Name, "base", pd); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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
	u, sess, err := r.deps.Accounts.Authenticate(c.Request.Context(), ck, accounts.KindSession)
	if err != nil {
		return
	}
	web.SetActor(c, accounts.Actor{User: u, SessionID: sess.ID, RequestID: web.RequestID(c), ClientIP: c.ClientIP(),
		UserAgent: c.Request.UserAgent()})
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
