package httpapi

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/buildinfo"
	"github.com/gopherops/gopherops/service/internal/status"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

// pages holds one parsed template set per page, each with the shared layout.
type pages struct {
	byName map[string]*template.Template
	static fs.FS
}

func newPages() (*pages, error) {
	base, err := template.New("base.html").Funcs(templateFuncs).ParseFS(webFS, "web/templates/base.html")
	if err != nil {
		return nil, fmt.Errorf("httpapi: parse layout: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"index", "about", "login", "users", "user", "dashboard", "error"} {
		t, err := template.Must(base.Clone()).ParseFS(webFS, "web/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("httpapi: parse %s: %w", name, err)
		}
		p.byName[name] = t
	}
	p.static, err = fs.Sub(webFS, "web/static")
	if err != nil {
		return nil, fmt.Errorf("httpapi: static: %w", err)
	}
	return p, nil
}

// templateFuncs format figures the way the dashboard's script does, so a page
// reads the same with and without JavaScript.
var templateFuncs = template.FuncMap{
	"mib": func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) },
	"uptime": func(seconds float64) string {
		return (time.Duration(seconds) * time.Second).Round(time.Second).String()
	},
}

// pageData is what every template receives.
type pageData struct {
	Title     string
	Actor     *accounts.User
	CSRF      string
	Flash     string
	Error     string
	Version   string
	RequestID string
	Data      any
}

// flashes are fixed messages chosen by a query key after a redirect, so no
// user-controlled text is ever reflected into a page.
var flashes = map[string]string{
	"created":          "User created.",
	"deleted":          "User deleted.",
	"saved":            "Changes saved.",
	"password-changed": "Password changed. Your other sessions were signed out.",
	"avatar":           "Avatar updated.",
	"signed-out":       "You are signed out.",
}

func (s *server) render(c *gin.Context, code int, name, title string, data any) {
	s.renderPage(c, code, name, title, "", data)
}

// renderPage renders a page; errMsg, when set, is shown as an alert.
func (s *server) renderPage(c *gin.Context, code int, name, title, errMsg string, data any) {
	pd := pageData{Title: title, CSRF: s.csrfToken(c), Version: buildinfo.Version, RequestID: requestID(c),
		Flash: flashes[c.Query("msg")], Error: errMsg, Data: data}
	if a, ok := actorFrom(c); ok {
		u := a.User
		pd.Actor = &u
	}
	var buf bytes.Buffer
	if err := s.pages.byName[name].ExecuteTemplate(&buf, "base", pd); err != nil {
		s.log.ErrorContext(c.Request.Context(), "render page", "page", name, "request_id", requestID(c), "err", err)
		c.String(http.StatusInternalServerError, "Something went wrong on our side. Request id: %s", requestID(c))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(code, "text/html; charset=utf-8", buf.Bytes())
}

type errorPage struct{ Message string }

func (s *server) renderError(c *gin.Context, code int, title, msg string) {
	s.render(c, code, "error", title, errorPage{Message: msg})
	c.Abort()
}

// pageFail shows a friendly page for a domain error; internals stay in the log.
func (s *server) pageFail(c *gin.Context, err error) {
	p := problemFor(c, err)
	switch p.Status {
	case http.StatusUnauthorized:
		c.Redirect(http.StatusSeeOther, "/login")
		c.Abort()
	case http.StatusInternalServerError:
		s.renderError(c, p.Status, "Something went wrong", "The error has been logged. Please try again in a moment.")
	default:
		s.renderError(c, p.Status, http.StatusText(p.Status), p.Detail)
	}
}

func wantsHTML(c *gin.Context) bool {
	return !strings.HasPrefix(c.Request.URL.Path, "/api/") && strings.Contains(c.GetHeader("Accept"), "text/html")
}

func (s *server) routeStatic(r *gin.Engine) {
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
		a, ok := actorFrom(c)
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
		if a, _ := actorFrom(c); !a.User.IsAdmin() {
			s.renderError(c, http.StatusForbidden, "Forbidden", "Only administrators can manage users.")
			return
		}
		c.Next()
	}
}

func (s *server) csrfForm() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.checkCSRF(c); err != nil {
			s.renderError(c, http.StatusForbidden, "Form expired", err.Error())
			return
		}
		c.Next()
	}
}

func actorOrAnon(c *gin.Context) accounts.Actor {
	if a, ok := actorFrom(c); ok {
		return a
	}
	return anonymousActor(c)
}

type loginForm struct{ Login string }

