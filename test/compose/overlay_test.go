package compose

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/internal/repo"
)

// TestOverlayPublishesOnlyEphemeralLoopbackPorts loads compose.yaml with the
// suite's overlay the way `docker compose` does (no Docker needed) and checks
// the assumptions TestComposeStack makes, so a change to compose.yaml that
// would break the suite fails here, in `make test`, first.
func TestOverlayPublishesOnlyEphemeralLoopbackPorts(t *testing.T) {
	root := repo.MustRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, composeFile), filepath.Join(root, overlayFile)},
		cli.WithWorkingDirectory(root),
		cli.WithName("gopherops-test-overlay"),
		cli.WithEnv([]string{"GOPHEROPS_IMAGE=gopherops:overlay-check"}),
	)
	require.NoError(t, err)
	project, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "compose.yaml plus %s must load", overlayFile)

	for _, name := range []string{"app", "db", "migrate", "s3"} {
		require.Contains(t, project.Services, name, "the suite relies on service %q", name)
	}
	for name, svc := range project.Services {
		for _, p := range svc.Ports {
			assert.Empty(t, p.Published, "%s publishes container port %d on fixed host port %s: add it to %s with an ephemeral port", name, p.Target, p.Published, overlayFile)
			assert.Equal(t, "127.0.0.1", p.HostIP, "%s publishes container port %d beyond loopback", name, p.Target)
		}
	}

	app := project.Services["app"]
	var targets []uint32
	for _, p := range app.Ports {
		targets = append(targets, p.Target)
	}
	assert.ElementsMatch(t, []uint32{8080, 9090}, targets, "the overlay publishes the app's public and admin ports")
	assert.Equal(t, "gopherops:overlay-check", app.Image, "the app runs ${GOPHEROPS_IMAGE}")
	assert.Equal(t, "gopherops:overlay-check", project.Services["migrate"].Image, "migrate (used for `admin create`) runs ${GOPHEROPS_IMAGE}")
	for key, port := range map[string]string{"HTTP_ADDR": appPort, "ADMIN_ADDR": adminPort} {
		v := app.Environment[key]
		require.NotNil(t, v, "app sets %s", key)
		assert.True(t, strings.HasSuffix(*v, ":"+port), "app's %s=%s listens on %s", key, *v, port)
	}
	assert.NotNil(t, app.HealthCheck, "app has a healthcheck, so `up --wait` waits for readiness")
}
