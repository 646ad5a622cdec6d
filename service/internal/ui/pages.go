package ui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/buildinfo"
	"github.com/gopherops/gopherops/service/internal/web"
)

//go:embed templates/*.html static/*
var webFS embed.FS

// pages holds one parsed template set per page, each with the shared layout.
type pages struct {
	byName map[string]*template.Template
	static fs.FS
}

func newPages() (*pages, error) {
	base, err := template.New("base.html").Funcs(templateFuncs).ParseFS(webFS, "templates/base.html", "templates/actions.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parse layout: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"index", "about", "login", "users", "user", "dashboard", "error"} {
		t, err := template.Must(base.Clone()).ParseFS(webFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", name, err)
		}
		p.byName[name] = t
	}
	p.static, err = fs.Sub(webFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static: %w", err)
	}
	return p, nil
}

// pageData is what every template receives.
type pageData struct {
	Title     string
	Nav       string // which navigation entry is the current page
	Here      string // this page's path and query, where its forms come back to
	Actor     *accounts.User
	CSRF      string
	Notice    string
	Error     string
	Temp      *temporaryPassword
	Form      pageForm
	Version   string
	RequestID string
	Data      any
}

// pageNotices are fixed messages chosen by a query key after a redirect, so
// no user-controlled text is ever reflected into a page.
var pageNotices = map[string]string{
	"created":          "User created. They must choose a new password at their first sign-in.",
	"deleted":          "User deleted.",
	"saved":            "Changes saved.",
	"password-changed": "Password changed. Your other sessions and tokens were signed out.",
	"avatar":           "Avatar updated.",
	"signed-out":       "You are signed out.",
}

// formFields lists each form's fields in page order: the first invalid one
// gets the focus, and errors about fields a form does not have go to the
// page's alert instead.
var formFields = map[string][]string{
	"login":    {"login", "password"},
	"create":   {"username", "email", "password", "role"},
	"edit":     {"username", "email", "role"},
	"avatar":   {"avatar"},
	"password": {"current_password", "new_password"},
	"reset":    {"password"},
}

// pageForm answers the templates' questions about the form a redirect came
// back to: is it the one to open, which field is wrong, which gets the focus.
type pageForm struct{ f pageFlash }

// Open reports whether form is the one whose errors are shown.
func (p pageForm) Open(form string) bool { return p.f.Form != "" && p.f.Form == form }

// Err is the sentence about field of form, "" when it is fine.
func (p pageForm) Err(form, field string) string {
	if !p.Open(form) {
		return ""
	}
	if m, ok := p.f.Fields[field]; ok {
		return fieldMessage(field, m)
	}
	return ""
}

// Focus reports whether field is the first invalid field of form.
func (p pageForm) Focus(form, field string) bool {
	if !p.Open(form) {
		return false
	}
	kind, _, _ := strings.Cut(form, ":")
	for _, f := range formFields[kind] {
		if _, bad := p.f.Fields[f]; bad {
			return f == field
		}
	}
	return false
}

// Value is what to show in field of form: what was submitted when the form
// came back with errors, else fallback.
func (p pageForm) Value(form, field, fallback string) string {
	if v, ok := p.f.Values[field]; ok && p.Open(form) {
		return v
	}
	return fallback
}

func (s *server) render(c *gin.Context, code int, name, title string, data any) {
	s.renderPage(c, code, name, title, "", data)
}

