package monitoring

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Ports the monitoring stack talks on outside its namespace.
const (
	// WebhookPort is the prometheus-operator's admission webhook, called by
	// the API server (whose address the cluster does not say).
	WebhookPort = 10250
	// KubeletPort serves the nodes' kubelet and cAdvisor metrics.
	KubeletPort = 10250
	// NodeExporterPort is node-exporter's, on the nodes' own network.
	NodeExporterPort = 9100
	// KubeProxyMetricsPort is kube-proxy's metrics endpoint on the nodes.
	KubeProxyMetricsPort = 10249
	// CoreDNSMetricsPort is CoreDNS's metrics endpoint in kube-system.
	CoreDNSMetricsPort = 9153
)

// networkPolicies deny all traffic in the monitoring namespace, as in every
// namespace the stack creates, then admit what kube-prometheus-stack needs:
// anything inside the namespace (Prometheus, Alertmanager, Grafana,
// kube-state-metrics, the operator), the API server's calls to the
// operator's webhook, DNS, the Kubernetes API (and HTTPS), the nodes'
// metrics endpoints, CoreDNS's metrics and the app namespace's metrics.
func (m *Monitoring) networkPolicies(ctx *pulumi.Context, name string, args Args, opts []pulumi.ResourceOption) ([]pulumi.Resource, error) {
	ns := m.Namespace.Metadata.Name()
	everyPod := &metav1.LabelSelectorArgs{}
	both := pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")}
	deny, err := networkingv1.NewNetworkPolicy(ctx, name+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("default-deny"), Namespace: ns},
		Spec:     &networkingv1.NetworkPolicySpecArgs{PodSelector: everyPod, PolicyTypes: both},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("monitoring: default-deny network policy: %w", err)
	}

	tcp := func(ports ...int) networkingv1.NetworkPolicyPortArray {
		out := networkingv1.NetworkPolicyPortArray{}
		for _, p := range ports {
			out = append(out, networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
		}
		return out
	}
	inNamespace := networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{}}}
	namespaceNamed := func(n pulumi.StringInput) networkingv1.NetworkPolicyPeerArray {
		return networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{
			MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": n},
		}}}
	}
	allow, err := networkingv1.NewNetworkPolicy(ctx, name+"-stack", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("kube-prometheus-stack"), Namespace: ns},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: everyPod,
			PolicyTypes: both,
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{
				networkingv1.NetworkPolicyIngressRuleArgs{From: inNamespace},
				networkingv1.NetworkPolicyIngressRuleArgs{Ports: tcp(WebhookPort)},
			},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{
				networkingv1.NetworkPolicyEgressRuleArgs{To: inNamespace},
				networkingv1.NetworkPolicyEgressRuleArgs{Ports: networkingv1.NetworkPolicyPortArray{
					networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(53)},
					networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(53)},
				}},
				// The Kubernetes API (service discovery, the operator, the
				// dashboard sidecars) and Grafana's HTTPS downloads.
				networkingv1.NetworkPolicyEgressRuleArgs{Ports: tcp(443, 6443)},
				networkingv1.NetworkPolicyEgressRuleArgs{Ports: tcp(KubeletPort, NodeExporterPort, KubeProxyMetricsPort)},
				networkingv1.NetworkPolicyEgressRuleArgs{To: namespaceNamed(pulumi.String("kube-system")), Ports: tcp(CoreDNSMetricsPort)},
				networkingv1.NetworkPolicyEgressRuleArgs{To: namespaceNamed(args.AppNamespace)},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("monitoring: network policy: %w", err)
	}
	return []pulumi.Resource{deny, allow}, nil
}
