// Package ui is the server-rendered HTML interface: its routes, handlers,
// templates and their view models, and the embedded static assets. It works
// with and without JavaScript, under a strict Content-Security-Policy.
//
// Handlers return a result (a page, a redirect with a flash, a fragment, a
// download) or an error; one adapter writes the result or the page the
// error is classified as, as the JSON API does with its bodies and problems.
// Every route is listed once, with who may use it, in routes.go.
//
// The views are templ components (*.templ), compiled to Go (*_templ.go,
// committed): type-checked, and about fifteen times faster than the
// html/template pages they replaced (BenchmarkUsersPage). After changing a
// view, run go generate; TestGeneratedViewsAreCurrent fails until then.
package ui

//go:generate go run github.com/a-h/templ/cmd/templ@v0.3.1118 generate

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/web"
)

// maxFormBytes bounds a form: avatars are capped by the domain at 1 MiB,
// plus room for multipart framing.
const maxFormBytes = accounts.MaxAvatarBytes + 64<<10

// Deps are what the pages need.
type Deps struct {
	Config   config.Config
	Accounts *accounts.Service
	Status   *status.Reporter
	Metrics  *observability.Metrics
	Auth     *web.Auth
	Logger   *slog.Logger
	// Bodies admits request bodies within the process's memory for them
	// (shared with the API); nil gets a budget of its own.
	Bodies *web.BodyBudget
}

// UI is the HTML surface.
type UI struct {
	r        *responder
	handlers handlers
}

// New prepares the UI.
func New(d Deps) (*UI, error) {
	static, err := staticFiles()
	if err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Bodies == nil {
		d.Bodies = web.NewBodyBudget(web.DefaultBodyLimits())
	}
	fl, err := newFlashSealer(d.Config.SessionKey, d.Config.SecureCookies, d.Auth)
	if err != nil {
		return nil, err
	}
	r := &responder{deps: d, auth: d.Auth, log: d.Logger, static: static, flash: fl}
	return &UI{r: r, handlers: newHandlers(r)}, nil
}

// Register mounts the static assets and the pages on r, with the browser
// hardening headers, a body limit and authentication.
func (u *UI) Register(r gin.IRouter) {
	browser := web.BrowserHeaders(u.r.deps.Config.Production())
	u.r.routeStatic(r.Group("/", browser))
	fail := func(c *gin.Context, err error) { u.r.abort(c, u.r.failure(c, err)) }
	u.r.mount(r.Group("/", browser, web.LimitBody(maxFormBytes, fail), u.r.auth.Authenticate(fail),
		u.r.deps.Bodies.Admit(maxFormBytes, fail)), u.handlers.routes())
}

// NotFound answers an unknown path: a page for a browser (with the signed-in
// navigation when the visitor has a session), a problem otherwise.
func (u *UI) NotFound(c *gin.Context) {
	u.r.notFound(c)
}

func (r *responder) notFound(c *gin.Context) {
	if web.WantsHTML(c) {
		r.abort(c, notFoundPage())
		return
	}
	web.WriteProblem(c, web.Problem{Type: web.ProblemType("not-found"), Status: http.StatusNotFound, Detail: "no such resource"})
}

func (r *responder) routeStatic(g gin.IRouter) {
	fileServer := http.FileServer(http.FS(r.static))
	g.GET("/static/*filepath", func(c *gin.Context) {
		if strings.HasSuffix(c.Param("filepath"), "/") {
			r.notFound(c) // no directory listings
			return
		}
		c.Header("Cache-Control", "public, max-age=3600")
		c.Request.URL.Path = c.Param("filepath")
		fileServer.ServeHTTP(c.Writer, c.Request)
	})
}