// renderPage renders a page; errMsg, when set, is shown as an alert.
func (s *server) renderPage(c *gin.Context, code int, name, title, errMsg string, data any) {
	pd := s.pageData(c, title, errMsg, data)
	var buf bytes.Buffer
	if err := s.pages.byName[name].ExecuteTemplate(&buf, "base", pd); err != nil {
		s.log.ErrorContext(c.Request.Context(), "render page", "page", name, "request_id", web.RequestID(c), "err", err)
		c.String(http.StatusInternalServerError, "Something went wrong on our side. Request id: %s", web.RequestID(c))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(code, "text/html; charset=utf-8", buf.Bytes())
}

func (s *server) pageData(c *gin.Context, title, errMsg string, data any) pageData {
	if _, ok := web.Actor(c); !ok && c.FullPath() == "" {
		s.pageSignedIn(c) // an unmatched route ran no authentication
	}
	f := s.takeFlash(c)
	pd := pageData{Title: title, CSRF: s.auth.CSRFToken(c), Version: buildinfo.Version, RequestID: web.RequestID(c),
		Notice: f.Notice, Error: errMsg, Temp: f.Temp, Form: pageForm{f: f}, Data: data}
	if pd.Notice == "" {
		pd.Notice = pageNotices[c.Query("msg")]
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

// pageSignedIn recognises the session cookie on pages served outside the
// authenticated routes (a 404), so a signed-in visitor keeps the signed-in
// navigation. A missing, expired or unreadable session leaves the visitor
// anonymous: this never fails the page.
func (s *server) pageSignedIn(c *gin.Context) {
	ck, err := c.Cookie(s.auth.SessionCookieName())
	if err != nil || ck == "" || !pageStorable(ck) {
		return
	}
	u, sess, err := s.deps.Accounts.Authenticate(c.Request.Context(), ck, accounts.KindSession, c.ClientIP())
	if err != nil {
		return
	}
	web.SetActor(c, accounts.Actor{User: u, SessionID: sess.ID, RequestID: web.RequestID(c), ClientIP: c.ClientIP(), Scopes: sess.Scopes})
	web.SetSession(c, ck)
}

// navFor names the navigation entry of path, for aria-current.
func navFor(path string, actor *accounts.User) string {
	switch {
	case path == "/":
		return "home"
	case path == "/about", path == "/dashboard", path == "/login", path == "/users":
		return strings.TrimPrefix(path, "/")
	case actor != nil && path == "/users/"+strconv.FormatInt(actor.ID, 10):
		return "me"
	case strings.HasPrefix(path, "/users/"):
		return "users"
	}
	return ""
}

type errorPage struct {
	Message string
	Back    string // a link back to the form, when the error is about one
}

func (s *server) renderError(c *gin.Context, code int, title, msg string) {
	s.render(c, code, "error", title, errorPage{Message: msg})
	c.Abort()
}

// pageFail shows a friendly page for a domain error; internals stay in the log.
func (s *server) pageFail(c *gin.Context, err error) {
	if pageDatabaseDown(err) {
		s.pageUnavailable(c)
		return
	}
	p := web.Classify(c.Request.Context(), err)
	switch p.Status {
	case http.StatusUnauthorized:
		c.Redirect(http.StatusSeeOther, "/login")
		c.Abort()
	case http.StatusServiceUnavailable:
		s.pageUnavailable(c)
	case http.StatusInternalServerError:
		s.renderError(c, p.Status, "Something went wrong", "The error has been logged. Please try again in a moment.")
	default:
		s.renderError(c, p.Status, pageErrorTitle(p.Status), sentence(p.Detail))
	}
}

// pageErrorTitle is an error page's heading, in sentence case.
func pageErrorTitle(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "Request not accepted"
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusNotFound:
		return "Not found"
	case http.StatusConflict:
		return "Conflict"
	case http.StatusTooManyRequests:
		return "Too many attempts"
	}
	return sentenceCase(strings.ToLower(http.StatusText(code)))
}

// pageUnavailable is the page shown while the database cannot be reached:
// a 503 the browser may retry, never a 500.
func (s *server) pageUnavailable(c *gin.Context) {
	c.Header("Retry-After", "5")
	s.renderError(c, http.StatusServiceUnavailable, "Temporarily unavailable",
		"The database cannot be reached right now, so nothing was changed. Please try again in a few seconds.")
}

// pageRefuseText answers a form whose field holds text PostgreSQL cannot
// store (NUL, invalid UTF-8): a 400 that names the field; nothing is stored.
func (s *server) pageRefuseText(c *gin.Context, field, back string) {
	s.render(c, http.StatusBadRequest, "error", "Form not accepted", errorPage{
		Message: fieldLabel(field) + " contains a character that cannot be stored (a NUL character or invalid UTF-8). " +
			"Remove it and send the form again.",
		Back: back,
	})
	c.Abort()
}

// formFailed answers a form the domain refused. Input errors go back to the
// form with POST-redirect-GET (field errors by their fields, focused, with
// the values to fix); anything else is an error page.
func (s *server) formFailed(c *gin.Context, err error, form, back string, values map[string]string) {
	if pageDatabaseDown(err) {
		s.pageUnavailable(c)
		return
	}
	p := web.Classify(c.Request.Context(), err)
	switch {
	case p.Status == http.StatusUnauthorized && errors.Is(err, accounts.ErrBadCredentials) && form == "password":
		// A wrong current password is a mistake in the form, not a signed-out session.
		p.Errors = []web.FieldError{{Field: "current_password", Message: "is not your current password"}}
	case p.Status == http.StatusBadRequest, p.Status == http.StatusForbidden, p.Status == http.StatusConflict,
		p.Status == http.StatusPreconditionFailed, p.Status == http.StatusRequestEntityTooLarge,
		p.Status == http.StatusUnprocessableEntity, p.Status == http.StatusTooManyRequests:
	default:
		s.pageFail(c, err)
		return
	}
	f := pageFlash{Form: form, Values: values, Fields: map[string]string{}}
	kind, _, _ := strings.Cut(form, ":")
	var other []string
	for _, fe := range p.Errors {
		if slices.Contains(formFields[kind], fe.Field) {
			f.Fields[fe.Field] = fe.Message
		} else {
			other = append(other, fieldMessage(fe.Field, fe.Message))
		}
	}
	switch {
	case len(other) > 0:
		f.Error = strings.Join(other, " ")
	case len(f.Fields) == 0 && p.Status == http.StatusPreconditionFailed:
		f.Error = "Someone else changed this user while you were editing. The form now shows their changes; make yours again."
	case len(f.Fields) == 0:
		f.Error = sentence(p.Detail)
	}
	s.redirectWith(c, back, f)
}

// pageDatabaseDown reports whether err means the database could not be
// reached or is shutting down (as opposed to a query it refused).
func pageDatabaseDown(err error) bool {
	if err == nil {
		return false
	}
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
		pgErr   *pgconn.PgError
	)
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exceptions; 57P0x: the server is shutting
		// down or starting; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P0") || pgErr.Code == "53300"
	}
	return false
}

