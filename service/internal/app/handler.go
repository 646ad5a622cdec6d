package app

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
	"github.com/gopherops/gopherops/service/internal/api"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/schema"
	"github.com/gopherops/gopherops/service/internal/sso"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/ui"
	"github.com/gopherops/gopherops/service/internal/web"
)

// HandlerDeps are what the public handler is built from.
type HandlerDeps struct {
	Accounts  *accounts.Service
	Status    *status.Reporter
	Pool      *pgxpool.Pool
	Metrics   *observability.Metrics
	Tracing   *observability.Tracing
	Logger    *slog.Logger
	Readiness *Readiness
	// OIDCClient talks to the OpenID provider; nil means one with a timeout.
	OIDCClient *http.Client
}

// NewHandler is the one composition root of the public listener, used by
// serve, devrun (through Serve), the benchmark and the tests: what every
// request gets (request id, access log and metrics, panic recovery, HEAD,
// cross-origin protection), the probes, the JSON API and the HTML UI.
func NewHandler(cfg config.Config, d HandlerDeps) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Readiness == nil {
		d.Readiness = NewReadiness(d.Pool)
	}
	auth := web.NewAuth(d.Accounts, cfg.SecureCookies, cfg.SessionKey)
	// One budget for the bodies both surfaces read whole: the memory they
	// may hold at once is the process's, not each surface's.
	bodies := web.NewBodyBudget(web.DefaultBodyLimits())
	pages, err := ui.New(ui.Deps{Config: cfg, Accounts: d.Accounts, Status: d.Status, Metrics: d.Metrics, Auth: auth,
		Logger: d.Logger, Bodies: bodies})
	if err != nil {
		return nil, err
	}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	var requests web.RequestObserver
	if d.Status != nil {
		requests = d.Status
	}
	r.Use(web.WithRequestID(), web.Observe(web.ObserveConfig{Metrics: d.Metrics, Tracing: d.Tracing, Logger: d.Logger,
		Requests: requests}), web.Recover(d.Logger))
	hsts := cfg.Production()
	r.NoRoute(web.BrowserHeaders(hsts), pages.NotFound)
	r.NoMethod(web.APIHeaders(hsts), func(c *gin.Context) {
		web.WriteProblem(c, web.Problem{Type: web.ProblemType("method-not-allowed"), Status: http.StatusMethodNotAllowed,
			Detail: "this resource does not support " + c.Request.Method})
	})

	probes := r.Group("/", web.APIHeaders(hsts))
	probes.GET("/healthz", healthz)
	probes.GET("/readyz", d.Readiness.serve)
	probes.GET("/ready", func(c *gin.Context) { c.Redirect(http.StatusPermanentRedirect, "/readyz") })

	if err := api.Register(r, api.Deps{Accounts: d.Accounts, Status: d.Status, Readiness: d.Readiness,
		Metrics: d.Metrics, Auth: auth, Bodies: bodies, HSTS: hsts}); err != nil {
		return nil, err
	}
	if cfg.OIDC.Enabled() {
		prov, err := sso.New(sso.Config{Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID,
			ClientSecret: cfg.OIDC.ClientSecret, RedirectURL: cfg.OIDC.RedirectURL, StateKey: cfg.SessionKey,
			HTTPClient: d.OIDCClient})
		if err != nil {
			return nil, err
		}
		sso.Register(r, sso.Deps{Provider: prov, Accounts: d.Accounts, Auth: auth, Metrics: d.Metrics,
			Logger: d.Logger, AllowSignup: cfg.OIDC.AllowSignup, HSTS: hsts})
	}
	pages.Register(r)

	// Go's own cross-origin guard (Sec-Fetch-Site / Origin) rejects
	// state-changing requests from other sites before any handler runs; the
	// CSRF tokens still cover browsers that send neither header.
	return closeWhileDraining(d.Readiness, http.NewCrossOriginProtection().Handler(web.HeadAsGet(r))), nil
}

// closeWhileDraining answers with Connection: close once the drain stops
// keep-alives, so each keep-alive client leaves after its next answer
// instead of being cut while idle when the server stops (a request sent
// just then would get no answer).
func closeWhileDraining(r *Readiness, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.closing.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, req)
	})
}

// Readiness tracks whether this process should receive traffic.
type Readiness struct {
	pool     *pgxpool.Pool
	draining atomic.Bool
	// closing: the listener is closed and answers end their connection.
	closing atomic.Bool
}

// NewReadiness returns a Readiness backed by pool.
func NewReadiness(pool *pgxpool.Pool) *Readiness { return &Readiness{pool: pool} }

// Drain makes /readyz fail from now on, so load balancers stop sending traffic.
func (r *Readiness) Drain() { r.draining.Store(true) }

// stopKeepAlives makes every answer from now on end its connection.
func (r *Readiness) stopKeepAlives() { r.closing.Store(true) }

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

// probeResponse is the body of /healthz and /readyz.
type probeResponse struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func healthz(c *gin.Context) {
	c.JSON(http.StatusOK, probeResponse{Status: "ok"})
}

func (r *Readiness) serve(c *gin.Context) {
	if reason := r.Check(c.Request.Context()); reason != "" {
		c.JSON(http.StatusServiceUnavailable, probeResponse{Status: "unavailable", Reason: reason})
		return
	}
	c.JSON(http.StatusOK, probeResponse{Status: "ready"})
}

// NewAdminHandler serves /metrics and /debug/pprof on the admin listener, which
// must not be exposed publicly. bare, when not nil, is the benchmark baseline
// (api.BareUserHandler).
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
