// Command devrun is what `make run` starts: the service for local
// development, with a throwaway PostgreSQL under .data/ when DATABASE_URL is
// not set, the schema migrated and a development admin created on first run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/gopherops/gopherops/service/internal/app"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/pglocal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	os.Exit(exitCode(ctx, err, os.Stderr))
}

// exitCode is 0 after a clean stop, and after a Ctrl-C (SIGINT) or SIGTERM
// that interrupted the start (PostgreSQL's initdb, migrations): stopping is
// what the developer asked for, so `make run` must not report it as an
// error. A server that failed, or did not shut down cleanly, is 1.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	var serveErr *serveError
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil && !errors.As(err, &serveErr):
		fmt.Fprintf(stderr, "devrun: stopped while starting (%v)\n", err)
		return 0
	default:
		fmt.Fprintln(stderr, "devrun:", err)
		return 1
	}
}

// serveError is a failure of the server itself, once it was started.
type serveError struct{ err error }

func (e *serveError) Error() string { return e.err.Error() }

func (e *serveError) Unwrap() error { return e.err }

func run(ctx context.Context) error {
	dataDir := envOr("GOPHEROPS_DATA_DIR", ".data")

	env := map[string]string{}
	if os.Getenv("DATABASE_URL") == "" && os.Getenv("PGHOST") == "" {
		fmt.Printf("Starting PostgreSQL in %s (set DATABASE_URL to use your own)...\n", filepath.Join(dataDir, "postgres"))
		srv, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(dataDir, "postgres")})
		if err != nil {
			return err
		}
		defer srv.Close()
		if err := ensureDatabase(ctx, srv, "gopherops"); err != nil {
			return err
		}
		env["DATABASE_URL"] = srv.URL("gopherops")
		fmt.Printf("PostgreSQL is on 127.0.0.1:%d (log: %s)\n", srv.Port(), srv.LogPath())
	}
	if os.Getenv("BLOB_STORE") == "" {
		abs, err := filepath.Abs(filepath.Join(dataDir, "blobs"))
		if err != nil {
			return err
		}
		env["BLOB_STORE"] = "file://" + abs
	}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := observability.NewLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err := app.Migrate(ctx, cfg, log); err != nil {
		return err
	}
	if err := app.EnsureDevAdmin(ctx, cfg, log, os.Stdout); err != nil {
		return err
	}
	fmt.Printf("GopherOps is starting on %s (metrics on %s). Press Ctrl-C to stop.\n", displayAddr(cfg.HTTPAddr), cfg.AdminAddr)
	cfg.MigrateOnStart = false
	if err := app.Serve(ctx, cfg, log, app.Listeners{}, app.Options{}); err != nil {
		return &serveError{err}
	}
	return nil
}

func ensureDatabase(ctx context.Context, srv *pglocal.Server, name string) error {
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	return srv.CreateDatabase(ctx, name, "")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func displayAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "http://localhost" + addr
	}
	return "http://" + addr
}
