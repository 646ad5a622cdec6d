package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/docker"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/gruntwork-io/terratest/modules/shell"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/internal/repo"
	"github.com/gopherops/gopherops/test/internal/stage"
	"github.com/gopherops/gopherops/test/journey"
)

// Stages; set SKIP_<stage> to skip one.
const (
	stageUp       = "up"
	stageJourneys = "journeys"
	stageDown     = "down"
)

// Files, relative to the repository root.
const (
	composeFile = "compose.yaml"
	overlayFile = "test/compose/testdata/compose.test.yaml"
)

// Ports inside the app container (compose.yaml: HTTP_ADDR, ADMIN_ADDR).
const (
	appPort   = "8080"
	adminPort = "9090"
)

// upTimeout bounds `up --wait` (an image build included).
const upTimeout = 15 * time.Minute

// stack is what one run of the suite knows about its compose stack, saved
// between stages so a later run can reuse a stack kept up with SKIP_down.
type stack struct {
	// Project is the compose project name, unique per stack.
	Project string `json:"project"`
	// Image is the gopherops image the stack runs.
	Image string `json:"image"`
	// Built is true when the suite built Image (and removes it at down).
	Built bool `json:"built"`
	// Version is the version the image must report ("" when unknown).
	Version string `json:"version"`

	Admin    journey.Credentials `json:"admin"`
	BaseURL  string              `json:"base_url"`
	AdminURL string              `json:"admin_url"`
}

// TestComposeStack brings the compose stack up, signs in as the development admin it printed,
// walks the journeys against it and takes it down with its volumes.
func TestComposeStack(t *testing.T) {
	requireDocker(t)
	root := repo.MustRoot(t)
	workDir, err := os.Getwd()
	require.NoError(t, err)

	var st stack
	if stage.Skipped(stageUp) {
		stage.Load(t, workDir, "stack", &st)
	} else {
		st = newStack()
		stage.Save(t, workDir, "stack", st)
	}
	opts := composeOptions(root, st)

	// Cleanup is registered before anything exists; failed runs keep their logs.
	defer stage.Run(t, stageDown, func() {
		out, err := docker.RunDockerComposeContextE(t, context.Background(), opts, composeArgs("down", "--volumes", "--remove-orphans", "--timeout", "30")...)
		if err != nil {
			// Keep .test-data: SKIP_up=1 SKIP_journeys=1 retries the down.
			t.Errorf("docker compose down (project %s): %v\n%s", st.Project, err, out)
			return
		}
		if st.Built {
			if out, err := exec.Command("docker", "image", "rm", st.Image).CombinedOutput(); err != nil {
				t.Logf("remove the image the suite built (%s): %v\n%s", st.Image, err, out)
			}
		}
		stage.Clean(t, workDir)
	})
	defer func() {
		if t.Failed() {
			out, _ := docker.RunDockerComposeContextE(t, context.Background(), opts, composeArgs("ps", "--all")...)
			t.Logf("docker compose ps --all:\n%s", out)
			out, _ = docker.RunDockerComposeContextE(t, context.Background(), opts, composeArgs("logs", "--no-color", "--timestamps")...)
			t.Logf("docker compose logs:\n%s", out)
		}
	}()

	stage.Run(t, stageUp, func() {
		up(t, opts, st)
		st.Admin = devAdmin(t, opts)
		st.BaseURL = "http://" + port(t, opts, "app", appPort)
		st.AdminURL = "http://" + port(t, opts, "app", adminPort)
		if st.Version == "" {
			st.Version = imageVersion(t, st.Image)
		}
		stage.Save(t, workDir, "stack", st)
	})

	stage.Run(t, stageJourneys, func() {
		stage.Load(t, workDir, "stack", &st)
		journey.WaitReady(t, st.BaseURL, 2*time.Minute)
		t.Run("the app container is healthy and not root", func(t *testing.T) {
			containerChecks(t, opts)
		})
		journey.All(t, &journey.Target{
			BaseURL:   st.BaseURL,
			AdminURLs: []string{st.AdminURL},
			Admin:     st.Admin,
			Version:   st.Version,
		})
	})
}

// newStack names a new stack. With GOPHEROPS_IMAGE set it runs that image
// (CI's release workflow tests the image it built); otherwise it builds one
// under a unique tag, stamped with a unique version the app must report.
func newStack() stack {
	id := strings.ToLower(random.UniqueID())
	st := stack{Project: "gopherops-test-" + id}
	if img := os.Getenv("GOPHEROPS_IMAGE"); img != "" {
		st.Image = img
		return st
	}
	st.Image, st.Built, st.Version = "gopherops:compose-test-"+id, true, "compose-test-"+id
	return st
}

// composeOptions runs docker compose from the repository root under the
// stack's project, with the image (and the version to build it with) in the
// environment compose.yaml interpolates.
func composeOptions(root string, st stack) *docker.Options {
	env := map[string]string{"GOPHEROPS_IMAGE": st.Image}
	if st.Built {
		env["GOPHEROPS_VERSION"] = st.Version
	}
	return &docker.Options{WorkingDir: root, ProjectName: st.Project, EnvVars: env}
}

