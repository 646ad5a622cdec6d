// Package ui is the server-rendered HTML interface: its routes, handlers,
// templates and their view models, and the embedded static assets. It works
// with and without JavaScript, under a strict Content-Security-Policy.
package ui

import (
	"log/slog"
	"net/http"

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

// server renders the pages.
type server struct {
	deps  Deps
	auth  *web.Auth
	log   *slog.Logger
	pages *pages
}

// UI is the HTML surface, its templates parsed.
type UI struct{ s *server }

// New parses the templates.
func New(d Deps) (*UI, error) {
	pg, err := newPages()
	if err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Bodies == nil {
		d.Bodies = web.NewBodyBudget(web.DefaultBodyLimits())
	}
	return &UI{s: &server{deps: d, auth: d.Auth, log: d.Logger, pages: pg}}, nil
}

// Register mounts the static assets and the pages on r, with the browser
// hardening headers, a body limit and authentication.
func (u *UI) Register(r gin.IRouter) {
	s := u.s
	browser := web.BrowserHeaders(s.deps.Config.Production())
	s.routeStatic(r.Group("/", browser))
	s.routePages(r.Group("/", browser, web.LimitBody(maxFormBytes, s.pageFail), s.auth.Authenticate(s.pageFail),
		s.deps.Bodies.Admit(maxFormBytes, s.pageFail)))
}

// NotFound answers an unknown path: a page for a browser (with the signed-in
// navigation when the visitor has a session), a problem otherwise.
func (u *UI) NotFound(c *gin.Context) {
	u.s.notFound(c)
}

func (s *server) notFound(c *gin.Context) {
	if web.WantsHTML(c) {
		s.renderError(c, http.StatusNotFound, "Page not found", "There is nothing at this address.")
		return
	}
	web.WriteProblem(c, web.Problem{Type: web.ProblemType("not-found"), Status: http.StatusNotFound, Detail: "no such resource"})
}
