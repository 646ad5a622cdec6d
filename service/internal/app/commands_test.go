package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gopherops/gopherops/service/internal/app"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/schema"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

// command parses args as the gopherops binary does and runs the command
// against the database at dbURL, returning what it printed.
func command(t *testing.T, dbURL string, args ...string) (string, error) {
	t.Helper()
	inv, err := app.ParseArgs(args)
	if err != nil {
		t.Fatalf("gopherops %s: %v", strings.Join(args, " "), err)
	}
	env := map[string]string{"APP_ENV": "test", "DATABASE_URL": dbURL}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = inv.Run(context.Background(), app.Env{
		Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: &out,
	})
	return out.String(), err
}

var versionLine = regexp.MustCompile(`^version (\d+) \(binary expects (\d+)\)\n$`)

// appliedVersion runs `migrate version` and returns the applied version.
func appliedVersion(t *testing.T, dbURL string) int {
	t.Helper()
	out, err := command(t, dbURL, "migrate", "version")
	if err != nil {
		t.Fatal(err)
	}
	m := versionLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("migrate version printed %q", out)
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

func TestMigrateDown(t *testing.T) {
	latest := int(schema.Latest())
	if latest < 2 {
		t.Fatalf("the test needs at least two migrations, the binary has %d", latest)
	}
	for _, tc := range []struct {
		name        string
		n           int
		wantVersion int
		wantOutput  string
	}{
		{"one", 1, latest - 1, fmt.Sprintf("reverted 1 migration(s); now at version %d\n", latest-1)},
		{"exactly all", latest, 0, fmt.Sprintf("reverted %d migration(s); now at version 0\n", latest)},
		{"more than are applied reverts all and says so", 99, 0,
			fmt.Sprintf("asked to revert 99 migration(s), but only %d were applied: reverted them all; no migration is applied now (version 0)\n", latest)},
		{"a huge N ends with the applied ones", 1 << 62, 0,
			fmt.Sprintf("asked to revert %d migration(s), but only %d were applied", 1<<62, latest)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := pgtest.NewEmptyDatabase(t)
			if _, err := command(t, db, "migrate", "up"); err != nil {
				t.Fatal(err)
			}
			out, err := command(t, db, "migrate", "down", strconv.Itoa(tc.n))
			if err != nil {
				t.Fatalf("migrate down %d: %v", tc.n, err)
			}
			if !strings.HasPrefix(out, tc.wantOutput) {
				t.Errorf("migrate down %d printed %q, want %q", tc.n, out, tc.wantOutput)
			}
			if got := appliedVersion(t, db); got != tc.wantVersion {
				t.Errorf("after migrate down %d the version is %d, want %d", tc.n, got, tc.wantVersion)
			}
			// The schema can always come back.
			if _, err := command(t, db, "migrate", "up"); err != nil {
				t.Fatal(err)
			}
			if got := appliedVersion(t, db); got != latest {
				t.Errorf("migrate up after down: version %d, want %d", got, latest)
			}
		})
	}
}

func TestMigrateDownOnAnEmptyDatabaseHasNothingToRevert(t *testing.T) {
	db := pgtest.NewEmptyDatabase(t)
	out, err := command(t, db, "migrate", "down", "1")
	if err != nil {
		t.Fatalf("migrate down on an empty database: %v", err)
	}
	if out != "no migration is applied; nothing to revert\n" {
		t.Errorf("printed %q", out)
	}
}

func TestMigrateDownRefusesADirtyDatabase(t *testing.T) {
	db := pgtest.NewEmptyDatabase(t)
	if _, err := command(t, db, "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	// What a migration that failed part-way leaves behind.
	if _, err := command(t, db, "migrate", "force", "1"); err != nil {
		t.Fatal(err)
	}
	markDirty(t, db)
	_, err := command(t, db, "migrate", "down", "1")
	if err == nil || !strings.Contains(err.Error(), "dirty") {
		t.Fatalf("migrate down on a dirty database: %v, want the dirty-schema error", err)
	}
	if app.IsUsage(err) {
		t.Error("a dirty database is a failure (exit 1), not a usage error")
	}
}

// markDirty flags the recorded migration as failed part-way, as golang-migrate
// does when a migration's SQL fails.
func markDirty(t *testing.T, dbURL string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE schema_migrations SET dirty = true"); err != nil {
		t.Fatal(err)
	}
}
