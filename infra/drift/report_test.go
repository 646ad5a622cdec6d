package drift_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blang/semver"
	"github.com/gopherops/gopherops/infra/drift"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

const (
	deploymentURN = "urn:pulumi:local::gopherops::gopherops:infra:App$kubernetes:apps/v1:Deployment::gopherops-local"
	serviceURN    = "urn:pulumi:local::gopherops::gopherops:infra:App$kubernetes:core/v1:Service::gopherops-local-metrics"
)

// TestFromStep: a refresh step's result becomes a drifted resource with its
// properties and their declared and live values; a step that found nothing
// is no drift.
func TestFromStep(t *testing.T) {
	cases := []struct {
		name  string
		step  apitype.StepEventMetadata
		want  *drift.Resource
		props map[string][2]any // path → declared, live
	}{
		{
			name: "scaled deployment",
			step: apitype.StepEventMetadata{
				Op: apitype.OpUpdate, URN: deploymentURN, Type: "kubernetes:apps/v1:Deployment",
				Old: &apitype.StepEventStateMetadata{ID: "gopherops/gopherops", Inputs: map[string]any{
					"spec": map[string]any{"replicas": 1.0, "template": map[string]any{"spec": map[string]any{
						"containers": []any{map[string]any{"ports": []any{map[string]any{"containerPort": 8080.0}}}}}}},
				}},
				New: &apitype.StepEventStateMetadata{ID: "gopherops/gopherops", Inputs: map[string]any{
					"spec": map[string]any{"replicas": 0.0, "template": map[string]any{"spec": map[string]any{
						"containers": []any{map[string]any{"ports": []any{map[string]any{"containerPort": 9999.0}}}}}}},
				}},
				DetailedDiff: map[string]apitype.PropertyDiff{
					"spec.replicas": {Kind: apitype.DiffUpdate},
					"spec.template.spec.containers[0].ports[0].containerPort": {Kind: apitype.DiffUpdate},
				},
			},
			want: &drift.Resource{URN: deploymentURN, Type: "kubernetes:apps/v1:Deployment", Name: "gopherops-local",
				ID: "gopherops/gopherops", Change: drift.Updated},
			props: map[string][2]any{
				"spec.replicas": {1.0, 0.0},
				"spec.template.spec.containers[0].ports[0].containerPort": {8080.0, 9999.0},
			},
		},
		{
			name: "property added by hand, only the diffs list",
			step: apitype.StepEventMetadata{
				Op: apitype.OpUpdate, URN: deploymentURN, Type: "kubernetes:apps/v1:Deployment",
				Old:   &apitype.StepEventStateMetadata{Inputs: map[string]any{}},
				New:   &apitype.StepEventStateMetadata{Inputs: map[string]any{"data": "x"}},
				Diffs: []string{"data"},
			},
			want:  &drift.Resource{URN: deploymentURN, Type: "kubernetes:apps/v1:Deployment", Name: "gopherops-local", Change: drift.Updated},
			props: map[string][2]any{"data": {nil, "x"}},
		},
		{
			name: "deleted service",
			step: apitype.StepEventMetadata{Op: apitype.OpDelete, URN: serviceURN, Type: "kubernetes:core/v1:Service",
				Old: &apitype.StepEventStateMetadata{ID: "gopherops/gopherops-metrics"}},
			want: &drift.Resource{URN: serviceURN, Type: "kubernetes:core/v1:Service", Name: "gopherops-local-metrics",
				ID: "gopherops/gopherops-metrics", Change: drift.Deleted},
		},
		{name: "unchanged", step: apitype.StepEventMetadata{Op: apitype.OpSame, URN: serviceURN}},
		{name: "refresh step without a result", step: apitype.StepEventMetadata{Op: apitype.OpRefresh, URN: serviceURN}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := drift.FromStep(tc.step)
			if tc.want == nil {
				if ok {
					t.Fatalf("drift reported for %s: %+v", tc.step.Op, got)
				}
				return
			}
			if !ok {
				t.Fatal("no drift reported")
			}
			if got.URN != tc.want.URN || got.Type != tc.want.Type || got.Name != tc.want.Name || got.ID != tc.want.ID || got.Change != tc.want.Change {
				t.Errorf("resource = %+v, want %+v", got, tc.want)
			}
			if len(got.Properties) != len(tc.props) {
				t.Fatalf("properties = %+v, want %v", got.Properties, tc.props)
			}
			for _, p := range got.Properties {
				want, ok := tc.props[p.Path]
				if !ok || p.Declared != want[0] || p.Live != want[1] || p.Change != drift.Updated {
					t.Errorf("property %+v, want declared %v live %v", p, want[0], want[1])
				}
			}
		})
	}
}

