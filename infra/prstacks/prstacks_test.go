package prstacks_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/prstacks"
)

const (
	tVAP  = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
	tVAPB = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
	tCR   = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
	tCRB  = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
)

func deploy(t *testing.T) *mocks.Monitor {
	t.Helper()
	mon := mocks.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "dev", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		_, err = prstacks.New(ctx, "pr-stacks", prstacks.Args{Provider: p})
		return err
	}, pulumi.WithMocks("gopherops", "dev", mon))
	if err != nil {
		t.Fatalf("prstacks.New: %v", err)
	}
	return mon
}

// TestRightsComeAfterTheGuard: the group's ClusterRole and its binding
// wait for the enforced policy binding, so no up leaves the group holding
// namespace rights unguarded, and a destroy takes them away first; every
// object is on the given cluster's provider under its fixed name.
func TestRightsComeAfterTheGuard(t *testing.T) {
	mon := deploy(t)
	for _, typ := range []string{tVAP, tVAPB, tCR, tCRB} {
		r := mon.Get(typ, "pr-stacks")
		if r == nil || r.Str("metadata.name") != prstacks.Name || !strings.Contains(r.Provider, "::dev::") {
			t.Fatalf("%s = %v, want %s on the dev provider", typ, r, prstacks.Name)
		}
	}
	for _, typ := range []string{tCR, tCRB} {
		if !mon.Get(typ, "pr-stacks").ExplicitlyDependsOn(tVAPB, "pr-stacks") {
			t.Errorf("%s does not wait for the policy binding", typ)
		}
	}
	if a, _ := mon.Get(tVAPB, "pr-stacks").Get("spec.validationActions"); fmt.Sprint(a) != "[Deny]" {
		t.Errorf("the policy binding's actions are %v: an audited policy refuses nothing", a)
	}
}

// TestPolicyHoldsTheGroupsWrites: the policy fails closed, applies to the
// group only, to every write of what the ClusterRole lets the group write,
// and its namespace check is the pull-request stacks' exact name pattern,
// which admits every stack's namespace and nothing else.
func TestPolicyHoldsTheGroupsWrites(t *testing.T) {
	mon := deploy(t)
	vap := mon.Get(tVAP, "pr-stacks")
	if vap.Str("spec.failurePolicy") != "Fail" {
		t.Errorf("failurePolicy %q: a policy that cannot be evaluated would let the request through", vap.Str("spec.failurePolicy"))
	}
	if c := vap.Str("spec.matchConditions[0].expression"); !strings.Contains(c, `"`+prstacks.Group+`" in request.userInfo.groups`) {
		t.Errorf("the policy matches %q, not the group %s", c, prstacks.Group)
	}
	ops, _ := vap.Get("spec.matchConstraints.resourceRules[0].operations")
	written, _ := vap.Get("spec.matchConstraints.resourceRules[0].resources")
	if fmt.Sprint(ops) != "[CREATE UPDATE DELETE]" {
		t.Errorf("the policy holds %v, want every write", ops)
	}
	rules, _ := mon.Get(tCR, "pr-stacks").Get("rules")
	for _, rule := range rules.([]any) {
		m := rule.(map[string]any)
		if strings.Contains(fmt.Sprint(m["verbs"]), "create") && fmt.Sprint(m["resources"]) != fmt.Sprint(written) {
			t.Errorf("the group may write %v, the policy holds %v", m["resources"], written)
		}
	}
	if v := vap.Str("spec.validations[0].expression"); !strings.Contains(v, config.PreviewNamespacePattern) {
		t.Errorf("namespace check %q", v)
	}
	pattern := regexp.MustCompile(config.PreviewNamespacePattern)
	for _, n := range []int{1, 7, 42, 999999999} {
		if ns := config.PreviewNamespace(n); !pattern.MatchString(ns) {
			t.Errorf("pull request %d's namespace %s is refused", n, ns)
		}
	}
	for _, ns := range []string{"gopherops-dev", "gopherops-prod", "gopherops-pr-", "gopherops-pr-07", "gopherops-pr-x", "gopherops-pr-1-a", "default", "kube-system"} {
		if pattern.MatchString(ns) {
			t.Errorf("namespace %s passes as a pull request's", ns)
		}
	}
	if v := vap.Str("spec.validations[1].expression"); !strings.Contains(v, `["`+prstacks.EnforceLabel+`"] == "restricted"`) {
		t.Errorf("Pod Security check %q", v)
	}
}
