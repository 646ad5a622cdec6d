// Package repo locates the GopherOps repository on disk, so suites can build
// the binary from the workspace and hand compose and Pulumi the repository root
// whatever directory `go test` runs them in.
package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Root walks up from the working directory to the directory holding go.work.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repo: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("repo: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repo: no go.work in the working directory or any parent; run the suites from inside the GopherOps repository")
		}
		dir = parent
	}
}

// MustRoot is Root for tests: it fails t when the root cannot be found.
func MustRoot(t testing.TB) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
