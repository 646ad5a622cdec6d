// Package httpapi is the HTTP transport of GopherOps: the Gin router, its
// middleware, the JSON API under /api/v1, the server-rendered HTML pages and
// the admin listener (metrics, pprof). Handlers decode, call the accounts
// domain and encode; they hold no business rules and build no SQL.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/schema"
	"github.com/gopherops/gopherops/service/internal/status"
)

// Body limits: JSON and forms are small; avatars are capped by the domain at
// 1 MiB, plus room for multipart framing.
const (
	maxBodyBytes   = 64 << 10
	maxAvatarBytes = accounts.MaxAvatarBytes + 64<<10
)

// Deps are what the router needs.
type Deps struct {
	Config    config.Config
	Accounts  *accounts.Service
	Status    *status.Reporter
	Pool      *pgxpool.Pool
	Metrics   *observability.Metrics
	Tracing   *observability.Tracing
	Logger    *slog.Logger
	Readiness *Readiness
}

type server struct {
	deps    Deps
	log     *slog.Logger
	openapi []byte
	pages   *pages
}

// NewRouter builds the public handler with its full middleware chain.
func NewRouter(d Deps) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Readiness == nil {
		d.Readiness = NewReadiness(d.Pool)
	}
	doc, err := OpenAPIJSON()
	if err != nil {
		return nil, err
	}
	pg, err := newPages()
	if err != nil {
		return nil, err
	}
	s := &server{deps: d, log: d.Logger, openapi: doc, pages: pg}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(d.Config.TrustedProxies); err != nil {
		return nil, err
	}
	// What every request gets; each surface adds its own headers: the
	// browser hardening set for pages and assets, the JSON set for the API.
	r.Use(withRequestID(), s.observe(), recoverProblem(d.Logger))
	browser, jsonAPI := s.headers(browserHeaders), s.headers(apiHeaders)
	r.NoRoute(browser, s.notFound)
	r.NoMethod(jsonAPI, func(c *gin.Context) {
		writeProblem(c, Problem{Type: problemType("method-not-allowed"), Status: http.StatusMethodNotAllowed,
			Detail: "this resource does not support " + c.Request.Method})
	})

	probes := r.Group("/", jsonAPI)
	probes.GET("/healthz", s.healthz)
	probes.GET("/readyz", s.readyz)
	probes.GET("/ready", func(c *gin.Context) { c.Redirect(http.StatusPermanentRedirect, "/readyz") })
	s.routeStatic(r.Group("/", browser))

	api := r.Group("/api/v1", jsonAPI, limitBody(maxBodyBytes), s.authenticate())
	s.routeAPI(api)
	s.routeAvatarAPI(r.Group("/api/v1", jsonAPI, limitBody(maxAvatarBytes), s.authenticate()))

	web := r.Group("/", browser, limitBody(maxAvatarBytes), s.authenticate())
	s.routePages(web)

	// Go's own cross-origin guard (Sec-Fetch-Site / Origin) rejects
	// state-changing requests from other sites before any handler runs; the
	// CSRF tokens still cover browsers that send neither header.
	return http.NewCrossOriginProtection().Handler(headAsGet(r)), nil
}

// headAsGet answers HEAD on every GET route, as RFC 9110 §9.3.2 asks (the
// same status and headers, no content) and as net/http's own mux does; gin
// alone answers 405. Routes without GET keep answering 404 or 405.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		next.ServeHTTP(headWriter{w}, get)
	})
}

// headWriter drops the body of a HEAD response; the server would too, but
// not every ResponseWriter (a recorder, a middleware's) is the server's.
type headWriter struct{ http.ResponseWriter }

func (w headWriter) Write(p []byte) (int, error) { return len(p), nil }

// Unwrap lets http.ResponseController reach the connection's writer.
func (w headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *server) notFound(c *gin.Context) {
	if wantsHTML(c) {
		s.renderError(c, http.StatusNotFound, "Page not found", "There is nothing at this address.")
		return
	}
	writeProblem(c, Problem{Type: problemType("not-found"), Status: http.StatusNotFound, Detail: "no such resource"})
}

// Readiness tracks whether this process should receive traffic.
type Readiness struct {
	pool     *pgxpool.Pool
	draining atomic.Bool
}

// NewReadiness returns a Readiness backed by pool.
func NewReadiness(pool *pgxpool.Pool) *Readiness { return &Readiness{pool: pool} }

// Drain makes /readyz fail from now on, so load balancers stop sending traffic.
func (r *Readiness) Drain() { r.draining.Store(true) }

// Draining reports whether Drain was called.
func (r *Readiness) Draining() bool { return r.draining.Load() }

// Check returns "" when ready, else why not.
func (r *Readiness) Check(ctx context.Context) string {
	if r.draining.Load() {
		return "shutting down"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := status.CheckDatabase(ctx, r.pool)
	switch {
	case err != nil:
		return "database unavailable"
	case st.Dirty:
		return "database schema is dirty"
	case st.Version != schema.Latest():
		return "database schema is not at the version this binary needs"
	}
	return ""
}

func (s *server) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *server) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if reason := s.deps.Readiness.Check(c.Request.Context()); reason != "" {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "reason": reason})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// NewAdminHandler serves /metrics and /debug/pprof on the admin listener, which
// must not be exposed publicly. bare, when not nil, is the benchmark baseline
// (see BareUserHandler).
func NewAdminHandler(m *observability.Metrics, bare http.Handler) http.Handler {
	mux := http.NewServeMux()
	if bare != nil {
		mux.Handle("GET /debug/bare/users/{id}", bare)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
