//go:build platform

package platform

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/platform"
	"github.com/gopherops/gopherops/test/internal/kube"
)

// stackName is the stack the suite creates in its own file backend: the
// committed Pulumi.local.yaml is its configuration.
const stackName = "local"

// localStack is one of the suite's stacks in a throwaway workspace.
type localStack struct {
	stack   auto.Stack
	project *project
	// policyPack is the policy pack every up and preview runs with.
	policyPack string
}

// project is the suite's Pulumi project in a throwaway workspace: a file
// backend and a passphrase secrets provider in temporary directories, the
// inline program platform.Program (what infra/main.go runs). Every stack of
// one project shares the backend, as the pull-request stacks share theirs.
type project struct {
	root, workDir string
	env           map[string]string
	cmd           auto.PulumiCommand
	// ws is the workspace, once a stack made it.
	ws auto.Workspace
	// program is what its stacks run: platform.Program, or a variant of it
	// (the policy tests').
	program pulumi.RunFunc
}

// backend is the directory of the project's file backend.
func (p *project) backend() string { return strings.TrimPrefix(p.env["PULUMI_BACKEND_URL"], "file://") }

// newProject makes the throwaway workspace; the automation API finds
// `pulumi` on PATH, and the engine finds the provider plugin there.
func newProject(t *testing.T, tg target) *project {
	t.Helper()
	root := repoRoot(t)
	workDir, backend, home := t.TempDir(), t.TempDir(), t.TempDir()
	path := strings.Join(append(tg.pathDirs, os.Getenv("PATH")), string(os.PathListSeparator))
	t.Setenv("PATH", path)
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{SkipVersionCheck: true})
	require.NoError(t, err, "find the pulumi CLI")
	logger.Default.Logf(t, "pulumi engine %s", cmd.Version())
	env := map[string]string{
		"PATH":                      path,
		"KUBECONFIG":                tg.kubeconfig,
		"PULUMI_HOME":               home,
		"PULUMI_CONFIG_PASSPHRASE":  randomHex(t, 16),
		"PULUMI_SKIP_UPDATE_CHECK":  "true",
		"PULUMI_SKIP_CONFIRMATIONS": "true",
		"PULUMI_BACKEND_URL":        "file://" + backend,
	}
	if tg.providerOnPath {
		env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
	}
	return &project{root: root, workDir: workDir, env: env, cmd: cmd, program: platform.Program()}
}

// stack creates a stack of the project with the real engine: file is the
// committed stack file its configuration is a copy of (Pulumi.local.yaml,
// Pulumi.pr.yaml), then the given configuration on top.
func (p *project) stack(ctx context.Context, t *testing.T, name, file string, cfg auto.ConfigMap) *localStack {
	t.Helper()
	committed, err := os.ReadFile(filepath.Join(p.root, file))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(p.workDir, "Pulumi."+name+".yaml"), committed, 0o600))
	proj := workspace.Project{
		Name:    tokens.PackageName("gopherops"),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		Backend: &workspace.ProjectBackend{URL: p.env["PULUMI_BACKEND_URL"]},
	}
	stack, err := auto.UpsertStackInlineSource(ctx, name, "gopherops", p.program,
		auto.WorkDir(p.workDir), auto.Project(proj), auto.PulumiHome(p.env["PULUMI_HOME"]),
		auto.SecretsProvider("passphrase"), auto.EnvVars(p.env), auto.Pulumi(p.cmd))
	require.NoError(t, err, "create stack %s", name)
	p.ws = stack.Workspace()
	require.NoError(t, stack.SetAllConfig(ctx, cfg), "configure stack %s", name)
	return &localStack{stack: stack, project: p, policyPack: policyPack(ctx, t)}
}

// newLocalStack creates the `local` stack: a copy of the committed
// Pulumi.local.yaml plus the session key secret and the given overrides.
func newLocalStack(ctx context.Context, t *testing.T, tg target, overrides map[string]string) *localStack {
	t.Helper()
	return newStackOf(ctx, t, tg, overrides, platform.Program())
}

