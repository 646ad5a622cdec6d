package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/api"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/internal/web"
)

// BenchmarkAuthPath measures what authentication costs a request with a
// bearer token (its lookup cached, as for a client's burst): the auth
// middleware alone, and a read through the whole router. The checks every
// request gets (disabled accounts, token scopes) must stay within a few
// microseconds of it. "bare" is make bench's baseline in process.
func BenchmarkAuthPath(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	e := apptest.New(b)
	token := e.RootClient().Token
	get := func(path string) *http.Request {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return req
	}
	serve := func(b *testing.B, h http.Handler, req *http.Request) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("middleware", func(b *testing.B) {
		auth := web.NewAuth(e.Svc, false, make([]byte, 32))
		r := gin.New()
		r.GET("/x", auth.Authenticate(web.Fail), auth.RequireUser(false), func(c *gin.Context) { c.Status(http.StatusOK) })
		serve(b, r, get("/x"))
	})
	b.Run("router", func(b *testing.B) {
		serve(b, e.Srv.Config.Handler, get(fmt.Sprintf("/api/v1/users/%d", e.Root.ID)))
	})
	// The same query and JSON without the router, middleware or
	// authentication: what make bench divides by, here without the
	// network, so router/bare is the route's own CPU.
	b.Run("bare", func(b *testing.B) {
		mux := http.NewServeMux()
		mux.Handle("GET /debug/bare/users/{id}", api.BareUserHandler(postgres.New(e.Pool)))
		serve(b, mux, get(fmt.Sprintf("/debug/bare/users/%d", e.Root.ID)))
	})
}
