package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gopherops/gopherops/service/internal/api"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/internal/web"
)

// Listeners lets a caller (a test) hand in pre-bound listeners; nil fields are
// bound from the configuration.
type Listeners struct {
	HTTP  net.Listener
	Admin net.Listener
}

// Serve runs the HTTP server until ctx is cancelled (SIGTERM), then drains:
// readiness fails at once, new traffic has ShutdownDelay to move elsewhere,
// in-flight requests get ShutdownTimeout to finish, then the pool closes.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, ls Listeners, o Options) error {
	started := time.Now()
	log.InfoContext(ctx, "starting gopherops", "config", cfg)
	if cfg.SessionKeyGenerated {
		log.WarnContext(ctx, "SESSION_KEY is not set: using a random key, so sessions end at restart")
	}

	// Shutdown must outlive the signal that cancelled ctx.
	base := context.WithoutCancel(ctx)

	tracing, err := observability.NewTracing(base, cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer func() { _ = tracing.Shutdown(base) }()

	if cfg.MigrateOnStart {
		if err := Migrate(ctx, cfg, log); err != nil {
			return fmt.Errorf("migrate on start: %w", err)
		}
	}

	pool, err := openPool(base, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	metrics := observability.NewMetrics()
	svc, err := newAccounts(base, cfg, pool, log, o, func(outcome string) {
		metrics.PasswordVerifications.WithLabelValues(outcome).Inc()
	})
	if err != nil {
		return err
	}
	if cfg.CreateDevAdmin {
		// Standard output, not the structured log: the one-time password is
		// for the developer's terminal (`docker compose logs app`), never for
		// a log pipeline.
		if err := ensureDevAdmin(ctx, svc, o.stdout()); err != nil {
			return fmt.Errorf("create the development admin: %w", err)
		}
	}
	metrics.RegisterPool(pool)
	readiness := NewReadiness(pool)
	router, err := NewHandler(cfg, HandlerDeps{
		Accounts: svc, Status: status.NewReporter(pool, svc, started, cfg.PodName),
		Pool: pool, Metrics: metrics, Tracing: tracing, Logger: log, Readiness: readiness,
	})
	if err != nil {
		return err
	}

	// Every request's context ends when the drain gives up on it: a
	// request still running at the shutdown deadline (a query waiting on a
	// lock) is cut instead of holding its pooled connection, which would
	// keep the pool's Close, and the process, from ever finishing. The
	// cause says the server cut it, so it is logged as a 503, not as a
	// client that left (499).
	requests, cancelRequests := context.WithCancelCause(base)
	cutRequests := func() { cancelRequests(web.ErrServerStopping) }
	defer cutRequests()
	requestBase := func(net.Listener) context.Context { return requests }
	public := newPublicServer(router, log)
	public.BaseContext = requestBase
	conns := newConnTracker()
	public.ConnState = conns.observe
	var bare http.Handler
	if cfg.Env == config.EnvTest {
		bare = api.BareUserHandler(postgres.New(pool))
	}
	admin := newAdminServer(NewAdminHandler(metrics, bare), log)
	admin.BaseContext = requestBase
	if ls.HTTP == nil {
		if ls.HTTP, err = new(net.ListenConfig).Listen(base, "tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
		}
	}
	if ls.Admin == nil {
		if ls.Admin, err = new(net.ListenConfig).Listen(base, "tcp", cfg.AdminAddr); err != nil {
			ls.HTTP.Close()
			return fmt.Errorf("listen on ADMIN_ADDR %s: %w", cfg.AdminAddr, err)
		}
	}

	httpL := &onceCloser{Listener: ls.HTTP}
	errc := make(chan error, 2)
	go func() { errc <- serveOn(public, httpL) }()
	go func() { errc <- serveOn(admin, ls.Admin) }()
	go prune(ctx, svc, log)
	log.InfoContext(ctx, "serving", "http_addr", ls.HTTP.Addr().String(), "admin_addr", ls.Admin.Addr().String())
	if o.Serving != nil {
		o.Serving(ls.HTTP.Addr(), ls.Admin.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		log.ErrorContext(base, "listener failed", "err", serveErr)
	}

	log.InfoContext(base, "shutting down: readiness now fails", "delay", cfg.ShutdownDelay, "timeout", cfg.ShutdownTimeout)
	readiness.Drain()
	if serveErr == nil && cfg.ShutdownDelay > 0 {
		time.Sleep(cfg.ShutdownDelay)
	}
	sctx, cancel := context.WithTimeout(base, cfg.ShutdownTimeout)
	defer cancel()
	if err := stopKeepAlives(sctx, httpL, readiness, conns, drainQuiet); err != nil {
		log.WarnContext(base, "close the public listener", "err", err)
	}
	shutErr := public.Shutdown(sctx)
	if shutErr != nil {
		cutRequests()
		_ = public.Close()
		log.ErrorContext(base, "requests still running at the shutdown deadline were cut", "err", shutErr)
	}
	if err := admin.Shutdown(sctx); err != nil {
		cutRequests()
		_ = admin.Close()
	}
	log.InfoContext(base, "stopped")
	return errors.Join(serveErr, shutErr)
}

// drainQuiet is how long no connection must have been busy before Shutdown
// closes the idle ones: a keep-alive client that just had an answer sends its
// next request well within it.
const drainQuiet = 250 * time.Millisecond

// newPublicServer bounds what one client may hold of the public listener:
// slow headers, slow bodies, idle keep-alive connections, huge headers.
func newPublicServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newAdminServer bounds the admin listener the same way, except that a
// pprof CPU profile may stream for its default 30 s.
func newAdminServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      65 * time.Second,
		// An idle keep-alive connection (a scraper that went away) must not
		// hold a socket forever.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func serveOn(srv *http.Server, l net.Listener) error {
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type pruner interface {
	PruneSessions(ctx context.Context) (int64, error)
	PruneAttempts(ctx context.Context) (int64, error)
}

// prune deletes expired sessions and sign-in attempt counters hourly; any
// replica may do it (password checks also prune a few counters each).
func prune(ctx context.Context, svc pruner, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, p := range []struct {
				what string
				run  func(context.Context) (int64, error)
			}{{"expired sessions", svc.PruneSessions}, {"expired sign-in attempt counters", svc.PruneAttempts}} {
				if n, err := p.run(ctx); err != nil {
					log.WarnContext(ctx, "prune "+p.what, "err", err)
				} else if n > 0 {
					log.InfoContext(ctx, "pruned "+p.what, "count", n)
				}
			}
		}
	}
}
