// Package gopherops builds the real gopherops binary from the workspace and
// runs it as a user would: one-shot subcommands (migrate, admin, version,
// healthcheck) and `serve` as a child process whose output is captured to a
// file and attached to the test log when the test fails.
package gopherops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/gruntwork-io/terratest/modules/retry"

	"github.com/gopherops/gopherops/test/internal/repo"
)

// Package is the import path of the gopherops command.
const Package = "github.com/gopherops/gopherops/service/cmd/gopherops"

// versionVar is the linker variable holding the build version.
const versionVar = "github.com/gopherops/gopherops/service/internal/buildinfo.Version"

// buildTimeout bounds `go build` on a cold cache.
const buildTimeout = 15 * time.Minute

// commandTimeout bounds a one-shot subcommand.
const commandTimeout = 2 * time.Minute

// Binary is a built gopherops executable.
type Binary struct {
	// Path is the executable.
	Path string
	// Version is the version stamped into it with -ldflags.
	Version string
}

var built struct {
	once sync.Once
	bin  *Binary
	dir  string
	err  error
}

// Build compiles the gopherops binary once per test process, stamped with a
// unique version "test-<id>", and returns it.
func Build(t testing.TB) *Binary {
	t.Helper()
	built.once.Do(func() {
		start := time.Now()
		built.bin, built.dir, built.err = compile()
		if built.err == nil {
			t.Logf("built %s (version %s) in %s", built.bin.Path, built.bin.Version, time.Since(start).Round(time.Millisecond))
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// RemoveBuild deletes the binary Build made; call it from TestMain after the tests ran.
func RemoveBuild() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

func compile() (*Binary, string, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "gopherops-bin-")
	if err != nil {
		return nil, "", fmt.Errorf("gopherops: temp dir: %w", err)
	}
	bin := &Binary{Path: filepath.Join(dir, "gopherops"), Version: "test-" + strings.ToLower(random.UniqueID())}
	// go on PATH: `go test` puts its own GOROOT/bin first there.
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X "+versionVar+"="+bin.Version, "-o", bin.Path, Package) //nolint:gosec // fixed command; the arguments are ours
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", fmt.Errorf("gopherops: go build %s: %w\n%s", Package, err, out)
	}
	return bin, dir, nil
}

// Env is the environment of a gopherops process, on top of PATH, HOME and
// TMPDIR; nothing else leaks in from the developer's shell.
type Env map[string]string

// With returns a copy of e with more variables.
func (e Env) With(more map[string]string) Env {
	out := Env{}
	for k, v := range e {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func (e Env) list() []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// Result is how a one-shot subcommand ended.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Run runs a one-shot subcommand with stdin and returns its output and exit
// code; it fails t only when the process cannot run at all.
func (b *Binary) Run(t testing.TB, env Env, stdin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.Path, args...) //nolint:gosec // runs the binary this package built, with the test's arguments
	cmd.Env = env.list()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		res.ExitCode = exit.ExitCode()
	default:
		t.Fatalf("gopherops %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("gopherops %s → exit %d", strings.Join(args, " "), res.ExitCode)
	return res
}

// MustRun is Run that fails t unless the command exits 0.
func (b *Binary) MustRun(t testing.TB, env Env, stdin string, args ...string) Result {
	t.Helper()
	res := b.Run(t, env, stdin, args...)
	if res.ExitCode != 0 {
		t.Fatalf("gopherops %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.ExitCode, res.Stdout, res.Stderr)
	}
	return res
}

// Server is a running `gopherops serve`.
type Server struct {
	// BaseURL is the public listener, http://127.0.0.1:<port>.
	BaseURL string
	// AdminURL is the admin listener (/metrics, pprof).
	AdminURL string
	// HTTPAddr is HTTP_ADDR, for `gopherops healthcheck`.
	HTTPAddr string

	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// startTimeout bounds how long serve may take to become ready.
const startTimeout = time.Minute

// Serve is Start, then waits until /readyz answers 200.
func (b *Binary) Serve(t testing.TB, env Env) *Server {
	t.Helper()
	s := b.Start(t, env)
	s.WaitReady(t)
	return s
}

// Start starts `gopherops serve` on free loopback ports with env and waits
// until it is alive (/healthz answers 200), ready or not. It stops the
// process (SIGTERM, then SIGKILL) when the test ends. The process's output
// goes to a file whose end is printed when the test fails.
func (b *Binary) Start(t testing.TB, env Env) *Server {
	t.Helper()
	s := &Server{HTTPAddr: freeAddr(t), done: make(chan struct{})}
	adminAddr := freeAddr(t)
	s.BaseURL, s.AdminURL = "http://"+s.HTTPAddr, "http://"+adminAddr
	s.logPath = filepath.Join(t.TempDir(), "gopherops-serve.log")
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatalf("gopherops: create log: %v", err)
	}
	// Stopped by stop (SIGTERM first), never by a context.
	s.cmd = exec.CommandContext(context.Background(), b.Path, "serve") //nolint:gosec // the binary this package built
	s.cmd.Env = env.With(map[string]string{"HTTP_ADDR": s.HTTPAddr, "ADMIN_ADDR": adminAddr}).list()
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = childAttrs()
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("gopherops: start serve: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("gopherops serve output (%s), last %d lines:\n%s", s.logPath, logTailLines, tail(s.Log(), logTailLines))
		}
	})
	s.WaitStatus(t, "/healthz", http.StatusOK, startTimeout)
	return s
}

// WaitReady polls /readyz until it answers 200, failing fast when the process exits.
func (s *Server) WaitReady(t testing.TB) {
	t.Helper()
	s.WaitStatus(t, "/readyz", http.StatusOK, startTimeout)
}

// WaitStatus polls GET path until it answers status, for up to timeout,
// failing fast when the process exits.
func (s *Server) WaitStatus(t testing.TB, path string, status int, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	const every = 100 * time.Millisecond
	_, err := retry.DoWithRetryContextE(t, context.Background(), fmt.Sprintf("GET %s%s answers %d", s.BaseURL, path, status), int(timeout/every), every, func() (string, error) {
		if s.Exited() {
			return "", retry.FatalError{Underlying: fmt.Errorf("gopherops serve exited: %w", s.waitErr)}
		}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, s.BaseURL+path, nil)
		if err != nil {
			return "", retry.FatalError{Underlying: err}
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			return "", fmt.Errorf("%s answered %d: %s", path, resp.StatusCode, body)
		}
		return string(body), nil
	})
	if err != nil {
		t.Fatalf("%v\ngopherops serve output:\n%s", err, tail(s.Log(), logTailLines))
	}
}

// Signal sends sig to the process.
func (s *Server) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("gopherops: signal %v: %v", sig, err)
	}
}

// Pid is the process ID.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end and returns its exit code.
func (s *Server) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("gopherops serve still running %s after it was asked to stop\noutput:\n%s", timeout, tail(s.Log(), logTailLines))
	}
	var exit *exec.ExitError
	switch {
	case s.waitErr == nil:
		return 0
	case errors.As(s.waitErr, &exit):
		return exit.ExitCode()
	default:
		t.Fatalf("gopherops serve: %v", s.waitErr)
		return -1
	}
}

// Log returns what the process wrote so far.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", s.logPath, err)
	}
	return string(b)
}

// stop ends the process: SIGTERM, and SIGKILL if it has not exited in 15 s.
func (s *Server) stop() {
	if s.Exited() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// logTailLines is how much of the server's log a failed test prints.
const logTailLines = 300

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gopherops: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