func (s *server) loginPage(c *gin.Context) {
	if _, ok := actorFrom(c); ok {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	s.render(c, http.StatusOK, "login", "Sign in", loginForm{})
}

func (s *server) loginSubmit(c *gin.Context) {
	login := c.PostForm("login")
	u, err := s.deps.Accounts.Login(c.Request.Context(), accounts.LoginInput{
		Login: login, Password: c.PostForm("password"), ClientIP: c.ClientIP(), RequestID: requestID(c),
	})
	s.countLogin(err)
	if err != nil {
		p := problemFor(c, err)
		if p.Status == http.StatusInternalServerError {
			s.pageFail(c, err)
			return
		}
		s.renderPage(c, p.Status, "login", "Sign in", p.Detail, loginForm{Login: truncate(login, 254)})
		return
	}
	secret, _, err := s.deps.Accounts.StartSession(c.Request.Context(), u, accounts.KindSession, truncate(c.Request.UserAgent(), 100))
	if err != nil {
		s.pageFail(c, err)
		return
	}
	s.setCookie(c, s.sessionCookieName(), secret, 0)
	// A fresh anonymous CSRF cookie for the next visitor of this browser.
	s.setCookie(c, s.csrfCookieName(), "", -1)
	if u.ForcePasswordChange {
		c.Redirect(http.StatusSeeOther, "/users/"+strconv.FormatInt(u.ID, 10)+"#password")
		return
	}
	c.Redirect(http.StatusSeeOther, "/dashboard")
}

func (s *server) logoutSubmit(c *gin.Context) {
	if a, ok := actorFrom(c); ok {
		if err := s.deps.Accounts.Logout(c.Request.Context(), a); err != nil {
			s.pageFail(c, err)
			return
		}
	}
	s.clearSessionCookie(c)
	c.Redirect(http.StatusSeeOther, "/login?msg=signed-out")
}

type dashboardData struct {
	status.Snapshot
	Audit []accounts.AuditEvent
}

func (s *server) dashboardPage(c *gin.Context) {
	a, _ := actorFrom(c)
	d := dashboardData{Snapshot: s.deps.Status.Snapshot(c.Request.Context())}
	if a.User.IsAdmin() {
		d.Audit, _ = s.deps.Accounts.AuditTrail(c.Request.Context(), a, 0, 10)
	}
	s.render(c, http.StatusOK, "dashboard", "Dashboard", d)
}

type usersData struct {
	Users       []accounts.User
	NextCursor  string
	Form        createUserRequest
	FieldErrors map[string]string
	Temporary   *temporaryPassword
}

type temporaryPassword struct{ Username, Password string }

func (s *server) usersPage(c *gin.Context) {
	s.renderUsers(c, http.StatusOK, usersData{}, "")
}

func (s *server) renderUsers(c *gin.Context, code int, d usersData, errMsg string) {
	a, _ := actorFrom(c)
	page, err := s.deps.Accounts.ListUsers(c.Request.Context(), a, c.Query("cursor"), accounts.MaxListLimit)
	if err != nil {
		s.pageFail(c, err)
		return
	}
	d.Users, d.NextCursor = page.Users, page.NextCursor
	if d.FieldErrors == nil {
		d.FieldErrors = map[string]string{}
	}
	s.renderPage(c, code, "users", "Users", errMsg, d)
}

func (s *server) usersCreate(c *gin.Context) {
	req := createUserRequest{Username: c.PostForm("username"), Email: c.PostForm("email"),
		Password: c.PostForm("password"), Role: c.DefaultPostForm("role", "user")}
	a, _ := actorFrom(c)
	_, err := s.deps.Accounts.CreateUser(c.Request.Context(), a, req.toNewUser())
	if err != nil {
		s.formError(c, err, func(code int, fields map[string]string, msg string) {
			req.Password = ""
			s.renderUsers(c, code, usersData{Form: req, FieldErrors: fields}, msg)
		})
		return
	}
	c.Redirect(http.StatusSeeOther, "/users?msg=created")
}

// formError re-renders a form for input errors and shows an error page for the rest.
func (s *server) formError(c *gin.Context, err error, rerender func(code int, fields map[string]string, msg string)) {
	p := problemFor(c, err)
	switch p.Status {
	case http.StatusUnprocessableEntity, http.StatusConflict, http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge:
		fields := map[string]string{}
		for _, fe := range p.Errors {
			fields[fe.Field] = fe.Message
		}
		rerender(p.Status, fields, p.Detail)
	default:
		s.pageFail(c, err)
	}
}

func (s *server) userDelete(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageFail(c, err)
		return
	}
	if err := s.deps.Accounts.DeleteUser(c.Request.Context(), actorOrAnon(c), id); err != nil {
		s.pageFail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/users?msg=deleted")
}

func (s *server) userReset(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageFail(c, err)
		return
	}
	u, generated, err := s.deps.Accounts.ResetPassword(c.Request.Context(), actorOrAnon(c), id, c.PostForm("password"))
	if err != nil {
		s.formError(c, err, func(code int, _ map[string]string, msg string) {
			s.renderUsers(c, code, usersData{}, "Password not reset: "+msg)
		})
		return
	}
	d := usersData{}
	if generated != "" {
		d.Temporary = &temporaryPassword{Username: u.Username, Password: generated}
		s.renderUsers(c, http.StatusOK, d, "")
		return
	}
	c.Redirect(http.StatusSeeOther, "/users?msg=saved")
}

