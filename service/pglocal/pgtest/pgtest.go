// Package pgtest gives each test its own fresh, fully migrated PostgreSQL
// database, cloned from a template so that a new database costs milliseconds.
//
// The server is the one named by TEST_DATABASE_URL (any database on it; the
// role must be allowed to create databases), or else a throwaway server that
// pglocal starts once per test process. Call Main from TestMain to stop it at
// the end of the run.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gopherops/gopherops/migrations"
	"github.com/gopherops/gopherops/service/internal/schema"
	"github.com/gopherops/gopherops/service/pglocal"
)

// EnvURL names the variable that points the tests at an existing server.
const EnvURL = "TEST_DATABASE_URL"

// shared is the per-process server; tests within one package share it.
var shared struct {
	once     sync.Once
	err      error
	server   *pglocal.Server // nil when EnvURL is used
	adminURL string
	template string
	mu       sync.Mutex
}

// Main runs the tests and then stops the throwaway server, if one was started.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.server != nil {
		_ = shared.server.Close()
	}
	return code
}

// NewDatabase creates a fresh database migrated to the latest schema, drops it
// when the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := setup(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := "test_" + randomHex(8)
	if err := createFromTemplate(ctx, name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, shared.adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(shared.adminURL, name)
}

// NewEmptyDatabase creates a database with no schema at all (for migration tests).
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := setup(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := "empty_" + randomHex(8)
	if err := exec(ctx, shared.adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = exec(ctx, shared.adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return withDatabase(shared.adminURL, name)
}

// ServerLog returns the throwaway server's log path, or "" when TEST_DATABASE_URL is used.
func ServerLog() string {
	if shared.server == nil {
		return ""
	}
	return shared.server.LogPath()
}

func setup(ctx context.Context) error {
	shared.once.Do(func() {
		shared.err = start(ctx)
	})
	return shared.err
}

func start(ctx context.Context) error {
	if u := os.Getenv(EnvURL); u != "" {
		shared.adminURL = u
	} else {
		srv, err := pglocal.Start(ctx, pglocal.Options{})
		if err != nil {
			return fmt.Errorf("start a throwaway PostgreSQL (or set %s): %w", EnvURL, err)
		}
		shared.server = srv
		shared.adminURL = srv.URL("postgres")
	}
	tmpl, err := ensureTemplate(ctx, shared.adminURL)
	if err != nil {
		return err
	}
	shared.template = tmpl
	return nil
}

// ensureTemplate builds the migrated template once per schema content. Many test
// processes may race here, so an advisory lock serialises them.
func ensureTemplate(ctx context.Context, adminURL string) (string, error) {
	name := "gopherops_tmpl_" + schemaDigest()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7305501)"); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7305501)") }()

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return name, nil
	}
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop stale template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	cc, err := pgx.ParseConfig(withDatabase(adminURL, name))
	if err != nil {
		return "", fmt.Errorf("template URL: %w", err)
	}
	mg, err := schema.New(cc)
	if err != nil {
		return "", err
	}
	upErr := mg.Up()
	if err := errors.Join(upErr, mg.Close()); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH is_template true ALLOW_CONNECTIONS false"); err != nil {
		return "", fmt.Errorf("mark template: %w", err)
	}
	return name, nil
}

func createFromTemplate(ctx context.Context, name string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{shared.template}.Sanitize()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		// FILE_COPY (PostgreSQL 15+) clones a small template several times
		// faster than the default WAL-logged copy.
		if err = exec(ctx, shared.adminURL, sql+" STRATEGY = FILE_COPY"); err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42601" { // older server: no STRATEGY clause
			if err = exec(ctx, shared.adminURL, sql); err == nil {
				return nil
			}
		}
		// 55006: another clone is reading the template right now; retry briefly.
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
	}
	return fmt.Errorf("create %s from template: %w", name, err)
}

func exec(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// schemaDigest names the template after the migration files' content, so an
// edited migration never reuses a stale template on a long-lived server.
func schemaDigest() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