// TestReportFormats: the JSON names every drifted resource and property
// for machines; the Markdown says the same to people, and that a clean
// stack is clean.
func TestReportFormats(t *testing.T) {
	checked := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dep, _ := drift.FromStep(apitype.StepEventMetadata{
		Op: apitype.OpUpdate, URN: deploymentURN, Type: "kubernetes:apps/v1:Deployment",
		Old:          &apitype.StepEventStateMetadata{Inputs: map[string]any{"spec": map[string]any{"replicas": 1.0}}},
		New:          &apitype.StepEventStateMetadata{Inputs: map[string]any{"spec": map[string]any{"replicas": 0.0}}},
		DetailedDiff: map[string]apitype.PropertyDiff{"spec.replicas": {Kind: apitype.DiffUpdate}},
	})
	svc, _ := drift.FromStep(apitype.StepEventMetadata{Op: apitype.OpDelete, URN: serviceURN, Type: "kubernetes:core/v1:Service"})
	r := &drift.Report{Stack: "local", CheckedAt: checked, Duration: "3.2s", Drifted: true,
		Resources: []drift.Resource{dep, svc}, Summary: map[string]int{"same": 20, "update": 1, "delete": 1}}

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Stack     string `json:"stack"`
		Drifted   bool   `json:"drifted"`
		Resources []struct {
			URN        string `json:"urn"`
			Change     string `json:"change"`
			Properties []struct {
				Path     string `json:"path"`
				Declared any    `json:"declared"`
				Live     any    `json:"live"`
			} `json:"properties"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Stack != "local" || !back.Drifted || len(back.Resources) != 2 || back.Resources[0].URN != deploymentURN ||
		back.Resources[0].Properties[0].Path != "spec.replicas" || back.Resources[0].Properties[0].Live != 0.0 ||
		back.Resources[1].Change != drift.Deleted {
		t.Errorf("JSON = %s", js.String())
	}

	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"## Drift check of stack `local`", "**2 resource(s) drifted**", "`spec.replicas` | update | `1` | `0`",
		serviceURN, "is **gone**", "2026-03-01T12:00:00Z"} {
		if !strings.Contains(md.String(), part) {
			t.Errorf("Markdown lacks %q:\n%s", part, md.String())
		}
	}

	clean := &drift.Report{Stack: "dev", CheckedAt: checked, Duration: "1s", Resources: []drift.Resource{}}
	md.Reset()
	if err := clean.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**No drift**") {
		t.Errorf("clean Markdown:\n%s", md.String())
	}
}

// TestCheckNeedsAStack: a check without a stack or directory is refused
// before any engine runs.
func TestCheckNeedsAStack(t *testing.T) {
	for _, o := range []drift.Options{{WorkDir: "."}, {Stack: "dev"}} {
		if _, err := drift.Check(context.Background(), o); err == nil || errors.Is(err, drift.ErrNoStack) {
			t.Errorf("Check(%+v) = %v, want a usage error", o, err)
		}
	}
}

// recordingPulumi stands in for the CLI: it records each call's arguments and
// environment and fails the refresh, which is all TestCheckNeverConfirms
// needs to see what the engine would have been asked.
type recordingPulumi struct{ calls [][]string }

func (r *recordingPulumi) Run(_ context.Context, _ string, _ io.Reader, _, _ []io.Writer, env []string, args ...string) (string, string, int, error) {
	r.calls = append(r.calls, append(slices.Clone(args), env...))
	if slices.Contains(args, "refresh") {
		return "", "error: stopped by the test", 1, errors.New("exit status 1")
	}
	return "", "", 0, nil
}

func (r *recordingPulumi) Version() semver.Version { return semver.MustParse("3.274.1") }

// TestCheckNeverConfirms: a caller whose environment says
// PULUMI_SKIP_CONFIRMATIONS=true (the platform suite's, a CI job's) still
// gets a refresh preview; the engine refuses that variable with
// --preview-only ("--yes and --preview-only cannot be used together").
func TestCheckNeverConfirms(t *testing.T) {
	fake := &recordingPulumi{}
	_, err := drift.Check(context.Background(), drift.Options{
		Stack: "local", WorkDir: t.TempDir(), Pulumi: fake,
		Env: map[string]string{"PULUMI_SKIP_CONFIRMATIONS": "true", "PULUMI_BACKEND_URL": "file:///tmp/x"},
	})
	if err == nil {
		t.Fatal("Check succeeded although the refresh failed")
	}
	var refresh []string
	for _, c := range fake.calls {
		if slices.Contains(c, "refresh") {
			refresh = c
		}
	}
	if refresh == nil {
		t.Fatalf("no refresh among the calls %q", fake.calls)
	}
	for _, want := range []string{"--preview-only", "PULUMI_SKIP_CONFIRMATIONS=false", "PULUMI_BACKEND_URL=file:///tmp/x"} {
		if !slices.Contains(refresh, want) {
			t.Errorf("refresh call %q lacks %q", refresh, want)
		}
	}
	for _, bad := range []string{"--yes", "--skip-preview", "PULUMI_SKIP_CONFIRMATIONS=true"} {
		if slices.Contains(refresh, bad) {
			t.Errorf("refresh call %q has %q", refresh, bad)
		}
	}
}
