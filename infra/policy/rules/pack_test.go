package rules_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// recorder is the engine's side of ReportViolation.
type recorder struct{ messages, urns []string }

func (r *recorder) ReportViolation(message, urn string) {
	r.messages = append(r.messages, message)
	r.urns = append(r.urns, urn)
}

// TestPackServesTheCatalog: the pack the engine talks to is named
// gopherops, holds every policy of the catalog once with its level and
// description, and its policies report through the engine's manager.
func TestPackServesTheCatalog(t *testing.T) {
	d := declare(t, "local")
	pack, err := rules.Pack(d.env)
	if err != nil {
		t.Fatal(err)
	}
	if pack.Name() != "gopherops" || pack.Version().String() != rules.PackVersion {
		t.Errorf("pack %s %s", pack.Name(), pack.Version())
	}
	catalog := rules.Catalog()
	if len(pack.Policies()) != len(catalog) {
		t.Fatalf("%d policies served, %d in the catalog", len(pack.Policies()), len(catalog))
	}
	seen := map[string]bool{}
	for i, p := range pack.Policies() {
		want := catalog[i]
		if seen[p.Name()] {
			t.Errorf("policy %s served twice", p.Name())
		}
		seen[p.Name()] = true
		level := policyx.EnforcementLevelMandatory
		if want.Level == rules.Advisory {
			level = policyx.EnforcementLevelAdvisory
		}
		if p.Name() != want.Name || p.EnforcementLevel() != level || p.Description() != want.Description() {
			t.Errorf("served %s %v %q, want %s %v %q", p.Name(), p.EnforcementLevel(), p.Description(), want.Name, level, want.Description())
		}
		_, isStack := p.(policyx.StackValidationPolicy)
		if isStack != (want.Scope() == rules.ScopeStack) {
			t.Errorf("%s served at the wrong scope", p.Name())
		}
	}

	// A root container, as the engine hands it over.
	r := find(t, d.inputs, tDeployment, "gopherops-local")
	r.Props = set(r.Props, sc+".runAsNonRoot", boolean(false), false)
	var policy policyx.ResourceValidationPolicy
	for _, p := range pack.Policies() {
		if p.Name() == "k8s-run-as-non-root" {
			policy = p.(policyx.ResourceValidationPolicy)
		}
	}
	rec := &recorder{}
	err = policy.Validate(context.Background(), policyx.ResourceValidationArgs{
		Manager: rec,
		Resource: policyx.AnalyzerResource{
			Type: r.Type, URN: r.URN, Name: r.Name, Properties: r.Props,
			Provider: policyx.AnalyzerProviderResource{Properties: r.Provider},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.urns) != 1 || rec.urns[0] != r.URN || !strings.Contains(rec.messages[0], "must run as non-root") {
		t.Errorf("reported %v on %v", rec.messages, rec.urns)
	}
}

// TestEnvFromContext: the pack learns the stack, its environment and
// whether this is a preview from the context the engine configures it with.
func TestEnvFromContext(t *testing.T) {
	for _, dryRun := range []bool{true, false} {
		ctx, err := pulumi.NewContext(context.Background(), pulumi.RunInfo{
			Project: "gopherops", Stack: "prod", DryRun: dryRun,
			Config: map[string]string{rules.EnvironmentKey: "prod", "aws:region": "us-east-1"},
		})
		if err != nil {
			t.Fatal(err)
		}
		e := rules.EnvFromContext(ctx, now)
		if e.Project != "gopherops" || e.Stack != "prod" || e.Environment != "prod" || e.DryRun != dryRun || !e.Now.Equal(now) || !e.Prod() {
			t.Errorf("env = %+v", e)
		}
	}
	if (rules.Env{Stack: "prod", Environment: "dev"}).Prod() != true || (rules.Env{Stack: "staging", Environment: "prod"}).Prod() != true {
		t.Error("renaming the stack or its environment switches prod rules off")
	}
}

// TestDocsListEveryPolicy: docs/guardrails.md names every policy with its
// level and the control it enforces.
func TestDocsListEveryPolicy(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "guardrails.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, p := range rules.Catalog() {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(p.Name) + "` \\|.*\\| " + p.Level.String() + " \\|.*$")
		line := row.FindString(doc)
		if line == "" {
			t.Errorf("docs/guardrails.md has no table row for %s (%s)", p.Name, p.Level)
			continue
		}
		control := strings.TrimPrefix(p.Control, "docs/guardrails.md")
		if !strings.Contains(line, control) {
			t.Errorf("the row of %s does not link %s", p.Name, control)
		}
	}
}
