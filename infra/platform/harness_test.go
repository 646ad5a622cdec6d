package platform_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/platform"
	"github.com/gopherops/gopherops/infra/release"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Test secrets, set the way `pulumi config set --secret` hands them over.
const (
	testSessionKey      = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	testGrafanaPassword = "grafana-test-password"
	testGHCRToken       = "ghp_test_token"
	// testConnectionArn is the CodeConnections connection an operator sets
	// for the prod runner (account-specific, so not in the upstream file).
	testConnectionArn = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
)

// releaseDigest returns the digest deploy.yml moved a stack's ECR tag onto,
// as the test (not the mock) chooses it.
func releaseDigest(stack string) string {
	sum := sha256.Sum256([]byte("release of " + stack))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// jobDelay holds the migration Job's registration open so that a Deployment
// not ordered after it would register while it is still pending.
const jobDelay = 300 * time.Millisecond

// run is the result of one program run under the mock monitor.
type run struct {
	stack   string
	mon     *mocks.Monitor
	cfg     *config.Config
	p       *platform.Platform
	outputs map[string]string
	secret  map[string]bool
}

// deployStack runs the program for a committed stack file (repo root), with
// the secrets an operator would set and optional overrides.
func deployStack(t *testing.T, stack string, overrides map[string]string) *run {
	t.Helper()
	r, err := runStack(t, stack, overrides)
	if err != nil {
		t.Fatalf("program failed for stack %s: %v", stack, err)
	}
	return r
}

// defaultSecretKeys are the keys an operator sets with --secret.
var defaultSecretKeys = []string{"gopherops:sessionKey", "gopherops:grafanaAdminPassword", "gopherops:ghcrToken"}

// runStack is deployStack returning the program's error instead of failing.
func runStack(t *testing.T, stack string, overrides map[string]string) (*run, error) {
	t.Helper()
	return runStackWithSecretKeys(t, stack, overrides, defaultSecretKeys)
}

// setStackConfig hands the program the committed Pulumi.<stack>.yaml (repo
// root), the secrets an operator would set and the overrides ("<delete>"
// removes a key), the way the engine does, with secretKeys marked secret.
func setStackConfig(t *testing.T, stack string, overrides map[string]string, secretKeys []string) {
	t.Helper()
	// A pull request's stack is the committed template, with no secret.
	file, preview := stack, false
	if _, ok := config.PreviewNumber(stack); ok {
		file, preview = "pr", true
	}
	sf, err := config.ReadStackFile(filepath.Join("..", "..", "Pulumi."+file+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for k, v := range sf.Values {
		values[k] = v
	}
	if !preview {
		values["gopherops:sessionKey"] = testSessionKey
		values["gopherops:grafanaAdminPassword"] = testGrafanaPassword
	}
	if values["gopherops:ciRunner"] == "true" {
		values["gopherops:githubConnectionArn"] = testConnectionArn
	}
	for k, v := range overrides {
		if v == "<delete>" {
			delete(values, k)
			continue
		}
		values[k] = v
	}
	conf, _ := json.Marshal(values)
	keys, _ := json.Marshal(secretKeys)
	t.Setenv(pulumi.EnvConfig, string(conf))
	t.Setenv(pulumi.EnvConfigSecretKeys, string(keys))
}

// runStackWithSecretKeys runs the program with the given keys marked secret,
// as the engine marks values set with --secret.
func runStackWithSecretKeys(t *testing.T, stack string, overrides map[string]string, secretKeys []string) (*run, error) {
	t.Helper()
	return runStackOn(t, stack, overrides, secretKeys, newMonitor(stack))
}

// deployStackOn is deployStack on a given monitor (a mirror and records of
// the test's choosing), with extra program options.
func deployStackOn(t *testing.T, stack string, overrides map[string]string, mon *mocks.Monitor, opts ...platform.Option) *run {
	t.Helper()
	r, err := runStackOn(t, stack, overrides, defaultSecretKeys, mon, opts...)
	if err != nil {
		t.Fatalf("program failed for stack %s: %v", stack, err)
	}
	return r
}

// runStackOn runs the program for a committed stack file on mon.
func runStackOn(t *testing.T, stack string, overrides map[string]string, secretKeys []string, mon *mocks.Monitor, opts ...platform.Option) (*run, error) {
	t.Helper()
	setStackConfig(t, stack, overrides, secretKeys)

	r := &run{stack: stack, mon: mon, outputs: map[string]string{}, secret: map[string]bool{}}
	opts = append([]platform.Option{platform.WithObservability(sharedObservability(t))}, opts...)
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		cfg, err := config.Load(ctx)
		if err != nil {
			return err
		}
		r.cfg = cfg
		p, err := platform.Run(ctx, cfg, opts...)
		if err != nil {
			return err
		}
		r.p = p
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, out := range p.Outputs {
			wg.Add(1)
			out.ApplyT(func(v string) string {
				mu.Lock()
				r.outputs[name] = v
				mu.Unlock()
				wg.Done()
				return v
			})
			isSecret := pulumi.IsSecret(out)
			mu.Lock()
			r.secret[name] = isSecret
			mu.Unlock()
		}
		wg.Wait()
		return nil
	}, pulumi.WithMocks("gopherops", stack, r.mon))
	return r, err
}

// newMonitor is a mock monitor whose ECR mirror holds the stack's release
// and whose SSM record names it (as a successful deploy.yml left them),
// with the migration Job held open.
func newMonitor(stack string) *mocks.Monitor {
	m := mocks.New()
	m.Delay["kubernetes:batch/v1:Job"] = jobDelay
	m.Mirror[releaseDigest(stack)] = true
	m.Parameters[release.Parameter("gopherops", stack)] = releaseDigest(stack)
	return m
}

// sharedObservability reads the monitoring assets of infra/observability, as
// main.go embeds them.
func sharedObservability(t *testing.T) platform.Observability {
	t.Helper()
	rules, err := os.ReadFile(filepath.Join("..", "observability", "prometheus", "rules", "gopherops.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile(filepath.Join("..", "observability", "grafana", "dashboards", "gopherops.json"))
	if err != nil {
		t.Fatal(err)
	}
	return platform.Observability{AlertRules: rules, Dashboards: map[string]string{"gopherops.json": string(dashboard)}}
}

// one returns the single registration of a type, failing otherwise.
func (r *run) one(t *testing.T, typ string) *mocks.Registration {
	t.Helper()
	regs := r.mon.ByType(typ)
	if len(regs) != 1 {
		t.Fatalf("want exactly one %s, got %d", typ, len(regs))
	}
	return regs[0]
}

// ids returns the mock IDs of the registrations of a type whose logical name
// contains part, sorted.
func (r *run) ids(typ, part string) []string {
	var out []string
	for _, reg := range r.mon.ByType(typ) {
		if strings.Contains(reg.Name, part) {
			out = append(out, reg.ID)
		}
	}
	sort.Strings(out)
	return out
}

// strs converts a plain []any of strings.
func strs(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// policyDoc parses an IAM/bucket policy JSON document from an input.
func policyDoc(t *testing.T, reg *mocks.Registration, key string) map[string]any {
	t.Helper()
	raw := reg.Str(key)
	if raw == "" {
		t.Fatalf("%s has no %s", reg, key)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("%s: %s is not JSON: %v", reg, key, err)
	}
	return doc
}

// statements returns a policy's statements as maps.
func statements(doc map[string]any) []map[string]any {
	arr, _ := doc["Statement"].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, s := range arr {
		if m, ok := s.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// asList turns a policy field that may be a string or a list into a list.
func asList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		return strs(x)
	}
	return nil
}
