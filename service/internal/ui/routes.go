package ui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/web"
)

// access is who may reach a route.
type access int

const (
	// anyone, signed in or not.
	anyone access = iota
	// pending: a signed-in user, even one who must first change their password.
	pending
	// signedIn: a signed-in user whose password needs no change.
	signedIn
	// admin: a signed-in administrator whose password needs no change.
	admin
)

// route is one entry of the UI's route table.
type route struct {
	method string
	path   string
	access access
	// form marks a state-changing form: its CSRF token and that every field
	// holds storable text are checked before the handler runs.
	form    bool
	handler handlerFunc
}

// handlers are the UI's handler groups, each a small type over the responder.
type handlers struct {
	session   sessionPages
	users     userPages
	dashboard dashboardPages
	audit     auditPages
}

func newHandlers(r *responder) handlers {
	return handlers{session: sessionPages{r}, users: userPages{r}, dashboard: dashboardPages{r}, audit: auditPages{r}}
}

// routes is every page and form of the UI, and who may use it.
func (h handlers) routes() []route {
	const get, post = http.MethodGet, http.MethodPost
	return []route{
		{get, "/", anyone, false, h.session.home},
		{get, "/about", anyone, false, h.session.about},
		{get, "/login", anyone, false, h.session.loginPage},
		{post, "/login", anyone, true, h.session.login},
		{post, "/logout", anyone, true, h.session.logout},

		{get, "/dashboard", signedIn, false, h.dashboard.page},
		{get, "/dashboard/live", signedIn, false, h.dashboard.live},

		{get, "/audit", admin, false, h.audit.page},
		{get, "/audit.csv", admin, false, h.audit.export},

		{get, "/users", admin, false, h.users.list},
		{post, "/users", admin, true, h.users.create},
		{post, "/users/bulk", admin, true, h.users.bulk},
		{get, "/users/:id/delete", admin, false, h.users.deleteForm},
		{post, "/users/:id/delete", admin, true, h.users.delete},
		{get, "/users/:id/reset-password", admin, false, h.users.resetForm},
		{post, "/users/:id/reset-password", admin, true, h.users.reset},
		{post, "/users/:id/disable", admin, true, h.users.disable},
		{post, "/users/:id/enable", admin, true, h.users.enable},
		{post, "/users/:id/sessions/:sid/end", pending, true, h.users.endSession},
		{post, "/users/:id/sessions/end-others", pending, true, h.users.endOtherSessions},
		{post, "/users/:id", signedIn, true, h.users.edit},
		{post, "/users/:id/avatar", signedIn, true, h.users.avatar},
		{get, "/users/:id", pending, false, h.users.show},
		{post, "/users/:id/password", pending, true, h.users.password},
	}
}

// mount registers the routes on g, each behind its access check (and the
// form checks), answered through the adapter.
func (r *responder) mount(g gin.IRouter, routes []route) {
	for _, rt := range routes {
		chain := make([]gin.HandlerFunc, 0, 3)
		if rt.access != anyone {
			chain = append(chain, r.require(rt.access))
		}
		if rt.form {
			chain = append(chain, r.checkForm())
		}
		chain = append(chain, r.handle(rt.handler))
		g.Handle(rt.method, rt.path, chain...)
	}
}

// require sends anonymous visitors to the sign-in page, users who must
// change their password to the form that does it, and refuses non-admins
// the admin pages.
func (r *responder) require(level access) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := web.Actor(c)
		switch {
		case !ok:
			r.abort(c, redirect{To: "/login"})
		case a.User.ForcePasswordChange && level != pending:
			r.abort(c, redirect{To: "/users/" + strconv.FormatInt(a.User.ID, 10) + "#password"})
		case level == admin && !a.User.IsAdmin():
			r.abort(c, errorPage(http.StatusForbidden, "Not allowed", "Only administrators can see this page.",
				"Go to the dashboard, or ask an administrator."))
		}
	}
}

// checkForm checks the form's CSRF token, then that every field holds
// storable text, before any handler reads it.
func (r *responder) checkForm() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := r.auth.CheckCSRF(c); err != nil {
			r.abort(c, errorPage(http.StatusForbidden, "Form expired", sentence(err.Error()),
				"Go back, reload the page and send the form again."))
			return
		}
		if field, bad := badField(c); bad {
			r.abort(c, refuseText(field, formBack(c.Request.URL.Path)))
		}
	}
}

// formBack is the page a form posted to path was sent from.
func formBack(path string) string {
	switch {
	case path == "/logout", path == "/login":
		return "/login"
	case strings.HasSuffix(path, "/delete"), strings.HasSuffix(path, "/reset-password"), path == "/users/bulk":
		return "/users"
	case strings.HasSuffix(path, "/avatar"), strings.HasSuffix(path, "/password"),
		strings.HasSuffix(path, "/disable"), strings.HasSuffix(path, "/enable"):
		return path[:strings.LastIndexByte(path, '/')]
	case strings.Contains(path, "/sessions/"):
		return path[:strings.Index(path, "/sessions/")] + "#sessions"
	}
	return path
}
