// Package pglocal runs a real, throwaway PostgreSQL server from the server
// binaries installed on the machine, for development (`make run`) and tests.
//
// PostgreSQL refuses to run as root, so when the caller is root the server runs
// as an unprivileged account ("postgres" when it exists, else "nobody").
package pglocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the name of the superuser role that initdb creates.
const Superuser = "postgres"

// Options configure Start.
type Options struct {
	// Dir holds the data directory, the password file and the server log. It is
	// reused when it already holds a cluster. Empty means a fresh temporary
	// directory that Close removes.
	Dir string
	// Port is the loopback TCP port; 0 picks a free one (remembered in Dir).
	Port int
	// BinDir overrides the discovery of the PostgreSQL server binaries.
	BinDir string
}

// Server is a running (or stopped) PostgreSQL server owned by this process.
type Server struct {
	dir      string
	binDir   string
	port     int
	password string
	temp     bool
	cred     *syscall.Credential

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the server process has exited
	exitErr error         // its exit status, readable once done is closed
}

// BinDir finds the directory holding the PostgreSQL server binaries: `postgres`
// on PATH, then `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if isExecutable(filepath.Join(dir, "postgres")) && isExecutable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, dir := range matches {
		if isExecutable(filepath.Join(dir, "postgres")) && isExecutable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", errors.New("pglocal: PostgreSQL server binaries not found (install the postgresql package, or put initdb and postgres on PATH)")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start initialises the cluster in opts.Dir when needed and starts the server,
// returning once it accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := prepared(opts)
	if err != nil {
		return nil, err
	}
	if err := s.startOnFreePort(ctx, opts.Port != 0); err != nil {
		s.cleanupTemp()
		return nil, err
	}
	return s, nil
}

// prepared returns a server with its cluster and port decided, not started.
func prepared(opts Options) (*Server, error) {
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = BinDir(); err != nil {
			return nil, err
		}
	}
	s := &Server{binDir: binDir, dir: opts.Dir}
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "pglocal-")
		if err != nil {
			return nil, fmt.Errorf("pglocal: temp dir: %w", err)
		}
		s.dir, s.temp = dir, true
	}
	abs, err := filepath.Abs(s.dir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	s.dir = abs
	if err := s.prepare(opts.Port); err != nil {
		s.cleanupTemp()
		return nil, err
	}
	return s, nil
}

// startOnFreePort starts the server. A free port is only free until someone
// binds it: another process (a parallel test binary) may take it between our
// check and the server's bind, so a port we chose ourselves (not fixed) is
// chosen again, a few times.
func (s *Server) startOnFreePort(ctx context.Context, fixed bool) error {
	for attempt := 1; ; attempt++ {
		err := s.Start(ctx)
		if err == nil || !errors.Is(err, errPortInUse) || fixed || attempt == portAttempts {
			return err
		}
		if err := s.choosePort(); err != nil {
			return err
		}
	}
}

// portAttempts bounds how often New picks another port when the one it
// chose was taken before the server bound it.
const portAttempts = 5

// errPortInUse reports a server that could not bind its port.
var errPortInUse = errors.New("pglocal: port already in use")

// choosePort picks a free port and remembers it in Dir.
func (s *Server) choosePort() error {
	p, err := freePort()
	if err != nil {
		return err
	}
	s.port = p
	if err := os.WriteFile(filepath.Join(s.dir, "port"), []byte(strconv.Itoa(s.port)+"\n"), 0o644); err != nil {
		return fmt.Errorf("pglocal: write port: %w", err)
	}
	return nil
}

