// Command devrun is what `make run` starts: the service for local
// development, with a throwaway PostgreSQL under .data/ when DATABASE_URL is
// not set, the schema migrated and a development admin created on first run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
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

// defaultHTTPAddr is where `make run` serves unless HTTP_ADDR says
// otherwise: this machine only, since the development admin's password is
// on the screen. HTTP_ADDR=:8080 opens it to the network.
const defaultHTTPAddr = "127.0.0.1:8080"

func run(ctx context.Context) error {
	dataDir := envOr("GOPHEROPS_DATA_DIR", ".data")

	env := map[string]string{}
	if os.Getenv("HTTP_ADDR") == "" {
		env["HTTP_ADDR"] = defaultHTTPAddr
	}
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
	// The server migrates the schema and creates the development admin
	// itself, so the configuration it logs at its start says what it does.
	cfg.MigrateOnStart = true
	cfg.CreateDevAdmin = cfg.Env == config.EnvDevelopment
	log := observability.NewLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat,
		observability.BatchAccessLines(observability.AccessLineDelay))
	defer func() { _ = observability.Flush(log) }()
	fmt.Println("Migrating the schema and starting GopherOps...")
	serving := false
	err = app.Serve(ctx, cfg, log, app.Listeners{}, app.Options{Serving: func(httpAddr, adminAddr net.Addr) {
		serving = true
		fmt.Println(servingLine(httpAddr.String(), adminAddr.String()))
	}})
	if err != nil && serving {
		return &serveError{err}
	}
	return err
}

// servingLine tells the developer where the server listens, and whether
// other machines can reach it.
func servingLine(httpAddr, adminAddr string) string {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return fmt.Sprintf("GopherOps is serving on %s (metrics on %s). Press Ctrl-C to stop.", httpAddr, adminAddr)
	}
	switch ip := net.ParseIP(host); {
	case ip != nil && ip.IsLoopback():
		return fmt.Sprintf("GopherOps is serving on http://%s (this machine only; HTTP_ADDR=:%s opens it to the network), "+
			"metrics on %s. Press Ctrl-C to stop.", net.JoinHostPort(host, port), port, adminAddr)
	case host == "" || ip != nil && ip.IsUnspecified():
		return fmt.Sprintf("GopherOps is serving on every interface at port %s (http://localhost:%s from here), metrics on %s. "+
			"Press Ctrl-C to stop.", port, port, adminAddr)
	}
	return fmt.Sprintf("GopherOps is serving on http://%s, reachable by other machines, metrics on %s. Press Ctrl-C to stop.",
		net.JoinHostPort(host, port), adminAddr)
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
