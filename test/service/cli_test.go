package service

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"

	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/internal/repo"
	"github.com/gopherops/gopherops/test/journey"
)

// TestOperatorCommands runs the subcommands an operator uses to set up and
// check a deployment, and the mistakes they might make with them.
func TestOperatorCommands(t *testing.T) {
	bin := gopherops.Build(t)
	env := serviceEnv(t, pgtest.NewEmptyDatabase(t))
	attachPostgresLog(t, pgtest.ServerLog())

	t.Run("version", func(t *testing.T) {
		res := bin.MustRun(t, gopherops.Env{}, "", "version")
		assert.Contains(t, res.Stdout, bin.Version, "version prints what -ldflags stamped")
	})

	t.Run("every command has its own help", func(t *testing.T) {
		// A configuration serve would refuse: help must not need one.
		broken := env.With(map[string]string{"APP_ENV": "staging"})
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--help"}, "usage: gopherops [command]"},
			{[]string{"help", "migrate"}, "usage: gopherops migrate "},
			{[]string{"serve", "--help"}, "usage: gopherops serve"},
			{[]string{"migrate", "--help"}, "usage: gopherops migrate "},
			{[]string{"migrate", "down", "-h"}, "usage: gopherops migrate "},
			{[]string{"admin", "--help"}, "usage: gopherops admin create"},
			{[]string{"admin", "create", "--help"}, "usage: gopherops admin create"},
			{[]string{"healthcheck", "--help"}, "usage: gopherops healthcheck"},
			{[]string{"version", "--help"}, "usage: gopherops version"},
		} {
			res := bin.Run(t, broken, "", tc.args...)
			assert.Equal(t, 0, res.ExitCode, "gopherops %s\nstderr:\n%s", strings.Join(tc.args, " "), res.Stderr)
			assert.True(t, strings.HasPrefix(res.Stdout, tc.want), "gopherops %s prints its own help, got:\n%s", strings.Join(tc.args, " "), res.Stdout)
			assert.Empty(t, res.Stderr, "gopherops %s", strings.Join(tc.args, " "))
		}
	})

	t.Run("usage errors exit 2 with one line of advice", func(t *testing.T) {
		for _, tc := range []struct {
			args   []string
			advice string
		}{
			{[]string{"frobnicate"}, "Run 'gopherops --help' for the list of commands."},
			{[]string{"serve", "--port=80"}, "Run 'gopherops serve --help' for usage."},
			{[]string{"migrate"}, "Run 'gopherops migrate --help' for usage."},
			{[]string{"migrate", "sideways"}, "Run 'gopherops migrate --help' for usage."},
			{[]string{"migrate", "down"}, "Run 'gopherops migrate --help' for usage."},
			{[]string{"migrate", "down", "zero"}, "Run 'gopherops migrate --help' for usage."},
			{[]string{"admin"}, "Run 'gopherops admin --help' for usage."},
			{[]string{"admin", "create", "--username", "x"}, "Run 'gopherops admin --help' for usage."},
			{[]string{"admin", "create", "--username", "x", "--email", "x@example.com", "--role", "owner"}, "Run 'gopherops admin --help' for usage."},
			{[]string{"healthcheck", "now"}, "Run 'gopherops healthcheck --help' for usage."},
		} {
			res := bin.Run(t, env, "", tc.args...)
			assert.Equal(t, 2, res.ExitCode, "gopherops %s\nstderr:\n%s", strings.Join(tc.args, " "), res.Stderr)
			lines := strings.Split(strings.TrimSuffix(res.Stderr, "\n"), "\n")
			if assert.Len(t, lines, 2, "gopherops %s: the mistake, then one line of advice:\n%s", strings.Join(tc.args, " "), res.Stderr) {
				assert.True(t, strings.HasPrefix(lines[0], "gopherops: "), "gopherops %s: %q", strings.Join(tc.args, " "), lines[0])
				assert.Equal(t, tc.advice, lines[1], "gopherops %s", strings.Join(tc.args, " "))
			}
			assert.Empty(t, res.Stdout, "gopherops %s", strings.Join(tc.args, " "))
		}
	})

	t.Run("invalid configuration stops the process naming the variable", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  map[string]string
			want []string
		}{
			{"unknown environment", map[string]string{"APP_ENV": "staging"}, []string{"APP_ENV"}},
			{"short session key", map[string]string{"SESSION_KEY": "c2hvcnQ="}, []string{"SESSION_KEY"}},
			{"bad address", map[string]string{"HTTP_ADDR": "localhost"}, []string{"HTTP_ADDR"}},
			{"bad blob store", map[string]string{"BLOB_STORE": "ftp://avatars"}, []string{"BLOB_STORE"}},
			{"production without its secrets", map[string]string{"APP_ENV": "production", "DATABASE_URL": "", "SESSION_KEY": ""}, []string{"DATABASE_URL", "SESSION_KEY"}},
			{"production with insecure cookies", map[string]string{"APP_ENV": "production", "COOKIE_SECURE": "false"}, []string{"COOKIE_SECURE"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := bin.Run(t, env.With(tc.env), "", "serve")
				assert.Equal(t, 2, res.ExitCode, "stderr:\n%s", res.Stderr)
				for _, v := range tc.want {
					assert.Contains(t, res.Stderr, v)
				}
				assert.NotContains(t, res.Stderr, env["SESSION_KEY"], "secrets are never printed")
			})
		}
	})

	migrationVersion := regexp.MustCompile(`version (\d+) \(binary expects (\d+)\)`)
	version := func(t *testing.T) (int, int) {
		t.Helper()
		out := bin.MustRun(t, env, "", "migrate", "version").Stdout
		m := migrationVersion.FindStringSubmatch(out)
		require.NotNil(t, m, "migrate version output: %q", out)
		at, _ := strconv.Atoi(m[1])
		want, _ := strconv.Atoi(m[2])
		return at, want
	}

	t.Run("migrate up, down and up again", func(t *testing.T) {
		bin.MustRun(t, env, "", "migrate", "up")
		at, want := version(t)
		require.Positive(t, want)
		require.Equal(t, want, at, "migrate up reaches the binary's version")
		bin.MustRun(t, env, "", "migrate", "up") // idempotent

		bin.MustRun(t, env, "", "migrate", "down", "1")
		at, _ = version(t)
		assert.Equal(t, want-1, at, "migrate down 1 reverts one migration")
		bin.MustRun(t, env, "", "migrate", "up")
		at, _ = version(t)
		assert.Equal(t, want, at)
	})

	t.Run("migrate down more than are applied reverts all and exits 0", func(t *testing.T) {
		_, want := version(t)
		res := bin.MustRun(t, env, "", "migrate", "down", "99")
		assert.Contains(t, res.Stdout, fmt.Sprintf("asked to revert 99 migration(s), but only %d were applied: reverted them all", want))
		at, _ := version(t)
		assert.Zero(t, at, "every migration was reverted")
		res = bin.MustRun(t, env, "", "migrate", "down", "1")
		assert.Contains(t, res.Stdout, "nothing to revert", "an empty database has nothing to revert, and that is not an error")
		bin.MustRun(t, env, "", "migrate", "up")
		at, _ = version(t)
		assert.Equal(t, want, at)
	})

	rootName := "root-" + random.UniqueID()
	rootPassword := journey.NewPassword()
	createArgs := func(username, role string) []string {
		return []string{"admin", "create", "--username", username, "--email", strings.ToLower(username) + "@example.com", "--role", role}
	}

	t.Run("admin create", func(t *testing.T) {
		res := bin.Run(t, env, "", createArgs(rootName, "admin")...)
		assert.Equal(t, 2, res.ExitCode, "no password on stdin nor in ADMIN_PASSWORD is a usage error\nstderr:\n%s", res.Stderr)
		assert.Contains(t, res.Stderr, "ADMIN_PASSWORD")

		res = bin.Run(t, env, "password123456789\n", createArgs(rootName, "admin")...)
		assert.Equal(t, 1, res.ExitCode, "a common password is refused\nstderr:\n%s", res.Stderr)
		assert.Contains(t, res.Stderr, "password")

		// The password from stdin, as a script would pipe it.
		res = bin.MustRun(t, env, rootPassword+"\n", createArgs(rootName, "admin")...)
		assert.Contains(t, res.Stdout, fmt.Sprintf("created root admin %q", rootName))
		assert.NotContains(t, res.Stdout+res.Stderr, rootPassword, "the password is never echoed")

		res = bin.Run(t, env, journey.NewPassword()+"\n", createArgs(rootName, "admin")...)
		assert.Equal(t, 1, res.ExitCode, "a taken username is refused\nstderr:\n%s", res.Stderr)

		second := "admin-" + random.UniqueID()
		res = bin.MustRun(t, env.With(map[string]string{"ADMIN_PASSWORD": journey.NewPassword()}), "", createArgs(second, "admin")...)
		assert.Contains(t, res.Stdout, fmt.Sprintf("created admin %q", second), "only the first admin is root")

		user := "user-" + random.UniqueID()
		res = bin.MustRun(t, env.With(map[string]string{"ADMIN_PASSWORD": journey.NewPassword()}), "", createArgs(user, "user")...)
		assert.Contains(t, res.Stdout, fmt.Sprintf("created user %q", user))
	})

	t.Run("healthcheck follows the server", func(t *testing.T) {
		srv := bin.Serve(t, env)
		check := env.With(map[string]string{"HTTP_ADDR": srv.HTTPAddr})
		bin.MustRun(t, check, "", "healthcheck")

		tok := journey.SignIn(t, srv.BaseURL, journey.Credentials{Login: rootName, Password: rootPassword})
		assert.True(t, tok.User.IsRoot, "the admin created from the command line signs in as root")

		srv.Signal(t, syscall.SIGTERM)
		assert.Equal(t, 0, srv.Wait(t, 20*time.Second), "serve exits 0 after SIGTERM")
		res := bin.Run(t, check, "", "healthcheck")
		assert.Equal(t, 1, res.ExitCode, "healthcheck fails once the server is gone\nstderr:\n%s", res.Stderr)
	})

	t.Run("serve refuses a database behind the binary's schema", func(t *testing.T) {
		bin.MustRun(t, env, "", "migrate", "down", "1")
		t.Cleanup(func() { bin.MustRun(t, env, "", "migrate", "up") })
		srv := bin.Start(t, env)
		var body struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}
		journey.NewClient(srv.BaseURL).Get(t, "/readyz").ExpectJSON(t, http.StatusServiceUnavailable, &body)
		assert.Contains(t, body.Reason, "schema", "readiness says why it fails")
	})
}

