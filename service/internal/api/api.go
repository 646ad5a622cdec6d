// Package api is the JSON API under /api/v1: its routes, request and response
// types, the OpenAPI document that describes them, and handlers that return a
// status and a body (or an error) through one adapter, which writes the body
// or the problem.
package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/web"
)

// Body limits: JSON bodies are small; avatars are capped by the domain at
// 1 MiB, plus room for framing.
const (
	maxBodyBytes   = 64 << 10
	maxAvatarBytes = accounts.MaxAvatarBytes + 64<<10
)

// Readiness tells whether this process is draining (for the status view).
type Readiness interface {
	Draining() bool
}

// Deps are what the API's handlers need.
type Deps struct {
	Accounts  *accounts.Service
	Status    *status.Reporter
	Readiness Readiness
	Metrics   *observability.Metrics
	Auth      *web.Auth
	// Bodies admits request bodies within the process's memory for them
	// (shared with the UI); nil gets a budget of its own.
	Bodies *web.BodyBudget
	// HSTS adds Strict-Transport-Security (production).
	HSTS bool
}

// handlers are the API's endpoints.
type handlers struct {
	Deps
	openapi []byte
}

// Register mounts the API under /api/v1 on r, with the JSON surface's own
// middleware: its headers, a body limit, authentication.
func Register(r gin.IRouter, d Deps) error {
	doc, err := OpenAPIJSON()
	if err != nil {
		return err
	}
	if d.Bodies == nil {
		d.Bodies = web.NewBodyBudget(web.DefaultBodyLimits())
	}
	h := &handlers{Deps: d, openapi: doc}
	a := d.Auth
	api := r.Group("/api/v1", web.APIHeaders(d.HSTS), web.LimitBody(maxBodyBytes, web.Fail), a.Authenticate(web.Fail),
		d.Bodies.Admit(maxBodyBytes, web.Fail))
	api.GET("/openapi.json", h.openAPI)

	api.POST("/auth/tokens", handle(h.createToken))
	// Any token may end itself, whatever its scopes.
	api.DELETE("/auth/tokens", a.RequireSignedIn(), handle(h.revokeCurrentToken))
	api.DELETE("/auth/tokens/:id", a.RequireUser(true), a.RequireCSRF(), handle(h.revokeToken))

	api.GET("/me", a.RequireUser(true), handle(h.me))
	api.GET("/status", a.RequireUser(false), handle(h.status))
	api.GET("/audit", a.RequireAdmin(), handle(h.audit))

	users := api.Group("/users")
	users.GET("", a.RequireAdmin(), handle(h.listUsers))
	users.POST("", a.RequireAdmin(), a.RequireCSRF(), handle(h.createUser))
	users.GET("/:id", a.RequireUser(false), handle(h.getUser))
	users.PATCH("/:id", a.RequireUser(false), a.RequireCSRF(), handle(h.patchUser))
	users.DELETE("/:id", a.RequireAdmin(), a.RequireCSRF(), handle(h.deleteUser))
	users.PUT("/:id/password", a.RequireUser(true), a.RequireCSRF(), handle(h.changePassword))
	users.POST("/:id/password-reset", a.RequireAdmin(), a.RequireCSRF(), handle(h.resetPassword))
	users.POST("/:id/disable", a.RequireAdmin(), a.RequireCSRF(), handle(h.disableUser))
	users.POST("/:id/enable", a.RequireAdmin(), a.RequireCSRF(), handle(h.enableUser))
	// A user held to change their password may still see and end their sign-ins.
	users.GET("/:id/sessions", a.RequireUser(true), handle(h.listSessions))
	users.DELETE("/:id/sessions", a.RequireUser(true), a.RequireCSRF(), handle(h.revokeOtherSessions))
	users.DELETE("/:id/sessions/:sid", a.RequireUser(true), a.RequireCSRF(), handle(h.revokeSession))
	users.GET("/:id/avatar", a.RequireUser(false), h.getAvatar)

	// Avatars are larger than any JSON body.
	avatars := r.Group("/api/v1", web.APIHeaders(d.HSTS), web.LimitBody(maxAvatarBytes, web.Fail), a.Authenticate(web.Fail),
		d.Bodies.Admit(maxAvatarBytes, web.Fail))
	avatars.PUT("/users/:id/avatar", a.RequireUser(false), a.RequireCSRF(), handle(h.putAvatar))
	return nil
}

// endpoint is an API handler: the status and body of its answer, or why not.
type endpoint func(c *gin.Context) (status int, body any, err error)

// jsonAppender is a body that encodes itself without reflection.
type jsonAppender interface {
	AppendJSON(b []byte) []byte
}

// handle adapts an endpoint: an error is written as a problem, whatever
// else was returned; otherwise the body as JSON (nil: no body).
func handle(e endpoint) gin.HandlerFunc {
	return func(c *gin.Context) {
		status, body, err := e(c)
		if err != nil {
			web.Fail(c, err)
			return
		}
		switch b := body.(type) {
		case nil:
			c.Status(status)
		case jsonAppender:
			writeAppended(c.Writer, status, b)
		default:
			c.JSON(status, b)
		}
	}
}

// noBody is what an endpoint returns for an error.
func noBody(err error) (int, any, error) { return 0, nil, err }

func (h *handlers) openAPI(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", h.openapi)
}
