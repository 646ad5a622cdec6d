// Package axe provides axe-core, the accessibility engine the browser suite
// injects into every page it visits. axe-core is an npm package: it is
// installed once, pinned to Version and checked against its published
// integrity, into the tool cache (toolchain.CacheDir, never the
// repository), with the npm client of the machine.
package axe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/gopherops/gopherops/test/internal/toolchain"
)

// Version is the axe-core release the suite runs.
const Version = "4.14.1"

// integrity is the npm registry's digest of Version's package, as npm
// records it after verifying the download.
const integrity = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="

// ErrNoNPM means axe-core is not installed and there is no npm to install it.
var ErrNoNPM = errors.New("axe: axe-core is not installed and npm is not on PATH (install Debian's npm package)")

// installTimeout bounds one npm install.
const installTimeout = 5 * time.Minute

// Dir is where Version is installed.
func Dir() (string, error) {
	cache, err := toolchain.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "axe-core-"+Version), nil
}

// Script returns axe.min.js, installing axe-core first when the cache does
// not hold it yet.
func Script(ctx context.Context) ([]byte, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	if err := verify(dir); err != nil {
		if err := install(ctx, dir); err != nil {
			return nil, err
		}
		if err := verify(dir); err != nil {
			return nil, err
		}
	}
	return os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")) //nolint:gosec // G304: the file verify just checked, in the tool cache
}

// install runs npm into a fresh directory next to dir, then moves it into
// place, so an interrupted install never leaves a half package behind.
func install(ctx context.Context, dir string) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return ErrNoNPM
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return fmt.Errorf("axe: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".axe-core-*")
	if err != nil {
		return fmt.Errorf("axe: %w", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	args := []string{"install", "--prefix", tmp, "--ignore-scripts", "--no-audit", "--no-fund",
		"--no-save", "--loglevel=error", "axe-core@" + Version}
	cmd := exec.CommandContext(ctx, npm, args...) //nolint:gosec // G204: npm found on PATH, with fixed arguments and a directory of our own
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("axe: npm install axe-core@%s: %w\n%s", Version, err, out)
	}
	if err := verify(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("axe: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("axe: %w", err)
	}
	return nil
}

// verify checks that dir holds Version as published: npm's record of what
// it installed names the version and the integrity this package pins.
func verify(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "node_modules", ".package-lock.json")) //nolint:gosec // G304: npm's record in the tool cache
	if err != nil {
		return fmt.Errorf("axe: not installed in %s: %w", dir, err)
	}
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		return fmt.Errorf("axe: read npm's record in %s: %w", dir, err)
	}
	p, ok := lock.Packages["node_modules/axe-core"]
	switch {
	case !ok:
		return fmt.Errorf("axe: npm's record in %s has no axe-core", dir)
	case p.Version != Version || p.Integrity != integrity:
		return fmt.Errorf("axe: %s holds axe-core %s (%s), want %s (%s)", dir, p.Version, p.Integrity, Version, integrity)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")); err != nil {
		return fmt.Errorf("axe: %w", err)
	}
	return nil
}