func (s *Server) cleanupTemp() {
	if s.temp {
		_ = os.RemoveAll(s.dir)
	}
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// LogPath is the file the server writes its log to.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "postgres.log") }

// Port is the loopback TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// prepare creates the cluster and the password on first use and decides the port.
func (s *Server) prepare(port int) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	// The unprivileged server account must be able to reach its data directory.
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if os.Geteuid() == 0 {
		cred, err := unprivilegedCredential()
		if err != nil {
			return err
		}
		s.cred = cred
		if err := ensureTraversable(s.dir); err != nil {
			return err
		}
	}

	pwFile := filepath.Join(s.dir, "password")
	if b, err := os.ReadFile(pwFile); err == nil {
		s.password = strings.TrimSpace(string(b))
	} else {
		s.password = randomHex(16)
		if err := os.WriteFile(pwFile, []byte(s.password+"\n"), 0o600); err != nil {
			return fmt.Errorf("pglocal: write password: %w", err)
		}
	}

	portFile := filepath.Join(s.dir, "port")
	switch {
	case port != 0:
		s.port = port
	default:
		if b, err := os.ReadFile(portFile); err == nil {
			s.port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if s.port == 0 || !portFree(s.port) {
			p, err := freePort()
			if err != nil {
				return err
			}
			s.port = p
		}
	}
	if err := os.WriteFile(portFile, []byte(strconv.Itoa(s.port)+"\n"), 0o644); err != nil {
		return fmt.Errorf("pglocal: write port: %w", err)
	}

	if _, err := os.Stat(filepath.Join(s.dataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	return s.initdb()
}

func (s *Server) initdb() error {
	if err := os.MkdirAll(s.dataDir(), 0o700); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	// initdb reads the superuser password from a file the server account can read.
	tmpPw := filepath.Join(s.dir, "initdb-password")
	if err := os.WriteFile(tmpPw, []byte(s.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	defer os.Remove(tmpPw)
	if s.cred != nil {
		for _, p := range []string{s.dataDir(), tmpPw} {
			if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				return fmt.Errorf("pglocal: chown %s: %w", p, err)
			}
		}
	}
	cmd := exec.Command(filepath.Join(s.binDir, "initdb"),
		"-D", s.dataDir(), "-U", Superuser, "--pwfile", tmpPw,
		"--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pglocal: initdb: %w: %s", err, lastLines(string(out), 10))
	}
	return nil
}

// Start starts a stopped server and waits until it accepts connections.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pglocal: server already running")
	}
	logFile, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pglocal: open log: %w", err)
	}
	cmd := exec.Command(filepath.Join(s.binDir, "postgres"),
		"-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=off", // throwaway data: durability buys nothing here
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=128MB",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig stops the server when this process dies without cleaning up, so
	// a crashed test run never leaves a server holding its port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("pglocal: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		s.exitErr = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	if err := s.waitReady(ctx, done); err != nil {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-done
		s.cmd, s.done = nil, nil
		return err
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		// Each try is short: whatever holds the port if it is not our
		// server (it exited: see below) may accept and never answer.
		tctx, tcancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(tctx, s.URL("postgres"))
		tcancel()
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			tail := s.logTail()
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("%w: %d (log %s)", errPortInUse, s.port, s.LogPath())
			}
			return fmt.Errorf("pglocal: postgres exited during start-up (%w); log %s:\n%s", s.exitErr, s.LogPath(), tail)
		case <-ctx.Done():
			return fmt.Errorf("pglocal: postgres not ready: %w; log:\n%s", err, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.LogPath())
	return lastLines(string(b), 20)
}

// Stop shuts the server down (fast mode: connections are cut, data kept).
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		<-s.done
	}
	s.cmd, s.done = nil, nil
	return nil
}

// Close stops the server and removes its directory when it was temporary.
func (s *Server) Close() error {
	err := s.Stop()
	s.cleanupTemp()
	return err
}

// URL is a connection URL for the named database as the superuser.
func (s *Server) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, s.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates an empty database (or a copy of template when it is not empty).
func (s *Server) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: connect: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pglocal: create database %s: %w", name, err)
	}
	return nil
}

func unprivilegedCredential() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pglocal: running as root and no unprivileged account (postgres or nobody) exists to run the server")
}

// ensureTraversable lets the server account walk down to dir: temporary
// directories are often created 0700 by root.
func ensureTraversable(dir string) error {
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("pglocal: make %s traversable: %w", d, err)
			}
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pglocal: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
