package axe

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestScript installs axe-core into a tool cache of its own (npm needed),
// then finds it there without npm, and refuses a cache whose package is
// not the pinned one.
func TestScript(t *testing.T) {
	t.Setenv("GOPHEROPS_TOOLS_DIR", t.TempDir())
	js, err := Script(t.Context())
	if errors.Is(err, ErrNoNPM) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte("axe.run")) && !bytes.Contains(js, []byte("axe-core")) || len(js) < 100_000 {
		t.Fatalf("axe.min.js of %d bytes does not look like axe-core", len(js))
	}
	t.Setenv("PATH", t.TempDir()) // no npm from here on
	again, err := Script(t.Context())
	if err != nil || !bytes.Equal(again, js) {
		t.Fatalf("the installed copy is not found again: %v", err)
	}
	dir, _ := Dir()
	lock := filepath.Join(dir, "node_modules", ".package-lock.json")
	raw, _ := os.ReadFile(lock)
	if err := os.WriteFile(lock, bytes.Replace(raw, []byte(integrity), []byte("sha512-forged"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Script(t.Context()); !errors.Is(err, ErrNoNPM) {
		t.Fatalf("a package that is not the pinned one is used (%v)", err)
	}
}
