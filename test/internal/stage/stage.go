// Package stage gives the suites that `make test` compiles the same stage
// discipline as Terratest's test_structure package: a stage named X runs
// unless the environment variable SKIP_X is set, and what a later stage (or a
// later run) needs is saved as JSON under <dir>/.test-data/, exactly where
// test_structure keeps it.
//
// It exists because importing test_structure links Terratest's AWS,
// Kubernetes, Terraform and Packer modules into the test binary, which costs
// minutes of cold compilation for code those suites never call. The live
// suite (build tag live) uses test_structure itself.
package stage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gruntwork-io/terratest/modules/logger"
)

// SkipPrefix is the prefix of the variables that skip a stage (SKIP_<name>).
const SkipPrefix = "SKIP_"

// Run executes fn unless SKIP_<name> is set, logging which it did.
func Run(t testing.TB, name string, fn func()) {
	t.Helper()
	env := SkipPrefix + name
	if os.Getenv(env) != "" {
		logger.Default.Logf(t, "%s is set: skipping stage %q", env, name)
		return
	}
	logger.Default.Logf(t, "%s is not set: running stage %q", env, name)
	fn()
}

// Skipped reports whether SKIP_<name> is set.
func Skipped(name string) bool { return os.Getenv(SkipPrefix+name) != "" }

// dataDir is where the saved values of a suite live.
func dataDir(dir string) string { return filepath.Join(dir, ".test-data") }

func dataPath(dir, name string) string { return filepath.Join(dataDir(dir), name+".json") }

// Save stores v as <dir>/.test-data/<name>.json (mode 0600: values may be
// credentials of a throwaway deployment).
func Save(t testing.TB, dir, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("stage: encode %s: %v", name, err)
	}
	if err := os.MkdirAll(dataDir(dir), 0o700); err != nil {
		t.Fatalf("stage: %v", err)
	}
	if err := os.WriteFile(dataPath(dir, name), b, 0o600); err != nil {
		t.Fatalf("stage: save %s: %v", name, err)
	}
}

// Load reads what Save stored into v. It fails t with the way out when the
// value is missing: a stage that would have saved it was skipped before it
// ever ran.
func Load(t testing.TB, dir, name string, v any) {
	t.Helper()
	if err := LoadE(dir, name, v); err != nil {
		t.Fatal(err)
	}
}

// LoadE is Load returning the error.
func LoadE(dir, name string, v any) error {
	b, err := os.ReadFile(dataPath(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stage: no saved %q in %s: run once without SKIP_ variables (or with the stage that creates it) first", name, dataDir(dir))
	}
	if err != nil {
		return fmt.Errorf("stage: load %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("stage: decode %s: %w", name, err)
	}
	return nil
}

// Clean deletes everything saved under dir, once the deployment it described is gone.
func Clean(t testing.TB, dir string) {
	t.Helper()
	if err := os.RemoveAll(dataDir(dir)); err != nil {
		t.Errorf("stage: remove %s: %v", dataDir(dir), err)
	}
}
