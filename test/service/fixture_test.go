package service

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/internal/fakes3"
	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/journey"
)

// avatarBucket is the bucket of BLOB_STORE.
const avatarBucket = "avatars"

// serviceEnv is the environment of a test deployment: the database at dbURL,
// avatars in a bucket of a fake S3 on loopback, a fixed session key, JSON
// logs and a short drain.
func serviceEnv(t *testing.T, dbURL string) gopherops.Env {
	t.Helper()
	env, _ := serviceEnvS3(t, dbURL)
	return env
}

// serviceEnvS3 is serviceEnv that also returns the fake S3, to look inside.
func serviceEnvS3(t *testing.T, dbURL string) (gopherops.Env, *fakes3.Server) {
	t.Helper()
	s3 := fakes3.Start(t, avatarBucket)
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return gopherops.Env{
		"APP_ENV":          "test",
		"DATABASE_URL":     dbURL,
		"MIGRATE_ON_START": "false",
		"BLOB_STORE":       "s3://" + avatarBucket + "/",
		"SESSION_KEY":      base64.StdEncoding.EncodeToString(key),
		"SHUTDOWN_TIMEOUT": "10s",
		"SHUTDOWN_DELAY":   "1s",
		"LOG_FORMAT":       "json",
		"LOG_LEVEL":        "info",
	}.With(s3.Env()), s3
}

// createAdmin runs `gopherops admin create` as an operator would, with the
// password in ADMIN_PASSWORD, and returns the credentials.
func createAdmin(t *testing.T, bin *gopherops.Binary, env gopherops.Env) journey.Credentials {
	t.Helper()
	admin := journey.Credentials{Login: "root-" + random.UniqueID(), Password: journey.NewPassword()}
	res := bin.MustRun(t, env.With(map[string]string{"ADMIN_PASSWORD": admin.Password}), "",
		"admin", "create", "--username", admin.Login, "--email", strings.ToLower(admin.Login)+"@example.com", "--role", "admin")
	require.Contains(t, res.Stdout, "root admin", "the first admin is the root user")
	return admin
}

// attachPostgresLog prints the PostgreSQL server log when the test fails.
func attachPostgresLog(t *testing.T, path string) {
	t.Helper()
	if path == "" {
		return // TEST_DATABASE_URL: the server is not ours
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Logf("PostgreSQL log %s: %v", path, err)
			return
		}
		t.Logf("PostgreSQL log (%s):\n%s", path, tail(string(b), 200))
	})
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