func (s *server) routeStatic(r gin.IRouter) {
	fileServer := http.FileServer(http.FS(s.pages.static))
	r.GET("/static/*filepath", func(c *gin.Context) {
		if strings.HasSuffix(c.Param("filepath"), "/") {
			s.notFound(c) // no directory listings
			return
		}
		c.Header("Cache-Control", "public, max-age=3600")
		c.Request.URL.Path = c.Param("filepath")
		fileServer.ServeHTTP(c.Writer, c.Request)
	})
}

func (s *server) routePages(g *gin.RouterGroup) {
	g.GET("/", func(c *gin.Context) { s.render(c, http.StatusOK, "index", "Home", nil) })
	g.GET("/about", func(c *gin.Context) { s.render(c, http.StatusOK, "about", "About", nil) })
	g.GET("/login", s.loginPage)
	g.POST("/login", s.csrfForm(), s.loginSubmit)
	g.POST("/logout", s.csrfForm(), s.logoutSubmit)

	signedIn := g.Group("/", s.pageUser(false))
	signedIn.GET("/dashboard", s.dashboardPage)
	signedIn.GET("/dashboard/live", s.dashboardLive)
	signedIn.GET("/users", s.pageAdmin(), s.usersPage)
	signedIn.POST("/users", s.pageAdmin(), s.csrfForm(), s.usersCreate)
	signedIn.POST("/users/:id/delete", s.pageAdmin(), s.csrfForm(), s.userDelete)
	signedIn.POST("/users/:id/reset-password", s.pageAdmin(), s.csrfForm(), s.userReset)
	signedIn.POST("/users/:id", s.csrfForm(), s.userEdit)
	signedIn.POST("/users/:id/avatar", s.csrfForm(), s.userAvatar)

	pending := g.Group("/", s.pageUser(true))
	pending.GET("/users/:id", s.userPage)
	pending.POST("/users/:id/password", s.csrfForm(), s.userPassword)
}

// pageUser sends anonymous visitors to the sign-in page, and users who must
// change their password to the form that does it.
func (s *server) pageUser(allowPendingChange bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := web.Actor(c)
		if !ok {
			c.Redirect(http.StatusSeeOther, "/login")
			c.Abort()
			return
		}
		if a.User.ForcePasswordChange && !allowPendingChange {
			c.Redirect(http.StatusSeeOther, "/users/"+strconv.FormatInt(a.User.ID, 10)+"#password")
			c.Abort()
			return
		}
		c.Next()
	}
}

func (s *server) pageAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a, _ := web.Actor(c); !a.User.IsAdmin() {
			s.renderError(c, http.StatusForbidden, "Forbidden", "Only administrators can manage users.")
			return
		}
		c.Next()
	}
}