// newStackOf is newLocalStack with another program: a variant of the local
// stack's, for the policy tests.
func newStackOf(ctx context.Context, t *testing.T, tg target, overrides map[string]string, program pulumi.RunFunc) *localStack {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	cfg := auto.ConfigMap{"gopherops:sessionKey": {Value: base64.StdEncoding.EncodeToString(key), Secret: true}}
	for k, v := range overrides {
		cfg[k] = auto.ConfigValue{Value: v}
	}
	p := newProject(t, tg)
	p.program = program
	return p.stack(ctx, t, stackName, "Pulumi.local.yaml", cfg)
}

// setConfig changes one plain configuration value.
func (s *localStack) setConfig(ctx context.Context, t *testing.T, key, value string) {
	t.Helper()
	require.NoError(t, s.stack.SetConfig(ctx, key, auto.ConfigValue{Value: value}), "set %s", key)
}

// up runs `pulumi up` and returns the resource changes by operation.
func (s *localStack) up(ctx context.Context, t *testing.T, what string) map[string]int {
	t.Helper()
	progress := kube.NewLogWriter(t, "pulumi up: ")
	defer progress.Flush()
	start := time.Now()
	// As the workflows do: a preview with the policy pack stops a violation
	// before any change (the Automation API's up skips its own preview).
	s.preview(ctx, t)
	res, err := s.stack.Up(ctx, optup.ProgressStreams(progress), optup.ErrorProgressStreams(progress),
		optup.Color("never"), optup.Message("gopherops platform suite: "+what), optup.PolicyPacks(s.policyPack))
	require.NoError(t, err, "pulumi up (%s)", what)
	changes := map[string]int{}
	if res.Summary.ResourceChanges != nil {
		changes = *res.Summary.ResourceChanges
	}
	logger.Default.Logf(t, "pulumi up (%s): %s in %s", what, formatChanges(changes), time.Since(start).Round(100*time.Millisecond))
	return changes
}

// preview runs `pulumi preview` and returns the planned changes by operation.
func (s *localStack) preview(ctx context.Context, t *testing.T) map[apitype.OpType]int {
	t.Helper()
	progress := kube.NewLogWriter(t, "pulumi preview: ")
	defer progress.Flush()
	res, err := s.stack.Preview(ctx, optpreview.ProgressStreams(progress), optpreview.Color("never"), optpreview.Diff(),
		optpreview.PolicyPacks(s.policyPack))
	require.NoError(t, err, "pulumi preview with the policy pack")
	return res.ChangeSummary
}

// outputs reads the stack outputs as strings.
func (s *localStack) outputs(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	out, err := s.stack.Outputs(ctx)
	require.NoError(t, err)
	m := map[string]string{}
	for k, v := range out {
		m[k] = fmt.Sprint(v.Value)
	}
	return m
}

// destroy runs `pulumi destroy` and removes the stack; the context has its
// own time so a failed test still cleans up.
func (s *localStack) destroy(ctx context.Context, t *testing.T) {
	t.Helper()
	progress := kube.NewLogWriter(t, "pulumi destroy: ")
	defer progress.Flush()
	start := time.Now()
	res, err := s.stack.Destroy(ctx, optdestroy.ProgressStreams(progress), optdestroy.ErrorProgressStreams(progress), optdestroy.Color("never"))
	require.NoError(t, err, "pulumi destroy")
	changes := map[string]int{}
	if res.Summary.ResourceChanges != nil {
		changes = *res.Summary.ResourceChanges
	}
	logger.Default.Logf(t, "pulumi destroy: %s in %s", formatChanges(changes), time.Since(start).Round(100*time.Millisecond))
	require.NoError(t, s.stack.Workspace().RemoveStack(ctx, s.stack.Name()), "remove the stack")
}

func formatChanges(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for op, n := range m {
		parts = append(parts, op+"="+strconv.Itoa(n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// stackConfig is the stack's effective configuration, defaults included.
func (s *localStack) stackConfig(ctx context.Context, t *testing.T) *config.Config {
	t.Helper()
	all, err := s.stack.GetAllConfig(ctx)
	require.NoError(t, err)
	m := map[string]string{}
	for k, v := range all {
		m[k] = v.Value
	}
	// The stack file carries only what differs from infra/config's
	// defaults: the program's own parser says what the stack really asks for.
	name := s.stack.Name()
	name = name[strings.LastIndex(name, "/")+1:] // organization/project/stack
	cfg, err := config.Parse(config.FromMap(m), config.Namespace, name)
	require.NoError(t, err, "the stack's configuration")
	return cfg
}