// devrunStartTimeout bounds `make run` until ready: building devrun (cold on
// a fresh machine), initdb, migrations and the development admin's hash.
const devrunStartTimeout = 5 * time.Minute

// devrunProcess is `make run` or devrun started by a test, with its output
// in a file.
type devrunProcess struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// startDevrun starts argv in dir, in a process group of its own (as a shell
// puts a foreground job), with the environment of a fresh developer shell.
func startDevrun(t *testing.T, dir string, env []string, argv ...string) *devrunProcess {
	t.Helper()
	p := &devrunProcess{logPath: filepath.Join(t.TempDir(), "devrun.log"), done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	require.NoError(t, err)
	p.cmd = exec.CommandContext(context.Background(), argv[0], argv[1:]...) //nolint:gosec // the test's own command line
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, p.cmd.Start())
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", strings.Join(argv, " "), tail(p.log(), 100))
		}
	})
	return p
}

func (p *devrunProcess) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// waitReady polls url until it answers 200, failing when the process ends first.
func (p *devrunProcess) waitReady(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(devrunStartTimeout)
	for {
		select {
		case <-p.done:
			t.Fatalf("exited before %s answered 200: %v\n%s", url, p.waitErr, tail(p.log(), 100))
		default:
		}
		if resp, err := client.Get(url); err == nil { //nolint:noctx // a bounded poll of loopback
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s\n%s", url, devrunStartTimeout, tail(p.log(), 100))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends sig to the whole process group, as Ctrl-C in a terminal does,
// and returns how the process ended.
func (p *devrunProcess) stop(t *testing.T, sig syscall.Signal) syscall.WaitStatus {
	t.Helper()
	require.NoError(t, syscall.Kill(-p.cmd.Process.Pid, sig))
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60 s after %v\n%s", sig, tail(p.log(), 100))
	}
	return p.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// developerEnv is a developer's shell without any GopherOps settings: the Go
// toolchain's variables, PATH and HOME, and the given extras.
func developerEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH", name == "HOME", name == "TMPDIR", name == "USER",
			strings.HasPrefix(name, "GO") && !strings.HasPrefix(name, "GOPHEROPS_"):
			env = append(env, kv)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// TestMakeRunStopsCleanly runs `make run` as a newcomer does, PostgreSQL under
// its data directory included, and presses Ctrl-C: the server and its
// PostgreSQL stop and make reports no error. Then devrun alone gets SIGTERM,
// as a process manager would send, and exits 0.
func TestMakeRunStopsCleanly(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skipf("make is not installed: %v", err)
	}
	root := repo.MustRoot(t)
	dataDir := t.TempDir()
	httpAddr, adminAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	env := developerEnv(map[string]string{
		"GOPHEROPS_DATA_DIR": dataDir,
		"HTTP_ADDR":          httpAddr,
		"ADMIN_ADDR":         adminAddr,
		"LOG_FORMAT":         "json",
	})
	devrun := filepath.Join(t.TempDir(), "devrun")

	t.Run("Ctrl-C ends make run without an error", func(t *testing.T) {
		p := startDevrun(t, root, env, "make", "--no-print-directory", "run", "DEVRUN="+devrun)
		p.waitReady(t, "http://"+httpAddr+"/readyz")
		out := p.log()
		assert.Contains(t, out, "Development admin created (shown once)")
		assert.Contains(t, out, "make run: building", "make run says what it does while it builds")
		// The configuration logged at the start says what the server then does.
		assert.Contains(t, out, `"migrate_on_start":true`)
		assert.Contains(t, out, `"create_dev_admin":true`)
		assert.Contains(t, out, "GopherOps is serving on http://"+httpAddr+" (this machine only")

		status := p.stop(t, syscall.SIGINT)
		out = p.log()
		assert.NotContains(t, out, "make: ***", "make reports no error after a clean shutdown")
		assert.NotContains(t, out, "Error 1")
		assert.NotContains(t, out, "devrun:", "devrun stopped without complaint")
		assert.Contains(t, out, `"msg":"stopped"`, "the server shut down cleanly")
		// make re-raises the SIGINT it received once its child has exited 0,
		// as interactive programs do; a failed child would be exit 2.
		assert.True(t, status.Exited() && status.ExitStatus() == 0 || status.Signaled() && status.Signal() == syscall.SIGINT,
			"make ended with %v", status)
		_, err := os.Stat(filepath.Join(dataDir, "postgres", "data", "postmaster.pid"))
		assert.ErrorIs(t, err, os.ErrNotExist, "devrun stopped its PostgreSQL")
	})

	t.Run("SIGTERM ends devrun with exit code 0", func(t *testing.T) {
		if _, err := os.Stat(devrun); err != nil {
			t.Skipf("make run did not build devrun: %v", err)
		}
		p := startDevrun(t, root, env, devrun)
		p.waitReady(t, "http://"+httpAddr+"/readyz")
		assert.Contains(t, p.log(), "Users already exist", "the second run keeps the first run's database")
		status := p.stop(t, syscall.SIGTERM)
		assert.True(t, status.Exited() && status.ExitStatus() == 0, "devrun ended with %v\n%s", status, tail(p.log(), 30))
	})
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
