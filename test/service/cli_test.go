package service

import (
	"fmt"
	"net/http"
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

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"frobnicate"},
			{"migrate"},
			{"migrate", "sideways"},
			{"migrate", "down"},
			{"migrate", "down", "zero"},
			{"admin"},
			{"admin", "create", "--username", "x"},
		} {
			res := bin.Run(t, env, "", args...)
			assert.Equal(t, 2, res.ExitCode, "gopherops %s\nstderr:\n%s", strings.Join(args, " "), res.Stderr)
			assert.NotEmpty(t, res.Stderr, "gopherops %s explains the mistake", strings.Join(args, " "))
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
