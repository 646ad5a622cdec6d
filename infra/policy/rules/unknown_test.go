package rules_test

import (
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

var (
	computed = property.New(property.Computed)
	poison   = property.New("zz-poison")
)

// resourcePolicies are the policies that judge one resource at a time.
func resourcePolicies(ev *rules.Evaluator) []string {
	var out []string
	for _, p := range ev.Policies() {
		if p.Scope() == rules.ScopeResource && p.Name != rules.Report && p.Name != rules.WaiverValid {
			out = append(out, p.Name)
		}
	}
	return out
}

// reports runs the named policies on r and returns the reporting ones.
func reports(t *testing.T, ev *rules.Evaluator, names []string, r *rules.Resource) map[string][]rules.Finding {
	t.Helper()
	out := map[string][]rules.Finding{}
	for _, name := range append(names, rules.Report) {
		found, err := ev.Resource(name, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) > 0 {
			out[name] = found
		}
	}
	return out
}

// TestUnknownValuesNeverPassSilently: for every value of every resource the
// program declares, if a wrong value there breaks a policy, then the same
// value unknown at preview time makes the report policy name that policy as
// deferred (the preview is not blocked), and unknown while `pulumi up`
// applies makes the policy itself fail. Nothing panics on any of it.
func TestUnknownValuesNeverPassSilently(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			d := declare(t, stack)
			preview, apply := d.env, d.env
			preview.DryRun, apply.DryRun = true, false
			evPreview, evApply := rules.NewEvaluator(preview), rules.NewEvaluator(apply)
			names := resourcePolicies(evApply)
			checked := 0
			for _, r := range d.inputs {
				for _, l := range leaves(r.Props) {
					broken := reports(t, evApply, names, with(r, l, poison))
					delete(broken, rules.Report)
					if len(broken) == 0 {
						continue
					}
					checked++
					atPreview := reports(t, evPreview, names, with(r, l, computed))
					atApply := reports(t, evApply, names, with(r, l, computed))
					for policy := range broken {
						if len(atPreview[policy]) == 0 && !mentions(atPreview[rules.Report], policy+" deferred") {
							t.Errorf("%s %s: %s unknown at preview passes %s silently", r.Type, r.Name, l.display, policy)
						}
						if len(atApply[policy]) == 0 {
							t.Errorf("%s %s: %s unknown while applying passes %s", r.Type, r.Name, l.display, policy)
						}
					}
					for policy := range atPreview {
						if policy != rules.Report && policyByName(t, evPreview, policy).Level == rules.Mandatory &&
							onlyUnknownFindings(atPreview[policy]) {
							t.Errorf("%s %s: %s unknown at preview fails %s instead of deferring it", r.Type, r.Name, l.display, policy)
						}
					}
				}
			}
			if checked < 20 {
				t.Fatalf("only %d values of %s break a policy when wrong: the test is not looking", checked, stack)
			}
		})
	}
}

// with is a copy of r whose value at l is v.
func with(r *rules.Resource, l leaf, v property.Value) *rules.Resource {
	c := *r
	c.Props = setSteps(r.Props, l.steps, v, false)
	return &c
}

func mentions(fs []rules.Finding, part string) bool {
	for _, f := range fs {
		if strings.Contains(f.Message, part) {
			return true
		}
	}
	return false
}

func onlyUnknownFindings(fs []rules.Finding) bool {
	for _, f := range fs {
		if !strings.Contains(f.Message, "unknown") {
			return false
		}
	}
	return len(fs) > 0
}

func policyByName(t *testing.T, ev *rules.Evaluator, name string) rules.Policy {
	t.Helper()
	for _, p := range ev.Policies() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no policy %s", name)
	return rules.Policy{}
}

// TestUnknownInStackPolicies: the stack-wide policies match a companion to
// its subject by what it was computed from while names are unknown, defer
// what they cannot read at preview, and fail on it while applying.
func TestUnknownInStackPolicies(t *testing.T) {
	cases := []struct {
		name   string
		stack  string
		typ    string
		match  string
		path   string
		policy string
		// deferred: the stack report names the policy at preview and the
		// policy fails while applying; otherwise nothing reports at all.
		deferred bool
	}{
		{name: "namespace name unknown, its policy found by dependency", stack: "local", typ: tNamespace, match: ".*",
			path: "metadata.name", policy: "k8s-namespace-default-deny"},
		{name: "default-deny namespace unknown, found by dependency", stack: "dev", typ: tNetPol, match: "gopherops-dev-default-deny",
			path: "metadata.namespace", policy: "k8s-namespace-default-deny"},
		{name: "default-deny rules unknown", stack: "local", typ: tNetPol, match: ".*default-deny",
			path: "spec", policy: "k8s-namespace-default-deny", deferred: true},
		{name: "bucket name unknown, companions found by dependency", stack: "dev", typ: tBucket, match: "gopherops-dev-blobs",
			path: "bucket", policy: "s3-versioning"},
		{name: "bucket policy document unknown", stack: "prod", typ: tBucketPol, match: "gopherops-prod-blobs",
			path: "policy", policy: "s3-tls-only", deferred: true},
		{name: "public access block setting unknown", stack: "dev", typ: tPAB, match: "gopherops-dev-blobs",
			path: "blockPublicAcls", policy: "s3-public-access-block", deferred: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, dryRun := range []bool{true, false} {
				d := declare(t, tc.stack)
				d.env.DryRun = dryRun
				r := find(t, d.outputs, tc.typ, tc.match)
				r.Props = set(r.Props, tc.path, computed, false)
				found := byPolicy(run(t, d))
				switch {
				case !tc.deferred && len(found) > 0:
					t.Errorf("dry run %v: want no findings, got %v", dryRun, found)
				case tc.deferred && dryRun:
					if len(found[tc.policy]) > 0 || !mentions(found[rules.StackReport], tc.policy+" deferred") {
						t.Errorf("preview: want %s deferred in %s, got %v", tc.policy, rules.StackReport, found)
					}
				case tc.deferred && !dryRun:
					if !mentions(found[tc.policy], "unknown while the change is applied") {
						t.Errorf("apply: want %s to fail on the unknown value, got %v", tc.policy, found)
					}
				}
			}
		})
	}
}

// TestUnknownWaiverAnnotations: a violation on a resource whose waivers the
// preview cannot read yet is reported: nothing unreadable waives anything.
func TestUnknownWaiverAnnotations(t *testing.T) {
	d := declare(t, "local")
	d.env.DryRun = true
	r := find(t, d.inputs, tDeployment, "gopherops-local")
	r.Props = set(r.Props, sc+".privileged", boolean(true), false)
	r.Props = set(r.Props, "metadata.annotations", computed, false)
	found := byPolicy(run(t, d))
	if !mentions(found["k8s-no-privileged"], "is privileged") {
		t.Errorf("a violation with unknown waivers passed: %v", found)
	}
}
