package gopherops

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/internal/fakes3"
	"github.com/gopherops/gopherops/test/journey"
)

// TestEnv is the environment of a test deployment: the database at dbURL,
// avatars in bucket on a fake S3 on loopback (returned, to look inside), a
// random session key, JSON logs at info and a 10 s drain without delay.
// Suites add what is theirs with Env.With.
func TestEnv(t testing.TB, dbURL, bucket string) (Env, *fakes3.Server) {
	t.Helper()
	s3 := fakes3.Start(t, bucket)
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return Env{
		"APP_ENV":          "test",
		"DATABASE_URL":     dbURL,
		"MIGRATE_ON_START": "false",
		"BLOB_STORE":       "s3://" + bucket + "/",
		"SESSION_KEY":      base64.StdEncoding.EncodeToString(key),
		"SHUTDOWN_TIMEOUT": "10s",
		"SHUTDOWN_DELAY":   "0s",
		"LOG_FORMAT":       "json",
		"LOG_LEVEL":        "info",
	}.With(s3.Env()), s3
}

// CreateAdmin runs `gopherops admin create` as an operator would, with the
// password in ADMIN_PASSWORD (never on the command line), and returns the
// credentials and what the command printed.
func (b *Binary) CreateAdmin(t testing.TB, env Env) (journey.Credentials, string) {
	t.Helper()
	admin := journey.Credentials{Login: "root-" + random.UniqueID(), Password: journey.NewPassword()}
	res := b.MustRun(t, env.With(map[string]string{"ADMIN_PASSWORD": admin.Password}), "",
		"admin", "create", "--username", admin.Login, "--email", strings.ToLower(admin.Login)+"@example.com", "--role", "admin")
	return admin, res.Stdout
}
