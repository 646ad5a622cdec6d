// Package delivery_test checks the delivery side of GopherOps without a Docker
// engine: the GitHub Actions workflows (actionlint and pinning rules), the compose
// file (loaded with the compose-spec library), the Dockerfile (parsed with
// BuildKit's parser), and the observability assets (Prometheus's own config and
// rule parsers, and the Grafana dashboard against a live scrape of the service).
package delivery_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

// TestMain stops the throwaway PostgreSQL server that the metrics test may start.
func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m))
}

// repoRoot returns the repository root: the nearest parent holding go.work.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test directory: run the tests inside the repository")
		}
		dir = parent
	}
}

// readFile returns the content of a file under the repository root.
func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}