// csrfForm checks the form's token, then that every field holds storable
// text, before any handler reads it.
func (s *server) csrfForm() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.auth.CheckCSRF(c); err != nil {
			s.renderError(c, http.StatusForbidden, "Form expired", sentence(err.Error()))
			return
		}
		if field, bad := pageBadField(c); bad {
			back := c.Request.URL.Path
			if back == "/logout" || strings.HasSuffix(back, "/delete") || strings.HasSuffix(back, "/reset-password") {
				back = "/users"
			}
			if strings.HasSuffix(back, "/avatar") || strings.HasSuffix(back, "/password") {
				back = back[:strings.LastIndexByte(back, '/')]
			}
			s.pageRefuseText(c, field, back)
			return
		}
		c.Next()
	}
}

func actorOrAnon(c *gin.Context) accounts.Actor {
	if a, ok := web.Actor(c); ok {
		return a
	}
	return web.AnonymousActor(c)
}

func (s *server) loginPage(c *gin.Context) {
	if _, ok := web.Actor(c); ok {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	s.render(c, http.StatusOK, "login", "Sign in", nil)
}

func (s *server) loginSubmit(c *gin.Context) {
	login := c.PostForm("login")
	u, err := s.deps.Accounts.Login(c.Request.Context(), accounts.LoginInput{
		Login: login, Password: c.PostForm("password"), ClientIP: c.ClientIP(), RequestID: web.RequestID(c),
	})
	web.CountLogin(s.deps.Metrics, err)
	if err != nil {
		s.formFailedLogin(c, err, login)
		return
	}
	secret, _, err := s.deps.Accounts.StartSession(c.Request.Context(), u, accounts.SessionInput{
		Kind: accounts.KindSession, UserAgent: c.Request.UserAgent(), ClientIP: c.ClientIP()})
	if err != nil {
		s.pageFail(c, err)
		return
	}
	s.auth.SetCookie(c, s.auth.SessionCookieName(), secret, 0)
	// A fresh anonymous CSRF cookie for the next visitor of this browser.
	s.auth.SetCookie(c, s.auth.CSRFCookieName(), "", -1)
	if u.ForcePasswordChange {
		c.Redirect(http.StatusSeeOther, "/users/"+strconv.FormatInt(u.ID, 10)+"#password")
		return
	}
	c.Redirect(http.StatusSeeOther, "/dashboard")
}

// formFailedLogin sends a refused sign-in back to the form with one message
// (which never says whether the account exists) and the login kept.
func (s *server) formFailedLogin(c *gin.Context, err error, login string) {
	p := web.Classify(c.Request.Context(), err)
	switch {
	case pageDatabaseDown(err):
		s.pageUnavailable(c)
	case p.Status == http.StatusUnauthorized || p.Status == http.StatusTooManyRequests ||
		p.Status == http.StatusUnprocessableEntity || p.Status == http.StatusBadRequest ||
		errors.Is(err, accounts.ErrAccountDisabled):
		msg := sentence(p.Detail)
		if len(p.Errors) > 0 {
			msg = fieldMessage(p.Errors[0].Field, p.Errors[0].Message)
		}
		s.redirectWith(c, "/login", pageFlash{Form: "login", Error: msg, Values: map[string]string{"login": login}})
	default:
		s.pageFail(c, err)
	}
}

func (s *server) logoutSubmit(c *gin.Context) {
	if a, ok := web.Actor(c); ok {
		if err := s.deps.Accounts.Logout(c.Request.Context(), a); err != nil {
			s.pageFail(c, err)
			return
		}
	}
	s.auth.ClearSessionCookie(c)
	c.Redirect(http.StatusSeeOther, "/login?msg=signed-out")
}

// formFile reads one uploaded file, refusing anything larger than limit.
func formFile(c *gin.Context, field string, limit int64) ([]byte, error) {
	fh, err := c.FormFile(field)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, &accounts.ValidationError{Fields: map[string]string{field: "must be at most 1 MiB"}}
		case errors.Is(web.BodyReadError(err), web.ErrBodyTimeout):
			return nil, web.BodyReadError(err)
		}
		return nil, &accounts.ValidationError{Fields: map[string]string{field: "is missing; choose a file"}}
	}
	if fh.Size > limit {
		return nil, &accounts.ValidationError{Fields: map[string]string{field: "must be at most 1 MiB"}}
	}
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("ui: open upload: %w", err)
	}
	defer f.Close()
	data := make([]byte, fh.Size) // the parsed part's size, at most limit
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("ui: read upload: %w", err)
	}
	return data, nil
}
