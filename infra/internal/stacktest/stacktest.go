// Package stacktest runs the GopherOps program for a committed stack file
// (Pulumi.<stack>.yaml at the repository root) under the mock monitor of
// infra/internal/mocks, with the secrets an operator would set, so that tests
// outside infra/platform (the policy pack's) see exactly what the program
// declares for dev, prod and local.
package stacktest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/platform"
	"github.com/gopherops/gopherops/infra/release"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Project is the Pulumi project name of Pulumi.yaml.
const Project = "gopherops"

// Test secrets, handed over the way `pulumi config set --secret` does.
const (
	SessionKey      = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	GrafanaPassword = "grafana-test-password"
	// ConnectionArn is the CodeConnections connection an operator sets for a
	// stack with the in-VPC CI runner.
	ConnectionArn = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
)

// jobDelay holds the migration Job's registration open, as the platform
// tests do, so that ordering mistakes show.
const jobDelay = 50 * time.Millisecond

// Result is one run of the program under the mock monitor.
type Result struct {
	// Stack is the stack name.
	Stack string
	// Config is the configuration the program was given (secrets included).
	Config map[string]string
	// SecretKeys are the keys marked secret.
	SecretKeys []string
	// Monitor holds every registration.
	Monitor *mocks.Monitor
}

// ReleaseDigest is the digest the stack's release record (SSM) names, in the
// mocked ECR mirror.
func ReleaseDigest(stack string) string {
	sum := sha256.Sum256([]byte("release of " + stack))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// RepoRoot is the nearest directory above the working directory that holds
// go.work and Pulumi.yaml (the bootstrap project has a Pulumi.yaml of its own).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("stacktest: %w", err)
	}
	for {
		_, errWork := os.Stat(filepath.Join(dir, "go.work"))
		_, errProject := os.Stat(filepath.Join(dir, "Pulumi.yaml"))
		if errWork == nil && errProject == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("stacktest: no go.work and Pulumi.yaml above the working directory")
		}
		dir = parent
	}
}

// StackConfig is the committed configuration of stack (Pulumi.pr.yaml for a
// pull request's pr-<n>) plus the secrets an operator sets, with overrides applied ("<delete>" removes a key), and the
// keys the engine would mark secret.
func StackConfig(stack string, overrides map[string]string) (map[string]string, []string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, nil, err
	}
	// A pull request's stack is the committed template, with no secret
	// (its session key is generated in the cluster).
	file, preview := stack, false
	if _, ok := config.PreviewNumber(stack); ok {
		file, preview = "pr", true
	}
	sf, err := config.ReadStackFile(filepath.Join(root, "Pulumi."+file+".yaml"))
	if err != nil {
		return nil, nil, fmt.Errorf("stacktest: %w", err)
	}
	values := map[string]string{}
	for k, v := range sf.Values {
		values[k] = v
	}
	var secret []string
	if !preview {
		values["gopherops:sessionKey"] = SessionKey
		values["gopherops:grafanaAdminPassword"] = GrafanaPassword
		secret = []string{"gopherops:grafanaAdminPassword", "gopherops:sessionKey"}
	}
	if values["gopherops:ciRunner"] == "true" {
		values["gopherops:githubConnectionArn"] = ConnectionArn
	}
	for k, v := range overrides {
		if v == "<delete>" {
			delete(values, k)
			continue
		}
		values[k] = v
	}
	return values, secret, nil
}

// Run runs the program (platform.Program with infra/observability's assets,
// as infra/main.go does) for stack under a fresh mock monitor whose ECR
// mirror holds the release the stack's record names.
func Run(stack string, overrides map[string]string) (*Result, error) {
	values, secret, err := StackConfig(stack, overrides)
	if err != nil {
		return nil, err
	}
	obs, err := observability()
	if err != nil {
		return nil, err
	}
	mon := mocks.New()
	mon.Delay["kubernetes:batch/v1:Job"] = jobDelay
	mon.Mirror[ReleaseDigest(stack)] = true
	mon.Parameters[release.Parameter(Project, stack)] = ReleaseDigest(stack)
	withConfig := func(info *pulumi.RunInfo) {
		info.Config = values
		info.ConfigSecretKeys = secret
	}
	err = pulumi.RunErr(platform.Program(platform.WithObservability(obs)),
		pulumi.WithMocks(Project, stack, mon), withConfig)
	if err != nil {
		return nil, fmt.Errorf("stacktest: program for stack %s: %w", stack, err)
	}
	return &Result{Stack: stack, Config: values, SecretKeys: secret, Monitor: mon}, nil
}

// observability reads the monitoring assets main.go embeds.
func observability() (platform.Observability, error) {
	root, err := RepoRoot()
	if err != nil {
		return platform.Observability{}, err
	}
	assets := os.DirFS(filepath.Join(root, "infra", "observability"))
	rules, err := fs.ReadFile(assets, "prometheus/rules/gopherops.yml")
	if err != nil {
		return platform.Observability{}, fmt.Errorf("stacktest: %w", err)
	}
	dashboard, err := fs.ReadFile(assets, "grafana/dashboards/gopherops.json")
	if err != nil {
		return platform.Observability{}, fmt.Errorf("stacktest: %w", err)
	}
	return platform.Observability{AlertRules: rules, Dashboards: map[string]string{"gopherops.json": string(dashboard)}}, nil
}
