package app

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// networkPolicies denies all traffic in the namespace by default, then lets
// the GopherOps pods (server and migration Job) receive HTTP on 8080 from
// anywhere, metrics on 9090 from the monitoring namespace only, and send only
// DNS, PostgreSQL and HTTPS (AWS APIs).
func (b *builder) networkPolicies() error {
	deny, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta("default-deny", "network", nil),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("default-deny network policy: %w", err)
	}
	b.app.DefaultDeny = deny

	port := func(protocol string, p int) networkingv1.NetworkPolicyPortArgs {
		return networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String(protocol), Port: pulumi.Int(p)}
	}
	var dbPeers networkingv1.NetworkPolicyPeerArray
	if pg := b.app.Postgres; pg != nil {
		dbPeers = append(dbPeers, networkingv1.NetworkPolicyPeerArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(pg.Labels)},
		})
	}
	for _, cidr := range b.args.DatabaseCIDRs {
		dbPeers = append(dbPeers, networkingv1.NetworkPolicyPeerArgs{
			IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(cidr)},
		})
	}
	np, err := networkingv1.NewNetworkPolicy(b.ctx, b.name, &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta(b.args.Name, "network", nil),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(b.appPodLabels())},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{
				networkingv1.NetworkPolicyIngressRuleArgs{
					Ports: networkingv1.NetworkPolicyPortArray{port("TCP", HTTPPort)},
				},
				networkingv1.NetworkPolicyIngressRuleArgs{
					From: networkingv1.NetworkPolicyPeerArray{
						networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{
							MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(b.args.MonitoringNamespace)},
						}},
					},
					Ports: networkingv1.NetworkPolicyPortArray{port("TCP", AdminPort)},
				},
			},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{
				networkingv1.NetworkPolicyEgressRuleArgs{
					Ports: networkingv1.NetworkPolicyPortArray{port("UDP", 53), port("TCP", 53)},
				},
				networkingv1.NetworkPolicyEgressRuleArgs{
					To:    dbPeers,
					Ports: networkingv1.NetworkPolicyPortArray{port("TCP", 5432)},
				},
				networkingv1.NetworkPolicyEgressRuleArgs{
					Ports: networkingv1.NetworkPolicyPortArray{port("TCP", 443)},
				},
			},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	b.app.NetworkPolicy = np
	return nil
}
