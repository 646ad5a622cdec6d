package monitoring_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/monitoring"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const tNetPol = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

// TestNamespaceDeniesAllButTheStack: the monitoring namespace denies every
// flow by default and admits exactly what kube-prometheus-stack needs, and
// the chart is installed only once those policies exist.
func TestNamespaceDeniesAllButTheStack(t *testing.T) {
	mon := mocks.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		_, err = monitoring.New(ctx, "monitoring", monitoring.Args{
			Provider: p, Namespace: "monitoring", ChartVersion: "75.15.1", GrafanaAdminPassword: pulumi.String("grafana-test-password"),
			AppName: "gopherops", AppNamespace: pulumi.String("gopherops"),
			MetricsLabels: map[string]string{"app.kubernetes.io/name": "gopherops"}, MetricsPort: "metrics",
		})
		return err
	}, pulumi.WithMocks("gopherops", "prod", mon))
	if err != nil {
		t.Fatal(err)
	}

	deny := mon.Get(tNetPol, "monitoring-default-deny")
	if deny == nil || deny.Str("metadata.namespace") != "monitoring" {
		t.Fatalf("default-deny = %v", deny)
	}
	if sel, _ := deny.Get("spec.podSelector"); len(sel.(map[string]any)) != 0 {
		t.Errorf("default-deny selects %v, want every pod", sel)
	}
	if _, ok := deny.Get("spec.ingress"); ok {
		t.Error("default-deny admits something")
	}
	if _, ok := deny.Get("spec.egress"); ok {
		t.Error("default-deny lets something out")
	}

	allow := mon.Get(tNetPol, "monitoring-stack")
	if allow == nil {
		t.Fatal("no policy admitting the stack's own traffic")
	}
	raw, _ := json.Marshal(allow.In()["spec"])
	var spec struct {
		PolicyTypes []string
		Ingress     []rule
		Egress      []rule
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(spec.PolicyTypes, []string{"Ingress", "Egress"}) {
		t.Errorf("policy types %v", spec.PolicyTypes)
	}
	wantIngress := []string{"from the namespace: any port", "from anywhere: TCP/10250"}
	wantEgress := []string{"to the namespace: any port", "to anywhere: UDP/53 TCP/53", "to anywhere: TCP/443 TCP/6443",
		"to anywhere: TCP/10250 TCP/9100 TCP/10249", "to namespace kube-system: TCP/9153", "to namespace gopherops: any port"}
	if got := describe(spec.Ingress, true); !slices.Equal(got, wantIngress) {
		t.Errorf("ingress %q, want %q", got, wantIngress)
	}
	if got := describe(spec.Egress, false); !slices.Equal(got, wantEgress) {
		t.Errorf("egress %q, want %q", got, wantEgress)
	}

	release := mon.Get("kubernetes:helm.sh/v3:Release", "monitoring")
	if release == nil || !release.DependsOn(tNetPol, "monitoring-default-deny") || !release.DependsOn(tNetPol, "monitoring-stack") {
		t.Error("the chart is installed before the namespace's network policies exist")
	}
}

// rule is one ingress or egress rule of a NetworkPolicy.
type rule struct {
	From, To []struct {
		PodSelector       *map[string]any
		NamespaceSelector *struct{ MatchLabels map[string]string }
	}
	Ports []struct {
		Protocol string
		Port     float64
	}
}

// describe renders rules as "to namespace X: TCP/443" lines.
func describe(rules []rule, ingress bool) []string {
	var out []string
	for _, r := range rules {
		peers, dir := r.To, "to"
		if ingress {
			peers, dir = r.From, "from"
		}
		who := dir + " anywhere"
		for _, p := range peers {
			switch {
			case p.NamespaceSelector != nil:
				who = dir + " namespace " + p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
			case p.PodSelector != nil:
				who = dir + " the namespace"
			}
		}
		ports := ""
		for _, p := range r.Ports {
			if ports != "" {
				ports += " "
			}
			ports += p.Protocol + "/" + jsonNumber(p.Port)
		}
		if ports == "" {
			ports = "any port"
		}
		out = append(out, who+": "+ports)
	}
	return out
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}
