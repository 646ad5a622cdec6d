package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gopherops/gopherops/test/internal/mutation"
)

// The tool runs `go` from PATH. Run under that name, this command is a shim
// in front of the real go command (envRealGo): it passes every call through
// and, after the coverage run, adds the case clauses' expressions to the
// profile (mutation.AddCaseClauses), so the tool tries the mutants of
// `case n > limit:` instead of calling them not covered.
const (
	envRealGo = "GOPHEROPS_MUTATION_GO"
	envRoot   = "GOPHEROPS_MUTATION_ROOT"
)

// installShim puts this program as `go` in dir and returns the environment
// that makes the tool run it (envRoot, the staged copy, is per package). The
// tool's copies run outside any workspace (GOWORK=off), each its own module.
func installShim(dir string, env []string) ([]string, error) {
	real, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("mutation: the go command: %w", err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, fmt.Errorf("mutation: the go command: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("mutation: this program's path: %w", err)
	}
	if err := copyFile(self, filepath.Join(dir, "go")); err != nil {
		return nil, fmt.Errorf("mutation: install the go shim: %w", err)
	}
	return append(env, envRealGo+"="+real, "GOWORK=off",
		"PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH")), nil
}

// shim runs the real go command with args; after a successful
// -coverprofile run it completes the profile.
func shim(args []string) int {
	real, root := os.Getenv(envRealGo), os.Getenv(envRoot)
	if real == "" || root == "" {
		fmt.Fprintf(os.Stderr, "mutation: run as go without %s and %s\n", envRealGo, envRoot)
		return 2
	}
	profile := ""
	for i, a := range args {
		if a == "-coverprofile" && i+1 < len(args) {
			profile = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "-coverprofile="); ok {
			profile = v
		}
	}
	if profile == "" {
		err := syscall.Exec(real, append([]string{real}, args...), os.Environ()) //nolint:gosec // the go command found on PATH by the parent
		fmt.Fprintf(os.Stderr, "mutation: exec %s: %v\n", real, err)
		return 2
	}
	// No deadline of its own: the shim lives as long as the go command it
	// stands in for, and the tool that ran it bounds both.
	cmd := exec.CommandContext(context.Background(), real, args...) //nolint:gosec // the go command found on PATH by the parent
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "mutation: %v\n", err)
		return 2
	}
	if err := completeProfile(profile, root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// completeProfile rewrites the profile with the case clauses added; files
// are named by import path, found under the staged root.
func completeProfile(profile, root string) error {
	in, err := os.ReadFile(profile) //nolint:gosec // the profile the coverage run just wrote
	if err != nil {
		return fmt.Errorf("mutation: coverage profile: %w", err)
	}
	var out bytes.Buffer
	err = mutation.AddCaseClauses(bytes.NewReader(in), &out, func(file string) ([]byte, error) {
		rel, ok := strings.CutPrefix(file, rootModule+"/")
		if !ok {
			return nil, fmt.Errorf("%s is outside %s", file, rootModule)
		}
		return os.ReadFile(filepath.Join(root, filepath.FromSlash(rel))) //nolint:gosec // a source file of the staged copy
	})
	if err != nil {
		return err
	}
	return os.WriteFile(profile, out.Bytes(), 0o600) //nolint:gosec // G703: the profile the coverage run just wrote, rewritten in place
}