type userData struct {
	User        accounts.User
	IsSelf      bool
	MustChange  bool
	FieldErrors map[string]string
}

func (s *server) userPage(c *gin.Context) {
	s.renderUser(c, http.StatusOK, nil, "")
}

func (s *server) renderUser(c *gin.Context, code int, fields map[string]string, errMsg string) {
	id, err := pathID(c)
	if err != nil {
		s.pageFail(c, err)
		return
	}
	a, _ := actorFrom(c)
	if a.User.ForcePasswordChange && id != a.User.ID {
		c.Redirect(http.StatusSeeOther, "/users/"+strconv.FormatInt(a.User.ID, 10)+"#password")
		return
	}
	u, err := s.deps.Accounts.GetUser(c.Request.Context(), a, id)
	if err != nil {
		s.pageFail(c, err)
		return
	}
	if fields == nil {
		fields = map[string]string{}
	}
	d := userData{User: u, IsSelf: u.ID == a.User.ID, MustChange: a.User.ForcePasswordChange, FieldErrors: fields}
	s.renderPage(c, code, "user", u.Username, errMsg, d)
}

func (s *server) userEdit(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageFail(c, err)
		return
	}
	version, err := strconv.Atoi(c.PostForm("version"))
	if err != nil {
		s.pageFail(c, badRequest("the form is missing the user's version; reload the page"))
		return
	}
	username, email := c.PostForm("username"), c.PostForm("email")
	p := patchUserRequest{Username: &username, Email: &email}
	if role, ok := c.GetPostForm("role"); ok {
		p.Role = &role
	}
	_, err = s.deps.Accounts.UpdateUser(c.Request.Context(), actorOrAnon(c), id, version, p.toPatch())
	if err != nil {
		s.formError(c, err, func(code int, fields map[string]string, msg string) { s.renderUser(c, code, fields, msg) })
		return
	}
	c.Redirect(http.StatusSeeOther, "/users/"+strconv.FormatInt(id, 10)+"?msg=saved")
}

func (s *server) userPassword(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageFail(c, err)
		return
	}
	_, err = s.deps.Accounts.ChangePassword(c.Request.Context(), actorOrAnon(c), id,
		c.PostForm("current_password"), c.PostForm("new_password"))
	if err != nil {
		s.formError(c, err, func(code int, fields map[string]string, msg string) { s.renderUser(c, code, fields, msg) })
		return
	}
	c.Redirect(http.StatusSeeOther, "/users/"+strconv.FormatInt(id, 10)+"?msg=password-changed")
}

func (s *server) userAvatar(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.pageFail(c, err)
		return
	}
	data, err := formFile(c, "avatar", accounts.MaxAvatarBytes)
	if err == nil {
		_, err = s.deps.Accounts.SetAvatar(c.Request.Context(), actorOrAnon(c), id, data)
	}
	if err != nil {
		s.formError(c, err, func(code int, fields map[string]string, msg string) { s.renderUser(c, code, fields, msg) })
		return
	}
	c.Redirect(http.StatusSeeOther, "/users/"+strconv.FormatInt(id, 10)+"?msg=avatar")
}

// formFile reads one uploaded file, refusing anything larger than limit.
func formFile(c *gin.Context, field string, limit int64) ([]byte, error) {
	fh, err := c.FormFile(field)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &accounts.ValidationError{Fields: map[string]string{field: "must be at most 1 MiB"}}
		}
		return nil, &accounts.ValidationError{Fields: map[string]string{field: "is missing; choose a file"}}
	}
	if fh.Size > limit {
		return nil, &accounts.ValidationError{Fields: map[string]string{field: "must be at most 1 MiB"}}
	}
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("httpapi: open upload: %w", err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
