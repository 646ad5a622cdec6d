package ui

import "github.com/gin-gonic/gin"

// The results and view models, for the handler tests in package ui_test
// (which may import apptest; this package may not).
type (
	Page          = page
	Redirect      = redirect
	Fragment      = fragment
	Download      = download
	PageFlash     = pageFlash
	ErrorData     = errorData
	UsersData     = usersData
	UserData      = userData
	DashboardData = dashboardData
	ConfirmData   = confirmData
	AuditData     = auditData
	Stream        = stream
)

// Handler returns the handler the route table holds for method and path,
// or nil when it has none.
func (u *UI) Handler(method, path string) func(*gin.Context) (any, error) {
	for _, rt := range u.handlers.routes() {
		if rt.method == method && rt.path == path {
			return func(c *gin.Context) (any, error) { return rt.handler(c) }
		}
	}
	return nil
}

// Failure is what the adapter answers for an error a handler returned.
func (u *UI) Failure(c *gin.Context, err error) any { return u.r.failure(c, err) }
