package service

import (
	"os"
	"strings"
	"testing"

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
// A second of drain delay lets the lifecycle tests watch readiness fail
// before the listener closes.
func serviceEnvS3(t *testing.T, dbURL string) (gopherops.Env, *fakes3.Server) {
	t.Helper()
	env, s3 := gopherops.TestEnv(t, dbURL, avatarBucket)
	return env.With(map[string]string{"SHUTDOWN_DELAY": "1s"}), s3
}

// createAdmin creates the first admin as an operator would; on a fresh
// database it is the root user.
func createAdmin(t *testing.T, bin *gopherops.Binary, env gopherops.Env) journey.Credentials {
	t.Helper()
	admin, out := bin.CreateAdmin(t, env)
	require.Contains(t, out, "root admin", "the first admin is the root user")
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