// composeArgs puts the repository's compose file and the suite's overlay
// before a compose subcommand.
func composeArgs(args ...string) []string {
	return append([]string{"--file", composeFile, "--file", overlayFile}, args...)
}

// up starts the stack and waits for every healthcheck.
func up(t *testing.T, opts *docker.Options, st stack) {
	t.Helper()
	args := []string{"up", "--detach", "--wait", "--wait-timeout", strconv.Itoa(int(upTimeout.Seconds()))}
	if st.Built {
		args = append(args, "--build")
	} else {
		args = append(args, "--no-build")
	}
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout+time.Minute)
	defer cancel()
	docker.RunDockerComposeContext(t, ctx, opts, composeArgs(args...)...)
}

// devAdmin signs in the way compose.yaml tells a new user to: the app created
// "admin" on its first start and printed the password once in its log.
func devAdmin(t *testing.T, opts *docker.Options) journey.Credentials {
	t.Helper()
	logs := docker.RunDockerComposeAndGetStdOutContext(t, context.Background(), opts, composeArgs("logs", "--no-color", "--no-log-prefix", "app")...)
	admin, err := devAdminFromLogs(logs)
	require.NoError(t, err, "the app's first start must print the development admin once")
	return admin
}

var devAdminPassword = regexp.MustCompile(`(?m)^\s*password: (\S+)\s*$`)

// devAdminFromLogs finds the one-time development admin in the app's output:
// exactly one password line after the "Development admin created" banner.
func devAdminFromLogs(logs string) (journey.Credentials, error) {
	i := strings.Index(logs, "Development admin created")
	if i < 0 {
		return journey.Credentials{}, errors.New(`no "Development admin created" banner in the app's log`)
	}
	all := devAdminPassword.FindAllStringSubmatch(logs, -1)
	if len(all) != 1 {
		return journey.Credentials{}, fmt.Errorf("want the password printed exactly once, found %d times", len(all))
	}
	if !strings.Contains(logs[i:], "username: admin") {
		return journey.Credentials{}, errors.New(`the banner does not name the user "admin"`)
	}
	return journey.Credentials{Login: "admin", Password: all[0][1]}, nil
}

// port returns the host address compose published a container port on.
func port(t *testing.T, opts *docker.Options, service, containerPort string) string {
	t.Helper()
	out := docker.RunDockerComposeAndGetStdOutContext(t, context.Background(), opts, composeArgs("port", service, containerPort)...)
	addr := strings.TrimSpace(out)
	require.NotEmpty(t, addr, "compose publishes %s:%s (see %s)", service, containerPort, overlayFile)
	return addr
}

// imageVersion is the image's org.opencontainers.image.version label, the
// version its binary must report; "" when the image has none.
func imageVersion(t *testing.T, image string) string {
	t.Helper()
	out, err := shell.RunCommandContextAndGetStdOutE(t, context.Background(), &shell.Command{Command: "docker",
		Args: []string{"image", "inspect", "--format", `{{index .Config.Labels "org.opencontainers.image.version"}}`, image}})
	require.NoError(t, err, "docker image inspect %s", image)
	return strings.TrimSpace(out)
}

// containerChecks inspects the running app container.
func containerChecks(t *testing.T, opts *docker.Options) {
	id := strings.TrimSpace(docker.RunDockerComposeAndGetStdOutContext(t, context.Background(), opts, composeArgs("ps", "--quiet", "app")...))
	require.NotEmpty(t, id, "the app container is running")
	out, err := shell.RunCommandContextAndGetStdOutE(t, context.Background(), &shell.Command{Command: "docker",
		Args: []string{"inspect", "--format", "{{.Config.User}}|{{.State.Health.Status}}", id}})
	require.NoError(t, err)
	parts := strings.Split(strings.TrimSpace(out), "|")
	require.Len(t, parts, 2, "docker inspect output %q", out)
	user, health := parts[0], parts[1]
	assert.NotContains(t, []string{"", "root", "0", "0:0"}, user, "the app container runs as a non-root user")
	assert.Equal(t, "healthy", health, "the app container's healthcheck (gopherops healthcheck) passes")
}

// requireDocker skips the test, saying what is missing and how to run it,
// unless the docker CLI, its compose plugin and an engine all answer.
func requireDocker(t *testing.T) {
	t.Helper()
	const how = "start Docker (or point DOCKER_HOST at an engine), then run `make test-compose` " +
		"(set GOPHEROPS_IMAGE=<ref> to test an image built elsewhere instead of building one)"
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skipf("compose suite skipped: the docker CLI is not on PATH; install Docker with the compose plugin, then %s", how)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("compose suite skipped: no Docker engine answers `docker info` (%s); %s", firstLine(out, err), how)
	}
	if out, err := exec.CommandContext(ctx, "docker", "compose", "version", "--short").CombinedOutput(); err != nil {
		t.Skipf("compose suite skipped: `docker compose` is not available (%s); install the Docker Compose v2 plugin (2.24.4 or later), then %s", firstLine(out, err), how)
	}
}

// firstLine is the first non-empty line of a command's output, else its error.
func firstLine(out []byte, err error) string {
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return err.Error()
}
